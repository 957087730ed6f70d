"""OS building blocks: namespaces, running commands inside one, netlink packing, TUN/TAP,
process identity, the run directory and journal, host sysctls, systemd units. Imports nothing above it."""

"""Sysctl files opened through a private procfs instance (no kernel state changed)."""

from __future__ import annotations

from vnetlab.host import netns, procsys


def test_dotted_interface_names_keep_their_dots():
    assert procsys.sysctl_path("net.ipv4.ip_forward") == "net/ipv4/ip_forward"
    assert procsys.sysctl_path("net.ipv6.conf.vmbr0.20.autoconf") == "net/ipv6/conf/vmbr0.20/autoconf"
    assert procsys.sysctl_path("net.ipv4.neigh.default.gc_thresh3") == "net/ipv4/neigh/default/gc_thresh3"


def test_reads_through_the_private_instance_match_proc_sys_across_rotations():
    """Whether or not this process may make a procfs instance (root may; others
    fall back to /proc/sys), the values are the namespace's own."""
    keys = ["net.ipv4.ip_forward", "net.ipv4.neigh.default.gc_thresh3", "kernel.ostype"]
    for _ in range(procsys.ROTATE // len(keys) + 2):  # past one replacement of the instance
        for key in keys:
            with open("/proc/sys/" + key.replace(".", "/")) as handle:
                assert netns.read_sysctl(key) == handle.read().strip()

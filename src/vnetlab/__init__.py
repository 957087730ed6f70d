"""vnetlab: a sandbox for Linux virtual networking on the real kernel."""

__version__ = "0.1.0"

"""Persistent TAP devices, created and attached in-process.

A TAP device is looked up and created in the namespace of the ``/dev/net/tun``
file description, which is the namespace of the thread that opened it. Every
function here therefore works in the *calling thread's current* namespace;
wrap calls in :func:`vnetlab.host.netns.entered` to act inside a lab node.

No ``ip`` process is spawned: creation is ``TUNSETIFF`` + ``TUNSETPERSIST``,
the MTU is ``SIOCSIFMTU`` and the tap test is ``ETHTOOL_GDRVINFO`` (the tun
driver reports bus ``tap`` for TAP and ``tun`` for TUN devices), all ioctls on
descriptors opened in the current namespace.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import socket
import struct
from vnetlab.errors import OperationFailed

TUN_DEVICE = "/dev/net/tun"

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNGETIFF = 0x800454D2
TUNSETOFFLOAD = 0x400454D0
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_PERSIST = 0x0800
# TUNSETOFFLOAD: what the reader takes unsegmented and with partial checksums
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_USO4 = 0x20
TUN_F_USO6 = 0x40
VNET_HDR_LEN = 10  # struct virtio_net_hdr, the tun default size

# <linux/sockios.h>, <linux/ethtool.h>
SIOCSIFMTU = 0x8922
SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x00000003
_DRVINFO_SIZE = 196  # struct ethtool_drvinfo: cmd, driver[32], version[32], fw[32], bus[32], ...

IFNAMSIZ = 16


class TapError(OperationFailed, OSError):
    """A TAP device could not be created or attached."""


def _ifreq(ifname: str, flags: int = 0) -> bytes:
    """A ``struct ifreq`` (40 bytes) carrying a name and a short flags word."""
    name = ifname.encode()
    if not 0 < len(name) < IFNAMSIZ or b"/" in name or b"\0" in name:
        raise ValueError(f"invalid interface name {ifname!r}: 1-15 bytes, no '/'")
    return struct.pack("16sH22x", name, flags)


def _driver_info(ifname: str) -> tuple[str, str] | None:
    """(driver, bus_info) of a link in the current namespace; None if absent.

    A link whose driver does not answer ETHTOOL_GDRVINFO (e.g. ``lo``) gives
    ``("", "")``: it exists but is certainly not a tap.
    """
    buf = array.array("B", struct.pack("I", ETHTOOL_GDRVINFO) + bytes(_DRVINFO_SIZE - 4))
    addr, _ = buf.buffer_info()
    ifr = struct.pack("16sP16x", _ifreq(ifname)[:16], addr)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            return ("", "")
    raw = buf.tobytes()

    def field(offset: int) -> str:
        return raw[offset:offset + 32].split(b"\0", 1)[0].decode(errors="replace")

    return field(4), field(100)


def link_exists(ifname: str) -> bool:
    """Whether a link of that name exists in the current namespace."""
    _ifreq(ifname)  # validates the name
    try:
        socket.if_nametoindex(ifname)
    except OSError:
        return False
    return True


def is_tap(ifname: str) -> bool:
    """Whether ``ifname`` exists in the current namespace and is a TAP (not TUN) device."""
    return _driver_info(ifname) == ("tun", "tap")


def _set_mtu(ifname: str, mtu: int) -> None:
    ifr = struct.pack("16si20x", _ifreq(ifname)[:16], mtu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        fcntl.ioctl(sock.fileno(), SIOCSIFMTU, ifr)


def create_persistent_tap(ifname: str, mtu: int | None = None) -> bool:
    """Creates a persistent TAP device in the calling thread's namespace.

    The device has no PI header, no owner restriction, and stays without
    carrier until a process attaches to it (:func:`attach_tap`).

    Args:
        ifname: the device name (1-15 bytes).
        mtu: if given, the MTU to set (also on an already existing tap).

    Returns:
        True if the device was created, False if a tap of that name already existed.

    Raises:
        TapError: a link of that name exists but is not a TAP device, or the
            kernel refused to create it.
    """
    ifr = _ifreq(ifname, IFF_TAP | IFF_NO_PI)
    info = _driver_info(ifname)
    if info is not None:
        if info != ("tun", "tap"):
            kind = "a TUN device" if info == ("tun", "tun") else f"not a TAP device (driver {info[0] or 'unknown'!r})"
            raise TapError(errno.EEXIST, f"link {ifname!r} already exists and is {kind}; delete it or pick another name")
        created = False
    else:
        fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, ifr)
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        except OSError as exc:
            raise TapError(exc.errno, f"cannot create tap {ifname!r}: {os.strerror(exc.errno or 0)}") from exc
        finally:
            os.close(fd)
        created = True
    if mtu is not None:
        _set_mtu(ifname, mtu)
    return created


def attach_tap(ifname: str, vnet_hdr: bool = False) -> int:
    """Attaches to an existing persistent TAP device in the calling thread's namespace.

    While the returned descriptor is open the device has carrier; each
    ``read`` returns one Ethernet frame and each ``write`` sends one. With
    ``vnet_hdr`` every frame read is preceded by a ``struct virtio_net_hdr``
    (:data:`VNET_HDR_LEN` bytes: GSO type and size, checksum offsets), which
    is what lets :func:`set_offload` hand over unsegmented frames.

    Returns:
        A non-blocking, close-on-exec file descriptor; the caller closes it.

    Raises:
        TapError: the device does not exist, is not a persistent TAP, or is
            already attached by another process (``EBUSY``). Never leaves a
            new device behind.
    """
    ifr = _ifreq(ifname, IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0))
    if not is_tap(ifname):
        what = "does not exist" if not link_exists(ifname) else "is not a TAP device"
        raise TapError(errno.ENODEV, f"tap {ifname!r} {what} in this namespace")
    fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, ifr)
        flags = struct.unpack("16sH22x", fcntl.ioctl(fd, TUNGETIFF, bytes(40)))[1]
    except OSError as exc:
        os.close(fd)
        hint = " (another process is attached to it)" if exc.errno == errno.EBUSY else ""
        raise TapError(exc.errno, f"cannot attach tap {ifname!r}: {os.strerror(exc.errno or 0)}{hint}") from exc
    if not flags & IFF_PERSIST:
        # The tap vanished between the check and TUNSETIFF, so the kernel made a
        # fresh non-persistent one; closing the fd deletes it again.
        os.close(fd)
        raise TapError(errno.ENODEV, f"tap {ifname!r} disappeared while attaching")
    return fd


def set_offload(fd: int, flags: int) -> None:
    """What an attached TAP (with ``vnet_hdr``) hands its reader as it is:
    ``TUN_F_*`` bits; 0 makes the kernel segment and checksum every frame
    before it reaches the TAP. Raises OSError (EINVAL: a flag this kernel
    does not know)."""
    fcntl.ioctl(fd, TUNSETOFFLOAD, flags)


def can_open(path: str = TUN_DEVICE) -> bool:
    """Whether this process may open the TUN/TAP clone device (a rootless
    user may not where it is root's alone, mode 0600)."""
    return os.access(path, os.R_OK | os.W_OK)

"""Proxmox guests: the network half of ``qemu-server/*.conf`` and ``lxc/*.conf`` (pure).

``read_guests(root)`` reads ``ROOT/etc/pve/qemu-server/<vmid>.conf`` (VMs) and
``ROOT/etc/pve/lxc/<vmid>.conf`` (containers) into :class:`Guest` objects:
one per file, with one :class:`GuestNic` per ``netN:`` line. Every line of
every file is used or reported (:mod:`vnetlab.io.report`):

- ``netN:`` (both kinds), VM ``ipconfigN:`` (cloud-init), VM ``name:`` and
  CT ``hostname:`` and the ``#`` description lines are used;
- other settings (``memory:``, ``scsi0:`` …) are reported as notes — they
  are no loss to a network lab — and network settings vnetlab cannot
  express (``rate=``, ``queues=``, a NIC without a bridge) as not imported;
- everything after the first section header (``[snapshot]``,
  ``[PENDING]``, ``[special:cloudinit]``) is a snapshot or pending change,
  not the guest as it runs: ignored, with one report at the header.

The host side of a guest NIC is named as Proxmox names it: ``tap<vmid>i<N>``
for a VM, ``veth<vmid>i<N>`` for a container. The guest side is ``eth<N>``
for a VM (what a Linux guest calls its Nth virtio NIC) and the ``name=`` a
container's line gives. Node names follow vnetlab's node-name pattern
(``^[a-z][a-z0-9-]{0,14}$``): the guest's name made safe, else ``vm<vmid>``
/ ``ct<vmid>``; a renamed guest gets a note.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from vnetlab.io.report import Report, not_imported, note
from vnetlab.names import NODE_NAME

VM_DIR = os.path.join("etc", "pve", "qemu-server")
CT_DIR = os.path.join("etc", "pve", "lxc")
MAX_CONF_BYTES = 256 * 1024  # a guest config is a few kilobytes
# QEMU NIC models Proxmox offers; the MAC is the value of the model key.
VM_NIC_MODELS = ("virtio", "e1000", "e1000e", "e1000-82540em", "e1000-82544gc", "e1000-82545em",
                 "vmxnet3", "rtl8139", "ne2k_pci", "ne2k_isa", "i82551", "i82557b", "i82559er", "pcnet")
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)\s*:\s*(.*)$")
SECTION = re.compile(r"^\[([^\]]*)\]\s*$")
NET_KEY = re.compile(r"^net(\d+)$")
IPCONFIG_KEY = re.compile(r"^ipconfig(\d+)$")


@dataclass
class GuestNic:
    """One guest NIC: the ``netN:`` line and what it says.

    ``host_ifname`` is the device on the hypervisor (``tap100i0``,
    ``veth101i0``), ``guest_ifname`` the name inside the guest."""

    index: int
    host_ifname: str
    guest_ifname: str
    bridge: Optional[str]
    file: str
    line: int
    tag: Optional[int] = None
    trunks: list[int] = field(default_factory=list)
    mac: Optional[str] = None
    model: Optional[str] = None  # VMs: virtio, e1000 …; containers: None (a veth)
    address: Optional[str] = None   # IPv4 CIDR, from CT ip= or VM ipconfigN ip=
    gateway: Optional[str] = None
    address6: Optional[str] = None
    gateway6: Optional[str] = None
    dhcp: bool = False              # ip=dhcp: the guest asks for its address
    firewall: bool = False          # firewall=1: the guest's <vmid>.fw applies to this NIC
    link_down: bool = False         # link_down=1: the cable is pulled
    mtu: Optional[int] = None
    address_line: Optional[int] = None  # where the address came from (ipconfigN: for VMs)


@dataclass
class Guest:
    """A VM or container of the host, as far as networking goes."""

    vmid: int
    kind: str  # "vm" | "ct"
    name: str  # a valid vnetlab node name
    file: str
    given_name: Optional[str] = None  # name:/hostname: as written
    name_line: int = 0
    description: Optional[str] = None
    nics: list[GuestNic] = field(default_factory=list)

    @property
    def firewalled(self) -> bool:
        """Whether any NIC has ``firewall=1`` (its ``<vmid>.fw`` then applies)."""
        return any(nic.firewall for nic in self.nics)


def read_guests(root: str) -> tuple[list[Guest], list[Report]]:
    """Reads every VM and container config under ``ROOT/etc/pve``.

    Args:
        root: a directory laid out like a Proxmox host's ``/``.

    Returns:
        The guests in vmid order (VMs and containers share the vmid space),
        and the reports — shown file names are relative to ``root``.
    """
    guests: list[Guest] = []
    reports: list[Report] = []
    for kind, folder in (("vm", VM_DIR), ("ct", CT_DIR)):
        directory = os.path.join(root, folder)
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            shown = os.path.join(folder, entry)
            if not entry.endswith(".conf"):
                reports.append(note(shown, 0, "not imported: not a guest config (Proxmox reads only <vmid>.conf)"))
                continue
            vmid_text = entry[:-len(".conf")]
            if not vmid_text.isdigit() or not 100 <= int(vmid_text) <= 999_999_999:
                reports.append(Report(shown, 0, f"not imported: `{entry}` — a guest config is named "
                                                "<vmid>.conf, vmid 100-999999999"))
                continue
            text = read_small_text(os.path.join(directory, entry), shown, MAX_CONF_BYTES, reports)
            if text is not None:
                guests.append(parse_guest(text, int(vmid_text), kind, shown, reports))
    guests.sort(key=lambda guest: guest.vmid)
    _unique_names(guests, reports)
    return guests, reports


def read_small_text(path: str, shown: str, limit: int, reports: list[Report]) -> Optional[str]:
    """A config file's text, or None with a report if it cannot be read or is
    over ``limit`` bytes (a Proxmox config is a few kilobytes; anything bigger
    is not one). Bytes that are not UTF-8 become U+FFFD."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        reports.append(Report(shown, 0, f"not imported: the file cannot be read ({exc.strerror})"))
        return None
    if len(data) > limit:
        reports.append(Report(shown, 0, f"not imported: over {limit // 1024} KiB — not a Proxmox config file"))
        return None
    return data.decode("utf-8", "replace")


def parse_guest(text: str, vmid: int, kind: str, shown: str, reports: list[Report]) -> Guest:
    """One guest config's text → a Guest; what is not used goes to ``reports``.

    Args:
        text: the file's content.
        vmid: the guest's id (from the file name).
        kind: ``"vm"`` (qemu-server) or ``"ct"`` (lxc).
        shown: the file name reports use.
        reports: appended to.
    """
    guest = Guest(vmid=vmid, kind=kind, name=f"{kind}{vmid}", file=shown)
    description: list[str] = []
    ipconfigs: dict[int, tuple[str, int]] = {}
    other: list[tuple[int, str]] = []  # (line, key) of lines not about networking: one report for them all
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if SECTION.match(line):
            reports.append(note(shown, number, f"not imported: `{line}` and everything after it — a snapshot "
                                               "or pending change, not the guest as it runs"))
            break
        if line.startswith("#"):
            description.append(_unescape_description(line[1:]))
            continue
        match = LINE.match(line)
        if not match:
            reports.append(not_imported(shown, number, line, "not a `key: value` line of a guest config"))
            continue
        key, value = match.group(1), match.group(2).strip()
        if (net := NET_KEY.match(key)):
            nic = _parse_nic(kind, vmid, int(net.group(1)), value, shown, number, line, reports)
            if nic is not None:
                guest.nics.append(nic)
        elif kind == "vm" and (ipc := IPCONFIG_KEY.match(key)):
            ipconfigs[int(ipc.group(1))] = (value, number)
        elif key == ("name" if kind == "vm" else "hostname"):
            guest.given_name, guest.name_line = value, number
        elif key.startswith(("lxc.net.", "lxc.network.")):
            reports.append(not_imported(shown, number, line, "a raw LXC network key; vnetlab reads only "
                                                             "Proxmox's netN: lines"))
        else:
            other.append((number, key))
    if other:
        lines = ", ".join(str(number) for number, _ in other)
        keys = ", ".join(dict.fromkeys(key for _, key in other))
        reports.append(note(shown, other[0][0], f"not imported: {len(other)} line{'s' if len(other) > 1 else ''} "
                                                f"not about networking (line{'s' if len(other) > 1 else ''} "
                                                f"{lines}: {keys})"))
    guest.description = " ".join(part for part in description if part) or None
    for index, (value, number) in sorted(ipconfigs.items()):
        _apply_ipconfig(guest, index, value, shown, number, reports)
    guest.nics.sort(key=lambda nic: nic.index)
    return guest


def _unescape_description(text: str) -> str:
    # Proxmox stores the notes URL-encoded-ish: %3A for ':' etc.
    from urllib.parse import unquote

    return unquote(text).strip()


def _options(value: str) -> list[tuple[str, str]]:
    """``a=1,b=2,flag`` → [(a, 1), (b, 2), (flag, "")]."""
    pairs = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        key, _, val = part.partition("=")
        pairs.append((key.strip(), val.strip()))
    return pairs


def _parse_nic(kind: str, vmid: int, index: int, value: str, shown: str, number: int, line: str,
               reports: list[Report]) -> Optional[GuestNic]:
    prefix = "tap" if kind == "vm" else "veth"
    nic = GuestNic(index=index, host_ifname=f"{prefix}{vmid}i{index}", guest_ifname=f"eth{index}",
                   bridge=None, file=shown, line=number)
    lost: list[str] = []
    for key, val in _options(value):
        where = f"{key}={val}" if val else key
        if kind == "vm" and key in VM_NIC_MODELS:
            nic.model = key
            if val:
                if not MAC.match(val):
                    lost.append(f"{where} (not a MAC address)")
                else:
                    nic.mac = val.lower()
        elif key in ("macaddr", "hwaddr"):
            if MAC.match(val):
                nic.mac = val.lower()
            else:
                lost.append(f"{where} (not a MAC address)")
        elif key == "model" and kind == "vm":
            nic.model = val
        elif key == "bridge":
            nic.bridge = val
        elif key == "tag":
            if val.isdigit() and 1 <= int(val) <= 4094:
                nic.tag = int(val)
            else:
                lost.append(f"{where} (a VLAN tag is 1-4094)")
        elif key == "trunks":
            trunks = _vlan_list(val)
            if trunks is None:
                lost.append(f"{where} (trunks are VLAN ids 1-4094 separated by ';', ranges a-b)")
            else:
                nic.trunks = trunks
        elif key == "firewall":
            nic.firewall = val == "1"
        elif key == "link_down":
            nic.link_down = val == "1"
        elif key == "mtu" and val.isdigit():
            nic.mtu = int(val) if int(val) >= 68 else None  # mtu=1: "the bridge's MTU"
        elif kind == "ct" and key == "name":
            nic.guest_ifname = val
        elif kind == "ct" and key == "type":
            if val != "veth":
                lost.append(f"{where} (only veth container NICs exist)")
        elif kind == "ct" and key in ("ip", "ip6", "gw", "gw6"):
            if not _set_address(nic, key, val):
                lost.append(f"{where} (not an address{'/prefix' if key.startswith('ip') else ''})")
            else:
                nic.address_line = number
        elif key == "rate":
            lost.append(f"{where} (vnetlab has no rate limit in a lab file — use vnetlab impair on the "
                        "running lab)")
        elif key == "queues":
            lost.append(f"{where} (multiqueue makes no difference to a lab)")
        else:
            lost.append(f"{where} (an option vnetlab does not know)")
    if kind == "ct" and nic.guest_ifname == f"eth{index}" and "name=" not in value:
        reports.append(note(shown, number, f"net{index} has no name= — the container calls it eth{index}"))
    for what in lost:
        reports.append(not_imported(shown, number, what.split(" (")[0], what.split(" (", 1)[1].rstrip(")")))
    if nic.bridge is None:
        reports.append(not_imported(shown, number, line, "a NIC without bridge= is QEMU's user-mode "
                                                         "network (or unplugged), which a lab cannot build"))
        return None
    return nic


def _vlan_list(text: str) -> Optional[list[int]]:
    vlans: list[int] = []
    for part in text.split(";"):
        part = part.strip()
        if re.fullmatch(r"\d+", part):
            low = high = int(part)
        elif re.fullmatch(r"\d+-\d+", part):
            low, high = (int(x) for x in part.split("-"))
        else:
            return None
        if not 1 <= low <= high <= 4094:
            return None
        vlans.extend(range(low, high + 1))
    return sorted(set(vlans)) or None


def _set_address(nic: GuestNic, key: str, value: str) -> bool:
    """Sets ip/ip6/gw/gw6 on ``nic``; False if ``value`` is not one."""
    if key in ("ip", "ip6"):
        if value == "dhcp" or (key == "ip6" and value in ("auto", "dhcp")):
            nic.dhcp = nic.dhcp or value == "dhcp"
            return True
        if value == "manual":
            return True
        try:
            iface = ipaddress.ip_interface(value)
        except ValueError:
            return False
        if "/" not in value or iface.version != (4 if key == "ip" else 6):
            return False
        if key == "ip":
            nic.address = value
        else:
            nic.address6 = value
        return True
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.version != (4 if key == "gw" else 6):
        return False
    if key == "gw":
        nic.gateway = value
    else:
        nic.gateway6 = value
    return True


def _apply_ipconfig(guest: Guest, index: int, value: str, shown: str, number: int,
                    reports: list[Report]) -> None:
    nic = next((n for n in guest.nics if n.index == index), None)
    if nic is None:
        reports.append(not_imported(shown, number, f"ipconfig{index}: {value}",
                                    f"the guest has no net{index} this could configure"))
        return
    for key, val in _options(value):
        if key in ("ip", "ip6", "gw", "gw6") and _set_address(nic, key, val):
            nic.address_line = number
        else:
            reports.append(not_imported(shown, number, f"{key}={val}" if val else key,
                                        "not a cloud-init ip=/gw=/ip6=/gw6= value vnetlab can use"))


def safe_node_name(text: Optional[str]) -> Optional[str]:
    """``Web-Server_01.example.com`` → ``web-server-01``: the name as a
    vnetlab node name, or None if nothing of it is left."""
    if not text:
        return None
    name = text.strip().lower().split(".")[0]
    name = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    name = name.lstrip("0123456789-")
    name = name[:15].rstrip("-")
    return name if name and NODE_NAME.fullmatch(name) else None


def _unique_names(guests: list[Guest], reports: list[Report]) -> None:
    """Gives each guest a distinct node name: its own name made safe, else
    ``vm<vmid>``/``ct<vmid>`` (always valid: a vmid has at most 9 digits)."""
    taken: set[str] = set()
    wanted = [safe_node_name(guest.given_name) for guest in guests]
    counts: dict[str, int] = {}
    for name in wanted:
        if name:
            counts[name] = counts.get(name, 0) + 1
    for guest, name in zip(guests, wanted):
        fallback = f"{guest.kind}{guest.vmid}"
        chosen = name if name and counts[name] == 1 and name not in taken else fallback
        if chosen in taken:  # a guest called e.g. "vm101" beside VM 101
            chosen = f"{guest.kind}{guest.vmid}-{len(taken)}"[:15]
        taken.add(chosen)
        guest.name = chosen
        if guest.given_name is not None and chosen != guest.given_name:
            why = ("it is not a node name (1-15 lowercase letters, digits and '-', starting with a letter)"
                   if not name else "another guest has the same name")
            if name and name != guest.given_name and counts[name] == 1:
                why = "made a node name (1-15 lowercase letters, digits and '-')"
            reports.append(note(guest.file, guest.name_line, f"guest {guest.given_name!r} is node {chosen} — {why}"))

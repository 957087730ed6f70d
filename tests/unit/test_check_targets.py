"""Pure parts of the check runner and the probes: targets, JUnit, ICMP packets."""

from __future__ import annotations

import errno
import ipaddress
import struct
import xml.etree.ElementTree as ET

import pytest

from vnetlab.probe.checks import CheckResult, format_target, resolve_target, write_junit
from vnetlab.model.schema import Check, LabSpec
from vnetlab.probe.icmp import (
    build_echo_request,
    describe_send_error,
    inet_checksum,
    parse_icmpv4,
    parse_icmpv6,
)
from vnetlab.probe.transport import classify_error


@pytest.fixture
def spec() -> LabSpec:
    return LabSpec.model_validate({
        "lab": "targets",
        "nodes": {
            "red": {"interfaces": {
                "eth0": {"addresses": ["fd00::1/64", "10.0.0.1/24"]},
                "eth1": {"address": "10.1.0.1/24"},
            }},
            "six": {"interfaces": {"eth0": {"address": "fd00::6/64"}, "eth1": {"address": "fd01::6/64"}}},
            "bare": {"interfaces": {"eth0": {}}},
        },
    })


@pytest.mark.parametrize("to, expected", [
    ("red", ("10.0.0.1", None)),          # first IPv4 in file order, over an earlier IPv6
    ("six", ("fd00::6", None)),           # no IPv4: the first address
    ("red:80", ("10.0.0.1", 80)),
    ("10.9.9.9", ("10.9.9.9", None)),
    ("10.9.9.9:443", ("10.9.9.9", 443)),
    ("fd00::0:9", ("fd00::9", None)),      # normalised
    ("[fd00::9]:53", ("fd00::9", 53)),
])
def test_resolve_target(spec, to, expected):
    assert resolve_target(spec, to) == expected


@pytest.mark.parametrize("to, message", [
    ("green", "neither a node of lab 'targets' nor an IP address (nodes: red, six, bare)"),
    ("bare", "node 'bare' has no address"),
    ("red:http", "port 'http' must be a number from 1 to 65535"),
    ("red:0", "port '0' must be a number"),
    ("red:70000", "port '70000' must be a number"),
    ("[fd00::9]", "write [IPV6]:PORT"),
    ("[10.0.0.1]:80", "brackets are only for IPv6"),
    ("999.1.1.1", "neither a node"),
])
def test_resolve_target_errors(spec, to, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        resolve_target(spec, to)


@pytest.mark.parametrize("to, family, expected", [
    ("red", 6, ("fd00::1", None)),        # -6: the node's first IPv6 address
    ("red", 4, ("10.0.0.1", None)),
    ("red:80", 6, ("fd00::1", 80)),
    ("six", 6, ("fd00::6", None)),
    ("[fd00::9]:53", 6, ("fd00::9", 53)),
    ("10.9.9.9", 4, ("10.9.9.9", None)),
])
def test_resolve_target_of_one_family(spec, to, family, expected):
    assert resolve_target(spec, to, family) == expected


@pytest.mark.parametrize("to, family, message", [
    ("six", 4, "node 'six' has no IPv4 address (it has fd00::6, fd01::6) — drop -4"),
    ("fd00::9", 4, "fd00::9 is an IPv6 address, not IPv4 — drop -4"),
    ("10.9.9.9:80", 6, "10.9.9.9 is an IPv4 address, not IPv6 — drop -6"),
    ("bare", 6, "node 'bare' has no address"),
])
def test_resolve_target_of_one_family_errors(spec, to, family, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_target(spec, to, family)


def test_format_target():
    assert format_target("10.0.0.1", None) == "10.0.0.1"
    assert format_target("10.0.0.1", 80) == "10.0.0.1:80"
    assert format_target("fd00::1", 80) == "[fd00::1]:80"


def test_junit_structure(tmp_path):
    passing = Check.model_validate({"from": "red", "to": "blue", "expect": "reach"})
    failing = Check.model_validate({"from": "red", "to": "blue:80", "proto": "tcp", "expect": "open",
                                    "name": "web is up"})
    broken = Check.model_validate({"from": "red", "to": "green"})
    results = [
        CheckResult(passing, True, "reach", "reply from 10.0.0.2 in 0.05 ms", "10.0.0.2"),
        CheckResult(failing, False, "closed", "refused (TCP RST)", "10.0.0.2:80"),
        CheckResult(broken, False, "error", "'green' is neither a node nor an IP", ""),
    ]
    path = tmp_path / "report.xml"
    write_junit(results, str(path), "redblue")

    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite"
    assert suite.attrib["name"] == "redblue"
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["errors"]) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [c.attrib["classname"] for c in cases] == ["redblue"] * 3
    assert cases[0].attrib["name"] == "red -> blue icmp reach (10.0.0.2)"
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    assert cases[1].attrib["name"] == "web is up"
    failure = cases[1].find("failure")
    assert failure.attrib["message"] == "expected open, observed closed: refused (TCP RST)"
    assert "observed: closed" in failure.text
    assert cases[2].find("error").attrib["message"] == "'green' is neither a node nor an IP"


# ICMP packets --------------------------------------------------------------

def ipv4_header(src: str, dst: str, payload_len: int, proto: int = 1) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0, 64, proto, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return header[:10] + struct.pack("!H", inet_checksum(header)) + header[12:]


def test_checksum_known_values():
    # RFC 1071's example words sum to 0xddf2; the checksum is its complement.
    assert inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert inet_checksum(b"\x01") == ~0x0100 & 0xFFFF  # odd length: padded with a zero byte
    header = ipv4_header("10.0.0.1", "10.0.0.2", 0)
    assert inet_checksum(header) == 0  # a correct checksum verifies to zero


def test_echo_request_v4():
    packet = build_echo_request(0x1234, 7, payload=b"abcd")
    assert packet[:2] == b"\x08\x00"
    assert struct.unpack("!HH", packet[4:8]) == (0x1234, 7)
    assert packet[8:] == b"abcd"
    assert inet_checksum(packet) == 0


def test_echo_request_v6_leaves_checksum_to_kernel():
    packet = build_echo_request(0xBEEF, 0x10001, v6=True, payload=b"")
    assert packet == bytes([128, 0, 0, 0]) + struct.pack("!HH", 0xBEEF, 1)


def test_parse_echo_reply_v4():
    reply = bytearray(build_echo_request(0x1234, 9, payload=b"xyz"))
    reply[0] = 0  # echo reply
    message = parse_icmpv4(ipv4_header("10.0.0.2", "10.0.0.1", len(reply)) + bytes(reply))
    assert (message.kind, str(message.src), message.ident, message.seq) == ("reply", "10.0.0.2", 0x1234, 9)


def test_parse_unreachable_v4_quoting_our_request():
    request = build_echo_request(0x4321, 3)
    quoted = ipv4_header("10.0.0.1", "10.9.0.5", len(request)) + request[:8]
    error = struct.pack("!BBHI", 3, 1, 0, 0) + quoted
    message = parse_icmpv4(ipv4_header("10.0.0.254", "10.0.0.1", len(error)) + error)
    assert message.kind == "error"
    assert (str(message.src), str(message.quoted_dst)) == ("10.0.0.254", "10.9.0.5")
    assert (message.ident, message.seq) == (0x4321, 3)
    assert message.description == "destination unreachable (host unreachable)"


def test_parse_v4_ignores_other_messages():
    request = build_echo_request(1, 1)
    assert parse_icmpv4(ipv4_header("10.0.0.2", "10.0.0.1", len(request)) + request) is None
    assert parse_icmpv4(ipv4_header("10.0.0.2", "10.0.0.1", 8, proto=17) + bytes(8)) is None
    assert parse_icmpv4(b"\x45\x00") is None
    # an error quoting a UDP datagram is not about our pings
    udp_quote = ipv4_header("10.0.0.1", "10.9.0.5", 8, proto=17) + bytes(8)
    error = struct.pack("!BBHI", 3, 3, 0, 0) + udp_quote
    assert parse_icmpv4(ipv4_header("10.9.0.5", "10.0.0.1", len(error)) + error) is None


def test_parse_icmpv6_reply_and_error():
    src = ipaddress.IPv6Address("fd00::2")
    reply = bytes([129, 0, 0, 0]) + struct.pack("!HH", 5, 6)
    message = parse_icmpv6(reply, src)
    assert (message.kind, message.src, message.ident, message.seq) == ("reply", src, 5, 6)

    request = build_echo_request(5, 7, v6=True)
    quoted_header = struct.pack("!IHBB16s16s", 0x60000000, len(request), 58, 64,
                                ipaddress.IPv6Address("fd00::1").packed, ipaddress.IPv6Address("fd09::9").packed)
    error = bytes([1, 0, 0, 0, 0, 0, 0, 0]) + quoted_header + request
    message = parse_icmpv6(error, ipaddress.IPv6Address("fd00::fe"))
    assert message.kind == "error"
    assert (str(message.quoted_dst), message.ident, message.seq) == ("fd09::9", 5, 7)
    assert message.description == "destination unreachable (no route to destination)"
    assert parse_icmpv6(bytes([135, 0, 0, 0, 0, 0, 0, 0]), src) is None  # neighbour solicitation


def test_error_wording():
    assert describe_send_error(errno.ENETUNREACH) == "network unreachable (no route)"
    assert classify_error(errno.ECONNREFUSED, during_send=False) == ("closed", "refused (TCP RST)")
    assert classify_error(errno.EHOSTUNREACH, during_send=False) == ("filtered", "host unreachable (ICMP)")
    assert classify_error(errno.ENETUNREACH, during_send=True) == ("filtered", "network unreachable (no route)")

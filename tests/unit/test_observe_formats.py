"""Pure parts of capture, scan and reach: pcap/pcapng formats, summaries,
port lists, nmap XML, the neighbour-table estimate. No root."""

from __future__ import annotations

import io
import struct

import pytest

from vnetlab.model.schema import LabSpec
from vnetlab.probe import capture, icmp, reach, scan


def _frame(src_ip: bytes, dst_ip: bytes, sport: int, dport: int, flags: int) -> bytes:
    ether = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"
    tcp = struct.pack("!HHIIHHHH", sport, dport, 1000, 0, (5 << 12) | flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src_ip, dst_ip)
    return ether + ip + tcp


SYN = _frame(bytes([10, 0, 0, 10]), bytes([203, 0, 113, 80]), 40000, 80, 0x02)


def test_pcapng_round_trip_keeps_interfaces_packets_and_stats():
    out = io.BytesIO()
    writer = capture.PcapngWriter(out)
    assert writer.add_interface("client:eth0") == 0
    assert writer.add_interface("gw:eth1", snaplen=96) == 1
    packets = [capture.Packet(1_700_000_000_123_456_789, 0, SYN, len(SYN)),
               capture.Packet(1_700_000_000_123_456_790, 1, b"\x01\x02\x03", 60)]
    for packet in packets:
        writer.write_packet(packet)
    writer.write_stats(1, 1_700_000_001_000_000_000, received=5, dropped=2, delivered=1)
    data = out.getvalue()
    assert len(data) % 4 == 0
    contents = capture.read_pcapng(data)
    assert contents.application == "vnetlab"
    assert contents.interfaces == [("client:eth0", 1, capture.DEFAULT_SNAPLEN), ("gw:eth1", 1, 96)]
    assert contents.packets == packets
    assert contents.stats == {1: {capture.ISB_IFRECV: 5, capture.ISB_IFDROP: 2, capture.ISB_USRDELIV: 1}}


def test_pcapng_writer_refuses_a_packet_for_an_unknown_interface():
    writer = capture.PcapngWriter(io.BytesIO())
    with pytest.raises(ValueError):
        writer.write_packet(capture.Packet(0, 0, b"x", 1))


def test_read_pcapng_detects_a_truncated_file():
    out = io.BytesIO()
    capture.PcapngWriter(out).add_interface("a:eth0")
    with pytest.raises(ValueError, match="truncated"):
        capture.read_pcapng(out.getvalue()[:-3])


@pytest.mark.parametrize("nanoseconds", [True, False])
def test_pcap_stream_reads_records_in_both_resolutions(nanoseconds):
    ts = 1_700_000_000_000_001_000
    raw = capture.pcap_header(nanoseconds=nanoseconds)
    seconds, nanos = divmod(ts, 1_000_000_000)
    fraction = nanos if nanoseconds else nanos // 1000
    raw += struct.pack("<IIII", seconds, fraction, len(SYN), 74) + SYN
    raw += capture.pcap_record(ts + 5, b"cut")[:10]  # the writer was stopped mid-record
    stream = capture.PcapStream(io.BytesIO(raw))
    assert (stream.linktype, stream.snaplen, stream.nanoseconds) == (1, capture.DEFAULT_SNAPLEN, nanoseconds)
    assert list(stream.records()) == [(ts, SYN, 74)]


def test_pcap_stream_rejects_other_data():
    with pytest.raises(ValueError, match="not a pcap"):
        capture.PcapStream(io.BytesIO(b"\x00" * 24))
    with pytest.raises(EOFError):
        capture.PcapStream(io.BytesIO(b""))


def test_summary_names_addresses_ports_and_flags():
    line = capture.summarize(SYN)
    assert "10.0.0.10.40000 > 203.0.113.80.80: TCP [S]" in line
    assert line.startswith("02:00:00:00:00:01 > 02:00:00:00:00:02")
    arp = bytes.fromhex("ffffffffffff" "020000000001" "0806" "0001080006040001" "020000000001") \
        + bytes([10, 0, 0, 10]) + b"\x00" * 6 + bytes([10, 0, 0, 1])
    assert capture.summarize(arp).endswith("ARP who-has 10.0.0.1 tell 10.0.0.10")
    assert capture.summarize(b"\x00" * 20, linktype=113) == "linktype 113, length 20"


def test_tcpdump_argv_is_a_list_with_the_filter_last():
    argv = capture.tcpdump_argv("eth0", "tcp port 80")
    assert argv[:3] == ["tcpdump", "-i", "eth0"] and argv[-2:] == ["--", "tcp port 80"]
    assert "-U" in argv and argv[argv.index("-w") + 1] == "-"


def test_capture_summary_counts_per_interface_and_drops():
    report = capture.CaptureReport([capture.InterfaceStats("a:eth0", 3, 3, 0),
                                    capture.InterfaceStats("b:eth0", 2, 4, 2)], 5, "count")
    assert report.summary() == "5 packets captured: a:eth0 3, b:eth0 2; kernel dropped 2 (b:eth0 2)"


@pytest.mark.parametrize("text, ports", [
    ("22", [22]),
    ("22,80,1000-1003", [22, 80, 1000, 1001, 1002, 1003]),
    ("80, 22,22", [22, 80]),
    ("65535", [65535]),
])
def test_parse_ports(text, ports):
    assert scan.parse_ports(text) == ports


@pytest.mark.parametrize("text, message", [
    ("", "empty item"),
    ("22,,80", "empty item"),
    ("http", "not a port"),
    ("0", "out of range"),
    ("70000", "out of range"),
    ("10-5", "runs backwards — write 5-10"),
    ("1-", "not a port"),
])
def test_parse_ports_rejects_bad_lists(text, message):
    with pytest.raises(ValueError, match=message):
        scan.parse_ports(text)


def test_format_ports_is_the_inverse_of_parse_ports():
    assert scan.format_ports([80, 22, 81, 82, 1000]) == "22,80-82,1000"
    assert scan.parse_ports(scan.format_ports(list(range(1, 30, 3)))) == list(range(1, 30, 3))


NMAP_XML = """<?xml version="1.0"?>
<nmaprun scanner="nmap" version="7.93"><host><status state="up"/>
<ports><extraports state="closed" count="3">
<extrareasons reason="reset" count="3" proto="tcp" ports="1000-1002"/></extraports>
<port protocol="tcp" portid="22"><state state="filtered" reason="no-response"/></port>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack"/></port>
</ports></host></nmaprun>"""


def test_nmap_xml_gives_one_state_per_asked_port():
    version, states = scan.parse_nmap_xml(NMAP_XML, [22, 80, 1000, 1001, 1002])
    assert version == "7.93"
    assert [(s.port, s.state) for s in states] == [
        (22, "filtered"), (80, "open"), (1000, "closed"), (1001, "closed"), (1002, "closed")]
    assert states[1].reason == "nmap: open (syn-ack)"
    with pytest.raises(ValueError):
        scan.parse_nmap_xml("not xml", [22])


def test_nmap_argv_is_tcp_only_without_dns_or_ping():
    argv = scan.nmap_argv("10.0.0.2", [22, 80, 81])
    assert argv[0] == "nmap" and argv[-1] == "10.0.0.2"
    assert {"-n", "-Pn"} <= set(argv) and "T:22,80-81" in argv
    assert "-6" in scan.nmap_argv("2001:db8::1", [22])


def _spec(data: dict) -> LabSpec:
    return LabSpec.model_validate(data)


def test_neighbour_budget_flat_segment_needs_one_entry_per_ordered_pair():
    nodes = {f"h{i}": {"interfaces": {"eth0": {"address": f"10.0.0.{i + 1}/24"}}} for i in range(10)}
    nodes["sw"] = {"kind": "switch"}
    spec = _spec({"lab": "obsu", "nodes": nodes, "links": [[f"h{i}:eth0", f"sw:p{i}"] for i in range(10)]})
    addresses = reach.node_addresses(spec)
    assert "sw" not in addresses
    pairs = [(s, t) for s in addresses for t in addresses if s != t]
    assert reach.neighbour_budget(spec, pairs, addresses) == 90


def test_neighbour_budget_routed_star_needs_only_the_gateways():
    nodes = {"r": {"kind": "router", "interfaces": {f"eth{i}": {"address": f"10.{i}.0.1/24"} for i in range(5)}}}
    for i in range(5):
        nodes[f"h{i}"] = {"interfaces": {"eth0": {"address": f"10.{i}.0.2/24"}},
                          "routes": [{"to": "default", "via": f"10.{i}.0.1"}]}
    spec = _spec({"lab": "obsu", "nodes": nodes, "links": [[f"h{i}:eth0", f"r:eth{i}"] for i in range(5)]})
    addresses = reach.node_addresses(spec)
    pairs = [(s, t) for s in addresses for t in addresses if s != t]
    # each host resolves its gateway, the router each host: 5 + 5
    assert reach.neighbour_budget(spec, pairs, addresses) == 10


def test_a_matrix_too_big_for_the_neighbour_table_is_refused_before_probing(monkeypatch):
    nodes = {f"h{i}": {"interfaces": {"eth0": {"address": f"10.0.0.{i + 1}/24"}}} for i in range(10)}
    nodes["sw"] = {"kind": "switch"}
    spec = _spec({"lab": "obsu", "nodes": nodes, "links": [[f"h{i}:eth0", f"sw:p{i}"] for i in range(10)]})
    monkeypatch.setattr(reach, "neighbour_limit", lambda: 50)

    def no_probes(*args, **kwargs):
        raise AssertionError("probed although the matrix does not fit")

    monkeypatch.setattr(reach, "ping_many", no_probes)
    with pytest.raises(reach.NeighbourTableTooSmall) as caught:
        reach.reach_matrix(spec, lambda node: f"obsu-{node}")
    message = str(caught.value)
    assert "needs about 90 ARP entries" in message and "holds at most 50" in message
    # 45 * 0.9 = 45 entries allowed: 7 nodes need 42, 8 need 56
    assert "--nodes h0,h1,h2,h3,h4,h5,h6 (7 nodes)" in message


def test_a_matrix_too_big_is_probed_once_room_was_made(monkeypatch):
    nodes = {f"h{i}": {"interfaces": {"eth0": {"address": f"10.0.0.{i + 1}/24"}}} for i in range(10)}
    nodes["sw"] = {"kind": "switch"}
    spec = _spec({"lab": "obsu", "nodes": nodes, "links": [[f"h{i}:eth0", f"sw:p{i}"] for i in range(10)]})
    limit = {"now": 50}
    asked = []

    def make_room(needed):
        asked.append(needed)
        limit["now"] = 256

    monkeypatch.setattr(reach, "neighbour_limit", lambda: limit["now"])
    monkeypatch.setattr(reach, "ping_many", lambda probes, timeout: [
        icmp.PingResult(probe, True, 0.001, "reply") for probe in probes])
    matrix = reach.reach_matrix(spec, lambda node: f"obsu-{node}", make_room=make_room)
    assert asked == [90] and len(matrix.cells) == 90 and matrix.reachable() == 90

"""The lab file's DHCP, DNS and router-advertisement parts (issue 13): the
``dhcp``/``slaac`` address words, the server settings, and the warning for a
client whose segment has no server."""

from __future__ import annotations

import textwrap

import pytest

from vnetlab.model import check_lab_file, load_lab_text
from vnetlab.model.schema import lease_seconds

SERVED = """
lab: dh
nodes:
  srv:
    interfaces:
      eth0:
        address: 10.0.3.1/24
        dhcp: {range: 10.0.3.100-10.0.3.200}
  c1:
    interfaces:
      eth0: {addresses: [dhcp, 10.0.3.5/24, slaac]}
links:
  - [srv:eth0, c1:eth0]
"""


def test_dynamic_words_mix_with_static_addresses():
    spec = load_lab_text(SERVED)
    eth0 = spec.nodes["c1"].interfaces["eth0"]
    assert eth0.written_addresses() == ["dhcp", "10.0.3.5/24", "slaac"]
    assert eth0.all_addresses() == ["10.0.3.5/24"]  # what every static consumer sees
    assert eth0.uses_dhcp and eth0.uses_slaac
    assert spec.nodes["srv"].interfaces["eth0"].serves and not eth0.serves


@pytest.mark.parametrize("text, seconds", [(3600, 3600), ("1h", 3600), ("30m", 1800), ("120", 120), ("1d", 86400)])
def test_lease_times(text, seconds):
    assert lease_seconds(text) == seconds


@pytest.mark.parametrize("text", ["1 hour", "1.5h", "-1h", "90s", True])
def test_bad_lease_times_are_refused(text):
    with pytest.raises(ValueError):
        lease_seconds(text)


def _warnings(tmp_path, text):
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text))
    return [str(w) for w in check_lab_file(path)[1]]


def test_a_served_client_has_no_warning_but_an_unserved_slaac_one_has(tmp_path):
    warnings = _warnings(tmp_path, SERVED)
    assert len(warnings) == 1, warnings
    assert "lab.yaml:11: warning: nodes.c1.interfaces.eth0.addresses[2]: c1:eth0 takes its address by slaac" \
        in warnings[0]
    assert "no router advertisements (an interface with ra:)" in warnings[0]


def test_a_dhcp_client_on_another_segment_is_warned(tmp_path):
    warnings = _warnings(tmp_path, """
        lab: dh
        nodes:
          srv:
            kind: router
            interfaces:
              eth0: {address: 10.0.3.1/24, dhcp: {range: 10.0.3.100-10.0.3.200}}
              eth1: {address: 10.0.4.1/24}
          c1:
            interfaces:
              eth0: {address: 10.0.3.9/24}
          c2:
            interfaces:
              eth0: {address: dhcp}
        links:
          - [srv:eth0, c1:eth0]
          - [srv:eth1, c2:eth0]
        """)
    assert len(warnings) == 1, warnings
    assert "nodes.c2.interfaces.eth0.address: c2:eth0 takes its address by dhcp, but its L2 segment has no " \
           "DHCP server" in warnings[0]
    assert "`vnetlab up` fails waiting for it" in warnings[0]


def test_a_client_behind_a_bridge_is_served_by_the_bridge(tmp_path):
    assert _warnings(tmp_path, """
        lab: dh
        nodes:
          host:
            interfaces:
              lxcbr0: {type: bridge, ports: [v1], address: 10.0.3.1/24, dhcp: {range: 10.0.3.100-10.0.3.200}}
              v1: {}
          c1:
            interfaces:
              eth0: {address: dhcp}
        links:
          - [host:v1, c1:eth0]
        """) == []


def test_a_dhcp_word_on_a_bridge_port_is_refused_like_an_address():
    with pytest.raises(Exception) as caught:
        load_lab_text("""
lab: dh
nodes:
  host:
    interfaces:
      br0: {type: bridge, ports: [v1], address: 10.0.3.1/24}
      v1: {address: dhcp}
  c1:
    interfaces:
      eth0: {address: 10.0.3.2/24}
links:
  - [host:v1, c1:eth0]
""")
    assert "v1 is a port of bridge br0 and cannot carry an address" in str(caught.value)

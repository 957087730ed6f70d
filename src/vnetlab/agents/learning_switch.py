"""The os-ken app behind the built-in controller: an OpenFlow 1.3 learning
switch with no NORMAL fallback (see :mod:`vnetlab.agents.controller`,
which runs it).

Kept apart from the entry point so that importing the controller's helpers
(as ``vnetlab up`` does, to wait for it) does not import os-ken.
"""

from __future__ import annotations

import logging

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ethernet, packet
from os_ken.ofproto import ofproto_v1_3

from vnetlab.agents.flow_marks import COOKIE, COOKIE_MASK, DEFAULT_IDLE_TIMEOUT

LOG = logging.getLogger("vnetlab.controller")

LEARNED_PRIORITY = 1        # above the table-miss flow, below ovs-ofctl's default 32768
ETH_TYPE_LLDP = 0x88CC


class LearningSwitch(app_manager.OSKenApp):
    """An OpenFlow 1.3 learning switch with no NORMAL fallback (see the module docstring)."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    idle_timeout = DEFAULT_IDLE_TIMEOUT  # set by main() before the app is instantiated

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # datapath id -> {mac: port}
        self.mac_to_port: dict[int, dict[str, int]] = {}

    def _flow_mod(self, datapath, **kwargs) -> None:
        parser = datapath.ofproto_parser
        datapath.send_msg(parser.OFPFlowMod(datapath=datapath, cookie=COOKIE, **kwargs))

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_connected(self, ev) -> None:
        """Clears our old flows and installs the table-miss flow."""
        datapath = ev.msg.datapath
        ofproto, parser = datapath.ofproto, datapath.ofproto_parser
        self.mac_to_port[datapath.id] = {}
        # Only flows with our cookie: the bridge's own flows from the lab file stay.
        self._flow_mod(datapath, cookie_mask=COOKIE_MASK, table_id=ofproto.OFPTT_ALL,
                       command=ofproto.OFPFC_DELETE, out_port=ofproto.OFPP_ANY,
                       out_group=ofproto.OFPG_ANY)
        actions = [parser.OFPActionOutput(ofproto.OFPP_CONTROLLER, ofproto.OFPCML_NO_BUFFER)]
        self._flow_mod(datapath, priority=0, match=parser.OFPMatch(),
                       instructions=[parser.OFPInstructionActions(ofproto.OFPIT_APPLY_ACTIONS, actions)])
        LOG.info("switch %016x connected: table-miss -> CONTROLLER installed", datapath.id)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev) -> None:
        """Learns the source, installs a flow to a known destination, forwards or floods."""
        msg = ev.msg
        datapath = msg.datapath
        ofproto, parser = datapath.ofproto, datapath.ofproto_parser
        in_port = msg.match["in_port"]
        eth = packet.Packet(msg.data).get_protocol(ethernet.ethernet)
        if eth is None or eth.ethertype == ETH_TYPE_LLDP:
            return
        table = self.mac_to_port.setdefault(datapath.id, {})
        was = table.get(eth.src)
        if was != in_port:
            if was is not None:
                # It moved (a VM migrated, a bond failed over): flows towards
                # the old port would blackhole it until they idle out.
                self._flow_mod(datapath, cookie_mask=COOKIE_MASK, table_id=ofproto.OFPTT_ALL,
                               command=ofproto.OFPFC_DELETE, out_port=ofproto.OFPP_ANY,
                               out_group=ofproto.OFPG_ANY, match=parser.OFPMatch(eth_dst=eth.src))
                LOG.info("switch %016x %s moved from port %d to %d: its flows deleted",
                         datapath.id, eth.src, was, in_port)
            LOG.info("switch %016x learned %s on port %d", datapath.id, eth.src, in_port)
            table[eth.src] = in_port

        out_port = table.get(eth.dst, ofproto.OFPP_FLOOD)
        if out_port == in_port:
            return  # the destination is behind the port it came from: nothing to forward
        actions = [parser.OFPActionOutput(out_port)]
        buffered = msg.buffer_id != ofproto.OFP_NO_BUFFER
        if out_port != ofproto.OFPP_FLOOD:
            self._flow_mod(datapath, priority=LEARNED_PRIORITY, idle_timeout=self.idle_timeout,
                           match=parser.OFPMatch(in_port=in_port, eth_dst=eth.dst),
                           instructions=[parser.OFPInstructionActions(ofproto.OFPIT_APPLY_ACTIONS, actions)],
                           buffer_id=msg.buffer_id if buffered else ofproto.OFP_NO_BUFFER)
            LOG.info("switch %016x flow installed: in_port=%d,dl_dst=%s -> output:%d (idle_timeout=%d)",
                     datapath.id, in_port, eth.dst, out_port, self.idle_timeout)
            if buffered:
                return  # the flow mod released the buffered packet along the new flow
        datapath.send_msg(parser.OFPPacketOut(datapath=datapath, buffer_id=msg.buffer_id, in_port=in_port,
                                              actions=actions, data=None if buffered else msg.data))

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_changed(self, ev) -> None:
        """A port deleted or down: forget the MACs behind it and our flows towards it."""
        msg = ev.msg
        datapath, port = msg.datapath, msg.desc
        ofproto = datapath.ofproto
        gone = msg.reason == ofproto.OFPPR_DELETE or bool(port.state & ofproto.OFPPS_LINK_DOWN) \
            or bool(port.config & ofproto.OFPPC_PORT_DOWN)
        if not gone:
            return
        table = self.mac_to_port.get(datapath.id, {})
        forgotten = [mac for mac, where in table.items() if where == port.port_no]
        for mac in forgotten:
            del table[mac]
        self._flow_mod(datapath, cookie_mask=COOKIE_MASK, table_id=ofproto.OFPTT_ALL,
                       command=ofproto.OFPFC_DELETE, out_port=port.port_no, out_group=ofproto.OFPG_ANY)
        LOG.info("switch %016x port %d is down or gone: forgot %s and its flows",
                 datapath.id, port.port_no, ", ".join(forgotten) or "no MACs")

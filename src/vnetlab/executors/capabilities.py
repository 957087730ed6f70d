"""What this machine can do for layer 2 and link impairments, found by trying (once per process).

Kernels differ: some lack 802.1Q devices, bonding or Linux-bridge VLAN
filtering, or the netem and tbf qdiscs (as modules or at build time). Reading config files or module
lists guesses; making the device is the only sure answer. :func:`detect`
makes a scratch namespace, tries each kind of device (and each qdisc on a
veth) there, and deletes the namespace again (and everything in it), so the host is never touched. The
Open vSwitch programs are found on disk; the OVS kernel datapath is reported
but not needed (labs use OVS's userspace datapath).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Callable, Optional

from vnetlab.model.bridges import KernelFeatures, lab_needs_probe
from vnetlab.host import netns
from vnetlab.executors import ovs
from vnetlab.agents.controller import osken_installed

if TYPE_CHECKING:
    from vnetlab.model.schema import LabSpec
    from vnetlab.plan import Plan

__all__ = ["detect", "impairment_features", "lab_needs_probe", "plan_for_this_machine"]  # lab_needs_probe (pure) lives in model.bridges; callers read it here too

_detected: Optional[KernelFeatures] = None


def detect() -> KernelFeatures:
    """The machine's layer-2 features (probed on first call, then remembered)."""
    global _detected
    if _detected is None:
        _detected = _probe()
    return _detected


def impairment_features() -> KernelFeatures:
    """What the kernel offers for link impairments (netem, tbf), the rest assumed:
    the full probe's answer if it ran, else only the two qdiscs tried (about 20 ms)."""
    global _impairments
    if _detected is not None:
        return _detected
    if _impairments is None:
        from vnetlab.executors.kernel import KernelBackend
        from vnetlab.plan import CreateVeth

        name = f"vnlimp{os.getpid()}"  # unique per process; not a lab name (no '-')
        netns.create(name)
        try:
            kernel = KernelBackend()
            try:
                kernel.apply(CreateVeth(name, ifname="cap0", peer_netns=name, peer_ifname="cap1"))
                index = kernel.space(name).index("cap0")
            finally:
                kernel.close()
            netem, tbf = _qdiscs(name, index)
        finally:
            netns.delete(name)
        _impairments = KernelFeatures(netem=netem, tbf=tbf)  # detected stays False: L2 was not probed
    return _impairments


_impairments: Optional[KernelFeatures] = None


def plan_for_this_machine(spec: LabSpec, run_dir: str) -> Plan:
    """The plan of ``spec`` with every ``backend: auto`` bridge resolved against
    what this kernel can do (probed only when the lab has VLANs, bonds or OVS).

    Args:
        spec: the validated lab.
        run_dir: the lab's run directory (see :func:`vnetlab.compile.compile_lab`).

    Raises:
        EnvironmentProblem: the lab needs what the machine lacks.
    """
    from vnetlab.compile import compile_lab
    from vnetlab.compile.l2 import unmet_needs
    from vnetlab.errors import EnvironmentProblem

    if not lab_needs_probe(spec):
        return compile_lab(spec, None, run_dir=run_dir)
    features = detect()
    problems = unmet_needs(spec, features)
    if problems:
        raise EnvironmentProblem("; ".join(problems))
    return compile_lab(spec, features, run_dir=run_dir)


def _probe() -> KernelFeatures:
    from pyroute2 import IPRoute

    name = f"vnlcap{os.getpid()}"  # unique per process; not a lab name (no '-')
    netns.create(name)
    try:
        with netns.entered(name):
            ipr = IPRoute(groups=0)
        try:
            ipr.link("add", ifname="cap0", kind="veth", peer={"ifname": "cap1"})
            parent = ipr.link_lookup(ifname="cap0")[0]
            vlan = _works(lambda: ipr.link("add", ifname="cap0.10", kind="vlan", link=parent, vlan_id=10))
            bond = _works(lambda: ipr.link("add", ifname="capbond", kind="bond"))
            filtering = _works(lambda: ipr.link("add", ifname="capbr", kind="bridge", br_vlan_filtering=1))
        finally:
            ipr.close()
        netem, tbf = _qdiscs(name, parent)
    finally:
        netns.delete(name)  # the kernel frees every device made in it
    return KernelFeatures(vlan_devices=vlan, bonding=bond, vlan_filtering=filtering, netem=netem, tbf=tbf,
                          ovs_kernel=os.path.isdir("/sys/module/openvswitch"),
                          ovs_userspace=ovs.installed(), osken=osken_installed(), detected=True)


def _qdiscs(name: str, index: int) -> tuple[bool, bool]:
    """Whether the kernel has the netem and the tbf qdisc: each is set as the
    root qdisc of the scratch veth ``index`` (and removed again)."""
    from vnetlab.host import tc
    from vnetlab.host.rtnetlink import Namespace
    from vnetlab.model.impairment import Impairment

    space = Namespace(name, fresh=False)
    try:
        found = []
        for kind, options in (("netem", tc.netem_options(Impairment(delay=1000))),
                              ("tbf", tc.tbf_options(Impairment(rate=1_000_000)))):
            found.append(_works(lambda: tc.replace_root(space, index, kind, options)))
            with contextlib.suppress(Exception):
                tc.delete_root(space, index)
    finally:
        space.close()
    return found[0], found[1]


def _works(attempt: Callable[[], object]) -> bool:
    with contextlib.suppress(Exception):
        attempt()
        return True
    return False

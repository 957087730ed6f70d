"""Link impairments without a kernel: parsing, mechanism choice, the plan per
mechanism, runtime changes of a running lab, the tc messages, the diff, the CLI's
bad input. (The lab file's mapping links: fixtures/bad/impair_*.yaml.)"""

from __future__ import annotations

import socket
import struct

import pytest

from vnetlab import cli
from vnetlab.agents.supervisor import ImpairSpec, SupervisorConfig
from vnetlab.compile import compile_lab
from vnetlab.compile.runtime import RuntimeChanges, link_of, with_runtime
from vnetlab.host import nlmsg, tc
from vnetlab.model import LabSpec
from vnetlab.model.bridges import ASSUMED, KernelFeatures
from vnetlab.model.impairment import (
    Impairment, mechanism, netem_args, parse_duration, parse_percent, parse_rate, tap_name, tbf_args,
)
from vnetlab.observe.diff import Observed, ObservedImpairment, ObservedLink, diff
from vnetlab.plan import ClearImpairment, Plan, SetImpairment, SetLinkState

NO_NETEM = KernelFeatures(netem=False)
NOTHING = KernelFeatures(netem=False, tbf=False)


def lab(links: list) -> LabSpec:
    return LabSpec.model_validate({
        "lab": "imp",
        "nodes": {name: {"interfaces": {"eth0": {"address": f"10.0.{i}.1/24"}}} for i, name in enumerate("abcd")},
        "links": links,
    })


# -- parsing ----------------------------------------------------------------
@pytest.mark.parametrize("text, micros", [("20ms", 20_000), ("500us", 500), ("1s", 1_000_000), ("1.5ms", 1_500),
                                          (" 40 ms ", 40_000)])
def test_durations(text, micros):
    assert parse_duration(text) == micros


@pytest.mark.parametrize("text, words", [("20", "not a duration"), ("20 parsecs", "not a duration"),
                                         ("-5ms", "not a duration"), ("2min", "not a duration"),
                                         ("90s", "more than a minute")])
def test_bad_durations_say_what_to_write(text, words):
    with pytest.raises(ValueError, match=words):
        parse_duration(text)


def test_percentages_and_their_range():
    assert parse_percent("1%") == 1.0 and parse_percent(0.5) == 0.5 and parse_percent("100%") == 100.0
    for bad, words in (("101%", "more than 100%"), ("-1%", "not a percentage"), ("lots", "not a percentage")):
        with pytest.raises(ValueError, match=words):
            parse_percent(bad)


def test_rates_in_bits_and_a_warning_about_bytes():
    assert parse_rate("10mbit") == 10_000_000 and parse_rate("1.5Gbit") == 1_500_000_000
    with pytest.raises(ValueError, match="bytes per second"):
        parse_rate("10mbps")
    with pytest.raises(ValueError, match="below 8kbit"):
        parse_rate("100bit")


@pytest.mark.parametrize("values, words", [
    ({"jitter": "5ms"}, "jitter needs a delay"),
    ({"delay": "5ms", "distribution": "normal"}, "distribution shapes the jitter"),
    ({"loss_correlation": "25%"}, "needs a loss"),
    ({"reorder": "25%"}, "needs a delay"),
    ({"distribution": "gauss", "delay": "1ms", "jitter": "1ms"}, "not one of"),
    ({"limit": 0}, "queue length"),
])
def test_meaningless_combinations_are_refused(values, words):
    with pytest.raises(ValueError, match=words):
        Impairment.parse(values)


def test_an_impairment_in_a_persons_words_and_netems():
    value = Impairment.parse({"delay": "40ms", "jitter": "5ms", "distribution": "normal", "loss": "1%",
                              "rate": "10mbit", "limit": 100})
    assert value.text() == "delay 40ms jitter 5ms distribution normal loss 1% rate 10mbit limit 100"
    assert netem_args(value) == ["limit", "100", "delay", "40ms", "5ms", "distribution", "normal", "loss", "1%",
                                 "rate", "10mbit"]
    assert tbf_args(Impairment(rate=10_000_000)) == ["rate", "10mbit", "burst", "65536", "latency", "50ms"]
    assert Impairment.from_dict(value.to_dict()) == value


def test_the_mechanism_is_what_the_kernel_offers():
    delay, rate = Impairment(delay=20_000), Impairment(rate=10_000_000)
    assert mechanism(delay, netem=True) == mechanism(rate, netem=True) == "netem"
    assert mechanism(rate, netem=False) == "tbf"
    assert mechanism(Impairment(rate=10_000_000, limit=50), netem=False) == "tbf"
    assert mechanism(delay, netem=False) == "userspace"
    assert mechanism(Impairment(rate=10_000_000, loss=1.0), netem=False) == "userspace"
    assert mechanism(rate, netem=False, tbf=False) == "userspace"


def test_tap_names_fit_the_kernels_limit():
    assert tap_name("eth0") == "eth0-imp"
    long = tap_name("enp0s31f6abcde")
    assert len(long) <= 15 and long != tap_name("enp0s31f6abcdf")


# -- the plan ---------------------------------------------------------------
def impairment_ops(plan: Plan) -> dict[tuple[str, str], SetImpairment]:
    return {(op.netns, op.ifname): op for op in plan.ops if isinstance(op, SetImpairment)}


def test_both_directions_and_an_ends_own_keys_on_top():
    spec = lab([{"ends": ["a:eth0", "b:eth0"], "delay": "20ms", "b": {"loss": "10%", "delay": "50ms"}},
                ["c:eth0", "d:eth0"]])
    ops = impairment_ops(compile_lab(spec, ASSUMED))
    assert set(ops) == {("imp-a", "eth0"), ("imp-b", "eth0")}  # c-d is a plain veth
    assert ops[("imp-a", "eth0")].value == Impairment(delay=20_000)
    assert ops[("imp-b", "eth0")].value == Impairment(delay=50_000, loss=10.0)


def test_plan_lines_per_mechanism():
    spec = lab([{"ends": ["a:eth0", "b:eth0"], "delay": "20ms", "loss": "1%"},
                {"ends": ["c:eth0", "d:eth0"], "rate": "10mbit"}])
    with_netem = impairment_ops(compile_lab(spec, ASSUMED))
    assert {op.mechanism for op in with_netem.values()} == {"netem"}
    assert with_netem[("imp-a", "eth0")].command_lines() == [
        "ip netns exec imp-a tc qdisc replace dev eth0 root netem delay 20ms loss 1%"]
    assert with_netem[("imp-a", "eth0")].plan_lines()[0].startswith("# mechanism netem")

    without = impairment_ops(compile_lab(spec, NO_NETEM))
    tbf, user = without[("imp-c", "eth0")], without[("imp-a", "eth0")]
    assert tbf.mechanism == "tbf" and tbf.plan_lines()[0].startswith("# mechanism tbf (no netem in this kernel")
    assert tbf.command_lines() == [
        "ip netns exec imp-c tc qdisc replace dev eth0 root tbf rate 10mbit burst 65536 latency 50ms"]
    assert user.mechanism == "userspace" and user.tap == "eth0-imp"
    lines = user.plan_lines()
    assert lines[0].startswith("# mechanism userspace (no netem in this kernel)")
    assert "ip -n imp-a tuntap add dev eth0-imp mode tap" in lines
    assert "ip -n imp-a link set eth0-imp up arp off" in lines
    assert ("ip netns exec imp-a tc filter replace dev eth0 egress protocol all prio 1 bpf bytecode "
            "'4,32 0 0 4294963220,21 0 1 1447971889,6 0 0 0,6 0 0 4294967295' "
            "action mirred egress redirect dev eth0-imp") in lines
    assert all(op.mechanism == "userspace" for op in impairment_ops(compile_lab(spec, NOTHING)).values())


def test_the_inverse_of_a_change_is_what_was_there():
    old = SetImpairment("imp-a", ifname="eth0", impairment=(("rate", 10_000_000),), mechanism="tbf")
    new = SetImpairment("imp-a", ifname="eth0", impairment=(("delay", 5000),), mechanism="userspace", tap="eth0-imp")
    assert new.inverse(old) == old
    assert new.inverse() == ClearImpairment("imp-a", ifname="eth0", mechanism="userspace", tap="eth0-imp")
    assert ClearImpairment("imp-a", ifname="eth0").inverse(old) == old


def test_plan_json_gives_the_same_op_back():
    op = SetImpairment("imp-a", ifname="eth0", impairment=(("delay", 5000), ("loss", 1.0)), mechanism="userspace",
                       tap="eth0-imp")
    data = __import__("json").loads(__import__("json").dumps(op.to_dict()))  # pairs come back as lists
    back = SetImpairment.from_dict(data)
    assert back == op and hash(back) == hash(op)


# -- runtime changes ----------------------------------------------------------
def test_runtime_changes_replace_the_files_impairment_and_cut_cables():
    spec = lab([{"ends": ["a:eth0", "b:eth0"], "delay": "20ms"}, ["c:eth0", "d:eth0"]])
    plan = compile_lab(spec, NO_NETEM)
    changes = RuntimeChanges(impairments={"a:eth0": {"rate": 1_000_000}, "b:eth0": {}, "c:eth0": {"loss": 5.0},
                                          "x:eth9": {"delay": 1000}},
                             cut=[("c:eth0", "d:eth0")])
    running = with_runtime(plan, spec, changes, NO_NETEM)
    ops = impairment_ops(running)
    assert ops[("imp-a", "eth0")].mechanism == "tbf" and ops[("imp-a", "eth0")].value == Impairment(rate=1_000_000)
    assert ("imp-b", "eth0") not in ops  # cleared while the lab runs
    assert ops[("imp-c", "eth0")].mechanism == "userspace"
    states = {(op.netns, op.ifname): op.up for op in running.ops if isinstance(op, SetLinkState)}
    assert states[("imp-c", "eth0")] is False and states[("imp-d", "eth0")] is False
    assert states[("imp-a", "eth0")] is True
    assert with_runtime(plan, spec, RuntimeChanges()) is plan
    assert RuntimeChanges.from_dict(changes.to_dict()) == changes
    assert link_of(spec, "d:eth0") == ("d:eth0", "c:eth0") and link_of(spec, "a:lo") is None


def test_a_runtime_impairments_mechanism_follows_the_plans_kernel_without_features():
    spec = lab([{"ends": ["a:eth0", "b:eth0"], "rate": "10mbit"}])
    plan = compile_lab(spec, NO_NETEM)  # its tbf says: no netem here
    running = with_runtime(plan, spec, RuntimeChanges(impairments={"b:eth0": {"delay": 1000}}))
    assert impairment_ops(running)[("imp-b", "eth0")].mechanism == "userspace"


# -- the tc messages ------------------------------------------------------------
def test_netem_options_match_an_independent_encoder_and_read_back():
    from pyroute2.netlink.rtnl.tcmsg import plugins

    value = Impairment(delay=20_000, jitter=5_000, loss=1.0, duplicate=2.0, limit=500)
    mine = tc.netem_options(value)
    theirs = plugins["netem"].get_parameters({"delay": 20_000, "jitter": 5_000, "loss": 1, "duplicate": 2,
                                              "limit": 500})
    latency, limit, loss, gap, duplicate, jitter = struct.unpack_from("=IIIIII", mine)
    assert (latency, limit, gap, jitter) == (int(theirs["delay"]), 500, 0, int(theirs["jitter"]))
    assert abs(loss - theirs["loss"]) <= 1 and abs(duplicate - theirs["duplicate"]) <= 1  # tc rounds, pyroute2 truncates
    found = tc.parse_netem(mine)
    assert tc.same_netem(found, tc.netem_params(value))
    assert tc.netem_impairment(found) == value
    assert tc.describe_netem(found) == "netem limit 500 delay 20ms 5ms loss 1% duplicate 2%"


def test_netem_reorder_corrupt_rate_and_distribution_attributes():
    value = Impairment(delay=10_000, jitter=2_000, distribution="normal", reorder=25.0, corrupt=0.5,
                       loss=3.0, loss_correlation=50.0, rate=100_000_000)
    options = tc.netem_options(value)
    attrs = nlmsg.attributes(options, 24)
    assert struct.unpack_from("=I", options, 12)[0] == 1  # gap 1, as tc sets it for reorder
    assert tc.TCA_NETEM_DELAY_DIST in attrs and len(attrs[tc.TCA_NETEM_DELAY_DIST]) % 2 == 0
    assert struct.unpack("=q", attrs[tc.TCA_NETEM_LATENCY64])[0] == 10_000_000
    found = tc.parse_netem(options)
    assert found["rate"] == 12_500_000 and tc.same_netem(found, tc.netem_params(value))
    assert tc.netem_impairment(found, hint=value) == value  # the distribution is not read back: the hint's stays


def test_tbf_options_read_back_as_the_same_impairment():
    for value in (Impairment(rate=10_000_000), Impairment(rate=1_000_000, limit=100),
                  Impairment(rate=40_000_000_000)):
        found = tc.parse_tbf(tc.tbf_options(value))
        assert tc.same_tbf(found, tc.tbf_params(value))
        assert tc.tbf_impairment(found) == value
    assert tc.tbf_impairment(tc.parse_tbf(tc.tbf_options(Impairment(rate=1_000_000)))) != Impairment(rate=2_000_000)


class _Replies:
    """A netlink session that answers every request with canned messages."""

    def __init__(self, replies):
        self.replies = replies

    def request(self, msg_type, flags, body, seq):
        return self.replies.get(msg_type, [])


def _tcmsg(kind: int, index: int, handle: int, parent: int, attrs: bytes) -> tuple[int, bytes]:
    body = struct.pack("=BBHiIII", socket.AF_UNSPEC, 0, 0, index, handle, parent, 0) + attrs
    return kind, struct.pack("=IHHII", 16 + len(body), kind, 0, 1, 0) + body


def test_reading_back_finds_the_root_qdisc_and_the_redirect():
    from vnetlab.host.rtnetlink import _attr

    tbf = _attr(tc.TCA_KIND, b"tbf\0") + _attr(tc.TCA_OPTIONS, tc.tbf_options(Impairment(rate=8_000_000)))
    default = _attr(tc.TCA_KIND, b"noqueue\0")
    clsact = _attr(tc.TCA_KIND, b"clsact\0")
    filt = _attr(tc.TCA_KIND, b"bpf\0") + _attr(tc.TCA_OPTIONS, tc._redirect_options(7))
    other = _attr(tc.TCA_KIND, b"bpf\0") + _attr(tc.TCA_OPTIONS, tc._redirect_options(8, mark=1))
    session = _Replies({
        tc.RTM_GETQDISC: [_tcmsg(tc.RTM_NEWQDISC, 2, 0x80010000, tc.TC_H_ROOT, tbf),
                          _tcmsg(tc.RTM_NEWQDISC, 3, 0, tc.TC_H_ROOT, default),  # the device's own: not ours
                          _tcmsg(tc.RTM_NEWQDISC, 4, tc.CLSACT_HANDLE, tc.TC_H_CLSACT, clsact)],
        tc.RTM_GETTFILTER: [_tcmsg(tc.RTM_NEWTFILTER, 4, 0x800, tc.EGRESS, filt)],
    })
    found = tc.read(session)
    assert found[4].ours
    assert set(found) == {2, 4}
    assert found[2].root == "tbf" and tc.tbf_impairment(found[2].params) == Impairment(rate=8_000_000)
    assert found[4].clsact and found[4].redirects == (7,)
    assert found[4].text({7: "eth0-imp"}) == "egress redirected to eth0-imp"
    assert found[2].text({}).startswith("tbf rate 8mbit")
    session.replies[tc.RTM_GETTFILTER] = [_tcmsg(tc.RTM_NEWTFILTER, 4, 0x800, tc.EGRESS, other)]
    found = tc.read(session)
    assert found[4].redirects == (8,) and not found[4].ours  # another program would loop the engine's frames
    assert found[4].text({8: "x"}) == "egress redirected to x (not by vnetlab's filter)"


def test_the_redirect_passes_the_engines_marked_frames():
    from vnetlab.agents.impair_engine import pass_marked_bpf
    from vnetlab.model.impairment import REDIRECT_MARK, redirect_bytecode

    assert redirect_bytecode() == pass_marked_bpf(REDIRECT_MARK)


# -- the diff -----------------------------------------------------------------
def _observed(**impairments) -> Observed:
    seen = Observed(namespaces={"imp-a", "imp-b"})
    seen.links = {ns: {"eth0": ObservedLink(kind="veth")} for ns in seen.namespaces}
    for ns, found in impairments.items():
        seen.impairments[ns.replace("_", "-")] = {"eth0": found}
    return seen


def test_diff_of_impairments():
    spec = lab([{"ends": ["a:eth0", "b:eth0"], "rate": "10mbit"}])
    plan = compile_lab(spec, NO_NETEM)
    wanted = impairment_ops(plan)[("imp-a", "eth0")].objects()[0][1]
    as_wanted = ObservedImpairment(wanted, "tbf rate 10mbit …", "tbf")
    other = ObservedImpairment("tbf rate 1mbit burst 32768b limit 39018b", "tbf rate 1mbit burst 32768b limit 39018b")

    assert [c for c in diff(plan, _observed(imp_a=as_wanted, imp_b=as_wanted), plan).changes
            if c.kind == "impairment"] == []
    changes = [c for c in diff(plan, _observed(imp_a=other), plan).changes if c.kind == "impairment"]
    by_ns = {c.netns: c for c in changes}
    assert by_ns["imp-a"].sign == "~" and by_ns["imp-a"].drift
    assert by_ns["imp-a"].describe("imp") == ("a eth0: tbf rate 1mbit burst 32768b limit 39018b (expected rate "
                                              "10mbit (tbf)) — changed by hand?")
    assert by_ns["imp-b"].sign == "+" and "missing" in by_ns["imp-b"].describe("imp")
    assert isinstance(by_ns["imp-a"].ops[0], SetImpairment)

    plain = compile_lab(lab([["a:eth0", "b:eth0"]]), NO_NETEM)
    extra = [c for c in diff(plain, _observed(imp_a=other), plain).changes if c.kind == "impairment"]
    assert len(extra) == 1 and extra[0].sign == "-" and extra[0].drift
    assert extra[0].ops == (ClearImpairment("imp-a", ifname="eth0", mechanism="tbf"),)
    # The file changed (rate 10mbit -> none): not drift, and the removal goes before the plan.
    removed = [c for c in diff(plain, _observed(imp_a=as_wanted), plan).changes if c.kind == "impairment"]
    assert removed[0].sign == "-" and not removed[0].drift
    assert diff(plain, _observed(imp_a=as_wanted), plan).removals()[0].name == "clear_impairment"


def test_the_supervisors_config_carries_impaired_ends():
    spec = ImpairSpec("imp-a", "eth0", "eth0-imp", (("delay", 20_000), ("loss", 1.0)))
    config = SupervisorConfig("imp", impaired=(spec,), generation=3)
    back = SupervisorConfig.from_dict(__import__("json").loads(__import__("json").dumps(config.to_dict())))
    assert back == config
    with pytest.raises(ValueError, match="more than once"):
        SupervisorConfig.from_dict({"lab": "imp", "impaired": [spec.to_dict(), spec.to_dict()]})
    assert "impaired" not in SupervisorConfig("imp").to_dict()  # labs without impairments: as before


# -- the command line ------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["impair", "nolab", "a:eth0", "--delay", "5parsec"], "--delay: '5parsec' is not a duration"),
    (["impair", "nolab", "a:eth0", "--loss", "150%"], "--loss: '150%' is more than 100%"),
    (["impair", "nolab", "a:eth0", "--jitter", "5ms"], "--jitter needs --delay"),
    (["impair", "nolab", "a:eth0", "--rate", "10mbps"], "--rate: '10mbps': in tc, bps means bytes"),
    (["impair", "nolab", "a:eth0", "--distribution", "gauss", "--delay", "1ms", "--jitter", "1ms"],
     "--distribution: 'gauss' is not one of"),
    (["impair", "nolab", "a:eth0", "--clear", "--delay", "1ms"], "--clear and --reset take no impairment"),
    (["impair", "nolab", "--delay", "1ms"], "name the link end"),
])
def test_bad_impair_options_exit_2_naming_the_option(argv, words, capsys):
    assert cli.main(argv) == 2
    assert words in capsys.readouterr().err


def test_link_needs_down_or_up(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["link", "nolab", "a:eth0", "sideways"])
    assert exited.value.code == 2


def test_plan_without_probing_says_netem_is_assumed(tmp_path, monkeypatch, capsys):
    import argparse

    from vnetlab.cli import lifecycle

    path = tmp_path / "imp.yaml"
    path.write_text("lab: imp\nnodes:\n  a: {interfaces: {eth0: {}}}\n  b: {interfaces: {eth0: {}}}\n"
                    "links:\n  - {ends: [a:eth0, b:eth0], delay: 20ms}\n")
    monkeypatch.setattr(lifecycle.os, "geteuid", lambda: 1000)  # an ordinary user: the kernel is not probed
    assert lifecycle.cmd_plan(argparse.Namespace(labfile=str(path), full=True, format="text")) == 0
    out = capsys.readouterr().out
    assert "# impairments: netem assumed" in out and "root netem delay 20ms" in out

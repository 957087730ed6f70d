"""Link impairments: delay, jitter, loss, duplication, corruption, reordering,
rate and queue limit — their units, their rules, and one value type (pure).

A lab file writes them as netem does (``delay: 20ms``, ``loss: 1%``,
``rate: 100mbit``); this module parses that text into numbers once, says
what is wrong with a value (the schema turns the ValueError into a
file:line error), and holds the result as an :class:`Impairment`: what one
end of a link does to the frames it *sends*. A link's both-direction keys
apply to both ends; an end's own keys (under its node's name) add to them.

Which mechanism carries an impairment — the kernel's netem, tbf, or
vnetlab's userspace path when the kernel has no netem — is chosen by
:func:`mechanism` from what the kernel offers (handed in, never probed here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Optional

# The keys of an impairment, in the order netem prints them.
KEYS = ("delay", "jitter", "distribution", "loss", "loss_correlation", "duplicate", "corrupt", "reorder",
        "rate", "limit")
DISTRIBUTIONS = ("normal", "pareto", "paretonormal", "uniform")
PERCENT_KEYS = ("loss", "loss_correlation", "duplicate", "corrupt", "reorder")

NETEM, TBF, USERSPACE = "netem", "tbf", "userspace"  # the mechanisms

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|usec|µs|ms|msec|s|sec)\s*")
_DURATION_UNITS = {"us": 1, "usec": 1, "µs": 1, "ms": 1_000, "msec": 1_000, "s": 1_000_000, "sec": 1_000_000}
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|tbit)\s*", re.IGNORECASE)
_RATE_UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000, "tbit": 1_000_000_000_000}
MAX_DELAY_US = 60_000_000  # a minute: beyond it, a typo (netem's own limit is far higher)


def parse_duration(value: Any) -> int:
    """'20ms' -> 20000 (microseconds). Raises ValueError with advice."""
    text = str(value)
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration — write a number and a unit: 20ms, 500us or 1s")
    micros = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if micros > MAX_DELAY_US:
        raise ValueError(f"{text!r} is more than a minute — a link delay is usually milliseconds, e.g. 40ms")
    return round(micros)


def parse_percent(value: Any) -> float:
    """'1%' (or 1, 0.5) -> 1.0. Raises ValueError unless 0..100."""
    text = str(value)
    match = _PERCENT.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a percentage — write e.g. 1% or 0.5%")
    number = float(match.group(1))
    if number > 100:
        raise ValueError(f"{text!r} is more than 100% — a share of the frames is between 0% and 100%")
    return number


def parse_rate(value: Any) -> int:
    """'100mbit' -> 100000000 (bit/s). Raises ValueError with advice."""
    text = str(value)
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[kmgt]?bps\s*", text, re.IGNORECASE):
        raise ValueError(f"{text!r}: in tc, bps means bytes per second, which is easy to misread — "
                         "write bits: 8mbit for 1 MB/s")
    match = _RATE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate — write a number and bit, kbit, mbit or gbit: 100mbit")
    rate = round(float(match.group(1)) * _RATE_UNITS[match.group(2).lower()])
    if rate < 8_000:
        raise ValueError(f"{text!r} is below 8kbit — slower than one frame a second, no link can carry that")
    return rate


def parse_limit(value: Any) -> int:
    """A queue length in packets (1 or more)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is not a queue length — write a number of packets, e.g. 1000")
    return value


def parse_distribution(value: Any) -> str:
    """One of netem's jitter distributions, as written."""
    if value not in DISTRIBUTIONS:
        raise ValueError(f"{value!r} is not one of {', '.join(DISTRIBUTIONS)}")
    return value


PARSERS = {"delay": parse_duration, "jitter": parse_duration, "distribution": parse_distribution,
           "loss": parse_percent, "loss_correlation": parse_percent, "duplicate": parse_percent,
           "corrupt": parse_percent, "reorder": parse_percent, "rate": parse_rate, "limit": parse_limit}


@dataclass(frozen=True)
class Impairment:
    """What one end of a link does to the frames it sends. Times in
    microseconds, shares in percent, rate in bit/s; None: not set."""

    delay: Optional[int] = None
    jitter: Optional[int] = None
    distribution: Optional[str] = None
    loss: Optional[float] = None
    loss_correlation: Optional[float] = None
    duplicate: Optional[float] = None
    corrupt: Optional[float] = None
    reorder: Optional[float] = None
    rate: Optional[int] = None
    limit: Optional[int] = None

    @classmethod
    def parse(cls, values: Mapping[str, Any], check: bool = True) -> "Impairment":
        """From lab-file text ({'delay': '20ms', 'loss': '1%'}); keys not of
        an impairment are ignored (the caller checks them). Raises ValueError
        naming the key — or, with ``check``, what makes the combination
        meaningless (:meth:`problem`)."""
        parsed: dict[str, Any] = {}
        for key in KEYS:
            value = values.get(key)
            if value is None:
                continue
            try:
                parsed[key] = PARSERS[key](value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        impairment = cls(**parsed)
        problem = impairment.problem() if check else None
        if problem:
            raise ValueError(problem)
        return impairment

    def problem(self) -> Optional[str]:
        """What makes this combination meaningless, or None."""
        if self.jitter is not None and not self.delay:
            return "jitter needs a delay — jitter varies the delay around its value: add delay: 20ms"
        if self.distribution is not None and self.jitter is None:
            return "distribution shapes the jitter — add jitter: 5ms (and a delay)"
        if self.loss_correlation is not None and not self.loss:
            return "loss_correlation needs a loss — add loss: 1%"
        if self.reorder is not None and not self.delay:
            return "reorder sends some frames at once and delays the rest — it needs a delay: add delay: 10ms"
        return None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def merged(self, other: "Impairment") -> "Impairment":
        """This, with ``other``'s set values on top (an end's own over the link's)."""
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(other)
                                if getattr(other, f.name) is not None})

    def needs_netem(self) -> bool:
        """Whether anything beyond rate and queue length is asked for."""
        return any(getattr(self, key) is not None for key in KEYS if key not in ("rate", "limit"))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Impairment":
        return cls(**{key: data[key] for key in KEYS if data.get(key) is not None})

    def text(self) -> str:
        """As a person writes it: 'delay 20ms jitter 5ms loss 1% rate 100mbit'."""
        parts = []
        for key, value in self.to_dict().items():
            if key in ("delay", "jitter"):
                parts.append(f"{key} {format_duration(value)}")
            elif key in PERCENT_KEYS:
                parts.append(f"{key} {value:g}%")
            elif key == "rate":
                parts.append(f"rate {format_rate(value)}")
            else:
                parts.append(f"{key} {value}")
        return " ".join(parts) or "none"


def format_duration(micros: int) -> str:
    if micros % 1_000_000 == 0 and micros:
        return f"{micros // 1_000_000}s"
    if micros % 1_000 == 0:
        return f"{micros // 1_000}ms"
    return f"{micros}us"


def format_rate(bits: int) -> str:
    for unit, size in (("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000)):
        if bits % size == 0:
            return f"{bits // size}{unit}"
    return f"{bits}bit"


def netem_args(impairment: Impairment) -> list[str]:
    """The arguments of ``tc qdisc replace dev IF root netem …`` for it."""
    i = impairment
    args: list[str] = []
    if i.limit is not None:
        args += ["limit", str(i.limit)]
    if i.delay is not None:
        args += ["delay", format_duration(i.delay)]
        if i.jitter is not None:
            args.append(format_duration(i.jitter))
            if i.distribution is not None:
                args += ["distribution", i.distribution]
    if i.loss is not None:
        args += ["loss", f"{i.loss:g}%"] + ([f"{i.loss_correlation:g}%"] if i.loss_correlation is not None else [])
    if i.duplicate is not None:
        args += ["duplicate", f"{i.duplicate:g}%"]
    if i.corrupt is not None:
        args += ["corrupt", f"{i.corrupt:g}%"]
    if i.reorder is not None:
        args += ["reorder", f"{i.reorder:g}%"]
    if i.rate is not None:
        args += ["rate", format_rate(i.rate)]
    return args


TBF_LATENCY_US = 50_000  # how long a frame may wait in tbf's queue (when no limit is given)


def tbf_burst(rate: int) -> int:
    """tbf's bucket in bytes: a timer tick's worth of the rate (HZ=250: 4 ms), at least one 64 KiB GSO frame."""
    return max(rate // 8 // 250, 65_536)


def tbf_args(impairment: Impairment) -> list[str]:
    """The arguments of ``tc qdisc replace dev IF root tbf …`` for its rate."""
    assert impairment.rate is not None
    args = ["rate", format_rate(impairment.rate), "burst", str(tbf_burst(impairment.rate))]
    if impairment.limit is not None:
        args += ["limit", str(impairment.limit * 1514)]
    else:
        args += ["latency", format_duration(TBF_LATENCY_US)]
    return args


def mechanism(impairment: Impairment, netem: bool, tbf: bool = True) -> str:
    """Which mechanism carries ``impairment`` on a kernel with (or without) netem and tbf."""
    if netem:
        return NETEM
    if not impairment.needs_netem() and tbf:
        return TBF
    return USERSPACE


# The userspace path's engine sends what survives with this SO_MARK through the
# interface's own transmit path; the redirect filter lets marked frames pass, so a
# capture on the interface sees them leave (as with netem). "VNL1".
REDIRECT_MARK = 0x564E4C31


def redirect_program(mark: int = REDIRECT_MARK) -> list[tuple[int, int, int, int]]:
    """The classic BPF program (code, jt, jf, k) of the userspace path's redirect
    filter: every frame matches (-1) but those carrying ``mark`` (0): load
    skb->mark (SKF_AD_OFF + SKF_AD_MARK), compare, return."""
    return [(0x20, 0, 0, (-4096 + 20) & 0xFFFFFFFF), (0x15, 0, 1, mark), (0x06, 0, 0, 0), (0x06, 0, 0, 0xFFFFFFFF)]


def redirect_bytecode(mark: int = REDIRECT_MARK) -> str:
    """:func:`redirect_program` as tc's ``bpf bytecode`` text."""
    program = redirect_program(mark)
    return f"{len(program)}," + ",".join(f"{code} {jt} {jf} {k}" for code, jt, jf, k in program)


def tap_name(ifname: str) -> str:
    """The userspace path's TAP for ``ifname`` (in the same namespace; at most 15 characters)."""
    import zlib

    short = f"{ifname}-imp"
    return short if len(short) <= 15 else f"imp{zlib.crc32(ifname.encode()) % 10**8:08d}"

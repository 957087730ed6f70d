"""A seeded fuzzer over the lab files in examples/: whatever the bytes,
loading returns a lab or raises LabFileError whose every problem is one
printable line starting FILE:LINE: — never another exception.

Each variant applies one to three mutations (byte flips, line deletions and
duplications, indentation changes, type swaps, control characters, escape
sequences, aliases, huge numbers, deep nesting, ...) to one example. Variant
N of a seed is reproducible on its own:

    VNETLAB_FUZZ_SEED=7 VNETLAB_FUZZ_VARIANTS=5000 pytest tests/unit/test_lab_file_fuzz.py
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from vnetlab.model import LabFileError, LabSpec, load_lab

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
SEED = int(os.environ.get("VNETLAB_FUZZ_SEED", "9"))
VARIANTS = int(os.environ.get("VNETLAB_FUZZ_VARIANTS", "400"))

# Values a field may be swapped for: every YAML type, and texts that look
# like one type but are not (a date that does not exist, a tagged non-number).
SWAPS = [
    "[]", "{}", "[a, b]", "{x: 1}", "null", "~", "true", "no", "1.5", "-1", "0", "010", "0x1F", "0o17",
    "1_000", "1:30", ".inf", "-.nan", "2020-01-01", "2020-13-45", "2001-12-14t21:59:43.10-05:00",
    '""', "''", '"\\e]0;title\\a\\e[2J"', '"tab\\there"', "!!int abc", "!!float x", "!!bool maybe",
    "!!timestamp soon", "!!binary '@@@'", "!!null x", "!!str 5", "!!seq [1]", "!!map {}", "!!set {a}",
    "!!python/object/apply:os.system [true]", "!local x", "! plain", "&anchor value", "*nowhere",
    "'it''s'", '"\\u202eevil"', "'\N{RIGHT-TO-LEFT OVERRIDE}rtl'", "-", "?", ":", "|\n  block", ">-",
]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x80", "\x85", "\x9b",
           "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff", "\u202e", "\t", "\r"]
BAD_BYTES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"]


def _line_index(rng: random.Random, lines: list[bytes]) -> int:
    return rng.randrange(len(lines)) if lines else 0


def flip_byte(rng, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1:]


def insert_bad_bytes(rng, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(BAD_BYTES) + data[at:]


def insert_control(rng, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(CONTROL).encode("utf-8", "surrogatepass") + data[at:]


def truncate(rng, data: bytes) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def delete_line(rng, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    if lines:
        del lines[_line_index(rng, lines)]
    return b"".join(lines)


def duplicate_line(rng, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    if lines:
        at = _line_index(rng, lines)
        lines.insert(rng.randrange(len(lines) + 1), lines[at])
    return b"".join(lines)


def reindent(rng, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    if lines:
        at = _line_index(rng, lines)
        body = lines[at].lstrip(b" ")
        indent = len(lines[at]) - len(body) + rng.choice([-4, -2, -1, 1, 2, 3, 8])
        lines[at] = rng.choice([b" ", b"\t"]) * max(indent, 0) + body
    return b"".join(lines)


def _rewrite_one_line(rng, data: bytes, pattern: bytes, rewrite) -> bytes:
    """``data`` with one random line that has ``pattern`` replaced by ``rewrite(line)``."""
    lines = data.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    if not candidates:
        return data
    at = rng.choice(candidates)
    lines[at] = rewrite(lines[at])
    return b"".join(lines)


def swap_value(rng, data: bytes) -> bytes:
    """Replaces what follows a key's colon (or a list dash) on one line."""
    return _rewrite_one_line(rng, data, rb"(:|^\s*-) \S", lambda line: re.match(
        rb"(.*?(?::|^\s*-) )", line).group(1) + rng.choice(SWAPS).encode() + b"\n")


def escape_key(rng, data: bytes) -> bytes:
    """Makes one key a double-quoted string holding terminal escape sequences."""
    return _rewrite_one_line(rng, data, rb"^\s*[\w-]+:", lambda line: re.sub(
        rb"([\w-]+):", lambda m: b'"\\e]0;pwned\\a\\e[2J' + m.group(1) + b'\\n":', line, count=1))


def alias(rng, data: bytes) -> bytes:
    """An anchor on one value and an alias on a later line, sometimes inside
    the anchored value itself, sometimes to an anchor that does not exist."""
    lines = data.splitlines(keepends=True)
    valued = [i for i, line in enumerate(lines) if re.search(rb": \S", line) and b"#" not in line]
    if not valued:
        return data
    at = rng.choice(valued)
    name = rng.choice([b"a", b"r", b"x1"])
    lines[at] = re.sub(rb": ", b": &" + name + b" ", lines[at], count=1)
    target = rng.randrange(at, len(lines))
    use = rng.choice([b"*" + name, b"[*" + name + b"]", b"{k: *" + name + b"}", b"*missing"])
    lines[target] = re.sub(rb": .*", b": " + use, lines[target], count=1)
    if rng.random() < 0.3:  # a self-reference: the alias inside its own anchored list
        lines[at] = re.sub(rb"&" + name + rb" .*", b"&" + name + b" [1, *" + name + b"]", lines[at], count=1)
    return b"".join(lines)


def alias_as_key(rng, data: bytes) -> bytes:
    return data + rng.choice([b"? &k [*k]\n: 1\n", b"x: &m {*m: 1}\n", b"*undefined : 1\n", b"&t t: *t\n"])


def alias_bomb(rng, data: bytes) -> bytes:
    lines = [b"b0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [b"b%d: &b%d [%s]" % (i, i, b", ".join([b"*b%d" % (i - 1)] * 10)) for i in range(1, rng.randrange(2, 9))]
    return data + b"\n".join(lines) + b"\n"


def huge_number(rng, data: bytes) -> bytes:
    number = rng.choice([b"9" * rng.randrange(20, 6000), b"1" + b":0" * rng.randrange(100, 3000),
                         b"1e999", b"-" + b"9" * 5000, b"0x" + b"f" * 3000, b"0." + b"0" * 5000 + b"1"])
    return _rewrite_one_line(rng, data, rb": \S", lambda line: re.sub(rb": .*", b": " + number, line, count=1))


def deep_nesting(rng, data: bytes) -> bytes:
    depth = rng.choice([10, 63, 64, 65, 300, 5000])
    if rng.random() < 0.5:
        nested = b"[" * depth + b"]" * depth
    else:
        nested = b"".join(b"\n" + b" " * (2 * i) + b"k:" for i in range(1, depth if depth < 400 else 400)) + b" 1"
    return data + b"deep: " + nested + b"\n"


def second_document(rng, data: bytes) -> bytes:
    return data + rng.choice([b"---\nlab: other\n", b"...\n", b"--- !tag\n", b"%YAML 1.1\n---\n"])


def merge_key(rng, data: bytes) -> bytes:
    return data + b"base: &base {kind: host}\nother:\n  <<: *base\n"


MUTATIONS = [flip_byte, insert_bad_bytes, insert_control, truncate, delete_line, duplicate_line, reindent,
             swap_value, swap_value, escape_key, alias, alias_as_key, alias_bomb, huge_number, deep_nesting,
             second_document, merge_key]


def variant(index: int) -> tuple[str, str, bytes]:
    """(example, mutations, bytes) of variant ``index`` of SEED."""
    rng = random.Random(f"{SEED}-{index}")
    example = rng.choice(EXAMPLES)
    data = example.read_bytes()
    names = []
    for mutation in rng.sample(MUTATIONS, rng.randrange(1, 4)):
        data = mutation(rng, data)
        names.append(mutation.__name__)
    return example.name, "+".join(names), data


def trouble(path: Path, data: bytes) -> str | None:
    """What is wrong with how ``path`` (holding ``data``) is loaded, or None
    ("" when it was rightly rejected)."""
    try:
        result = load_lab(path)
    except LabFileError as err:
        if not err.problems:
            return "LabFileError without problems"
        lines = data.count(b"\n") + data.count(b"\r") + 2
        for problem in err.problems:
            text = str(problem)
            if not re.match(rf"{re.escape(str(path))}:\d+: \S", text):
                return f"not FILE:LINE: ...: {text!r}"
            if not 1 <= problem.line <= lines:
                return f"line {problem.line} outside the file ({lines} lines): {text!r}"
            if not text.isprintable():
                return f"unprintable characters in {text!r}"
        if str(err).count("\n") != len(err.problems) - 1:
            return f"a problem spans lines: {str(err)!r}"
        return ""
    except Exception as err:  # the point of the test: report it, with the variant
        return f"{type(err).__name__}: {err}"[:300]
    return None if isinstance(result, LabSpec) else f"returned {type(result).__name__}"


def test_examples_are_there_to_mutate():
    assert len(EXAMPLES) >= 10


def test_no_mutated_lab_file_gets_anything_but_a_lab_or_file_line_messages(tmp_path):
    path = tmp_path / "fuzzed.yaml"
    failures, rejected = [], 0
    for index in range(VARIANTS):
        example, mutations, data = variant(index)
        path.write_bytes(data)
        wrong = trouble(path, data)
        if wrong:
            failures.append(f"variant {index} ({example}, {mutations}): {wrong}")
        rejected += wrong == ""
    assert not failures, f"seed {SEED}: {len(failures)} of {VARIANTS} variants:\n" + "\n".join(failures[:10])
    # The mutations must actually break files, or the test proves nothing.
    assert rejected > VARIANTS // 2


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
def test_each_mutation_changes_an_example(mutation):
    data = EXAMPLES[0].read_bytes()
    changed = sum(mutation(random.Random(seed), data) != data for seed in range(20))
    assert changed >= 10

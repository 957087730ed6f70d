"""The YAML reader step: limits judged while reading, characters YAML
refuses located, aliases that cannot be built, and the same data as PyYAML
where the file is fine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vnetlab.model import LabFileError, load_lab, load_lab_text
from vnetlab.model import yamltree
from vnetlab.model.errors import MAX_MESSAGE, Problem
from vnetlab.model.yamltree import MAX_FILE_BYTES, MAX_VALUES, YamlTree

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(LabFileError) as caught:
        load_lab_text(text, "lab.yaml")
    return caught.value.problems


def test_a_file_over_the_byte_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("lab: big\nnodes:\n" + "  h: {}\n" * (MAX_FILE_BYTES // 8))
    with pytest.raises(LabFileError) as caught:
        load_lab(path)
    [problem] = caught.value.problems
    size = path.stat().st_size
    assert problem.line == 1
    assert problem.message.startswith(f"the file is {size / 1e6:.1f} MB ({size:,} bytes) — a lab file may "
                                      f"have at most 4.0 MB (4,000,000 bytes) (a 10,000-host lab is")
    assert "alias" not in problem.message


def test_a_dense_file_stops_at_the_value_limit_and_says_so_without_blaming_aliases():
    text = "lab: dense\ndescription: hi\nlinks: [" + ",".join(["[a:b, c:d]"] * (MAX_VALUES // 3 + 10)) + "]\n"
    assert len(text) < MAX_FILE_BYTES
    [problem] = problems_of(text)
    assert problem.line == 3
    assert problem.message.startswith(f"the file has more than {MAX_VALUES:,} values (keys and values) by "
                                      f"this line — the limit is {MAX_VALUES:,}")
    assert "alias" not in problem.message


def test_an_alias_bomb_is_counted_as_it_expands_and_named_as_aliases():
    lines = ["lab: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(['*a%d' % (i - 1)] * 10)}]" for i in range(1, 9)]
    [problem] = problems_of("\n".join(lines) + "\n")
    assert problem.line == 7  # where the expansion crossed the limit, not the end of the file
    assert problem.message.startswith(f"aliases expand the file to more than {MAX_VALUES:,} values by this line")
    assert "written out)" in problem.message


def test_repeating_through_aliases_is_fine_below_the_limit():
    spec = load_lab_text("lab: x\nnodes:\n  red: &host {interfaces: {lo: {}}}\n  blue: *host\n")
    assert spec.nodes["blue"] == spec.nodes["red"]


def test_an_error_inside_an_aliased_value_is_reported_where_it_is_used():
    problems = problems_of("lab: x\nnodes:\n  red: &host {kind: hots}\n  blue: *host\n")
    assert [(p.line, p.path) for p in problems] == [(3, "nodes.red.kind"), (4, "nodes.blue.kind")]


def test_every_line_with_a_refused_character_is_reported_up_to_ten():
    text = "lab: x\n" + "".join(f"k{i}: a\x07b\n" for i in range(15))
    problems = problems_of(text)
    assert [p.line for p in problems] == list(range(2, 13))
    assert problems[0].message.startswith("column 6: a control character (U+0007)")
    assert problems[-1].message == "5 more lines from here on have such characters — fix the lines above first"


@pytest.mark.parametrize("breaks", ["\n", "\r\n", "\r"])
def test_lines_are_counted_as_yaml_counts_them(breaks):
    [problem] = problems_of(breaks.join(["lab: x", "nodes:", "  red: {kind: \x1b}", ""]))
    assert problem.line == 3


def test_a_leading_byte_order_mark_is_fine_and_a_later_one_is_not():
    assert load_lab_text("\ufefflab: x\n").lab == "x"
    [problem] = problems_of("lab: x\ndescription: a\ufeffb\n")
    assert (problem.line, problem.message[:37]) == (2, "column 15: a byte-order mark (U+FEFF)")


def test_nesting_is_bounded():
    [problem] = problems_of("lab: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "values nest more than 64 levels deep here" in problem.message


@pytest.mark.parametrize("value", [
    "red", "eth0", "10.0.0.1/24", "10.0.0.1", "0", "7", "010", "0x1F", "0o17", "1_000", "1:30", "12e3",
    "-1", "+1", ".5", ".inf", "-.inf", ".nan", "yes", "No", "on", "OFF", "true", "null", "~", "",
    "2020-01-01", "2001-12-14t21:59:43.10-05:00", "<<x", "Yes please", "null-ish", "9" * 200,
])
def test_plain_scalars_read_as_pyyaml_reads_them(value):
    """The reader skips PyYAML's resolver for text no implicit type can start
    with, and reads plain decimals itself: the result must not differ."""
    tree = YamlTree("x.yaml")
    expected = yaml.safe_load(f"v: {value}\n")
    assert tree.parse(f"v: {value}\n") == expected
    assert type(tree.parse(f"v: {value}\n")["v"]) is type(expected["v"])


def test_values_pyyaml_cannot_construct_are_text():
    # PyYAML resolves a plain "=" and "<<" to tags it has no constructor for.
    assert YamlTree("x.yaml").parse("a: =\nb: <<\n") == {"a": "=", "b": "<<"}


def test_pyyaml_alone_reads_every_example_as_libyaml_does(monkeypatch):
    """Without libyaml (or after its syntax error) PyYAML's parser builds the data."""
    with_libyaml = {}
    for example in EXAMPLES:
        tree = YamlTree(example.name)
        with_libyaml[example] = (tree.parse(example.read_text()), tree.lines, tree.key_lines)
    monkeypatch.setattr(yamltree, "_PARSERS", [yaml.SafeLoader])
    for example in EXAMPLES:
        tree = YamlTree(example.name)
        assert (tree.parse(example.read_text()), tree.lines, tree.key_lines) == with_libyaml[example]


def test_messages_escape_what_a_terminal_would_act_on():
    problem = Problem("lab.yaml", 3, "nodes.\x1b]0;x\x07", "kind '\x1b[2J\u202e' —\nnext")
    assert str(problem) == "lab.yaml:3: nodes.\\x1b]0;x\\x07: kind '\\x1b[2J\\u202e' —\\nnext"
    assert Problem("lab.yaml", 1, "", "café — ok").message == "café — ok"


def test_messages_keep_their_start_and_advice_when_a_value_is_huge():
    message = str(Problem("lab.yaml", 1, "", "start " + "x" * 10_000 + " — the advice"))
    assert len(message) < MAX_MESSAGE + 100
    assert "lab.yaml:1: start xxx" in message and message.endswith("x — the advice")

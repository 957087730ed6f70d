"""Loading: line numbers, collecting every problem, YAML safety, defaults."""

import textwrap

import pytest

from vnetlab.model import LabFileError, load_lab, load_lab_text

GOOD = textwrap.dedent("""\
    lab: redblue
    nodes:
      red:
        kind: router
        interfaces:
          eth0: {address: 10.0.0.1/24}
      blue:
        interfaces:
          eth0: {address: 10.0.0.2/24}
    links:
      - [red:eth0, blue:eth0]
    checks:
      - {from: red, to: blue}
    """)


def problems_of(text: str) -> list:
    with pytest.raises(LabFileError) as caught:
        load_lab_text(text, "lab.yaml")
    return caught.value.problems


def test_good_text_loads_with_from_alias_and_forwarding_defaults():
    spec = load_lab_text(GOOD)
    assert spec.checks[0].from_ == "red"
    assert spec.nodes["red"].forwards is True  # routers forward by default
    assert spec.nodes["blue"].forwards is False  # hosts don't


def test_explicit_forwarding_overrides_the_kind_default():
    spec = load_lab_text(GOOD.replace("kind: router", "kind: router\n    forwarding: false"))
    assert spec.nodes["red"].forwards is False


def test_value_error_is_located_at_the_value_line():
    text = GOOD.replace("eth0: {address: 10.0.0.2/24}", "eth0:\n        address:\n          10.0.0.2")
    [problem] = problems_of(text)
    assert (problem.file, problem.line) == ("lab.yaml", 11)  # the value, not its key (10)
    assert problem.path == "nodes.blue.interfaces.eth0.address"
    assert "has no prefix length — write it as ADDRESS/PREFIX" in problem.message


def test_unknown_key_is_located_at_the_key_line():
    text = GOOD.replace("eth0: {address: 10.0.0.2/24}", "eth0:\n        adress:\n          10.0.0.2/24")
    [problem] = problems_of(text)
    assert (problem.line, problem.path) == (10, "nodes.blue.interfaces.eth0.adress")
    assert problem.message == "unknown key 'adress' — did you mean 'address'?"


def test_every_problem_is_reported_in_line_order():
    text = textwrap.dedent("""\
        lab: BAD
        nodes:
          red:
            kind: hots
            interfaces:
              eth0: {address: 10.0.0.1/99}
        checks:
          - {from: red, to: red, expect: maybe}
        """)
    problems = problems_of(text)
    assert [p.line for p in problems] == [1, 4, 6, 8]
    assert [p.path for p in problems] == [
        "lab", "nodes.red.kind", "nodes.red.interfaces.eth0.address", "checks[0].expect",
    ]
    assert all(" — " in p.message for p in problems)  # each says what to do instead


def test_semantic_problems_get_lines_too():
    text = GOOD.replace("- {from: red, to: blue}", "- {from: green, to: blue}")
    [problem] = problems_of(text)
    assert (problem.line, problem.path) == (13, "checks[0].from")
    assert str(problem).startswith("lab.yaml:13: checks[0].from: unknown node 'green'")


def test_python_tag_is_refused_and_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"lab: evil\ndescription: !!python/object/apply:os.system ['touch {marker}']\n"
    [problem] = problems_of(text)
    assert "!!python/object/apply:os.system" in problem.message
    assert not marker.exists()


def test_alias_bomb_fails_fast():
    lines = ["lab: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(['*a%d' % (i - 1)] * 10)}]" for i in range(1, 7)]
    [problem] = problems_of("\n".join(lines) + "\n")
    assert "aliases" in problem.message


def test_duplicate_key_names_the_first_line():
    [problem] = problems_of("lab: a\nlab: b\n")
    assert str(problem) == "lab.yaml:2: lab: duplicate key 'lab' (first at line 1) — keep one"


def test_missing_lab_key():
    [problem] = problems_of("nodes: {}\n")
    assert (problem.line, problem.path) == (1, "lab")
    assert "missing required key 'lab'" in problem.message


def test_type_errors_are_readable():
    problems = problems_of("lab: x\nnodes: [red]\nlinks: {a: b}\n")
    assert [(p.line, p.message.split(" —")[0]) for p in problems] == [
        (2, "expected a mapping (key: value), got a list"),
        (3, "expected a list, got a mapping"),
    ]


def test_empty_node_and_interface_mean_defaults():
    spec = load_lab_text("lab: x\nnodes:\n  red:\n  pve:\n    interfaces:\n      tap0: {type: tap}\n      lo:\n")
    assert spec.nodes["red"].kind == "host"
    assert spec.nodes["pve"].interfaces["lo"].type is None


def test_keys_keep_their_text():
    # YAML 1.1 reads "no" as false; as an interface name it must stay "no".
    spec = load_lab_text("lab: x\nnodes:\n  red:\n    interfaces:\n      no: {type: tap}\n")
    assert list(spec.nodes["red"].interfaces) == ["no"]


def test_load_lab_reads_a_file_and_reports_its_name(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(GOOD)
    assert load_lab(path).lab == "redblue"
    path.write_text("lab: x\nfoo: 1\n")
    with pytest.raises(LabFileError, match=f"^{path}:2: foo: unknown key 'foo'"):
        load_lab(path)


def test_non_utf8_file_is_an_error(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_bytes(b"lab: x\ndescription: caf\xe9\n")
    with pytest.raises(LabFileError, match=r"lab.yaml:2: column 17: byte 0xE9 is not UTF-8 — save the file as UTF-8"):
        load_lab(path)

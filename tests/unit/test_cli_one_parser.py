"""A command builds only its own parser (build_parser(only=COMMAND)): what it
parses, prints and exits with is what the whole parser gives, for every
command and subcommand — help, usage errors, a wrong command, good arguments."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from vnetlab import cli


def outcome(parser: argparse.ArgumentParser, argv: list[str]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parsed = vars(parser.parse_args(argv))
            result = ("parsed", parsed.pop("func", None), sorted((k, repr(v)) for k, v in parsed.items()))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cases() -> list[list[str]]:
    found = [["bogus"], ["bogus", "--help"]]
    for name, parser in subcommands(cli.build_parser()).items():
        found += [[name, "--help"], [name], [name, "--bogus"], [name, "a", "b", "c", "--json"]]
        for action in subcommands(parser):
            found += [[name, action, "--help"], [name, action], [name, action, "x", "--json"],
                      [name, action, "--bogus"]]
    return found + [["up", "lab.yaml", "-q"], ["check", "lab", "--json"], ["exec", "lab", "node", "--", "ip", "a"]]


@pytest.fixture(scope="module")
def whole():
    return cli.build_parser()


@pytest.mark.parametrize("argv", cases(), ids=" ".join)
def test_the_command_s_own_parser_gives_what_the_whole_one_gives(argv, whole, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert outcome(cli.build_parser(argv[0]), argv) == outcome(whole, argv)


def test_only_the_command_asked_for_is_built():
    assert list(subcommands(cli.build_parser("up"))) == ["up"]
    assert list(subcommands(subcommands(cli.build_parser("course"))["course"]))[:2] == ["list", "start"]
    assert len(subcommands(cli.build_parser("nosuchcommand"))) == len(subcommands(cli.build_parser())) > 15

"""The tests' forked vnetlab processes (cli_fork, behind conftest.cli) give what a new process gives."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

import cli_fork
from conftest import VNETLAB, copy_example

pytestmark = pytest.mark.integration

LAB = "clifork"


@pytest.fixture(scope="module")
def server():
    started = cli_fork.Server()
    yield started
    started.close()
    assert started.process.returncode == 0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = copy_example(tmp_path_factory.mktemp("clifork"), "red-blue.yaml", lab=LAB)
    subprocess.run([*VNETLAB, "up", path, "-q"], check=True)
    try:
        yield path
    finally:
        subprocess.run([*VNETLAB, "down", LAB, "-q"], check=True)


def timeless(text: str) -> str:
    """The text with its measured times (round-trip times, seconds taken) left out."""
    return re.sub(r"\d+\.\d+", "T", text)


def both(server, *args: str, input: str | None = None):
    real = subprocess.run([*VNETLAB, *args], capture_output=True, text=True, input=input)
    forked = server.run(args, dict(os.environ), None, input, None)
    return real, forked


@pytest.mark.parametrize("args", [
    ("--help",), ("bogus",), ("validate", "LAB"), ("validate", "/nonexistent/lab.yaml"), ("plan", "LAB"),
    ("up", "LAB", "--json"), ("check", LAB, "--json"), ("status", LAB),
    ("exec", LAB, "red", "--", "sh", "-c", "echo out; echo err >&2; exit 7"), ("exec", LAB, "nosuchnode", "true"),
])
def test_a_forked_run_prints_and_exits_as_a_new_process(server, lab, args):
    real, forked = both(server, *(lab if arg == "LAB" else arg for arg in args))
    assert (forked.returncode, timeless(forked.stdout), timeless(forked.stderr)) == \
           (real.returncode, timeless(real.stdout), timeless(real.stderr))


def test_a_bad_lab_file_gives_the_same_file_line_errors_and_exit_2(server, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("lab: bad\nnodes:\n  a:\n    interfaces:\n      eth0: {address: 10.0.0.300/24}\n")
    real, forked = both(server, "validate", str(path))
    assert forked.returncode == real.returncode == 2
    assert f"{path}:5" in forked.stderr and forked.stderr == real.stderr


def test_the_run_gets_its_stdin_environment_and_directory(server, lab, tmp_path):
    env = {**os.environ, "PROBE": "seen"}
    forked = server.run(("exec", LAB, "red", "--", "sh", "-c", 'echo "$PROBE"; pwd; tr a-z A-Z'), env,
                        str(tmp_path), "from stdin\n", None)
    assert (forked.returncode, forked.stdout) == (0, f"seen\n{tmp_path}\nFROM STDIN\n"), forked


def test_a_run_past_its_timeout_is_killed(server, lab):
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        server.run(("exec", LAB, "red", "--", "sleep", "3"), dict(os.environ), None, None, 0.5)
    assert time.monotonic() - started < 2.5

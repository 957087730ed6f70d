"""Every error vnetlab raises on purpose belongs to one family with an exit
code, and the command line maps errors to exit codes from the class alone."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil

import pytest

import vnetlab
from vnetlab import cli, errors
from vnetlab.errors import ApplyError, VnetlabError


def _all_modules():
    for info in pkgutil.walk_packages(vnetlab.__path__, "vnetlab."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _exception_classes():
    seen = {}
    for module in _all_modules():
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                seen[f"{module.__name__}.{name}"] = obj
    return seen


def test_the_walk_finds_the_known_errors():
    found = _exception_classes()
    # A sample from several layers: the walk is not vacuous.
    for name in ("vnetlab.model.errors.LabFileError", "vnetlab.names.UnsafeName", "vnetlab.host.state.LabBusy",
                 "vnetlab.host.rtnetlink.NetlinkError", "vnetlab.errors.ApplyError", "vnetlab.cli.common.UsageError"):
        assert name in found
    assert len(found) >= 16


@pytest.mark.parametrize("name", sorted(_exception_classes()))
def test_every_public_error_is_a_vnetlab_error_with_an_exit_code(name):
    cls = _exception_classes()[name]
    assert issubclass(cls, VnetlabError), f"{name} has no VnetlabError family"
    if cls is not ApplyError:  # its code depends on its cause (below)
        assert cls.exit_code in (1, 2, 3), name


def _problem():
    from vnetlab.model.errors import Problem

    return Problem(file="lab.yaml", line=3, path="nodes.a", message="is wrong")


def _error(kind: str) -> BaseException:
    from vnetlab.executors.service_start import ServiceExited
    from vnetlab.host.state import LabBusy
    from vnetlab.model.errors import LabFileError
    from vnetlab.names import UnsafeName
    from vnetlab.plan import CreateNamespace

    op = CreateNamespace(netns="x-a")
    return {
        "usage": cli.UsageError("bad flag"),
        "unsafe": UnsafeName("'..' is no lab name"),
        "conflict": errors.LabConflict("lab x is already up"),
        "lookup": LookupError("no node z in lab x"),
        "environment": errors.EnvironmentProblem("needs root"),
        "busy": LabBusy("lab x is busy"),
        "apply": ApplyError(op, 1, OSError("refused"), []),
        "apply-service": ApplyError(op, 1, ServiceExited("web exited"), [], finishing=True),
        "file": LabFileError([_problem()]),
    }[kind]


@pytest.mark.parametrize("kind,code,stderr", [
    ("usage", 2, "vnetlab: bad flag\n"),
    ("unsafe", 2, "vnetlab: '..' is no lab name\n"),
    ("conflict", 2, "vnetlab: lab x is already up\n"),
    ("lookup", 2, "vnetlab: no node z in lab x\n"),
    ("environment", 3, "vnetlab: needs root\n"),
    ("busy", 1, "vnetlab: lab x is busy\n"),
    ("apply", 3, "; everything this run changed was undone\n"),
    ("apply-service", 1, "vnetlab: web exited; everything this run changed was undone\n"),
    ("file", 2, "1 problem; nothing was created\n"),
])
def test_the_command_line_maps_each_family_to_its_exit_code(monkeypatch, capsys, kind, code, stderr):
    def command(args):
        raise _error(kind)

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=command)
    monkeypatch.setattr(cli, "build_parser", lambda only=None: parser)
    assert cli.main([]) == code
    assert capsys.readouterr().err.endswith(stderr)

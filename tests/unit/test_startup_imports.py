"""What each command imports: `down` and `status` never load the lab-file
schema (pydantic builds its models at import, most of a small lab's run
time), `validate` never loads the compiler. Each case runs in a fresh
interpreter, whose module table is the thing asserted on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "red-blue.yaml")
HEAVY = ("pydantic", "yaml", "pyroute2", "rich", "vnetlab.model.schema", "vnetlab.compile.compiler", "vnetlab.plan")


def loaded_after(code: str) -> set[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_down_loads_neither_the_model_nor_the_plan():
    # the modules `vnetlab down LAB` runs: the CLI, the API's down, the teardown's executors
    code = ("import vnetlab.cli, vnetlab.lab\n"
            "from vnetlab.agents import services, supervisor\n"
            "from vnetlab.executors import ovs\n"
            "from vnetlab.host import neigh, processes")
    assert loaded_after(code) <= {"vnetlab.plan"}  # ovs describes its ops; no model, no yaml, no pydantic
    assert loaded_after("import vnetlab.cli, vnetlab.lab") == set()


def test_status_reads_the_lab_without_the_model():
    code = "import vnetlab.cli, vnetlab.observe.status, vnetlab.observe.drift, vnetlab.host.applied"
    assert loaded_after(code) == {"vnetlab.plan"}


def test_validate_does_not_load_the_compiler():
    loaded = loaded_after(f"from vnetlab.model import load_lab\nload_lab({EXAMPLE!r})")
    assert {"pydantic", "yaml"} <= loaded
    assert not loaded & {"vnetlab.compile.compiler", "vnetlab.plan", "pyroute2", "rich"}

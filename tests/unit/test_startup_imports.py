"""What each command imports: `down` and `status` never load the lab-file
schema (pydantic builds its models at import, most of a small lab's run
time), `validate` never loads the compiler, `exec` in a node entered before
loads neither the schema nor the op types. Each case runs in a fresh
interpreter, whose module table is the thing asserted on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "red-blue.yaml")
HEAVY = ("pydantic", "yaml", "pyroute2", "rich", "vnetlab.model.schema", "vnetlab.compile.compiler", "vnetlab.plan",
         "vnetlab.host.netns")


def loaded_after(code: str, env: dict | None = None) -> set[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_down_loads_neither_the_model_nor_the_plan():
    # the modules `vnetlab down LAB` runs: the CLI, the API's down, the teardown's executors
    code = ("import vnetlab.cli, vnetlab.lab\n"
            "from vnetlab.agents import services, supervisor\n"
            "from vnetlab.executors import ovs\n"
            "from vnetlab.host import neigh, processes")
    assert loaded_after(code) <= {"vnetlab.plan", "vnetlab.host.netns"}  # ovs describes its ops; no model
    assert loaded_after("import vnetlab.cli, vnetlab.lab") == {"vnetlab.host.netns"}


def test_status_reads_the_lab_without_the_model():
    # drift's observe() reads the trace tables a killed trace left (and their nft digests) for every lab
    code = ("import vnetlab.cli, vnetlab.observe.status, vnetlab.observe.drift, vnetlab.host.applied\n"
            "import vnetlab.executors.trace_tables, vnetlab.executors.nftables, vnetlab.plan.firewall")
    assert loaded_after(code) == {"vnetlab.plan", "vnetlab.host.netns"}


def test_exec_in_a_node_loads_neither_the_model_nor_the_op_types(tmp_path):
    # `vnetlab exec LAB NODE`: the lab from its lab.json, the node checked, its command run through host/run
    lab_dir = tmp_path / "execlab"
    lab_dir.mkdir()
    (lab_dir / "lab.json").write_text(json.dumps({"source": "/x.yaml", "spec": {
        "lab": "execlab", "nodes": {"a": {"interfaces": {}}, "b": {}}, "links": [], "checks": []}}))
    code = ("import vnetlab.cli, vnetlab.host.run\nfrom vnetlab.lab import Lab\n"
            "lab = Lab.running('execlab')\nassert lab.name == 'execlab' and lab.node_names == ['a', 'b']\n"
            "assert lab.node('b').netns == 'execlab-b'\n"
            "try:\n    lab.node('c')\nexcept KeyError as exc:\n    assert 'nodes: a, b' in str(exc)\n"
            "else:\n    raise AssertionError('no error for a node the lab lacks')")
    assert loaded_after(code, env={**os.environ, "VNETLAB_RUN_DIR": str(tmp_path)}) == {"vnetlab.host.netns"}
    # and the spec, when asked for, is lab.json's, validated
    code += "\nassert lab.spec.nodes['a'].interfaces == {}"
    assert "vnetlab.model.schema" in loaded_after(code, env={**os.environ, "VNETLAB_RUN_DIR": str(tmp_path)})


def test_validate_asks_about_os_ken_without_the_host_layer():
    assert loaded_after("from vnetlab.agents.controller import osken_installed\nosken_installed()") == set()


def test_validate_does_not_load_the_compiler():
    loaded = loaded_after(f"from vnetlab.model import load_lab\nload_lab({EXAMPLE!r})")
    assert {"pydantic", "yaml"} <= loaded
    assert not loaded & {"vnetlab.compile.compiler", "vnetlab.plan", "pyroute2", "rich"}

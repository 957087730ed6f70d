"""vnetlab web serves lab files only from --labs, and checks every name as the CLI does:
no path, no '..', no link leading out, .yaml/.yml only; lab, node and exercise names."""

from __future__ import annotations

import pytest

from vnetlab.web.files import BadFileName, LabFiles, NoSuchFile
from web_helpers import client, labs  # noqa: F401 (labs: a fixture)

REFUSED = {
    "../secret.yaml": "without a path",
    "/etc/passwd": "without a path",
    "sub/x.yaml": "without a path",
    "..": "without a path",
    "....yaml": "without a path",
    ".hidden.yaml": "without a path",
    "notes.txt": "only .yaml and .yml",
    "escape.yaml": "leads out of",
    "passwd.yaml": "leads out of",
    "notes.yaml": "leads out of",  # a link inside the folder, but to a file that is no lab file
    "x\n.yaml": "without a path",
    "": "without a path",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_start_refuses_anything_but_a_lab_file_in_the_folder(labs, name):
    answer = client(labs).post("/api/labs", json={"file": name})
    assert answer.status_code == 400, answer.text
    assert REFUSED[name] in answer.json()["error"]


@pytest.mark.parametrize("name", ["..%2Fsecret.yaml", "escape.yaml", "passwd.yaml", "notes.txt", "%2Fetc%2Fpasswd"])
def test_file_topology_refuses_them_too(labs, name):
    answer = client(labs).get(f"/api/files/{name}/topology")
    assert answer.status_code in (400, 404), answer.text
    assert "outside --labs" not in answer.text and "root:" not in answer.text


@pytest.mark.parametrize("value", [None, 3, ["proxmox-tap.yaml"], {"a": 1}])
def test_a_file_that_is_not_a_string_is_refused(labs, value):
    assert client(labs).post("/api/labs", json={"file": value}).status_code == 400


def test_a_missing_file_is_404(labs):
    answer = client(labs).post("/api/labs", json={"file": "nope.yaml"})
    assert answer.status_code == 404 and "no lab file" in answer.json()["error"]


def test_an_invalid_lab_file_is_400_with_its_problems(labs):
    answer = client(labs).post("/api/labs", json={"file": "broken.yml"})
    assert answer.status_code == 400
    problems = answer.json()["problems"]
    assert problems and all("broken.yml:" in p for p in problems) and "toaster" in " ".join(problems)


def test_the_listing_leaves_out_what_it_would_not_serve(labs):
    listed = [row["file"] for row in client(labs).get("/api/labs").json()["files"]]
    assert listed == ["broken.yml", "firewall-debug.yaml", "proxmox-tap.yaml", "pve.yaml"]


def test_a_link_that_stays_inside_is_served(labs):
    assert LabFiles(str(labs)).path_of("pve.yaml") == str((labs / "proxmox-tap.yaml").resolve())
    assert client(labs).get("/api/files/pve.yaml/topology").json()["lab"] == "pvetap"


def test_the_folder_itself_may_be_a_link(labs, tmp_path):
    link = tmp_path / "labs-link"
    link.symlink_to(labs)
    assert LabFiles(str(link)).path_of("firewall-debug.yaml").endswith("/labs/firewall-debug.yaml")
    with pytest.raises(BadFileName):
        LabFiles(str(link)).path_of("escape.yaml")
    with pytest.raises(NoSuchFile):
        LabFiles(str(link)).path_of("gone.yaml")


@pytest.mark.parametrize("method, path, fragment", [
    ("get", "/api/labs/BAD/topology", "lab name"),
    ("get", "/api/labs/a%3Bb/topology", "lab name"),
    ("get", "/api/labs/waytoolonglabname/topology", "lab name"),
    ("delete", "/api/labs/%2E%2E", "lab name"),
    ("get", "/api/labs/fwdebug/nodes/Bad_Node", "node name"),
    ("get", "/api/labs/fwdebug/nodes/-x", "node name"),
    ("post", "/api/labs/Bad/checks", "lab name"),
    ("post", "/api/labs/Bad/trace", "lab name"),
    ("get", "/api/course/%2E%2E", "exercise"),
    ("get", "/api/course/Routing", "exercise"),
    ("post", "/api/course/a.yaml/hint", "exercise"),
])
def test_bad_names_are_400_before_anything_happens(labs, method, path, fragment):
    answer = getattr(client(labs), method)(path)
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]


def test_a_trace_names_its_source_node_as_the_cli_does(labs, monkeypatch):
    from vnetlab.web import state

    monkeypatch.setattr(state.WebState, "running", lambda self, lab: object())
    answer = client(labs).post("/api/labs/fwdebug/trace", json={"from": "Evil;rm", "to": "server"})
    assert answer.status_code == 400 and "node name" in answer.json()["error"]


@pytest.mark.parametrize("body, fragment", [
    ({"interfaces": "gw:eth0"}, "give a list"),
    ({"interfaces": ["Evil;rm:eth0"]}, "node name"),
    ({"interfaces": ["gw:../../x"]}, "is not a NODE:IF name"),
    ({"interfaces": ["gw:eth0"] * 65}, "at most 64"),
    ({"filter": ["tcp"]}, "tcpdump filter expression"),
    ({"count": 0}, "positive number of packets"),
    ({"duration": "1h"}, "positive number of seconds"),
])
def test_a_capture_request_is_checked_before_anything_starts(labs, monkeypatch, body, fragment):
    from vnetlab.web import state

    monkeypatch.setattr(state.WebState, "running", lambda self, lab: object())
    answer = client(labs).post("/api/labs/fwdebug/captures", json=body)
    assert answer.status_code == 400 and fragment in answer.json()["error"], answer.text

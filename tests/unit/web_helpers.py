"""What the web tests share: a --labs folder with good, bad and hostile entries, and a client."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "t0ken-for-tests-only"
PORT = 8080
BASE = f"http://127.0.0.1:{PORT}"
WS_BASE = f"ws://127.0.0.1:{PORT}"


def make_labs(root: Path) -> Path:
    """``root/labs`` with two example labs, a broken one, a text file, a hidden file, a link
    inside and links leading out (a file and a folder), and a secret next to it."""
    labs = root / "labs"
    labs.mkdir()
    shutil.copy(REPO / "examples" / "firewall-debug.yaml", labs / "firewall-debug.yaml")
    shutil.copy(REPO / "examples" / "proxmox-tap.yaml", labs / "proxmox-tap.yaml")
    (labs / "broken.yml").write_text("lab: broken\nnodes:\n  a: {kind: toaster}\n")
    (labs / "notes.txt").write_text("not a lab\n")
    (labs / ".hidden.yaml").write_text("lab: hidden\n")
    secret = root / "secret.yaml"
    secret.write_text("lab: secret\ndescription: outside --labs\n")
    os.symlink(secret, labs / "escape.yaml")
    os.symlink("/etc/passwd", labs / "passwd.yaml")
    os.symlink(labs / "notes.txt", labs / "notes.yaml")
    os.symlink(labs / "proxmox-tap.yaml", labs / "pve.yaml")  # a link that stays inside: served
    return labs


@pytest.fixture
def labs(tmp_path, monkeypatch):
    """The --labs folder, with an empty run root (no lab is up)."""
    from vnetlab.host import state

    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path / "run"))
    return make_labs(tmp_path)


def client(labs_dir, *, authorized: bool = True, bind: str = "127.0.0.1", port: int = PORT, **kwargs):
    """A TestClient of a fresh app (Bearer token unless not ``authorized``)."""
    from starlette.testclient import TestClient

    from vnetlab.web.app import create_app
    from vnetlab.web.security import Served, url_host

    app = create_app(str(labs_dir), TOKEN, Served(bind, port))
    headers = {"Authorization": f"Bearer {TOKEN}"} if authorized else {}
    host = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
    return TestClient(app, base_url=f"http://{url_host(host)}:{port}", headers=headers, **kwargs)

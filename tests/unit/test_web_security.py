"""vnetlab web refuses every request it should: no token, a bad token, another Host
(DNS rebinding), another Origin (cross-site), websockets likewise; the cookie flow;
the warning for a non-loopback --bind. In-process (TestClient), no root, no lab up."""

from __future__ import annotations

import json

import pytest
from starlette.websockets import WebSocketDisconnect

from vnetlab.web import security
from vnetlab.web.security import COOKIE, Served
from web_helpers import BASE, PORT, TOKEN, WS_BASE, client, labs  # noqa: F401 (labs: a fixture)

PROTECTED = ["/", "/api/labs", "/api/jobs/j1", "/api/labs/fwdebug/topology", "/api/course",
             "/api/files/proxmox-tap.yaml/topology", "/static/vendor/README.md", "/api/no/such/endpoint"]


@pytest.mark.parametrize("path", PROTECTED)
def test_every_path_without_a_token_is_refused(labs, path):
    answer = client(labs, authorized=False).get(path)
    assert answer.status_code == 403
    assert "no token" in answer.text


def test_the_page_without_a_token_says_to_use_the_printed_url(labs):
    answer = client(labs, authorized=False).get("/")
    assert answer.status_code == 403 and "printed" in answer.text
    assert answer.headers["content-type"].startswith("text/plain")


def test_api_refusals_are_json(labs):
    answer = client(labs, authorized=False).post("/api/labs", json={"file": "proxmox-tap.yaml"})
    assert answer.status_code == 403 and answer.json()["error"].startswith("forbidden")


@pytest.mark.parametrize("how", ["bearer", "cookie", "query"])
def test_a_wrong_token_is_refused(labs, how):
    c = client(labs, authorized=False)
    wrong = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
    if how == "bearer":
        answer = c.get("/api/labs", headers={"Authorization": f"Bearer {wrong}"})
    elif how == "cookie":
        c.cookies.set(COOKIE, wrong)
        answer = c.get("/api/labs")
    else:
        answer = c.get(f"/?token={wrong}", follow_redirects=False)
        assert COOKIE not in answer.headers.get("set-cookie", "")
    assert answer.status_code == 403


def test_an_empty_or_other_scheme_authorization_is_refused(labs):
    c = client(labs, authorized=False)
    assert c.get("/api/labs", headers={"Authorization": "Bearer "}).status_code == 403
    assert c.get("/api/labs", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 403


def test_the_token_url_sets_a_strict_httponly_cookie_and_redirects(labs):
    c = client(labs, authorized=False)
    answer = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert answer.headers["referrer-policy"] == "no-referrer"
    # The client keeps the cookie: from now on the API answers without the token in the URL.
    assert c.get("/api/labs").status_code == 200
    assert c.get("/").status_code == 200


def test_the_bearer_header_is_enough(labs):
    assert client(labs).get("/api/labs").status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8080", f"127.0.0.1:{PORT + 1}", "127.0.0.1", "10.0.0.1:8080",
                                  "localhost.evil.example:8080", ""])
def test_another_host_is_refused(labs, host):
    answer = client(labs).get("/api/labs", headers={"Host": host})
    assert answer.status_code == 403 and "Host" in answer.json()["error"]


@pytest.mark.parametrize("host", [f"localhost:{PORT}", f"127.0.0.1:{PORT}", f"[::1]:{PORT}", f"LOCALHOST:{PORT}"])
def test_loopback_spellings_are_the_served_host(labs, host):
    assert client(labs).get("/api/labs", headers={"Host": host}).status_code == 200


def test_a_duplicated_host_header_is_refused(labs):
    c = client(labs)
    request = c.build_request("GET", "/api/labs")
    request.headers = request.headers.copy()
    raw = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
    request.headers = type(request.headers)(raw + [(b"host", f"127.0.0.1:{PORT}".encode()),
                                                   (b"host", b"evil.example:8080")])
    assert c.send(request).status_code == 403


@pytest.mark.parametrize("origin", ["http://evil.example", f"http://evil.example:{PORT}", "null",
                                    f"https://127.0.0.1:{PORT}", f"http://127.0.0.1:{PORT + 1}",
                                    f"http://localhost:{PORT}"])
def test_another_origin_is_refused(labs, origin):
    c = client(labs)
    assert c.get("/api/labs", headers={"Origin": origin}).status_code == 403
    # and a state-changing request above all (a cross-site form or fetch)
    answer = c.post("/api/labs", json={"file": "proxmox-tap.yaml"}, headers={"Origin": origin})
    assert answer.status_code == 403 and "Origin" in answer.json()["error"]


def test_the_served_origin_is_accepted(labs):
    assert client(labs).get("/api/labs", headers={"Origin": BASE}).status_code == 200


def _ws_refused(c, path: str, **headers) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as refused:
        with c.websocket_connect(WS_BASE + path, headers=headers):
            pass
    return refused.value


SHELL = "/api/labs/fwdebug/nodes/admin/shell"


def test_a_websocket_without_a_token_is_refused(labs):
    refused = _ws_refused(client(labs, authorized=False), SHELL, Origin=BASE)
    assert refused.code == 1008 and "token" in refused.reason


def test_a_websocket_with_a_wrong_token_is_refused(labs):
    refused = _ws_refused(client(labs, authorized=False), SHELL, Origin=BASE, Authorization="Bearer nope")
    assert refused.code == 1008


def test_a_websocket_from_another_origin_is_refused(labs):
    refused = _ws_refused(client(labs), SHELL, Origin="http://evil.example", Authorization=f"Bearer {TOKEN}")
    assert refused.code == 1008 and "Origin" in refused.reason


def test_a_websocket_to_another_host_is_refused(labs):
    c = client(labs)
    with pytest.raises(WebSocketDisconnect) as refused:
        with c.websocket_connect(f"ws://evil.example:{PORT}{SHELL}", headers={"Authorization": f"Bearer {TOKEN}"}):
            pass
    assert refused.value.code == 1008 and "Host" in refused.value.reason


def test_an_authorized_websocket_to_a_lab_that_is_not_up_says_so(labs):
    c = client(labs)
    with c.websocket_connect(WS_BASE + SHELL, headers={"Origin": BASE}) as ws:
        assert "is not up" in json.loads(ws.receive_text())["error"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 4404


def test_a_websocket_with_a_bad_node_name_is_refused_as_bad_input(labs):
    c = client(labs)
    with c.websocket_connect(WS_BASE + "/api/labs/fwdebug/nodes/Bad_Node/shell") as ws:
        assert "node name" in json.loads(ws.receive_text())["error"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 4400


def test_answers_carry_the_safety_headers(labs):
    answer = client(labs).get("/api/labs")
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"  # live state: never from a cache


# -- the rules themselves ---------------------------------------------------------
def test_tokens_are_random_and_long():
    tokens = {security.new_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) >= 40 for t in tokens)


def test_token_comparison():
    assert security.tokens_equal(TOKEN, TOKEN)
    assert not security.tokens_equal(TOKEN + "x", TOKEN)
    assert not security.tokens_equal("", TOKEN) and not security.tokens_equal(None, TOKEN)
    assert not security.tokens_equal("t\udcff", TOKEN)  # undecodable bytes do not crash the compare


def test_a_wildcard_bind_accepts_addresses_but_never_names():
    served = Served("0.0.0.0", 8080)
    assert served.host_allowed("192.168.1.5:8080") and served.host_allowed("[fd00::1]:8080")
    assert served.host_allowed("localhost:8080")
    assert not served.host_allowed("rebind.evil.example:8080")
    assert not served.host_allowed("192.168.1.5:8081")


def test_a_specific_bind_accepts_only_itself():
    served = Served("192.168.1.5", 8080)
    assert served.host_allowed("192.168.1.5:8080")
    assert not served.host_allowed("localhost:8080") and not served.host_allowed("127.0.0.1:8080")
    six = Served("fd00::1", 8080)
    assert six.host_allowed("[fd00::1]:8080") and six.host_allowed("[fd00:0::1]:8080")
    assert six.url("T") == "http://[fd00::1]:8080/?token=T"


@pytest.mark.parametrize("host", ["127.0.0.1:", ":8080", "[::1]", "[::1]8080", "127.0.0.1:80a", "127.0.0.1:8080:1"])
def test_malformed_hosts_are_refused(host):
    assert not Served("127.0.0.1", 8080).host_allowed(host)


# -- the command line's --bind ------------------------------------------------------
def _run_web(monkeypatch, capsys, labs_dir, *argv):
    from vnetlab.cli import build_parser
    from vnetlab.cli import web as web_cli

    served = {}
    monkeypatch.setattr(web_cli, "serve", lambda listener, labs, token, where: served.update(
        where=where, labs=labs, token=token, port=listener.getsockname()[1]))
    args = build_parser("web").parse_args(["web", "--labs", str(labs_dir), *argv])
    assert args.func(args) == 0
    return served, capsys.readouterr().err


def test_binding_to_another_address_warns(monkeypatch, capsys, labs):
    served, err = _run_web(monkeypatch, capsys, labs, "--bind", "0.0.0.0", "--port", "0")
    assert "warning" in err and "0.0.0.0" in err and "root" in err
    assert served["where"].bind == "0.0.0.0"


@pytest.mark.parametrize("bind", ["127.0.0.1", "::1", "localhost"])
def test_loopback_binds_do_not_warn(monkeypatch, capsys, labs, bind):
    served, err = _run_web(monkeypatch, capsys, labs, "--bind", bind, "--port", "0")
    assert "warning" not in err
    assert served["where"].port == served["port"] != 0  # --port 0 picked a free port, and the URL says it


def test_the_default_is_loopback_port_8080(monkeypatch, capsys, labs):
    from vnetlab.cli import build_parser

    args = build_parser("web").parse_args(["web"])
    assert (args.bind, args.port, args.labs) == ("127.0.0.1", 8080, None)


def test_a_missing_labs_folder_is_a_usage_error(monkeypatch, capsys, tmp_path):
    from vnetlab.cli import build_parser
    from vnetlab.cli.common import UsageError

    args = build_parser("web").parse_args(["web", "--labs", str(tmp_path / "nope"), "--port", "0"])
    with pytest.raises(UsageError, match="no such directory"):
        args.func(args)


def test_a_websocket_with_the_cookie_is_let_in(labs):
    c = client(labs, authorized=False)
    with c.websocket_connect(WS_BASE + SHELL, headers={"Origin": BASE, "Cookie": f"{COOKIE}={TOKEN}"}) as ws:
        assert "is not up" in json.loads(ws.receive_text())["error"]  # past the guard: the lab is not up


def test_a_port_in_use_is_a_usage_error(monkeypatch, capsys, labs):
    import socket

    from vnetlab.cli import build_parser
    from vnetlab.cli.common import UsageError

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        args = build_parser("web").parse_args(["web", "--labs", str(labs), "--port", str(taken.getsockname()[1])])
        with pytest.raises(UsageError, match="cannot serve on 127.0.0.1 port .*--port"):
            args.func(args)
    finally:
        taken.close()

"""Who may talk to ``vnetlab web``: the token, the cookie, the Host and Origin rules.

The server can run any command as root inside a lab, so it is treated like
Jupyter's: a random token printed once at start (in a URL), exchanged for an
HttpOnly, SameSite=Strict cookie by ``GET /?token=…``; every other request
must carry the cookie or ``Authorization: Bearer TOKEN``. A request whose
``Host`` is not the served address is refused (DNS rebinding: a hostile
page's name made to point at 127.0.0.1 still sends its own name as Host),
and so is one whose ``Origin`` is another site (a cross-site form or fetch,
and every cross-site websocket, since browsers send Origin on those).
Websockets pass the same checks before they are accepted.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import parse_qs

COOKIE = "vnetlab_token"
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
WILDCARDS = ("0.0.0.0", "::", "")
LOGIN_HINT = ("vnetlab web: open the URL the server printed when it started (it carries the token once, "
              "then a cookie does)\n")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(bind: str) -> bool:
    """Whether ``bind`` (an address or ``localhost``) is reachable from this machine only."""
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it appears in a URL or a Host header (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclasses.dataclass(frozen=True)
class Served:
    """The address the server answers on, and so the Host and Origin it accepts."""

    bind: str
    port: int

    def url(self, token: Optional[str] = None) -> str:
        """The URL to open (with the token when given)."""
        host = "127.0.0.1" if self.bind in WILDCARDS or self.bind == "localhost" else self.bind
        return f"http://{url_host(host)}:{self.port}/" + (f"?token={token}" if token else "")

    def host_allowed(self, host: Optional[str]) -> bool:
        """Whether a request's Host header names this server.

        Bound to one address: that address (and, for a loopback address, the
        other loopback spellings: ``localhost``, ``127.0.0.1``, ``[::1]``),
        with the port. Bound to every address (``0.0.0.0``/``::``): any IP
        address or ``localhost`` with the port — never a DNS name, which is
        what a rebinding attack needs.
        """
        if not host:
            return False
        name, port = _split_host(host)
        if port != self.port or name is None:
            return False
        if self.bind in WILDCARDS:
            return name == "localhost" or _is_ip(name)
        if is_loopback(self.bind):
            return name in LOOPBACK_NAMES
        return _same_address(name, self.bind)

    def origin_allowed(self, origin: str, host: str) -> bool:
        """Whether a present Origin is this server as the request's (allowed) Host names it."""
        return origin == f"http://{host}"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _same_address(name: str, bind: str) -> bool:
    try:
        return ipaddress.ip_address(name) == ipaddress.ip_address(bind)
    except ValueError:
        return name == bind


def _split_host(host: str) -> tuple[Optional[str], Optional[int]]:
    """``(name, port)`` of a Host header (``[v6]:port``, ``name:port``); None parts when malformed."""
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            return None, None
        port_text = rest[1:]
    else:
        name, colon, port_text = host.rpartition(":")
        if not colon:
            return None, None
    if not port_text.isdigit() or not name:
        return None, None
    return name.lower(), int(port_text)


def tokens_equal(given: Optional[str], token: str) -> bool:
    """Constant-time comparison (a timing side channel must not leak the token)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        if name in found:  # two Host or Origin headers: keep a value that cannot match
            found[name] = "\x00duplicate"
            continue
        found[name] = value.decode("latin-1")
    return found


def _cookie(headers: dict[str, str]) -> Optional[str]:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header: no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _bearer(headers: dict[str, str]) -> Optional[str]:
    value = headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


class Guard:
    """ASGI middleware: refuses every HTTP request and websocket that fails the rules above.

    ``GET /?token=T`` with the right token answers 303 to ``/`` with the cookie set.
    Refusals are 403 (JSON ``{"error": …}`` under ``/api/``, a short text elsewhere);
    a refused websocket is closed before it is accepted (the client sees 403).
    """

    def __init__(self, app: ASGIApp, token: str, served: Served):
        self.app, self.token, self.served = app, token, served

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        problem = self.refusal(scope, headers)
        if problem is None and scope["type"] == "http" and scope.get("path") == "/":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if "token" in query:
                if tokens_equal(query["token"][0], self.token) and len(query["token"]) == 1:
                    await _redirect_with_cookie(send, self.token)
                    return
                problem = "bad token"
        if problem is None and not self._authenticated(headers):
            problem = "no token"
        if problem is not None:
            await _refuse(scope, send, problem)
            return
        await self.app(scope, receive, _with_headers(send, scope.get("path", "").startswith("/api/"))
                       if scope["type"] == "http" else send)

    def refusal(self, scope: Scope, headers: dict[str, str]) -> Optional[str]:
        """Why the request's Host or Origin is refused, or None."""
        host = headers.get("host")
        if not self.served.host_allowed(host):
            return "Host is not the served address"
        origin = headers.get("origin")
        if origin is not None and not self.served.origin_allowed(origin, host or ""):
            return "Origin is not the served address"
        return None

    def _authenticated(self, headers: dict[str, str]) -> bool:
        return tokens_equal(_cookie(headers), self.token) or tokens_equal(_bearer(headers), self.token)


# Added to every answer: no framing (clickjacking), no MIME sniffing, no Referer carrying a URL out.
SAFETY_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                  (b"referrer-policy", b"no-referrer"), (b"content-security-policy", b"frame-ancestors 'none'")]


def _with_headers(send: Callable, api: bool) -> Callable:
    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", [])) + SAFETY_HEADERS
            if api and not any(key.lower() == b"cache-control" for key, _ in headers):
                headers.append((b"cache-control", b"no-store"))  # live state: never from a cache
            message = dict(message, headers=headers)
        await send(message)

    return sending


async def _redirect_with_cookie(send: Callable, token: str) -> None:
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", b"/"), (b"set-cookie", cookie.encode()), (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(scope: Scope, send: Callable, reason: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return
    if scope.get("path", "").startswith("/api/"):
        import json

        body, kind = json.dumps({"error": f"forbidden: {reason}"}).encode(), b"application/json"
    else:
        body, kind = f"403 forbidden: {reason}\n{LOGIN_HINT}".encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 403, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})

"""``vnetlab web``: serves the local web UI (vnetlab.web) with uvicorn, in this process.

The server binds to 127.0.0.1 unless told otherwise (another address prints
a warning: anyone who can reach it and learns the token runs commands as
root), makes a fresh token and prints the URL that carries it once.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys

from vnetlab.cli.common import EXIT_OK, UsageError, _shown


def cmd_web(args: argparse.Namespace) -> int:
    from vnetlab.web import security

    labs = args.labs or os.getcwd()
    if not os.path.isdir(labs):
        raise UsageError(f"--labs {_shown(labs)}: no such directory — give the folder that holds your lab files")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: ports are 0 (any free one) to 65535")
    warning = bind_warning(args.bind)
    if warning:
        print(f"vnetlab: warning: {warning}", file=sys.stderr)
    listener = _listen(args.bind, args.port)
    if os.geteuid() != 0:  # rootless: the labs live in the user's lab root; the socket stays on the host
        from vnetlab.host import lab_root

        lab_root.enter(create=True)
    served = security.Served(args.bind, listener.getsockname()[1])
    token = security.new_token()
    serve(listener, labs, token, served)
    return EXIT_OK


def bind_warning(bind: str) -> str:
    """The warning for serving on ``bind`` ('' for a loopback address)."""
    from vnetlab.web.security import is_loopback

    if is_loopback(bind):
        return ""
    return (f"serving on {bind}, reachable from other machines: whoever gets the token can run commands as "
            "root in your labs — prefer the default --bind 127.0.0.1 (and an SSH tunnel) unless you trust the network")


def _listen(bind: str, port: int) -> socket.socket:
    """The listening socket (bound here so --port 0's port is known before the URL is printed)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    address = "127.0.0.1" if bind == "localhost" else bind
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot serve on {bind} port {port}: {exc.strerror} — pick another with --port "
                         "(0: any free port)") from None
    sock.listen(128)
    return sock


def serve(listener: socket.socket, labs: str, token: str, served) -> None:  # noqa: ANN001 — a security.Served
    """Serves until Ctrl-C (or SIGTERM); the app's shutdown stops captures and shells."""
    import uvicorn

    from vnetlab.web.app import create_app

    app = create_app(labs, token, served)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="websockets-sansio",
                            proxy_headers=False,  # no proxy is trusted: X-Forwarded-* headers change nothing
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    print(f"vnetlab web: lab files from {os.path.realpath(labs)}; Ctrl-C stops the server", file=sys.stderr)
    print(f"open {served.url(token)}", flush=True)
    # uvicorn shuts down cleanly on SIGINT and SIGTERM, then raises the signal again for the
    # process's own handler: both are taken here as the normal end of the server (exit 0).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
    print("vnetlab web: stopped", file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def add_web(command) -> None:
    p = command("web", cmd_web, "a local web UI: the labs, their live topology, node details, checks, trace, "
                "reach, capture and a shell in the browser (token-protected, on 127.0.0.1 by default)")
    p.add_argument("--labs", metavar="DIR", help="the folder of lab files it offers (default: the current one)")
    p.add_argument("--port", type=int, default=8080, help="the TCP port (default 8080; 0: any free port)")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                   help="the address to serve on (default 127.0.0.1; anything else prints a warning)")

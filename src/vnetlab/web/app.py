"""The ``vnetlab web`` application: routes over the Python API, the static page, the guard.

:func:`create_app` builds it; the command line (``cli/web.py``) serves it
with uvicorn, tests drive it in-process with Starlette's TestClient. Every
route names its lab, node, file or exercise by a name checked as the CLI
checks it before anything else happens; blocking work (netlink reads,
probes, ``up``) runs in a thread, never in the event loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from vnetlab.web import security
from vnetlab.web.errors import error, error_response
from vnetlab.web.state import WebState

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """Wraps a route: a raised error becomes its JSON error answer (web/errors.py)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:  # every failure answers JSON; the server goes on
            return error_response(exc)

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty)."""
    raw = await request.body()
    if not raw:
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("the body is not JSON — send a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def create_app(labs_dir: str, token: str, served: security.Served) -> security.Guard:
    """The application, guarded: lab files from ``labs_dir``, ``token`` required, answering as ``served``."""
    web = WebState(labs_dir)

    async def index(request: Request) -> Response:
        page = os.path.join(STATIC, "index.html")
        if not os.path.isfile(page):
            return PlainTextResponse("vnetlab web: the front end (web/static/index.html) is not installed; "
                                     "the API answers under /api/\n")
        return FileResponse(page, headers={"cache-control": "no-store"})

    @api
    async def list_labs(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(web.labs))

    @api
    async def start_lab(request: Request) -> Response:
        body = await _body(request)
        job = await run_in_threadpool(web.start_up, body.get("file"))
        return JSONResponse({"job": job.id}, status_code=202)

    @api
    async def stop_lab(request: Request) -> Response:
        job = await run_in_threadpool(web.start_down, request.path_params["lab"])
        return JSONResponse({"job": job.id}, status_code=202)

    @api
    async def get_job(request: Request) -> Response:
        return JSONResponse(web.jobs.get(request.path_params["job"]).to_dict())

    @api
    async def lab_topology(request: Request) -> Response:
        expand = request.query_params.get("expand") in ("1", "true", "yes")
        return JSONResponse(await run_in_threadpool(web.lab_topology, request.path_params["lab"], expand))

    @api
    async def file_topology(request: Request) -> Response:
        expand = request.query_params.get("expand") in ("1", "true", "yes")
        return JSONResponse(await run_in_threadpool(web.file_topology, request.path_params["file"], expand))

    async def not_found(request: Request) -> Response:
        return error(404, f"no such API endpoint: {request.method} {request.url.path}")

    routes = [
        Route("/", index),
        Route("/api/labs", list_labs, methods=["GET"]),
        Route("/api/labs", start_lab, methods=["POST"]),
        Route("/api/labs/{lab}", stop_lab, methods=["DELETE"]),
        Route("/api/jobs/{job}", get_job),
        Route("/api/labs/{lab}/topology", lab_topology),
        Route("/api/files/{file}/topology", file_topology),
        Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(web.close)  # captures stopped, their files deleted, shells killed, jobs waited for

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.web = web
    return security.Guard(app, token, served)


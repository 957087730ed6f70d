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
import json
import os
import traceback
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from vnetlab.errors import VnetlabError
from vnetlab.web import course, security
from vnetlab.web.errors import error, error_response, message_of, status_of
from vnetlab.web.shell import bridge
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
            if status_of(exc) == 500 and not isinstance(exc, VnetlabError):  # a bug: its traceback for the log
                traceback.print_exc()
            return error_response(exc)

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty)."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("the body is not JSON — send a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name) in ("1", "true", "yes")


def _topology_options(request: Request) -> tuple[bool, bool]:
    """``?expand=1`` (draw every host) and ``?positions=1`` (add Graphviz's layout)."""
    return _flag(request, "expand"), _flag(request, "positions")


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
        return JSONResponse(await run_in_threadpool(web.lab_topology, request.path_params["lab"],
                                                    *_topology_options(request)))

    @api
    async def file_topology(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(web.file_topology, request.path_params["file"],
                                                    *_topology_options(request)))

    @api
    async def node_details(request: Request) -> Response:
        params = request.path_params
        return JSONResponse(await run_in_threadpool(web.node_details, params["lab"], params["node"]))

    @api
    async def run_checks(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(web.run_checks, request.path_params["lab"]))

    @api
    async def last_checks(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(web.last_checks, request.path_params["lab"]))

    @api
    async def trace(request: Request) -> Response:
        body = await _body(request)
        return JSONResponse(await run_in_threadpool(web.trace, request.path_params["lab"], body))

    @api
    async def reach(request: Request) -> Response:
        body = await _body(request)
        return JSONResponse(await run_in_threadpool(web.reach, request.path_params["lab"], body))

    @api
    async def start_capture(request: Request) -> Response:
        body = await _body(request)
        found = await run_in_threadpool(web.start_capture, request.path_params["lab"], body)
        return JSONResponse({"id": found.id, "interfaces": found.interfaces}, status_code=201)

    @api
    async def get_capture(request: Request) -> Response:
        return JSONResponse(web.capture(request.path_params["lab"], request.path_params["capture"]).to_dict())

    @api
    async def stop_capture(request: Request) -> Response:
        params = request.path_params
        return JSONResponse((await run_in_threadpool(web.stop_capture, params["lab"], params["capture"])).to_dict())

    @api
    async def capture_file(request: Request) -> Response:
        found = web.capture(request.path_params["lab"], request.path_params["capture"])
        if found.running:
            return error(409, f"capture {found.id} is still running — stop it first (POST …/stop)")
        if not os.path.isfile(found.path):
            return error(404, f"capture {found.id} has no file")
        return FileResponse(found.path, media_type="application/vnd.tcpdump.pcap",
                            filename=f"{found.lab}-{found.id}.pcapng", headers={"cache-control": "no-store"})

    async def shell(websocket: WebSocket) -> None:
        params = websocket.path_params
        await websocket.accept()
        try:
            opened = await run_in_threadpool(web.open_shell, params["lab"], params["node"])
        except Exception as exc:  # no such lab or node: said in a text frame, then closed with 4000 + the status
            await websocket.send_text(json.dumps({"error": message_of(exc)}))
            await websocket.close(code=4000 + status_of(exc))
            return
        try:
            await bridge(websocket, opened)
        finally:
            # Shielded: a handler cancelled as its socket goes (a server shutting down, Starlette's
            # test client) must still kill the shell, or it would outlive its websocket.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(web.shells.close, opened)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # closed by the client already
                await websocket.close()

    @api
    async def course_list(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(course.listing))

    @api
    async def course_exercise(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(course.exercise, request.path_params["exercise"]))

    @api
    async def course_hint(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(course.hint, request.path_params["exercise"]))

    @api
    async def course_answer(request: Request) -> Response:
        body = await _body(request)
        return JSONResponse(await run_in_threadpool(course.answer, request.path_params["exercise"], body))

    @api
    async def course_grade(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(course.grade, request.path_params["exercise"]))

    @api
    async def course_start(request: Request) -> Response:
        job = await run_in_threadpool(web.start_exercise, request.path_params["exercise"])
        return JSONResponse({"job": job.id}, status_code=202)

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
        Route("/api/labs/{lab}/nodes/{node}", node_details),
        WebSocketRoute("/api/labs/{lab}/nodes/{node}/shell", shell),
        Route("/api/labs/{lab}/checks", run_checks, methods=["POST"]),
        Route("/api/labs/{lab}/checks", last_checks, methods=["GET"]),
        Route("/api/labs/{lab}/trace", trace, methods=["POST"]),
        Route("/api/labs/{lab}/reach", reach, methods=["POST"]),
        Route("/api/labs/{lab}/captures", start_capture, methods=["POST"]),
        Route("/api/labs/{lab}/captures/{capture}", get_capture),
        Route("/api/labs/{lab}/captures/{capture}/stop", stop_capture, methods=["POST"]),
        Route("/api/labs/{lab}/captures/{capture}/file", capture_file),
        Route("/api/course", course_list),
        Route("/api/course/{exercise}", course_exercise),
        Route("/api/course/{exercise}/hint", course_hint, methods=["POST"]),
        Route("/api/course/{exercise}/answer", course_answer, methods=["POST"]),
        Route("/api/course/{exercise}/grade", course_grade, methods=["POST"]),
        Route("/api/course/{exercise}/start", course_start, methods=["POST"]),
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


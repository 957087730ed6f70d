"""How an error becomes an HTTP answer: ``{"error": message}`` with the status its kind means.

409 a lab busy or taken; 404 no such lab, node, file, job, capture or exercise
(the ``LookupError`` family); 400 bad input (the CLI's exit-2 errors, with a
lab file's problems listed); 500 what the machine lacks or anything else.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from vnetlab.errors import BadInput, LabConflict, VnetlabError


def status_of(exc: BaseException) -> int:
    """The HTTP status for ``exc``."""
    from vnetlab.course.session import AlreadyStarted
    from vnetlab.host.state import LabBusy
    from vnetlab.web.jobs import Busy

    if isinstance(exc, (Busy, LabBusy, LabConflict, AlreadyStarted)):
        return 409
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, (BadInput, ValueError)):
        return 400
    return 500


def message_of(exc: BaseException) -> str:
    """The error's text as the CLI would say it (a KeyError without its quotes)."""
    if isinstance(exc, KeyError) and exc.args and not isinstance(exc, VnetlabError):
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def error_response(exc: BaseException) -> JSONResponse:
    """``exc`` as a JSON error answer (a lab file's problems each on their own, under ``problems``)."""
    from vnetlab.model.errors import LabFileError

    body: dict = {"error": message_of(exc)}
    if isinstance(exc, LabFileError):
        body["problems"] = [str(problem) for problem in exc.problems]
        body["error"] = body["problems"][0] if len(body["problems"]) == 1 else \
            f"{len(body['problems'])} problems in the lab file: " + "; ".join(body["problems"])
    return JSONResponse(body, status_code=status_of(exc))


def error(status: int, message: str) -> JSONResponse:
    """A JSON error answer."""
    return JSONResponse({"error": message}, status_code=status)

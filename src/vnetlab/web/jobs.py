"""Background jobs of ``vnetlab web``: ``up`` and ``down``, one per lab at a time, with progress.

A job runs in its own thread (``up`` of a big lab takes seconds to
minutes); the page polls ``GET /api/jobs/ID``. The threads are not daemons:
stopping the server waits for a running ``up`` or ``down`` to finish rather
than leave a lab half built. :class:`SingleFlight` lets requests that ask for
the same slow answer at once (every open page polls the topology) share one
computation.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable, Optional

from vnetlab.errors import Failed


class Busy(Failed):
    """The lab already has a job running (409)."""


@dataclasses.dataclass
class Job:
    """One ``up`` or ``down``, as ``GET /api/jobs/ID`` shows it."""

    id: str
    action: str  # up | down
    lab: str
    state: str = "running"  # running | done | failed
    done: int = 0
    total: Optional[int] = None
    error: Optional[str] = None
    file: Optional[str] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Jobs:
    """The server's jobs, by id; at most one running per lab."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, action: str, lab: str, work: Callable[[Callable[[int, int], None]], None],
              file: Optional[str] = None) -> Job:
        """Starts ``work(progress)`` in a thread as job ``action`` of ``lab``.

        Raises:
            Busy: ``lab`` has a job running.
        """
        with self._lock:
            running = self.running_for(lab)
            if running is not None:
                raise Busy(f"lab {lab} is busy: {running.action} is running (job {running.id}) — wait for it")
            job = Job(f"j{next(self._ids)}", action, lab, file=file)
            self._jobs[job.id] = job
            thread = threading.Thread(target=self._run, args=(job, work), name=f"vnetlab-web-{job.id}")
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Callable[[int, int], None]], None]) -> None:
        def progress(step: int, total: int) -> None:
            job.done, job.total = step, total

        try:
            work(progress)
        except Exception as exc:  # the job reports every failure; the server goes on
            job.error = str(exc) or type(exc).__name__
            job.state = "failed"
        else:
            job.state = "done"
            if job.total is not None:
                job.done = job.total

    def get(self, job_id: str) -> Job:
        """The job ``job_id``.

        Raises:
            LookupError: no such job.
        """
        try:
            return self._jobs[job_id]
        except KeyError:
            raise LookupError(f"no job {job_id!r}") from None

    def running_for(self, lab: str) -> Optional[Job]:
        """The job running for ``lab``, if any."""
        return next((job for job in self._jobs.values() if job.lab == lab and job.state == "running"), None)

    def wait_all(self, timeout: Optional[float] = None) -> None:
        """Waits for every job thread to end (at shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)


class SingleFlight:
    """Runs one computation per key at a time: a caller that comes while it runs waits for it
    and gets the same answer (or exception) instead of starting another."""

    def __init__(self) -> None:
        self._running: dict[Any, Future] = {}
        self._lock = threading.Lock()

    def run(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            running = self._running.get(key)
            if running is None:
                mine: Optional[Future] = Future()
                self._running[key] = mine
            else:
                mine = None
        if mine is None:
            return running.result()
        try:
            answer = compute()
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(answer)
            return answer
        finally:
            with self._lock:
                del self._running[key]

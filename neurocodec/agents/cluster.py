"""Scene jobs on a Dask cluster (``distributed``): the :class:`~.executor.Executor` for ``--cluster``.

Dask schedules the jobs, re-runs a job whose worker was lost, and scales
from a :class:`distributed.LocalCluster` on one machine to a scheduler and
workers on many (``dask scheduler`` / ``dask worker``, or a deployer). A
job is the same small :class:`~.executor.Task` the local executors run:
its result comes back to this process, which assembles the ``.ncv`` in
scene order, so the bytes do not depend on the cluster, its size or the
order in which jobs finish. Workers need neurocodec installed (the same
version). Where the workers can open the source and reach the part store,
jobs read their own frames and write their own part (:mod:`.remote`); the
coordinator checks that on every worker before the first job.

``spec`` forms: ``local:N`` (a LocalCluster of N one-thread worker processes,
started and stopped with the encode) or a scheduler address
(``tcp://HOST:PORT``, ``tls://...``). The API also takes a running
:class:`distributed.Client`, which the executor uses and leaves open.

With a ``report`` hook, jobs send their progress through a Dask queue
(throttled, see :data:`_REPORT_S`), as local workers do through a pipe.

A job that raises is tried :data:`RETRIES` more times (shared storage has bad
moments); one whose worker dies is re-run by Dask on another worker, up to the
scheduler's ``distributed.scheduler.allowed-failures`` (3 by default). After
that the encode fails with one line naming the scene.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import EncoderError, NeurocodecError, SettingsError
from ..settings import LOCAL_CLUSTER, check_cluster
from .tasks import TaskFailed

__all__ = ["DaskExecutor", "RETRIES"]

log = logging.getLogger(__name__)

#: Extra tries of a job that raised, before its error fails the encode.
RETRIES = 1
#: Seconds between a job's progress reports (each is a round trip to the scheduler); a new phase goes at once.
_REPORT_S = 0.5
_DIED = "its worker died on every try"


class DaskExecutor:
    """Runs tasks on a Dask cluster and hands back their results as they finish.

    Args:
        spec: ``local:N`` or a scheduler address (see the module docstring).
        client: A running :class:`distributed.Client` to use instead of ``spec`` (left open by :meth:`close`).
    """

    #: Jobs run on other processes or machines (the coordinator checks what they can reach).
    remote = True

    def __init__(self, spec: str | None = None, *, client: Any = None, capture: bool = False):
        self.capture = capture
        #: ``report(index, phase, frames)`` for jobs' progress (see :mod:`.executor`); may be set after construction.
        self.report: Callable[[Any, str, int], None] | None = None
        self._queue = None
        self._cluster = None
        self._own_client = client is None
        self._pending: dict[Any, Any] = {}
        self._threads = (0.0, 1)
        if client is not None:
            self.client = client
            _warn_threads(client)
            return
        if spec is None:
            raise TypeError("DaskExecutor needs a cluster spec or a client")
        check_cluster(spec)
        try:
            from distributed import Client, LocalCluster  # why: distributed is optional and heavy
        except ImportError:
            raise SettingsError("--cluster needs Dask's distributed: pip install 'neurocodec[cluster]'") from None
        m = LOCAL_CLUSTER.fullmatch(spec)
        if m:
            self._cluster = LocalCluster(n_workers=int(m.group(1)), threads_per_worker=1, processes=True)
            log.info("Dask LocalCluster of %s workers; dashboard %s", m.group(1), self._cluster.dashboard_link)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(spec, timeout=30)
            except OSError as exc:
                raise SettingsError(f"cluster {spec}: cannot reach the scheduler ({exc})") from None
        _warn_threads(self.client)

    @property
    def workers(self) -> int:
        """Jobs to keep in flight: one per worker thread now connected (at least one), so a cluster that grows
        (a deployer's workers still starting) gets more; asked of the scheduler at most once a second."""
        t, n = self._threads
        if time.monotonic() - t > 1.0:
            n = max(1, sum(self.client.nthreads().values()))
            self._threads = (time.monotonic(), n)
        return n

    def workers_here(self) -> bool:
        """Whether every worker now connected runs on this machine (its address is a loopback one)."""
        hosts = {urlsplit(addr).hostname for addr in self.client.scheduler_info()["workers"]}
        return bool(hosts) and hosts <= {"127.0.0.1", "localhost", "::1"} | _own_addresses()

    def on_workers(self, fn, *args) -> dict[str, Any]:
        """``fn(*args)`` on every worker now connected, by worker address (for checks before the first job)."""
        return self.client.run(fn, *args)

    def submit(self, task) -> None:
        with warnings.catch_warnings():
            # A job carrying its scene's raw frames is megabytes, and Dask advises scatter for that. But scattered
            # data lives on one worker and is lost with it, so its job could not be re-run elsewhere.
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            if self.report is None:
                fut = self.client.submit(task.fn, *task.args, pure=False, retries=RETRIES)
            else:
                fut = self.client.submit(_reporting, self._progress_queue().name, task.fn, task.index, *task.args,
                                         pure=False, retries=RETRIES)
        self._pending[fut] = task

    def _progress_queue(self):
        if self._queue is None:
            from distributed import Queue  # why: distributed is optional and heavy

            self._queue = Queue(f"neurocodec-progress-{uuid.uuid4().hex}", client=self.client)
        return self._queue

    def _drain_reports(self) -> None:
        if self._queue is None:
            return
        try:
            items = self._queue.get(timeout=0.01, batch=True)
        except Exception:  # noqa: BLE001 - progress is best effort; the jobs' results are what count
            return
        for item in items:
            self.report(*item)

    def next_finished(self) -> tuple[Any, Any]:
        from distributed import wait  # why: distributed is optional and heavy

        done = [f for f in self._pending if f.done()]
        while not done:
            try:
                wait(list(self._pending), timeout=_REPORT_S if self._queue else None, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            self._drain_reports()
            done = [f for f in self._pending if f.done()]
        fut = min(done, key=lambda f: self._pending[f].index)  # the earliest of those finished together
        task = self._pending.pop(fut)
        if fut.status == "error":
            exc = fut.exception()
            died = type(exc).__name__ == "KilledWorker"
            if self.capture:
                return task.index, TaskFailed(task.label, _DIED) if died else TaskFailed.of(task, exc)
            if isinstance(exc, NeurocodecError):
                raise exc  # it names the file and what was wrong
            if died:
                raise EncoderError(f"{task.label}: {_DIED} (Dask gave up after "
                                   "distributed.scheduler.allowed-failures)") from None
            raise EncoderError(f"{task.label} failed on every try: {type(exc).__name__}: {exc}") from exc
        return task.index, fut.result()

    def close(self) -> None:
        """Cancel jobs not finished; close the client and LocalCluster this executor started."""
        try:
            for fut in self._pending:
                fut.cancel()
            self._pending.clear()
            if self._own_client:
                self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def _own_addresses() -> set[str]:
    """This machine's own IP addresses (a LocalCluster may listen on one of them rather than loopback)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return set()


def _reporting(queue: str, fn, index, *args):
    """``fn(*args)`` on a worker, its progress sent to the Dask queue ``queue`` as ``(index, phase, frames)``."""
    from distributed import Queue  # why: distributed is optional and heavy

    q = Queue(queue)
    last = {"phase": None, "t": 0.0}

    def progress(phase: str, frames: int) -> None:
        now = time.monotonic()
        if phase == last["phase"] and now - last["t"] < _REPORT_S:
            return
        last.update(phase=phase, t=now)
        try:
            q.put((index, phase, frames))
        except Exception:  # noqa: BLE001 - a lost report must not fail the scene
            log.debug("progress report of %s lost", index, exc_info=True)

    return fn(*args, progress=progress)


def _warn_threads(client) -> None:
    """Scene jobs expect a process each: the encoders and PyTorch set their threads per process."""
    many = {w: n for w, n in client.nthreads().items() if n > 1}
    if many:
        worker, n = next(iter(many.items()))
        log.warning("%d Dask worker(s) run several threads (%s: %d): their scenes share a process, and PyTorch's "
                    "per-process thread setting with it; start workers with --nthreads 1 (and --nworkers N)",
                    len(many), worker, n)

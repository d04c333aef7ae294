"""Running scene jobs: the :class:`Executor` interface, inline and in local worker processes.

A job is small plain data (:class:`Task`: an index, a module-level function
and its picklable arguments), so an executor may run it anywhere. Results
come back as jobs finish; the caller keeps at most ``workers + 1`` jobs
submitted (their raw frames are what an encode holds in memory), and the
output bytes never depend on where or in which order jobs ran.

While a job runs it may report progress as ``(phase, frames)``; an executor
built with a ``report`` hook passes it the job's ``progress=`` argument and
calls ``report(index, phase, frames)`` in this process (from worker
processes, through a queue read while waiting for results).
"""

from __future__ import annotations

import multiprocessing
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from functools import partial
from typing import Any, Protocol

from .._pool import process_pool
from .cluster import DaskExecutor
from .tasks import Task, TaskFailed

__all__ = ["Task", "TaskFailed", "Report", "Executor", "InlineExecutor", "ProcessExecutor", "make_executor", "run_tasks"]

#: ``(index, phase, frames)``: a job's progress, as the executor's owner is told.
Report = Callable[[int, str, int], None]

#: In a worker process: where job progress goes (set by the pool's initializer; None: nowhere).
_WORKER_QUEUE = None


class Executor(Protocol):
    """Runs tasks and hands back their results as they finish.

    With ``capture`` set, a task that raises comes back as a :class:`TaskFailed` result
    (a batch fails that file and goes on); otherwise its error is raised by ``next_finished``.
    """

    #: Tasks it runs at once.
    workers: int
    #: Whether tasks run where this process's memory and files may not be (then jobs carry references).
    remote: bool

    def submit(self, task: Task) -> None:
        """Queue ``task``; it may start at once."""

    def next_finished(self) -> tuple[int, Any]:
        """Wait for a submitted task to finish and return ``(index, result)`` (its exception is raised here)."""

    def close(self) -> None:
        """Drop tasks not yet taken and release the workers; the executor is unusable afterwards."""


class InlineExecutor:
    """Runs each task in this process, in submission order, when its result is asked for."""

    workers = 1
    remote = False

    def __init__(self, report: Report | None = None, *, capture: bool = False):
        self.report = report
        self.capture = capture
        self._queued: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queued.append(task)

    def next_finished(self) -> tuple[int, Any]:
        task = self._queued.popleft()
        kwargs = {"progress": partial(self.report, task.index)} if self.report else {}
        try:
            return task.index, task.fn(*task.args, **kwargs)
        except Exception as exc:
            if not self.capture:
                raise
            return task.index, TaskFailed.of(task, exc)

    def close(self) -> None:
        self._queued.clear()


class ProcessExecutor:
    """Runs tasks in spawned local worker processes that exit when this process dies (:mod:`.._pool`)."""

    remote = False

    def __init__(self, workers: int, report: Report | None = None, *, capture: bool = False):
        self.workers = workers
        self.report = report
        self.capture = capture
        self._reports = multiprocessing.get_context("spawn").Queue() if report else None
        self._pool = process_pool(workers, initializer=_set_worker_queue, initargs=(self._reports,))
        self._pending: dict[Future, Task] = {}

    def submit(self, task: Task) -> None:
        fut = self._pool.submit(_call_in_worker, task.fn, task.index, *task.args)
        self._pending[fut] = task

    def next_finished(self) -> tuple[int, Any]:
        while True:
            self._drain_reports()
            done = [fut for fut in self._pending if fut.done()]
            if done:
                # Reports still in flight are for a finished job: the owner ignores them.
                fut = min(done, key=lambda f: self._pending[f].index)  # the earliest of those finished together
                task = self._pending.pop(fut)
                if self.capture and fut.exception() is not None:
                    return task.index, TaskFailed.of(task, fut.exception())
                return task.index, fut.result()
            wait(self._pending, timeout=0.1 if self._reports else None, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        try:
            for fut in self._pending:
                fut.cancel()
            self._pool.shutdown(wait=True)
        finally:
            if self._reports is not None:
                self._reports.close()

    def _drain_reports(self) -> None:
        if self._reports is None:
            return
        try:
            while True:
                self.report(*self._reports.get_nowait())
        except queue.Empty:
            pass


def make_executor(workers: int, report: Report | None = None, cluster: Any = None, *,
                  capture: bool = False) -> Executor:
    """A Dask executor when ``cluster`` is given (a spec or a :class:`distributed.Client`; :mod:`.cluster`;
    jobs report progress through a Dask queue), else an inline executor for one worker, else a pool of ``workers``
    local processes. ``capture``: failed tasks come back as :class:`TaskFailed`."""
    if isinstance(cluster, str):
        return DaskExecutor(cluster, capture=capture)
    if cluster is not None:
        return DaskExecutor(client=cluster, capture=capture)
    if workers == 1:
        return InlineExecutor(report, capture=capture)
    return ProcessExecutor(workers, report, capture=capture)


def run_tasks(executor: Executor, tasks: Iterable[Task], *, close: bool = True) -> Iterator[tuple[Any, Any]]:
    """Submit ``tasks`` (keeping at most ``workers + 1`` in flight) and yield ``(index, result)`` as they finish.

    The tasks are produced lazily, so a task's frames are read only when it is about to be submitted.
    With ``close`` the executor is closed at the end, also when the caller stops early or a task fails
    (without, its owner closes it, which drops what is still in flight).
    """
    in_flight = 0
    try:
        for task in tasks:
            executor.submit(task)
            in_flight += 1
            if in_flight > executor.workers:
                in_flight -= 1
                yield executor.next_finished()
        while in_flight:
            in_flight -= 1
            yield executor.next_finished()
    finally:
        if close:
            executor.close()


def _set_worker_queue(reports) -> None:
    global _WORKER_QUEUE
    _WORKER_QUEUE = reports


def _call_in_worker(fn, index, *args):
    """``fn(*args)`` in a worker; with a progress queue, its reports go there as ``(index, phase, frames)``."""
    reports = _WORKER_QUEUE
    if reports is None:
        return fn(*args)
    return fn(*args, progress=lambda phase, n: reports.put((index, phase, n)))

"""Process pools whose workers never outlive the process that started them.

A worker blocked on its task queue does not notice its parent dying: after a
``kill -9`` of an encode, its workers (and, through the file descriptor they
hold, multiprocessing's resource tracker) would stay alive until killed by
hand. Every worker started here therefore

* asks Linux to send it ``SIGTERM`` when its parent dies (``PR_SET_PDEATHSIG``), and
* runs a daemon thread that exits the process within about a second once the
  parent is gone: its parent sentinel (a pipe on POSIX, a process handle on
  Windows) becomes ready, or ``os.getppid()`` no longer names the parent.

Once the workers are gone the resource tracker reads end-of-file on its pipe,
unlinks what they left and exits by itself.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait
from typing import Any

__all__ = ["process_pool"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POLL_S = 1.0


def process_pool(
    max_workers: int,
    *,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
    max_tasks_per_child: int | None = None,
) -> ProcessPoolExecutor:
    """A spawn-context :class:`ProcessPoolExecutor` whose workers exit when this process dies.

    Args:
        max_workers: Worker processes.
        initializer: Run in each worker after the parent watch is set up (must be picklable).
        initargs: Arguments of ``initializer``.
        max_tasks_per_child: Tasks a worker runs before it is replaced (None: no limit).
    """
    # Spawn, never fork: forked children break CUDA and inherit locks.
    return ProcessPoolExecutor(
        max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), initializer, initargs),
        max_tasks_per_child=max_tasks_per_child,
    )


def _init_worker(parent_pid: int, initializer, initargs: tuple) -> None:
    _exit_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def _exit_with_parent(parent_pid: int) -> None:
    """Make this process exit soon after ``parent_pid`` (its parent) dies."""
    if sys.platform.startswith("linux"):
        _set_pdeathsig()
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    threading.Thread(target=_watch, args=(parent_pid, sentinel), name="neurocodec-parent-watch", daemon=True).start()


def _set_pdeathsig() -> None:
    # The signal comes when the *thread* that started this worker ends. Pools start workers from the
    # submitting thread or from the executor's manager thread, and both outlive their workers.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no usable prctl: the watch thread alone covers it


def _watch(parent_pid: int, sentinel) -> None:
    # The first check runs at once: the parent may have died before the prctl above took effect.
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        if sentinel is None:
            time.sleep(_POLL_S)
        elif wait([sentinel], timeout=_POLL_S):
            os._exit(1)

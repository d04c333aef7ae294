"""The embedded set-up: one orchestrator process owns a SQLite study and runs trials in spawned workers.

SQLite must never have two writer processes, so the workers only measure and
return plain data; the orchestrator alone writes (ask, artifacts, tell). A lock
file beside the database refuses a second orchestrator, and on start the
trials a stopped orchestrator left RUNNING are failed and re-queued.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._pool import process_pool
from ..errors import SettingsError
from .evaluate import EvalJob, apply_device, check_device, evaluate, prepare_clips
from .study import Experiment, check_storage_url, sqlite_path

__all__ = ["RunConfig", "DatabaseLock", "run_experiments"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Settings of ``neurocodec experiments run``."""

    workers: int = 1
    budget: int = 10
    device: str = "auto"
    artifacts: str | None = None  # folder; None: "<db>.artifacts" beside the database
    keep_bitstreams: bool = True


class DatabaseLock:
    """An exclusive lock file ``<db>.lock`` held while an orchestrator runs.

    ``flock`` is released by the kernel when the holder dies, so a crashed
    orchestrator never leaves a stale lock behind.
    """

    def __init__(self, db: Path):
        self.path = Path(str(db) + ".lock")
        self._fh = None

    def __enter__(self) -> DatabaseLock:
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise SettingsError(
                f"{self.path}: another orchestrator (pid {holder}) is using this database; "
                "stop it, or use PostgreSQL with experiments propose and worker for several processes"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def _init_worker(device: str) -> None:
    apply_device(device)


def run_experiments(
    exp_opener: Callable[[], Experiment],
    url: str,
    proposer,
    clips: list,
    config: RunConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``config.budget`` trials: propose when the queue is empty, measure in workers, record.

    Args:
        exp_opener: Opens the experiment (called after the lock is taken).
        url: The ``sqlite:///`` storage URL.
        proposer: Fills the queue (see :mod:`neurocodec.experiments.proposers`).
        clips: The clip set (:class:`~neurocodec.bench.runner.ClipSpec`).
        config: Workers, budget, device, artifact folder.

    Returns:
        ``{"completed": n, "failed": n, "requeued": [trial numbers]}``.
    """
    if check_storage_url(url) != "sqlite":
        raise SettingsError(f"--storage {url}: experiments run is the SQLite set-up; "
                            "with PostgreSQL use experiments propose and neurocodec worker")
    if config.workers < 1 or config.budget < 1:
        raise SettingsError("--workers and --budget must be at least 1")
    # Checked here: an initializer that raises in the workers would only surface as a broken pool.
    check_device(config.device)
    db = sqlite_path(url)
    artifacts = config.artifacts or str(db) + ".artifacts"
    with DatabaseLock(db):
        exp = exp_opener()
        requeued = exp.recover_running()
        with tempfile.TemporaryDirectory(prefix="neurocodec-exp-") as tmp:
            prepared = prepare_clips(clips, exp.frames, Path(tmp) / "clips")
            counts = {"completed": 0, "failed": 0}
            running: dict[Future, tuple[Any, dict[str, Any]]] = {}
            started = 0
            with process_pool(config.workers, initializer=_init_worker, initargs=(config.device,)) as pool:
                while started < config.budget or running:
                    while started < config.budget and len(running) < config.workers:
                        if not exp.waiting():
                            n = min(config.workers, config.budget - started)
                            exp.enqueue(proposer.propose(exp, n))
                        trial, params = exp.ask()
                        job = EvalJob(trial.number, params, prepared, str(Path(tmp) / f"trial{trial.number}"),
                                      config.keep_bitstreams)
                        running[pool.submit(evaluate, job)] = (trial, params)
                        started += 1
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        trial, params = running.pop(fut)
                        _finish(exp, trial, params, fut, artifacts, counts, progress)
                        shutil.rmtree(Path(tmp) / f"trial{trial.number}", ignore_errors=True)
    return counts | {"requeued": requeued}


def _finish(exp: Experiment, trial, params, fut: Future, artifacts: str, counts: dict[str, int], progress) -> None:
    try:
        outcome = fut.result()
    except Exception as exc:  # a failed encode fails its trial, not the run
        log.warning("trial %d %s failed: %s", trial.number, params, exc)
        exp.tell(trial, None, f"{type(exc).__name__}: {exc}")
        counts["failed"] += 1
        return
    values = exp.record(trial, outcome, artifacts)
    exp.tell(trial, values)
    counts["completed"] += 1
    if progress:
        m = outcome["metrics"]
        progress(f"trial {trial.number} {params}: {m['bitrate_kbps']:.1f} kb/s, "
                 f"PSNR-YUV {m['psnr_yuv']:.2f} dB, SSIM {m['ssim']:.4f}")

"""The embedded set-up: one orchestrator process owns a SQLite study and runs trials in spawned workers.

SQLite must never have two writer processes, so the workers only measure and
return plain data; the orchestrator alone writes (ask, artifacts, reports,
tell). A worker applies the pruning rule to a snapshot of the finished trials
taken when its trial was handed out. A lock file beside the database refuses
a second orchestrator, and on start the trials a stopped orchestrator left
RUNNING are failed and re-queued.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._pool import process_pool
from ..errors import SettingsError
from .anchor import ensure_anchor, host_name
from .evaluate import (
    EvalJob,
    apply_device,
    check_device,
    check_metric,
    clip_specs,
    evaluate,
    measure_curve,
    prepare_clips,
    warm_up,
)
from .study import Experiment, check_storage_url, sqlite_path
from .validation import validate_top

__all__ = ["RunConfig", "DatabaseLock", "run_experiments", "validate_study", "trial_line"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Settings of ``neurocodec experiments run``."""

    workers: int = 1
    budget: int = 10
    device: str = "auto"
    artifacts: str | None = None  # folder; None: "<db>.artifacts" beside the database
    keep_bitstreams: bool = False  # every measured .ncv as an artifact (points x clips per trial)
    validate_top: int = 3  # best feasible trials re-measured on the validation clips at the end (0: none)


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


def _init_worker(device: str, strategies: tuple[str, ...]) -> None:
    apply_device(device)
    warm_up(strategies)


def _pool(exp: Experiment, workers: int, device: str):
    strategies = tuple(dict.fromkeys([exp.space.anchor.strategy, *exp.space.strategies]))
    return process_pool(workers, initializer=_init_worker, initargs=(device, strategies))


class _Runners:
    """Curve and trial measurements in a process pool, results in order (a failed trial as its exception)."""

    def __init__(self, pool):
        self.pool = pool

    def curves(self, jobs: list) -> list[dict[str, Any]]:
        return list(self.pool.map(measure_curve, jobs))

    def trials(self, jobs: list[EvalJob]) -> list[dict[str, Any] | Exception]:
        futures = [self.pool.submit(evaluate, j) for j in jobs]
        out: list[dict[str, Any] | Exception] = []
        for f in futures:
            try:
                out.append(f.result())
            except Exception as exc:  # a failed measurement fails its trial, not the batch
                out.append(exc)
        return out


def trial_job(exp: Experiment, number: int, params: dict[str, Any], clips, anchors, outdir: str,
              keep_bitstreams: bool, prune=None) -> EvalJob:
    strategy, preset, options = exp.space.config_of(params)
    return EvalJob(number, params, strategy, preset, options, exp.space.points, exp.space.metric, clips, anchors,
                   outdir, keep_bitstreams, prune)


def trial_line(number: int, params: dict[str, Any], outcome: dict[str, Any], metric: str) -> str:
    """One progress line: the trial's BD-rate and time multiple."""
    s = outcome["score"]
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    line = f"trial {number} {shown}: BD-rate {s['bd_rate']:+.2f} % ({metric}), time x{s['time_multiple']:.2f}"
    return line + (f", pruned after {s['clips']}/{s['of']} clips" if outcome["pruned"] else "")


def run_experiments(
    exp_opener: Callable[[], Experiment],
    url: str,
    proposer,
    clips: list,
    config: RunConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``config.budget`` trials: propose when the queue is empty, measure in workers, record; then validate.

    The anchor is measured first where this host has not measured it yet;
    at the end the ``config.validate_top`` best feasible trials are measured
    on the study's validation clips, if it has some.

    Args:
        exp_opener: Opens the experiment (called after the lock is taken).
        url: The ``sqlite:///`` storage URL.
        proposer: Fills the queue (see :mod:`neurocodec.experiments.proposers`).
        clips: The search clips (:class:`~neurocodec.bench.runner.ClipSpec`).
        config: Workers, budget, device, artifact folder, validation.

    Returns:
        ``{"completed": n, "pruned": n, "failed": n, "requeued": [trial numbers],
        "anchor_clips_measured": n, "validated": [trial numbers]}``.
    """
    if check_storage_url(url) != "sqlite":
        raise SettingsError(f"--storage {url}: experiments run is the SQLite set-up; "
                            "with PostgreSQL use experiments propose and neurocodec worker")
    if config.workers < 1 or config.budget < 1 or config.validate_top < 0:
        raise SettingsError("--workers and --budget must be at least 1, --validate-top at least 0")
    # Checked here: an initializer that raises in the workers would only surface as a broken pool.
    check_device(config.device)
    db = sqlite_path(url)
    artifacts = config.artifacts or str(db) + ".artifacts"
    host = host_name()
    with DatabaseLock(db):
        exp = exp_opener()
        check_metric(exp.space.metric)
        requeued = exp.recover_running()
        space = exp.space
        with tempfile.TemporaryDirectory(prefix="neurocodec-exp-") as tmp:
            prepared = prepare_clips(clips, space.frames, space.frame_step, Path(tmp) / "clips")
            counts = {"completed": 0, "pruned": 0, "failed": 0}
            running: dict[Future, tuple[Any, dict[str, Any]]] = {}
            started = 0
            with _pool(exp, config.workers, config.device) as pool:
                runners = _Runners(pool)
                anchors, measured = ensure_anchor(exp, prepared, host, runners.curves)
                while started < config.budget or running:
                    while started < config.budget and len(running) < config.workers:
                        if not exp.waiting():
                            n = min(config.workers, config.budget - started)
                            exp.enqueue(proposer.propose(exp, n))
                        if not exp.waiting():
                            # Every configuration was measured: a new trial would repeat one (encodes are
                            # deterministic), so the budget ends here.
                            log.warning("the space holds no configuration not yet measured; %d of the budget "
                                        "of %d trials left unused", config.budget - started, config.budget)
                            config = replace(config, budget=started)
                            break
                        trial, params = exp.ask()
                        job = trial_job(exp, trial.number, params, prepared, anchors,
                                        str(Path(tmp) / f"trial{trial.number}"), config.keep_bitstreams,
                                        exp.pruner_snapshot())
                        running[pool.submit(evaluate, job)] = (trial, params)
                        started += 1
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        trial, params = running.pop(fut)
                        _finish(exp, trial, params, fut, artifacts, counts, progress)
                        shutil.rmtree(Path(tmp) / f"trial{trial.number}", ignore_errors=True)
                validated = []
                if config.validate_top and exp.validation_clips:
                    validated = _validate(exp, clip_specs(exp.validation_clips, what="validation clip set"),
                                          config.validate_top, host, runners, Path(tmp) / "validation")
    return counts | {"requeued": requeued, "anchor_clips_measured": measured, "validated": validated}


def _validate(exp: Experiment, specs: list, top: int, host: str, runners: _Runners, workdir: Path) -> list[int]:
    space = exp.space
    prepared = prepare_clips(specs, space.frames, space.frame_step, workdir / "clips")
    return validate_top(exp, prepared, host, top, workdir, runners.curves, runners.trials)


def validate_study(exp: Experiment, specs: list, top: int, workers: int = 1, device: str = "auto") -> list[int]:
    """Measure the ``top`` best feasible trials on ``specs`` in a pool of ``workers`` (``experiments validate``).

    The caller holds the database lock on SQLite.

    Returns:
        The numbers of the trials measured now (those already measured on these clips are skipped).
    """
    if workers < 1 or top < 1:
        raise SettingsError("--workers and --top must be at least 1")
    check_device(device)
    check_metric(exp.space.metric)
    with tempfile.TemporaryDirectory(prefix="neurocodec-validate-") as tmp:
        with _pool(exp, workers, device) as pool:
            return _validate(exp, specs, top, host_name(), _Runners(pool), Path(tmp))


def _finish(exp: Experiment, trial, params, fut: Future, artifacts: str, counts: dict[str, int], progress) -> None:
    try:
        outcome = fut.result()
    except Exception as exc:  # a failed encode fails its trial, not the run
        log.warning("trial %d %s failed: %s", trial.number, params, exc)
        exp.tell(trial, None, f"{type(exc).__name__}: {exc}")
        counts["failed"] += 1
        return
    values = exp.record(trial, outcome, artifacts)
    exp.tell(trial, values, pruned=outcome["pruned"])
    counts["pruned" if outcome["pruned"] else "completed"] += 1
    if progress:
        progress(trial_line(trial.number, params, outcome, exp.space.metric))

"""The distributed set-up's worker: takes queued proposals from a PostgreSQL study, one at a time.

Before its first trial a worker measures the anchor on its clips unless this
host already has (see :mod:`neurocodec.experiments.anchor`). Each trial runs
through ``study.optimize(n_trials=1)`` with heartbeats, reporting its running
BD-rate after each clip to the study's pruner; a worker that dies mid-trial
stops beating; after the grace period the next
worker to look fails that trial and re-queues it with the same parameters and
user attrs (``proposal_id`` included), and some worker finishes it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from ..errors import SettingsError
from .anchor import ensure_anchor, host_name
from .evaluate import apply_device, check_metric, clip_specs, evaluate, measure_curve, prepare_clips, warm_up
from .orchestrator import trial_job, trial_line
from .study import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, Experiment, check_storage_url

__all__ = ["WorkerConfig", "run_worker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Settings of ``neurocodec worker``."""

    device: str = "auto"
    artifacts: str = "artifacts"
    max_trials: int | None = None  # None: until stopped (or idle_exit)
    poll_s: float = 2.0
    idle_exit_s: float | None = None  # leave after this long with nothing queued
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S
    keep_bitstreams: bool = False  # every measured .ncv as an artifact (points x clips per trial)


def run_worker(url: str, study: str, config: WorkerConfig, clips: list[str] | None = None,
               *, progress: Callable[[str], None] | None = None) -> int:
    """Run queued trials until ``max_trials`` are done or the queue stays empty for ``idle_exit_s``.

    Returns:
        The number of trials this worker finished.
    """
    if check_storage_url(url) == "sqlite":
        raise SettingsError(f"--storage {url}: workers need PostgreSQL; SQLite takes one writer "
                            "(use experiments run, which runs its own workers)")
    apply_device(config.device)
    exp = Experiment.open(url, study, heartbeat=True, heartbeat_interval=config.heartbeat_interval,
                          grace_period=config.grace_period)
    check_metric(exp.space.metric)
    specs = clip_specs(exp.clips, clips)
    host = host_name()
    done = 0
    with tempfile.TemporaryDirectory(prefix="neurocodec-worker-") as tmp:
        prepared = prepare_clips(specs, exp.space.frames, exp.space.frame_step, Path(tmp) / "clips")
        warm_up(tuple(dict.fromkeys([exp.space.anchor.strategy, *exp.space.strategies])))
        anchors, _ = ensure_anchor(exp, prepared, host, lambda jobs: [measure_curve(j) for j in jobs])
        constrained = exp.space.objective == "constrained"

        def objective(trial) -> list[float]:
            params = exp.suggest(trial)
            trial.set_user_attr("worker", f"{host}:{os.getpid()}")
            if "proposal_id" not in trial.user_attrs:
                # Lost a race for the last queued proposal: the sampler proposed this one instead.
                trial.set_user_attr("proposer", "optuna (worker)")
            log.info("trial %d: %s", trial.number, params)
            reported: list[int] = []

            def prune(steps: list[float], time_multiple: float) -> bool:
                trial.report(steps[-1], len(steps) - 1)
                reported.append(len(steps) - 1)
                trial.set_user_attr("running_time_multiple", time_multiple)
                return trial.should_prune()

            job = trial_job(exp, trial.number, params, prepared, anchors, str(Path(tmp) / f"trial{trial.number}"),
                            config.keep_bitstreams, prune if constrained else None)
            try:
                outcome = evaluate(job)
            except Exception as exc:
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
                raise
            if constrained:
                for step, value in enumerate(outcome["steps"]):
                    if step not in reported:
                        trial.report(value, step)
            values = exp.record(trial, outcome, config.artifacts, report=False)
            if progress:
                progress(trial_line(trial.number, params, outcome, exp.space.metric))
            if outcome["pruned"]:
                raise optuna.TrialPruned()
            return values

        idle_since = time.monotonic()
        while config.max_trials is None or done < config.max_trials:
            # Stale trials only come back to the queue when someone looks: an idle worker looks too.
            exp.fail_stale()
            if not exp.waiting():
                if config.idle_exit_s is not None and time.monotonic() - idle_since > config.idle_exit_s:
                    break
                time.sleep(config.poll_s)
                continue
            exp.optimize_one(objective)
            done += 1
            idle_since = time.monotonic()
    return done

"""The distributed set-up's worker: takes queued proposals from a PostgreSQL study, one at a time.

Each trial runs through ``study.optimize(n_trials=1)`` with heartbeats, so a
worker that dies mid-trial stops beating; after the grace period the next
worker to look fails that trial and re-queues it with the same parameters and
user attrs (``proposal_id`` included), and some worker finishes it.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bench.clipset import expand_inputs
from ..bench.runner import ClipSpec
from ..errors import SettingsError
from .evaluate import EvalJob, apply_device, evaluate, prepare_clips
from .study import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, Experiment, check_storage_url

__all__ = ["WorkerConfig", "run_worker", "clip_specs"]

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
    keep_bitstreams: bool = True


def clip_specs(stored: list[dict[str, Any]], override: list[str] | None = None) -> list:
    """The clip set: ``override`` (command-line clips) or the study's stored one."""
    if override:
        return expand_inputs(override)
    if not stored:
        raise SettingsError("the study stores no clip set; pass --clips")
    return [ClipSpec(c["path"], name=c.get("name"), size=c.get("size"), fps=c.get("fps")) for c in stored]


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
    specs = clip_specs(exp.clips, clips)
    done = 0
    with tempfile.TemporaryDirectory(prefix="neurocodec-worker-") as tmp:
        prepared = prepare_clips(specs, exp.frames, Path(tmp) / "clips")

        def objective(trial) -> list[float]:
            params = exp.suggest(trial)
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            if "proposal_id" not in trial.user_attrs:
                # Lost a race for the last queued proposal: the sampler proposed this one instead.
                trial.set_user_attr("proposer", "optuna (worker)")
            log.info("trial %d: %s", trial.number, params)
            job = EvalJob(trial.number, params, prepared, str(Path(tmp) / f"trial{trial.number}"),
                          config.keep_bitstreams)
            outcome = evaluate(job)
            values = exp.record(trial, outcome, config.artifacts)
            if progress:
                m = outcome["metrics"]
                progress(f"trial {trial.number} {params}: {m['bitrate_kbps']:.1f} kb/s, "
                         f"PSNR-YUV {m['psnr_yuv']:.2f} dB, SSIM {m['ssim']:.4f}")
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

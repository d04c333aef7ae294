"""The training scaffold ``train intra`` and ``train enhance`` share: checkpoints, limits, resume, log, export.

A pipeline supplies a :class:`TrainingJob` (its model, optimisers and one
optimisation step); :class:`TrainingLoop` runs it until ``steps`` steps or
``time_limit_s`` seconds, whichever comes first. The run folder holds
``checkpoint.pt``: the job's state, the step, the loss log (one row of
averaged metrics every ``log_every`` steps, also logged) and the run's
settings. It is written every ``ckpt_every`` steps and when the run stops,
through :func:`~neurocodec.io.atomic.atomic_path`, so an interrupted save
keeps the previous checkpoint; ``resume`` continues from it.
:func:`export` packs a checkpoint's model as a shipped weights file (the
model registry's format for its kind) and returns the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.atomic import atomic_path
from ..models.registry import pack

__all__ = ["CHECKPOINT", "TrainingJob", "TrainingLoop", "read_checkpoint", "export"]

log = logging.getLogger(__name__)

#: What a run folder's checkpoint is called.
CHECKPOINT = "checkpoint.pt"


class TrainingJob(ABC):
    """What a pipeline adds to the scaffold."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Model and optimiser states, saved in every checkpoint beside ``step``, ``log`` and ``config``."""

    @abstractmethod
    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint (what :meth:`state` saved)."""

    @abstractmethod
    def step(self, rng: np.random.Generator, progress: float) -> dict[str, Any]:
        """One optimisation step.

        Args:
            rng: The run's generator (seeded with ``seed + step`` at the start or resume).
            progress: How far the run is, 0..1: steps or time, whichever binds.

        Returns:
            Metrics to average over the log interval (floats, or tensors left
            on the device: no sync per step).
        """

    def row(self, means: dict[str, float]) -> dict[str, float]:
        """A log row's fields from the averaged metrics (default: the means)."""
        return means

    @abstractmethod
    def describe(self, row: dict[str, float]) -> str:
        """The log line of a row (after ``step N``)."""


class TrainingLoop:
    """One run folder: its checkpoint, limits and log.

    Args:
        out: The run folder (created).
        steps: Stop after this many steps in all (a resumed run counts those done).
        time_limit_s: Stop after this many seconds of this invocation (None: no limit).
        log_every: Steps per log row.
        ckpt_every: Steps between checkpoints (one is always written at the end).
        config: The run's settings, saved in every checkpoint.
        device: Where the checkpoint's tensors are loaded to on resume.
        resume: Continue from the folder's checkpoint, if there is one.
    """

    def __init__(self, out: str | os.PathLike, *, steps: int, time_limit_s: float | None = None, log_every: int,
                 ckpt_every: int, config: dict[str, Any], device: str = "cpu", resume: bool = False):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / CHECKPOINT
        self.steps, self.time_limit_s = steps, time_limit_s
        self.log_every, self.ckpt_every = log_every, ckpt_every
        self.config = config
        #: The checkpoint the run continues from (None: a fresh run); read before the job is built.
        self.resumed = read_checkpoint(self.path, device) if resume and self.path.exists() else None

    def run(self, job: TrainingJob, seed: int) -> Path:
        """Train until a limit and return the checkpoint's path."""
        step, history = 0, []
        if self.resumed is not None:
            job.restore(self.resumed)
            step, history = self.resumed["step"], self.resumed["log"]
            log.info("resumed at step %d", step)
        rng = np.random.default_rng(seed + step)
        t0 = time.perf_counter()
        sums: dict[str, Any] = {}

        def save() -> None:
            state = {"step": step, "log": history, "config": self.config} | job.state()
            with atomic_path(self.path, overwrite=True) as tmp:  # an interrupted save keeps the last checkpoint
                torch.save(state, tmp)

        while step < self.steps:
            elapsed = time.perf_counter() - t0
            if self.time_limit_s is not None and elapsed > self.time_limit_s:
                log.info("time limit reached at step %d", step)
                break
            progress = max(step / self.steps, elapsed / self.time_limit_s if self.time_limit_s else 0.0)
            for key, value in job.step(rng, min(progress, 1.0)).items():
                sums[key] = sums.get(key, 0.0) + value
            step += 1
            if step % self.log_every == 0:
                row = {"step": step, "seconds": round(time.perf_counter() - t0, 1)}
                row |= job.row({k: float(v) / self.log_every for k, v in sums.items()})
                history.append(row)
                log.info("step %d %s", step, job.describe(row))
                sums = {}
            if step % self.ckpt_every == 0:
                save()
        save()
        return self.path


def read_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint's contents (tensors on ``device``); plain data and tensors only, no code runs."""
    return torch.load(path, map_location=device, weights_only=True)


def export(checkpoint: str | os.PathLike, out: str | os.PathLike, kind: str,
           build: Callable[[dict[str, Any]], Any], **trained: object) -> tuple[Path, str]:
    """Write the shipped weights file of a checkpoint and return (path, sha256 hex of the file).

    Args:
        checkpoint: A run's ``checkpoint.pt``.
        out: The weights file to write (replaced if it exists; written atomically).
        kind: The model registry's kind (``intra``, ``enhance``): its format is written.
        build: Checkpoint contents -> the trained network.
        trained: Facts added to the file's training record (e.g. ``device``).
    """
    state = read_checkpoint(checkpoint)
    last = state["log"][-1] if state["log"] else None
    record = {"steps": state["step"], "config": state["config"], "seconds": last["seconds"] if last else None,
              "last": last} | trained
    data = pack(kind, build(state), record)
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_bytes(data)
    return Path(out), hashlib.sha256(data).hexdigest()

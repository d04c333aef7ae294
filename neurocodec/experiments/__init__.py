"""Autonomous codec experiments: proposals, real measurements, and an Optuna study that learns from them.

Two set-ups share one study layout (see docs/experiments.md):

- embedded: :func:`~neurocodec.experiments.orchestrator.run_experiments` owns a
  SQLite study and runs trials in spawned worker processes;
- distributed: proposals are queued in a PostgreSQL study
  (:mod:`~neurocodec.experiments.proposers`) and
  :func:`~neurocodec.experiments.worker.run_worker` processes take them.

Optuna is only imported by :mod:`neurocodec.experiments.study` (and what uses
it), so importing this package stays cheap.
"""

from .space import Space, load_space, parse_space

__all__ = ["Space", "load_space", "parse_space"]

"""When a trial stops early: after a clip, if it is clearly worse than the feasible trials, or far too slow.

The rule is Optuna's median rule restricted to feasible trials: after clip
``i``, a trial stops when its running mean BD-rate is above the median of
the running means after clip ``i`` of the finished trials within the time
ceiling (once ``pruning_startup`` of them exist); and, whatever the history,
when its running time multiple is above :data:`TIME_MARGIN` times the
ceiling (it will not come back within it). Slow but excellent trials
therefore do not raise the bar for the feasible ones.

It is plain Python, so a spawned worker can apply it to a snapshot of the
history (:class:`SnapshotPruner`), and the Optuna pruner of the distributed
set-up (:class:`~neurocodec.experiments.study.FeasibleMedianPruner`) applies
the same rule to the live study.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

__all__ = ["TIME_MARGIN", "median_rule", "SnapshotPruner"]

#: A running time multiple this many times the ceiling stops the trial (timings move by far less).
TIME_MARGIN = 1.5


def median_rule(history: list[dict[int, float]], steps: list[float], time_multiple: float, *,
                startup: int, ceiling: float | None) -> bool:
    """Whether to stop a trial.

    Args:
        history: Running BD-rates by clip index of the finished feasible trials.
        steps: This trial's running BD-rates so far (one per clip measured).
        time_multiple: This trial's running time multiple.
        startup: Finished feasible trials needed before the median rule applies.
        ceiling: The study's time ceiling (None: none).
    """
    if ceiling is not None and time_multiple > TIME_MARGIN * ceiling:
        return True
    if not steps or len(history) < max(startup, 1):
        return False
    step = len(steps) - 1
    others = [h[step] for h in history if step in h]
    return bool(others) and steps[-1] > median(others)


@dataclass(frozen=True)
class SnapshotPruner:
    """:func:`median_rule` on the history as it was when the trial was handed out (picklable)."""

    history: tuple[dict[int, float], ...]
    startup: int
    ceiling: float | None

    def __call__(self, steps: list[float], time_multiple: float) -> bool:
        return median_rule(list(self.history), steps, time_multiple, startup=self.startup, ceiling=self.ceiling)

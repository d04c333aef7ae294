"""Held-out validation: the best feasible trials re-measured on clips the search never saw.

A trial that only fits the search clips shows a validation BD-rate well above
its search BD-rate; status puts the two side by side. Results are stored on
the study with the validation clip names, so a trial is measured again only
when the validation set changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .anchor import ensure_anchor
from .evaluate import CurveJob, EvalJob, PreparedClip
from .study import Experiment, TrialRecord, params_key

__all__ = ["best_feasible", "validate_top"]

log = logging.getLogger(__name__)


def best_feasible(records: list[TrialRecord], ceiling: float | None = None) -> list[TrialRecord]:
    """Finished trials within the time ceiling (the study's, or ``ceiling``), lowest search BD-rate first."""
    done = [r for r in records if r.state == "COMPLETE" and r.score]
    if ceiling is not None:
        done = [r for r in done if r.score["time_multiple"] <= ceiling]
    else:
        done = [r for r in done if r.feasible]
    return sorted(done, key=lambda r: (r.score["bd_rate"], r.number))


def validate_top(
    exp: Experiment,
    clips: tuple[PreparedClip, ...],
    host: str,
    top: int,
    workdir: str | Path,
    run_curves: Callable[[list[CurveJob]], list[dict[str, Any]]],
    run_trials: Callable[[list[EvalJob]], list[dict[str, Any] | Exception]],
) -> list[int]:
    """Measure the ``top`` best feasible configurations on ``clips`` (skipping those already measured on them).

    A configuration measured more than once (a re-queued trial) counts once, by its first trial.

    Returns:
        The numbers of the trials measured now.
    """
    names = [c.name for c in clips]
    distinct, seen = [], set()
    for r in best_feasible(exp.records()):
        key = params_key(r.params)
        if key not in seen:
            seen.add(key)
            distinct.append(r)
    todo = [r for r in distinct[:top] if not (r.validation and r.validation.get("clip_names") == names)]
    if not todo:
        return []
    anchors, _ = ensure_anchor(exp, clips, host, run_curves)
    jobs = []
    for r in todo:
        strategy, preset, options = exp.space.config_of(r.params)
        jobs.append(EvalJob(r.number, r.params, strategy, preset, options, exp.space.points, exp.space.metric,
                            clips, anchors, str(Path(workdir) / f"validate{r.number}"), keep_bitstreams=False))
    for r, outcome in zip(todo, run_trials(jobs)):
        if isinstance(outcome, Exception):
            log.warning("validation of trial %d failed: %s", r.number, outcome)
            exp.store_validation(r.number, {"error": f"{type(outcome).__name__}: {outcome}"[:500],
                                            "clip_names": names, "host": host})
            continue
        s = outcome["score"]
        exp.store_validation(r.number, {"bd_rate": s["bd_rate"], "time_multiple": s["time_multiple"],
                                        "per_clip": s["per_clip"], "clip_names": names, "host": host})
    return [r.number for r in todo]

"""What a study holds: its trials, the best feasible ones with their validation, and the Pareto front."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .space import Space
from .study import TrialRecord
from .validation import best_feasible

__all__ = ["summarize", "format_status", "pareto_front", "TOP"]

#: Best feasible trials listed with their validation numbers.
TOP = 5


def pareto_front(records: list[TrialRecord]) -> list[TrialRecord]:
    """Finished trials no other finished trial beats on both BD-rate and time multiple (lower is better)."""
    done = [r for r in records if r.state == "COMPLETE" and r.score]

    def key(r: TrialRecord) -> tuple[float, float]:
        return r.score["bd_rate"], r.score["time_multiple"]

    front = [r for r in done
             if not any(all(a <= b for a, b in zip(key(o), key(r))) and key(o) != key(r) for o in done)]
    return sorted(front, key=lambda r: (r.score["time_multiple"], r.number))


def _row(r: TrialRecord) -> dict[str, Any]:
    s, v = r.score, r.validation or {}
    return {
        "number": r.number, "state": r.state, "params": r.params,
        "bd_rate": s.get("bd_rate"), "time_multiple": s.get("time_multiple"),
        "clips": s.get("clips"), "of": s.get("of"), "feasible": r.feasible,
        "validation_bd_rate": v.get("bd_rate"), "validation_time_multiple": v.get("time_multiple"),
        "validation_gap": (v["bd_rate"] - s["bd_rate"]) if "bd_rate" in v and s else None,
        "validation_error": v.get("error"), "validation_clips": v.get("clip_names"),
        "per_clip": s.get("per_clip"), "proposer": r.user_attrs.get("proposer"),
        "rationale": r.user_attrs.get("rationale"), "proposal_id": r.user_attrs.get("proposal_id"),
        "artifacts": r.user_attrs.get("artifacts"), "error": r.user_attrs.get("error"),
    }


def summarize(space: Space, records: list[TrialRecord], top: int = TOP) -> dict[str, Any]:
    """Plain data for ``experiments status --json``.

    ``best`` is the feasible trial (within the time ceiling) with the lowest
    search BD-rate; ``top`` the ``top`` best feasible, each with its validation numbers.
    """
    ranked = best_feasible(records)
    return {
        "goal": space.goal(),
        "states": dict(Counter(r.state for r in records)),
        "best": _row(ranked[0]) if ranked else None,
        "top": [_row(r) for r in ranked[:top]],
        "pareto_front": [_row(r) for r in pareto_front(records)],
        "trials": [_row(r) for r in records],
    }


def _pct(x: float | None) -> str:
    return f"{x:+.2f}" if x is not None else "-"


def _times(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "-"


def format_status(summary: dict[str, Any]) -> str:
    """A text table of the trials, then the best feasible ones with validation, then the Pareto front."""
    def params(p: dict[str, Any]) -> str:
        return " ".join(f"{k}={v}" for k, v in p.items())

    def line(t: dict[str, Any]) -> str:
        feas = {True: "yes", False: "no", None: "-"}[t["feasible"]]
        clips = f"{t['clips']}/{t['of']}" if t["clips"] is not None else "-"
        return (f"{t['number']:5d} {t['state']:9s} {_pct(t['bd_rate']):>8} {_times(t['time_multiple']):>6} "
                f"{clips:>5} {feas:8s} {_pct(t['validation_bd_rate']):>8} {_times(t['validation_time_multiple']):>6} "
                f"{t['proposer'] or '-':22s} {params(t['params'])}")

    g = summary["goal"]
    head = (f"{'trial':>5} {'state':9s} {'BD-rate':>8} {'time':>6} {'clips':>5} {'feasible':8s} {'val BD':>8} "
            f"{'val t':>6} {'proposer':22s} params")
    ceiling = (f"time multiple <= {g['max_time_multiple']:g}" if g["max_time_multiple"] is not None
               else "no time ceiling")
    out = [f"goal: BD-rate on {g['metric']} against {g['anchor']} ({g['objective']}; {ceiling}); "
           f"BD-rate in %, time as a multiple of the anchor's encode time", head]
    out += [line(t) for t in summary["trials"]]
    out += ["", f"states: {', '.join(f'{k} {v}' for k, v in sorted(summary['states'].items()))}"]
    best = summary["best"]
    if best:
        val = (f"validation {_pct(best['validation_bd_rate'])} % (time x{_times(best['validation_time_multiple'])})"
               if best["validation_bd_rate"] is not None else "not validated")
        out.append(f"best feasible: trial {best['number']} ({params(best['params'])}): "
                   f"search {_pct(best['bd_rate'])} % (time x{_times(best['time_multiple'])}), {val}")
    else:
        out.append("best feasible: none yet")
    out += ["", "best feasible trials (search, then validation):", head] + [line(t) for t in summary["top"]]
    out += ["", "Pareto front (BD-rate vs time multiple):", head] + [line(t) for t in summary["pareto_front"]]
    return "\n".join(out)

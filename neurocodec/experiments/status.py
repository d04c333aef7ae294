"""What a study holds: its trials, the best feasible one, and the Pareto front of bitrate against quality."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .space import Space
from .study import TrialRecord

__all__ = ["summarize", "format_status", "pareto_front"]


def pareto_front(records: list[TrialRecord], quality: str) -> list[TrialRecord]:
    """Finished trials no other finished trial beats on both bitrate (lower) and quality (higher), by bitrate."""
    done = [r for r in records if r.state == "COMPLETE" and r.metrics]
    front = []
    for r in done:
        rate, q = r.metrics["bitrate_kbps"], r.metrics[quality]
        dominated = any(
            o.metrics["bitrate_kbps"] <= rate and o.metrics[quality] >= q
            and (o.metrics["bitrate_kbps"] < rate or o.metrics[quality] > q)
            for o in done
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (r.metrics["bitrate_kbps"], r.number))


def summarize(space: Space, records: list[TrialRecord]) -> dict[str, Any]:
    """Plain data for ``experiments status --json``.

    ``best`` is the feasible trial (every target met) with the lowest bitrate.
    """
    feasible = [r for r in records if r.state == "COMPLETE" and r.feasible]
    best = min(feasible, key=lambda r: (r.metrics["bitrate_kbps"], r.number), default=None)

    def row(r: TrialRecord) -> dict[str, Any]:
        return {
            "number": r.number, "state": r.state, "params": r.params, "metrics": r.metrics,
            "feasible": r.feasible, "proposer": r.user_attrs.get("proposer"),
            "rationale": r.user_attrs.get("rationale"), "proposal_id": r.user_attrs.get("proposal_id"),
            "artifacts": r.user_attrs.get("artifacts"), "error": r.user_attrs.get("error"),
        }

    return {
        "objectives": {"minimize": "bitrate_kbps", "maximize": space.quality},
        "targets": space.targets(),
        "states": dict(Counter(r.state for r in records)),
        "best": row(best) if best else None,
        "pareto_front": [row(r) for r in pareto_front(records, space.quality)],
        "trials": [row(r) for r in records],
    }


def format_status(summary: dict[str, Any]) -> str:
    """A text table of the trials, then the best feasible trial and the Pareto front."""
    def params(p: dict[str, Any]) -> str:
        return " ".join(f"{k}={v}" for k, v in p.items())

    def line(t: dict[str, Any]) -> str:
        m = t["metrics"]
        feas = {True: "yes", False: "no", None: "-"}[t["feasible"]]
        nums = (f"{m['bitrate_kbps']:10.1f} {m['psnr_yuv']:9.2f} {m['ssim']:7.4f}" if m
                else f"{'-':>10} {'-':>9} {'-':>7}")
        return f"{t['number']:5d} {t['state']:9s} {nums} {feas:8s} {t['proposer'] or '-':22s} {params(t['params'])}"

    head = f"{'trial':>5} {'state':9s} {'kb/s':>10} {'PSNR-YUV':>9} {'SSIM':>7} {'feasible':8s} {'proposer':22s} params"
    out = [head] + [line(t) for t in summary["trials"]]
    targets = ", ".join(f"{k} {v:g}" for k, v in summary["targets"].items()) or "none"
    out += ["", f"states: {', '.join(f'{k} {v}' for k, v in sorted(summary['states'].items()))}; targets: {targets}"]
    best = summary["best"]
    out.append("best feasible: " + (f"trial {best['number']} ({params(best['params'])}), "
                                    f"{best['metrics']['bitrate_kbps']:.1f} kb/s, PSNR-YUV "
                                    f"{best['metrics']['psnr_yuv']:.2f} dB, SSIM {best['metrics']['ssim']:.4f}"
                                    if best else "none yet"))
    out += ["", f"Pareto front (bitrate vs {summary['objectives']['maximize']}):", head]
    out += [line(t) for t in summary["pareto_front"]]
    return "\n".join(out)

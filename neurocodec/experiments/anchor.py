"""The anchor every trial is scored against: its RD curves, measured once per study, and its time per host.

The curves (rates and qualities) are deterministic, so the first measurement
on each clip is cached in the study for every worker. Encode time is not: a
time multiple is only meaningful when the trial and the anchor ran on the
same machine, so each host measures the anchor once on the clips it uses
(the first time one of its processes needs it) and the study keeps those
seconds per host; a trial's multiple divides by its own host's anchor time.
On a host that is not the first, that measurement also checks that the
anchor's rates match the cached curve.

The anchor is timed :data:`TIMING_RUNS` times and its time is the median:
every trial's multiple divides by it, so one disturbed measurement would
shift the whole study (in the first recorded study, configurations equal to
the anchor measured 0.79-0.93x against a single anchor timing).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from .evaluate import CurveJob, PreparedClip, curve_job
from .study import Experiment

__all__ = ["host_name", "ensure_anchor", "TIMING_RUNS"]

#: Timed measurements of the anchor per clip and host; the median is kept.
TIMING_RUNS = 3

log = logging.getLogger(__name__)


def host_name() -> str:
    """The key of this machine's anchor timings."""
    return socket.gethostname()


def ensure_anchor(exp: Experiment, clips: tuple[PreparedClip, ...], host: str,
                  run: Callable[[list[CurveJob]], list[dict[str, Any]]]) -> tuple[dict[str, dict[str, Any]], int]:
    """The anchor's curve and this host's encode seconds on each clip, measuring what is missing.

    Args:
        run: Measures curve jobs (in a process pool, or in this process) and returns their results in order.

    Returns:
        ``({clip: {"points": [...], "seconds": s}}, number of clips measured now)``.
    """
    a = exp.space.anchor
    missing = [c for c in clips if exp.anchor_curve(c.name) is None or exp.anchor_seconds(host, c.name) is None]
    if missing:
        log.info("measuring the anchor (%s) on %d clips on %s", a.describe(), len(missing), host)
        jobs = [curve_job(c, a.strategy, a.preset, a.options, exp.space.points, exp.space.metric) for c in missing]
        results = run(jobs * TIMING_RUNS)  # round after round, so a passing disturbance hits one round
        for i, result in enumerate(results[:len(jobs)]):
            seconds = sorted(r["encode_seconds"] for r in results[i::len(jobs)])
            exp.store_anchor(host, result["clip"], result["points"], seconds[len(seconds) // 2])
    anchors = {c.name: {"points": exp.anchor_curve(c.name), "seconds": exp.anchor_seconds(host, c.name)}
               for c in clips}
    return anchors, len(missing)

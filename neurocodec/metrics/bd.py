"""Bjøntegaard-delta rate, and the rate needed to reach a quality target.

BD-rate follows G. Bjøntegaard, "Calculation of average PSNR differences
between RD-curves", VCEG-M33 (2001), with piecewise cubic Hermite (pchip)
interpolation of log-rate over quality as recommended in JVET-Q2016 /
VCEG-AL22; the interpolation itself is the ``bjontegaard`` package's.
A curve pair whose quality ranges overlap by less than ``min_overlap`` of
the smaller range gives no number (``value`` None), since extrapolated
BD-rates mislead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["BDResult", "bd_rate", "quality_overlap", "rate_for_quality", "RateAtTarget", "MIN_OVERLAP"]

#: Least overlap of two curves' quality ranges (fraction of the smaller) for a BD-rate.
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class BDResult:
    """BD-rate in percent (negative: the test codec needs fewer bits), or None with the reason."""

    value: float | None
    overlap: float
    note: str = ""


def _clean(rates: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError("rates and qualities must be 1-D and of equal length")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[keep], q[keep]
    order = np.argsort(q)
    return r[order], q[order]


def quality_overlap(q_anchor: Sequence[float], q_test: Sequence[float]) -> float:
    """Length of the common quality interval over the length of the smaller curve's interval (0..1)."""
    a0, a1 = min(q_anchor), max(q_anchor)
    t0, t1 = min(q_test), max(q_test)
    common = min(a1, t1) - max(a0, t0)
    smaller = min(a1 - a0, t1 - t0)
    if smaller <= 0:
        return 0.0
    return max(0.0, min(1.0, common / smaller))


def bd_rate(
    rate_anchor: Sequence[float],
    q_anchor: Sequence[float],
    rate_test: Sequence[float],
    q_test: Sequence[float],
    *,
    min_overlap: float = MIN_OVERLAP,
) -> BDResult:
    """BD-rate (%) of a test curve against an anchor, over their common quality range.

    Args:
        rate_anchor, q_anchor: Anchor bitrates (any unit) and qualities (dB or SSIM).
        rate_test, q_test: Test codec's points, same units.
        min_overlap: Least acceptable overlap of the quality ranges (fraction of the smaller one).
    """
    import bjontegaard  # heavy: it loads matplotlib and pandas

    ra, qa = _clean(rate_anchor, q_anchor)
    rt, qt = _clean(rate_test, q_test)
    if len(ra) < 4 or len(rt) < 4:
        return BDResult(None, 0.0, "needs at least 4 points per curve")
    if len(np.unique(qa)) < len(qa) or len(np.unique(qt)) < len(qt):
        return BDResult(None, 0.0, "repeated quality values (curve not strictly monotonic)")
    overlap = quality_overlap(qa, qt)
    if overlap < min_overlap:
        return BDResult(None, overlap, f"quality ranges overlap only {overlap:.0%} (< {min_overlap:.0%})")
    try:
        value = float(
            bjontegaard.bd_rate(ra, qa, rt, qt, method="pchip", require_matching_points=False, min_overlap=min_overlap)
        )
    except (ValueError, AssertionError) as exc:
        return BDResult(None, overlap, f"not computable: {exc}")
    if not math.isfinite(value):
        return BDResult(None, overlap, "not finite")
    return BDResult(value, overlap)


@dataclass(frozen=True)
class RateAtTarget:
    """Rate at which a curve reaches a quality target.

    ``how`` is ``interpolated`` (between measured points, pchip on log-rate),
    ``measured_below`` (even the lowest-rate point exceeds the target, so the
    true rate is at most ``rate``), or ``not_reached`` (``rate`` is None).
    """

    rate: float | None
    how: str


def rate_for_quality(rates: Sequence[float], quality: Sequence[float], target: float) -> RateAtTarget:
    """Lowest rate at which the RD curve reaches ``target`` quality."""
    r, q = _clean(rates, quality)
    if len(r) == 0 or q[-1] < target:
        return RateAtTarget(None, "not_reached")
    if q[0] >= target:
        return RateAtTarget(float(r.min()), "measured_below")
    # Quality must increase with rate for interpolation; keep the monotone envelope.
    uq, idx = np.unique(q, return_index=True)
    lr = np.log(r[idx])
    if len(uq) == 1:
        return RateAtTarget(float(r[idx][0]), "interpolated")
    f = PchipInterpolator(uq, lr)
    return RateAtTarget(float(np.exp(f(target))), "interpolated")

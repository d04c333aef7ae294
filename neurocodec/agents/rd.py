"""Rate-distortion models of trial encodes, and the decisions taken from them.

A scene is probed with a few real encodes of a contiguous window of its
frames per candidate (strategy and encoder preset) at a few CRFs. Per
candidate, log-bits, PSNR-YUV and SSIM (in dB) are interpolated piecewise
linearly in CRF through the probes (all three are close to linear in CRF
for block-based codecs over a span of about +-8) and extrapolated at most
6 CRF steps; so is pooled VMAF when the probes measured it (for a VMAF
target). Decisions:

* quality knob: minimise the Lagrangian ``J = D + lambda * R`` over
  candidates and integer CRFs, with ``D`` the squared error implied by
  PSNR-YUV (6:1:1) summed over the scene and ``R`` its bits. ``lambda``
  follows HM's exponential QP-to-lambda relation (K. McCann et al.,
  JCTVC-L1002), ``c * 2^((q-12)/3)``, with ``c`` calibrated so that x265
  at CRF ``q`` sits at the optimum for knob ``q`` (measured slopes on the
  development clips sam2_cups_720p and akiyo_cif gave c = 4.2 and 3.3). One
  knob thus means one operating slope for every strategy and every scene;
* target quality: the candidate and CRF with the fewest predicted bits
  whose predicted PSNR-YUV, SSIM and VMAF meet the targets (then verified on the
  final encode by the caller);
* target bitrate: one ``lambda`` for the whole video, found by bisection
  so the predicted bits of all scenes add up to the budget (equal slope).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Candidate", "Probe", "CandidateModel", "Decision", "lambda_for_quality", "choose_lagrangian",
           "choose_for_targets", "lambda_for_budget"]

_PEAK2 = 255.0**2
#: How far (in CRF) a model may extrapolate beyond its probes.
_EXTRAPOLATE = 6


@dataclass(frozen=True)
class Candidate:
    """A strategy with an encoder preset, the CRF span it may use, and the preset its trials use.

    ``probe_preset`` (None: ``preset``) is a faster preset of the same encoder: trial encodes at it
    model the candidate's rate-distortion (the slope and the comparison between candidates carry over
    between presets), and the final encode uses ``preset``.
    """

    strategy: str
    preset: str | None
    crf_min: int
    crf_max: int
    probe_preset: str | None = None

    @property
    def trial_preset(self) -> str | None:
        """The preset trial encodes run at."""
        return self.probe_preset if self.probe_preset is not None else self.preset


@dataclass(frozen=True)
class Probe:
    """One trial encode of candidate ``(strategy, preset)``: ``bits`` for ``frames`` frames of ``pixels`` luma samples each.

    ``vmaf`` is the pooled VMAF of a subsample of its frames, measured only for a VMAF target;
    ``encoded_preset`` is the preset the trial actually ran at (the candidate's ``probe_preset``).
    """

    strategy: str
    preset: str | None
    crf: float
    bits: int
    frames: int
    pixels: int
    psnr_yuv: float
    ssim: float
    vmaf: float | None = None
    encoded_preset: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


#: Scale of the quality-to-lambda relation (see the module docstring).
LAMBDA_SCALE = 3.7


def lambda_for_quality(q: float) -> float:
    """Lagrange multiplier (squared error per bit) for the x265-CRF-like quality knob ``q``."""
    return LAMBDA_SCALE * 2.0 ** ((q - 12.0) / 3.0)


class _Curve:
    """Piecewise-linear in CRF through the probes; linear extrapolation from the end segments."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        order = np.argsort(x)
        x, y = x[order], y[order]
        ux = np.unique(x)
        self.x = ux
        self.y = np.array([y[x == v].mean() for v in ux])

    def __call__(self, v: float) -> float:
        x, y = self.x, self.y
        if len(x) == 1:
            return float(y[0])
        if v <= x[0]:
            return float(y[0] + (v - x[0]) * (y[1] - y[0]) / (x[1] - x[0]))
        if v >= x[-1]:
            return float(y[-1] + (v - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2]))
        return float(np.interp(v, x, y))

    def slope(self, v: float, eps: float = 0.5) -> float:
        return (self(v + eps) - self(v - eps)) / (2 * eps)


class CandidateModel:
    """Curves of one candidate through its probes: bits per frame, PSNR-YUV, SSIM and VMAF at any CRF.

    ``vmaf_curve`` is None unless every probe measured VMAF.

    Piecewise-linear interpolation (log-bits, PSNR-YUV, SSIM in dB) keeps the
    model local: refinement probes near the decision make it exact there.
    """

    def __init__(self, candidate: Candidate, probes: Sequence[Probe]):
        if not probes:
            raise ValueError("a model needs at least one probe")
        self.candidate = candidate
        self.probes = list(probes)
        crf = np.array([p.crf for p in probes], dtype=np.float64)
        self.pixels = probes[0].pixels
        self.log_bits = _Curve(crf, np.log([max(p.bits, 1) / p.frames for p in probes]))
        self.psnr_curve = _Curve(crf, np.array([p.psnr_yuv for p in probes]))
        # SSIM in dB (-10 log10(1 - SSIM)) is close to linear in CRF.
        self.ssim_db_curve = _Curve(crf, np.array([-10 * math.log10(max(1 - p.ssim, 1e-10)) for p in probes]))
        have_vmaf = all(p.vmaf is not None for p in probes)
        self.vmaf_curve = _Curve(crf, np.array([p.vmaf for p in probes], dtype=np.float64)) if have_vmaf else None
        reach = _EXTRAPOLATE if len(np.unique(crf)) > 1 else 0
        lo = max(candidate.crf_min, int(math.floor(crf.min())) - reach)
        hi = min(candidate.crf_max, int(math.ceil(crf.max())) + reach)
        self.crfs = list(range(lo, hi + 1))

    def bits_per_frame(self, crf: float) -> float:
        return math.exp(self.log_bits(crf))

    def psnr_yuv(self, crf: float) -> float:
        return self.psnr_curve(crf)

    def ssim(self, crf: float) -> float:
        return 1 - 10 ** (-self.ssim_db_curve(crf) / 10)

    def vmaf(self, crf: float) -> float | None:
        """Predicted pooled VMAF (capped at 100), or None without VMAF probes."""
        return None if self.vmaf_curve is None else min(self.vmaf_curve(crf), 100.0)

    def meets(self, crf: float, psnr: float | None, ssim: float | None, vmaf: float | None = None) -> bool:
        """Whether the predicted quality at ``crf`` meets every target given (None: no target)."""
        if vmaf is not None and self.vmaf_curve is None:
            raise ValueError("a VMAF target needs probes that measured VMAF")
        return ((psnr is None or self.psnr_yuv(crf) >= psnr) and (ssim is None or self.ssim(crf) >= ssim)
                and (vmaf is None or self.vmaf(crf) >= vmaf))

    def cost(self, crf: float, lam: float) -> float:
        """Lagrangian cost per frame: weighted squared error plus lambda times bits."""
        sse = _PEAK2 * 10 ** (-self.psnr_yuv(crf) / 10) * self.pixels
        return sse + lam * self.bits_per_frame(crf)


@dataclass(frozen=True)
class Decision:
    """A scene's candidate and CRF, with what the trials predicted for it.

    ``basis`` is ``trials`` (chosen on models of trial encodes) or ``quality_map`` (a scene with a single
    candidate and no trials: the CRF the candidate's quality map gives for the knob; nothing predicted).
    """

    strategy: str
    preset: str | None
    crf: int
    predicted_bits_per_frame: float | None
    predicted_psnr_yuv: float | None
    predicted_ssim: float | None
    cost: float | None = None
    predicted_vmaf: float | None = None
    basis: str = "trials"

    def to_dict(self) -> dict:
        return asdict(self)


def _decision(m: CandidateModel, crf: int, cost: float | None = None) -> Decision:
    c = m.candidate
    return Decision(c.strategy, c.preset, crf, m.bits_per_frame(crf), m.psnr_yuv(crf), m.ssim(crf), cost,
                    m.vmaf(crf))


def choose_lagrangian(models: Sequence[CandidateModel], lam: float) -> Decision:
    """The candidate and CRF of least ``D + lambda * R`` (ties: earlier candidate, lower CRF)."""
    best: tuple[float, int, int] | None = None
    for i, m in enumerate(models):
        for crf in m.crfs:
            key = (m.cost(crf, lam), i, crf)
            if best is None or key < best:
                best = key
    assert best is not None
    cost, i, crf = best
    return _decision(models[i], crf, cost)


def choose_for_targets(models: Sequence[CandidateModel], psnr: float | None, ssim: float | None,
                       vmaf: float | None = None) -> Decision:
    """Fewest predicted bits meeting every target given; if none is predicted to, the best-quality point."""
    feasible = []
    for i, m in enumerate(models):
        ok = [c for c in m.crfs if m.meets(c, psnr, ssim, vmaf)]
        if ok:
            crf = max(ok)  # highest CRF that still meets the targets: fewest bits
            feasible.append((m.bits_per_frame(crf), i, crf))
    if feasible:
        _, i, crf = min(feasible)
        return _decision(models[i], crf)
    # Nothing predicted to reach the targets: the lowest CRF of the best-quality candidate.
    i = max(range(len(models)), key=lambda k: models[k].psnr_yuv(models[k].crfs[0]))
    return _decision(models[i], models[i].crfs[0])


def lambda_for_budget(scenes: Sequence[tuple[int, Sequence[CandidateModel]]], budget_bits: float) -> tuple[float, list[Decision]]:
    """One ``lambda`` for all scenes such that predicted bits fit ``budget_bits`` (equal-slope allocation).

    Args:
        scenes: ``(frame_count, models)`` per scene.
    """

    def total(lam: float) -> tuple[float, list[Decision]]:
        decisions = [choose_lagrangian(models, lam) for _, models in scenes]
        bits = sum(n * d.predicted_bits_per_frame for (n, _), d in zip(scenes, decisions))
        return bits, decisions

    lo, hi = math.log(1e-3), math.log(1e7)
    for _ in range(40):  # bisection on log(lambda): bits fall as lambda grows
        mid = (lo + hi) / 2
        bits, _ = total(math.exp(mid))
        if bits > budget_bits:
            lo = mid
        else:
            hi = mid
    lam = math.exp(hi)
    return lam, total(lam)[1]

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
  PSNR-YUV (6:1:1) per frame and ``R`` its bits. ``lambda`` is the scene's
  own (:func:`scene_lambda`): the slope of the best-ranked candidate's model
  at the CRF its quality map gives for the knob. So that candidate alone
  keeps one CRF for every scene, as the encoder would by itself; one
  multiplier for the whole video (equal slope across scenes) cost 3-4 %
  BD-rate on PSNR-YUV against that on multiscene_qcif_62f, because quality
  is scored as a mean over frames. A scene with a single candidate needs
  no trials at all;
* target quality: the candidate and CRF with the fewest predicted bits
  whose predicted PSNR-YUV, SSIM and VMAF meet the targets (then verified on the
  final encode by the caller);
* target bitrate: one ``lambda`` for the whole video, found by bisection
  so the predicted bits of all scenes add up to the budget (equal slope).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = ["Candidate", "Probe", "CandidateModel", "Decision", "scene_lambda", "choose_lagrangian",
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
    #: ``window`` (a run of the scene's frames at the trial preset), ``key`` (the window's first frame
    #: coded alone: what the scene's one keyframe costs) or ``calibration`` (the window at the final
    #: preset, where the trials ran at a faster one); see :class:`CandidateModel`.
    kind: str = "window"

    def to_dict(self) -> dict:
        return asdict(self)


def scene_lambda(reference: CandidateModel, crf: float) -> float:
    """The slope (squared error per bit, per frame) of ``reference``'s model at ``crf``: the scene's multiplier.

    The reference candidate sits at the CRF its quality map gives for the knob (so, alone, it would
    code every scene at one CRF, as the encoder would by itself); the other candidates compete at its slope.
    """
    def sse(c: float) -> float:
        return _PEAK2 * 10 ** (-reference.psnr_yuv(c) / 10) * reference.pixels

    d_sse = sse(crf + 1) - sse(crf - 1)
    d_bits = reference.bits_per_frame(crf - 1) - reference.bits_per_frame(crf + 1)
    return max(d_sse, 1e-9) / max(d_bits, 1e-9)


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

    A trial window shorter than its scene holds one keyframe in ``W`` frames where the scene
    has one in ``N``, so its bits per frame overstate the scene's, most for codecs whose
    keyframes are expensive. Given a ``key`` probe (the window's first frame coded alone) and
    ``scene_frames``, the window probes are first extrapolated to the whole scene: the keyframe's
    share of the window's bits and its PSNR-YUV relative to the window's mean, measured at the
    key probe's CRF, are taken as constant across CRFs, and the other ``W - 1`` frames stand for
    the scene's other ``N - 1``.

    Trials at a faster preset than the final encode misjudge its level: on a synthetic pan SVT-AV1
    preset 8 spent twice preset 4's bits at equal CRF. A ``calibration`` probe (the window at the
    final preset, at one trial CRF) scales the bits and shifts the PSNR-YUV of every window probe by
    what it measured there; the slope in CRF stays the trials'.
    """

    def __init__(self, candidate: Candidate, probes: Sequence[Probe], scene_frames: int | None = None):
        key = [p for p in probes if p.kind == "key"]
        calibration = [p for p in probes if p.kind == "calibration"]
        probes = [p for p in probes if p.kind == "window"]
        if not probes:
            raise ValueError("a model needs at least one probe")
        if calibration:
            probes = _calibrated(probes, calibration[0])
        if key and scene_frames is not None:
            probes = _to_scene(probes, key[0], scene_frames)
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


def _calibrated(window: list[Probe], calibration: Probe) -> list[Probe]:
    """Window probes moved to the final preset's level measured by ``calibration`` (see :class:`CandidateModel`)."""
    at = [p for p in window if p.crf == calibration.crf]
    if not at:
        return window
    ratio = calibration.bits / max(at[0].bits, 1)
    shift = calibration.psnr_yuv - at[0].psnr_yuv
    return [replace(p, bits=max(1, int(round(p.bits * ratio))), psnr_yuv=p.psnr_yuv + shift) for p in window]


def _to_scene(window: list[Probe], key: Probe, n: int) -> list[Probe]:
    """Window probes extrapolated to a scene of ``n`` frames with one keyframe (see :class:`CandidateModel`)."""
    at_key = [p for p in window if p.crf == key.crf]
    if not at_key or at_key[0].frames >= n or at_key[0].frames < 2:
        return window
    ref = at_key[0]
    bit_share = min(key.bits / max(ref.bits, 1), 0.95)
    key_gain = key.psnr_yuv - ref.psnr_yuv  # keyframe's PSNR-YUV over the window's mean, dB
    out = []
    for p in window:
        w = p.frames
        key_bits = bit_share * p.bits
        bits = key_bits + (n - 1) * (p.bits - key_bits) / (w - 1)
        key_psnr = p.psnr_yuv + key_gain
        rest_psnr = (w * p.psnr_yuv - key_psnr) / (w - 1)  # PSNR-YUV is a mean over frames
        out.append(replace(p, bits=int(round(bits)), frames=n, psnr_yuv=(key_psnr + (n - 1) * rest_psnr) / n))
    return out


@dataclass(frozen=True)
class Decision:
    """A scene's candidate and CRF, with what the trials predicted for it.

    ``basis`` is ``trials`` (chosen on models of trial encodes, at Lagrange multiplier ``lam``) or
    ``quality_map`` (a scene with a single candidate: the CRF its quality map gives for the knob,
    no trials, nothing predicted).
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
    lam: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _decision(m: CandidateModel, crf: int, cost: float | None = None, lam: float | None = None) -> Decision:
    c = m.candidate
    return Decision(c.strategy, c.preset, crf, m.bits_per_frame(crf), m.psnr_yuv(crf), m.ssim(crf), cost,
                    m.vmaf(crf), lam=lam)


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
    return _decision(models[i], crf, cost, lam)


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

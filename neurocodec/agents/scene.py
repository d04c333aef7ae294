"""Encoding one scene: trial encodes, the rate-distortion decision, the final encode, verification.

A VMAF target is probed cheaply (libvmaf scores every :data:`_PROBE_VMAF_STEP`-th frame of the
trial window) and verified on every frame of the final encode, pooled as the job says.

Everything here is a pure function of the scene's frames and the job, so a
scene gives the same bytes in any worker process.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from .._progress import CountingFrames
from ..errors import SettingsError
from ..io.frame import Frame, VideoInfo, crop, pad_to_even, padded_size
from ..metrics.quality import QualityAccumulator, VideoQuality
from ..metrics.vmaf import VmafResult, vmaf_frames
from ..strategies.base import AutoCapability, DecodeContext, Strategy, StrategySettings, get_strategy
from .rd import Candidate, CandidateModel, Decision, Probe, choose_for_targets, choose_lagrangian, scene_lambda

__all__ = ["SceneJob", "SceneResult", "encode_scene", "probe_scene", "measure"]

log = logging.getLogger(__name__)

#: Final encodes a target-quality search may spend on one scene after the first.
_MAX_RETRIES = 4
#: Extra probes per candidate placed where the targets are predicted to be met.
_REFINE = 2
#: Trial encodes score VMAF on every this many frames of the window (the final encode on all of them).
_PROBE_VMAF_STEP = 3

#: ``(phase, frames)``: what a scene's encode is doing (trials, encode, measure, verify) and, while it
#: encodes, how many of the scene's frames the encoder has taken.
SceneProgress = Callable[[str, int], None]


@dataclass(frozen=True)
class SceneJob:
    """What a worker needs to encode one scene.

    ``mode`` is ``fixed`` (use ``settings`` with ``candidates[0]`` as given),
    ``lagrangian`` (probe, then least ``D + lambda * R`` at the scene's own multiplier times
    ``lambda_scale``; a single candidate: its quality map's CRF), ``decided`` (a
    decision made beforehand, e.g. by the bitrate allocator) or ``target``
    (probe, then fewest bits meeting the targets, verified). ``vmaf_pool`` pools
    per-frame VMAF for ``target_vmaf`` (one of :data:`~neurocodec.metrics.vmaf.VMAF_POOLS`).
    """

    index: int
    frames: tuple[Frame, ...]
    fps: Fraction
    mode: str
    candidates: tuple[Candidate, ...]
    settings: StrategySettings
    lambda_scale: float = 1.0
    decision: Decision | None = None
    target_psnr: float | None = None
    target_ssim: float | None = None
    target_vmaf: float | None = None
    vmaf_pool: str = "mean"
    probe_frames: int = 24
    probe_points: int = 3
    calibrate: bool = True
    measure: bool = True


@dataclass
class SceneResult:
    strategy: str
    strategy_id: int
    payload: bytes
    params: dict[str, Any]
    weight_hashes: tuple[bytes, ...]
    seconds: float
    quality: VideoQuality | None = None
    target_met: bool | None = None
    decision: dict[str, Any] | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)
    tries: list[dict[str, Any]] = field(default_factory=list)
    vmaf: dict[str, Any] | None = None


def measure(
    strategy: Strategy, payload: bytes, frames: list[Frame] | tuple[Frame, ...], *, ms_ssim: bool, ssim: bool = True
) -> VideoQuality:
    """Decode ``payload`` exactly as the decoder will and compare with the source frames."""
    w, h = frames[0].width, frames[0].height
    ctx = DecodeContext(*padded_size(w, h), len(frames), {})
    acc = QualityAccumulator(with_ms_ssim=ms_ssim, with_ssim=ssim)
    for ref, rec in zip(frames, strategy.decode(payload, ctx), strict=True):
        acc.add(ref, crop(rec, w, h))
    return acc.result()


def _measure_with_vmaf(strategy: Strategy, payload: bytes, frames: tuple[Frame, ...], fps: Fraction, *,
                      ms_ssim: bool, ssim: bool, subsample: int) -> tuple[VideoQuality, VmafResult]:
    """:func:`measure`, plus VMAF of every ``subsample``-th frame, from one decode."""
    w, h = frames[0].width, frames[0].height
    ctx = DecodeContext(*padded_size(w, h), len(frames), {})
    acc = QualityAccumulator(with_ms_ssim=ms_ssim, with_ssim=ssim)
    recon = []
    for ref, rec in zip(frames, strategy.decode(payload, ctx), strict=True):
        rec = crop(rec, w, h)
        acc.add(ref, rec)
        recon.append(rec)
    # One libvmaf thread: scenes already run in parallel workers.
    return acc.result(), vmaf_frames(frames, recon, VideoInfo(w, h, fps), subsample=subsample, n_threads=1)


def _vmaf_dict(v: VmafResult, pool: str) -> dict[str, Any]:
    """What a segment reports of its verified VMAF: the pooled value used for the target, and all poolings."""
    return {"pool": pool, "value": v.pooled(pool), "mean": v.mean, "harmonic_mean": v.harmonic_mean, "p5": v.p5,
            "frames": v.frames}


def _window(frames: tuple[Frame, ...], n: int) -> tuple[Frame, ...]:
    """A contiguous run of ``n`` frames from the middle (keeps motion continuity)."""
    if len(frames) <= n:
        return frames
    start = (len(frames) - n) // 2
    return frames[start : start + n]


def _capability(strategy: Strategy) -> AutoCapability:
    """What the CRF search needs of a strategy (its quality map); one without cannot take a quality target."""
    cap = strategy.auto_capability()
    if cap is None:
        raise SettingsError(f"{strategy.name} has no quality knob (it declares no auto capability)")
    return cap


def _probe_crfs(strategy: Strategy, center: float, points: int) -> list[int]:
    """``points`` CRFs spread about +-4 x265-CRF steps around ``center``, kept inside the strategy's bounds."""
    cap = _capability(strategy)
    lo, hi = cap.crf_range
    spread = 4 * max(1.0, cap.crf_for_quality(30) - cap.crf_for_quality(29))
    center = min(max(center, lo + spread), hi - spread)  # slide the window in rather than clip it
    if points == 1:
        offsets = [0.0]
    else:
        offsets = [-spread + 2 * spread * i / (points - 1) for i in range(points)]
    return sorted({int(round(min(max(center + o, lo), hi))) for o in offsets})


def _probe_one(job: SceneJob, cand: Candidate, crf: int, window, padded, pixels, kind: str = "window") -> Probe:
    strategy = get_strategy(cand.strategy)
    preset = cand.preset if kind == "calibration" else cand.trial_preset
    s = replace(job.settings, crf=float(crf), preset=preset, bitrate=None)
    payload = strategy.encode(padded, s, job.fps)
    # The Lagrangian needs PSNR only; SSIM (about 99 % of the metric time) only for an SSIM target.
    vmaf = None
    if job.target_vmaf is None or kind != "window":
        q = measure(strategy, payload, window, ms_ssim=False, ssim=job.target_ssim is not None)
    else:
        q, v = _measure_with_vmaf(strategy, payload, window, job.fps, ms_ssim=False, ssim=job.target_ssim is not None,
                                  subsample=_PROBE_VMAF_STEP)
        vmaf = v.pooled(job.vmaf_pool)
    return Probe(cand.strategy, cand.preset, float(crf), len(payload) * 8, len(window), pixels, q.psnr_yuv, q.ssim,
                 vmaf, encoded_preset=preset, kind=kind)


def probe_scene(job: SceneJob, center_quality: float) -> list[Probe]:
    """Trial encodes of a window of the scene for every candidate, centred on ``center_quality``."""
    window = _window(job.frames, job.probe_frames)
    padded = [pad_to_even(f) for f in window]
    pixels = window[0].width * window[0].height
    probes: list[Probe] = []
    n = len(job.frames)
    for cand in job.candidates:
        strategy = get_strategy(cand.strategy)
        crfs = _probe_crfs(strategy, _capability(strategy).crf_for_quality(center_quality), job.probe_points)
        probes += [_probe_one(job, cand, crf, window, padded, pixels) for crf in crfs]
        mid = crfs[len(crfs) // 2]
        if len(window) < n:
            # The window's first frame alone: what the scene's one keyframe costs (CandidateModel extrapolates).
            probes.append(_probe_one(job, cand, mid, window[:1], padded[:1], pixels, kind="key"))
        if job.calibrate and cand.trial_preset != cand.preset:
            # One trial at the final preset calibrates the faster trials' level (CandidateModel).
            probes.append(_probe_one(job, cand, mid, window, padded, pixels, kind="calibration"))
        if job.mode == "target":
            # Probe again where the targets are predicted to be met, so the model is exact near the decision.
            for _ in range(_REFINE):
                mine = [p for p in probes if (p.strategy, p.preset) == (cand.strategy, cand.preset)]
                crf = choose_for_targets([CandidateModel(cand, mine, n)], job.target_psnr, job.target_ssim,
                                         job.target_vmaf).crf
                if any(p.crf == crf and p.kind == "window" for p in mine):
                    break
                probes.append(_probe_one(job, cand, crf, window, padded, pixels))
    return probes


def _mapped_crf(cand: Candidate, quality: float) -> int:
    """The CRF ``cand``'s quality map gives for knob ``quality``, inside its span."""
    crf = int(round(_capability(get_strategy(cand.strategy)).crf_for_quality(quality)))
    return min(max(crf, cand.crf_min), cand.crf_max)


def models_from(candidates: tuple[Candidate, ...], probes: list[Probe], scene_frames: int) -> list[CandidateModel]:
    """One model per candidate that has probes, for a scene of ``scene_frames`` frames."""
    out = []
    for cand in candidates:
        mine = [p for p in probes if p.strategy == cand.strategy and p.preset == cand.preset]
        if any(p.kind == "window" for p in mine):
            out.append(CandidateModel(cand, mine, scene_frames))
    return out


def _final(job: SceneJob, strategy: Strategy, settings: StrategySettings, ms_ssim: bool,
           progress: SceneProgress | None = None, phase: str = "encode"):
    """Encode the whole scene; measure it (and, for a VMAF target, its VMAF on every frame)."""
    padded = [pad_to_even(f) for f in job.frames]
    if progress is not None:
        padded = CountingFrames(padded, lambda n: progress(phase, n))
    payload = strategy.encode(padded, settings, job.fps)
    if job.measure and progress is not None:
        progress("measure", len(padded))
    v = None
    if not job.measure:
        q = None
    elif job.target_vmaf is None:
        q = measure(strategy, payload, job.frames, ms_ssim=ms_ssim)
    else:
        q, v = _measure_with_vmaf(strategy, payload, job.frames, job.fps, ms_ssim=ms_ssim, ssim=True, subsample=1)
    return payload, q, v


def _meets(job: SceneJob, q: VideoQuality, v: VmafResult | None) -> bool:
    return ((job.target_psnr is None or q.psnr_yuv >= job.target_psnr)
            and (job.target_ssim is None or q.ssim >= job.target_ssim)
            and (job.target_vmaf is None or v.pooled(job.vmaf_pool) >= job.target_vmaf))


def encode_scene(job: SceneJob, center_quality: float = 28.0, progress: SceneProgress | None = None) -> SceneResult:
    """Encode one scene according to ``job.mode``, telling ``progress`` how far it is."""
    t0 = time.perf_counter()
    probes: list[Probe] = []
    decision: Decision | None = None
    tries: list[dict[str, Any]] = []
    met = None
    chosen_model = None
    if job.mode == "fixed":
        cand = job.candidates[0]
        strategy = get_strategy(cand.strategy)
        settings = replace(job.settings, preset=cand.preset if cand.preset is not None else job.settings.preset)
        payload, q, v = _final(job, strategy, settings, ms_ssim=True, progress=progress)
    else:
        if job.mode == "decided":
            decision = job.decision
        else:
            if job.mode == "lagrangian" and len(job.candidates) == 1:
                # A single candidate needs no comparison: the CRF its quality map gives, no trials.
                cand = job.candidates[0]
                decision = Decision(cand.strategy, cand.preset, _mapped_crf(cand, center_quality), None, None, None,
                                    basis="quality_map")
            else:
                if progress is not None:
                    progress("trials", 0)
                probes = probe_scene(job, center_quality)
                models = models_from(job.candidates, probes, len(job.frames))
                if job.mode == "lagrangian":
                    # The scene's multiplier: the best-ranked candidate's slope at its quality-map CRF.
                    ref = job.candidates[0]
                    reference = next(m for m in models if m.candidate == ref)
                    lam = scene_lambda(reference, _mapped_crf(ref, center_quality)) * job.lambda_scale
                    decision = choose_lagrangian(models, lam)
                elif job.mode == "target":
                    decision = choose_for_targets(models, job.target_psnr, job.target_ssim, job.target_vmaf)
                    chosen_model = next(m for m in models if (m.candidate.strategy, m.candidate.preset)
                                        == (decision.strategy, decision.preset))
                else:
                    raise ValueError(f"unknown scene mode {job.mode!r}")
        strategy = get_strategy(decision.strategy)
        settings = replace(job.settings, crf=float(decision.crf), preset=decision.preset, bitrate=None)
        payload, q, v = _final(job, strategy, settings, ms_ssim=job.mode != "target", progress=progress)
        if job.mode == "target":
            payload, q, v, settings, met, tries = _verify_targets(job, strategy, settings, payload, q, v,
                                                                  chosen_model, progress)
    params = strategy.describe(settings, *padded_size(job.frames[0].width, job.frames[0].height), job.fps)
    return SceneResult(
        strategy=strategy.name,
        strategy_id=strategy.id,
        payload=payload,
        params=params,
        weight_hashes=strategy.weight_hashes(params),
        seconds=time.perf_counter() - t0,
        quality=q,
        target_met=met,
        decision=decision.to_dict() if decision else None,
        probes=[p.to_dict() for p in probes],
        tries=tries,
        vmaf=_vmaf_dict(v, job.vmaf_pool) if v is not None else None,
    )


def _ssim_db(x: float) -> float:
    return -10 * math.log10(max(1 - x, 1e-10))


def _verify_targets(job, strategy, settings, payload, q, v, model, progress=None):
    """Adjust the CRF until the real encode of the whole scene meets the targets.

    Misses step the CRF down by what the candidate's fitted slopes say the
    deficit needs (at least 1); a first encode that meets the targets is
    tried one CRF higher while that still meets them. Bounded by ``_MAX_RETRIES``.
    """
    lo, hi = strategy.crf_range
    slope_p = -model.psnr_curve.slope(settings.crf) if model is not None else 0.0  # dB lost per CRF step
    slope_s = -model.ssim_db_curve.slope(settings.crf) if model is not None else 0.0
    has_vmaf = model is not None and model.vmaf_curve is not None
    slope_v = -model.vmaf_curve.slope(settings.crf) if has_vmaf else 0.0

    def record(s, p, qq, vv):
        ok = _meets(job, qq, vv)
        t = {"crf": s.crf, "bytes": len(p), "psnr_yuv": qq.psnr_yuv, "ssim": qq.ssim, "meets": ok}
        if vv is not None:
            t["vmaf"] = vv.pooled(job.vmaf_pool)
        tries.append(t)
        return ok

    tries: list[dict[str, Any]] = []
    best = (settings, payload, q, v) if record(settings, payload, q, v) else None
    last_q, crf = q, settings.crf
    going_up = best is not None
    for _ in range(_MAX_RETRIES):
        if going_up:
            crf += 1
        else:
            need = 0.0
            if job.target_psnr is not None and last_q.psnr_yuv < job.target_psnr:
                need = max(need, (job.target_psnr - last_q.psnr_yuv) / slope_p if slope_p > 0.05 else 2)
            if job.target_ssim is not None and last_q.ssim < job.target_ssim:
                gap = _ssim_db(job.target_ssim) - _ssim_db(last_q.ssim)
                need = max(need, gap / slope_s if slope_s > 0.05 else 2)
            if job.target_vmaf is not None and tries[-1]["vmaf"] < job.target_vmaf:
                need = max(need, (job.target_vmaf - tries[-1]["vmaf"]) / slope_v if slope_v > 0.05 else 2)
            crf -= max(1, math.ceil(need * 1.2))
        if not lo <= crf <= hi:
            break
        s = replace(settings, crf=float(crf))
        p, qq, vv = _final(job, strategy, s, ms_ssim=False, progress=progress, phase="verify")
        ok = record(s, p, qq, vv)
        last_q = qq
        if ok and (best is None or len(p) < len(best[1])):
            best = (s, p, qq, vv)
        if ok != going_up:
            break  # going down: first CRF that meets; going up: one step too far
        if not going_up and len(tries) >= 2:
            # Secant on the real encodes: how much quality the last CRF step actually bought.
            a, b = tries[-2], tries[-1]
            dc = a["crf"] - b["crf"]
            if dc:
                slope_p = max(slope_p, (b["psnr_yuv"] - a["psnr_yuv"]) / dc)
                slope_s = max(slope_s, (_ssim_db(b["ssim"]) - _ssim_db(a["ssim"])) / dc)
                if job.target_vmaf is not None:
                    slope_v = max(slope_v, (b["vmaf"] - a["vmaf"]) / dc)
    if best is None:
        log.warning("scene %d: no tried CRF reached the target quality; keeping the best-quality encode", job.index)
        low = min(tries, key=lambda t: t["crf"])["crf"]
        s = replace(settings, crf=float(low))
        p, qq, vv = _final(job, strategy, s, ms_ssim=True, progress=progress, phase="verify")
        return p, qq, vv, s, False, tries
    s, p, _, vv = best
    # Report MS-SSIM too, measured on the bytes kept.
    return p, measure(strategy, p, job.frames, ms_ssim=True), vv, s, True, tries

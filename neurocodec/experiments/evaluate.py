"""Measurements: RD curves of a configuration on prepared clips, and a trial's BD-rate and time multiple.

This module never touches the study: in the embedded set-up it runs in
spawned worker processes and returns plain data to the orchestrator, which
alone writes to the database.

A trial's score on one clip is the BD-rate of its RD curve (``points`` CRFs
from :func:`~neurocodec.bench.point.crf_ladder`) against the anchor's curve
on the same clip; the trial's score is the mean over the clips. Its time
multiple is its encode seconds over the anchor's, both summed over the same
clips and points, with the anchor timed on the same host (see
:mod:`neurocodec.experiments.anchor`).
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from ..api import encode
from ..bench.clipset import expand_inputs
from ..bench.config import rate_basis
from ..bench.point import PointJob, crf_ladder, measure_point
from ..bench.runner import ClipSpec
from ..errors import NeurocodecError, SettingsError
from ..io import open_source, write_video
from ..io.ffmpeg_tool import tool_info
from ..io.synthetic import pan_zoom, pan_zoom_info
from ..metrics.bd import bd_rate
from ..strict_json import dumps

__all__ = [
    "PreparedClip", "CurveJob", "EvalJob", "MeasurementError", "prepare_clips", "measure_curve", "evaluate",
    "apply_device", "check_device", "check_metric", "curve_job", "clip_specs", "warm_up",
]

log = logging.getLogger(__name__)

# What a stored curve keeps of each point.
_POINT_KEYS = ("crf", "bitrate_kbps", "psnr_yuv", "ssim", "vmaf", "encode_seconds")


class MeasurementError(NeurocodecError, RuntimeError):
    """A trial could not be scored (e.g. its curve and the anchor's barely overlap)."""


@dataclass(frozen=True)
class PreparedClip:
    name: str
    y4m: str


@dataclass(frozen=True)
class CurveJob:
    """One configuration's RD curve on one clip (picklable, for spawned processes)."""

    clip: PreparedClip
    strategy: str
    preset: str | None
    options: dict[str, Any]
    crfs: tuple[int, ...]
    metric: str
    keep_prefix: str | None = None  # kept bitstreams: PREFIX_crfN.ncv


@dataclass(frozen=True)
class EvalJob:
    """What a worker needs to measure one trial.

    Args:
        anchors: Per clip name: ``{"points": [...], "seconds": anchor encode seconds on this host}``.
        prune: Called after each clip with the running BD-rates and the running time multiple;
            True stops the trial (None: never).
    """

    trial_number: int
    params: dict[str, Any]  # nested
    strategy: str
    preset: str | None
    options: dict[str, Any]
    points: int
    metric: str
    clips: tuple[PreparedClip, ...]
    anchors: dict[str, dict[str, Any]]
    outdir: str
    keep_bitstreams: bool = True
    prune: Callable[[list[float], float], bool] | None = field(default=None, compare=False)


def check_device(device: str) -> None:
    """Refuse an unknown device, or ``cuda`` where none is visible (before any worker starts).

    Raises:
        SettingsError: The device cannot be used here.
    """
    if device == "cuda":
        import torch  # heavy: only --device cuda needs it, to ask for a GPU

        if not torch.cuda.is_available():
            raise SettingsError("--device cuda: no CUDA device is visible on this host")
    elif device not in ("auto", "cpu"):
        raise SettingsError(f"--device {device!r}: use auto, cpu or cuda")


def apply_device(device: str) -> None:
    """Pin this process to a device before torch is imported (``auto`` leaves the choice to neurocodec)."""
    check_device(device)
    if device == "cpu":
        # measure_point encodes with device="auto"; hiding the GPUs is what makes that CPU.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def warm_up(strategies: tuple[str, ...]) -> None:
    """Encode two small synthetic frames with each strategy, untimed.

    The first encode in a fresh process also pays for loading the codec
    libraries; done before any timed encode, it keeps that cost out of the
    anchor's and the trials' encode seconds alike.
    """
    with tempfile.TemporaryDirectory(prefix="neurocodec-warm-") as tmp:
        y4m = Path(tmp) / "warm.y4m"
        write_video(y4m, pan_zoom_info(64, 64, 2), pan_zoom(64, 64, 2), overwrite=True)
        for name in strategies:
            try:
                encode(str(y4m), Path(tmp) / f"{name}.ncv", strategy=name, crf=crf_ladder(name, 4)[1],
                       measure_quality=False, overwrite=True)
            except Exception as exc:  # best effort: a strategy that cannot code this fails its trials with the reason
                log.debug("warm-up of %s failed: %s", name, exc)


def check_metric(metric: str) -> None:
    """Refuse VMAF where the bundled FFmpeg has no libvmaf (before anything is measured).

    Raises:
        SettingsError: ``metric`` is ``vmaf`` and libvmaf is missing.
    """
    if metric != "vmaf":
        return
    if "--enable-libvmaf" not in tool_info()["configuration"]:
        raise SettingsError("study.metric = \"vmaf\": the bundled FFmpeg has no libvmaf; use psnr_yuv or ssim")


def clip_specs(stored: list[dict[str, Any]], override: list[str] | None = None, what: str = "clip set") -> list:
    """The clips to measure: ``override`` (command-line clips) or the study's stored ones.

    Raises:
        SettingsError: Neither is there.
    """
    if override:
        return expand_inputs(override)
    if not stored:
        raise SettingsError(f"the study stores no {what}; pass --clips")
    return [ClipSpec(c["path"], name=c.get("name"), size=c.get("size"), fps=c.get("fps")) for c in stored]


def prepare_clips(clips: list, frames: int, frame_step: int, workdir: str | Path) -> tuple[PreparedClip, ...]:
    """Frames ``0, k, 2k, ...`` (``frames`` of them, ``k = frame_step``) of each clip as y4m under ``workdir``.

    Done once per process, not per trial.

    Raises:
        SettingsError: Two clips share a name (the anchor cache is keyed by it).
    """
    out = []
    for i, spec in enumerate(clips):
        folder = Path(workdir) / f"clip{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        y4m = folder / "source.y4m"
        with open_source(spec.path, size=spec.size, fps=spec.fps) as src:
            write_video(y4m, src.info, itertools.islice(src.frames(), 0, frames * frame_step, frame_step),
                        overwrite=True)
        out.append(PreparedClip(spec.name, str(y4m)))
    names = [c.name for c in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise SettingsError(f"two clips are named {dup!r}; clip names must be unique in a study")
    return tuple(out)


def curve_job(clip: PreparedClip, strategy: str, preset: str | None, options: dict[str, Any], points: int,
              metric: str, keep_prefix: str | None = None) -> CurveJob:
    return CurveJob(clip, strategy, preset, dict(options), tuple(crf_ladder(strategy, points)), metric, keep_prefix)


def measure_curve(job: CurveJob) -> dict[str, Any]:
    """Encode, decode and measure every CRF of the ladder on one clip.

    Returns:
        ``{"clip", "points": [{crf, bitrate_kbps, psnr_yuv, ssim, [vmaf], encode_seconds}],
        "encode_seconds": sum, "bitstreams": {crf: path}}``.
    """
    points, bitstreams = [], {}
    with tempfile.TemporaryDirectory(prefix="neurocodec-curve-") as tmp:
        for crf in job.crfs:
            keep = f"{job.keep_prefix}_crf{crf}.ncv" if job.keep_prefix else None
            p = measure_point(PointJob(
                clip_y4m=job.clip.y4m, workdir=tmp, codec=job.strategy, crf=float(crf), preset=job.preset,
                low_delay=False, rate_basis=rate_basis(job.strategy),
                keep_ncv=keep, vmaf=job.metric == "vmaf", strategy=job.strategy, options=job.options,
            ))
            points.append({k: p[k] for k in _POINT_KEYS if k in p})
            if keep:
                bitstreams[str(crf)] = keep  # the very file that was measured
    return {"clip": job.clip.name, "points": points,
            "encode_seconds": sum(p["encode_seconds"] for p in points), "bitstreams": bitstreams}


def _bd(anchor_points: list[dict[str, Any]], points: list[dict[str, Any]], metric: str):
    return bd_rate([p["bitrate_kbps"] for p in anchor_points], [p[metric] for p in anchor_points],
                   [p["bitrate_kbps"] for p in points], [p[metric] for p in points])


def evaluate(job: EvalJob) -> dict[str, Any]:
    """Measure one configuration clip by clip, scoring it against the anchor as it goes.

    After each clip the running mean BD-rate and time multiple go to ``job.prune``;
    when it says stop, the remaining clips are skipped and the outcome is marked pruned.

    Returns:
        ``{"score": {bd_rate, time_multiple, encode_seconds, anchor_seconds, clips, of, per_clip},
        "steps": [running BD-rate after each clip], "pruned": bool,
        "files": {"result": json path, "bitstreams": {clip: {crf: .ncv path}}}}``.

    Raises:
        MeasurementError: A clip's BD-rate cannot be computed (the message says why).
    """
    out = Path(job.outdir)
    out.mkdir(parents=True, exist_ok=True)
    per_clip: dict[str, dict[str, Any]] = {}
    curves, bitstreams, steps = {}, {}, []
    enc = anc = 0.0
    pruned = False
    for i, clip in enumerate(job.clips):
        prefix = str(out / f"trial{job.trial_number}_clip{i:03d}") if job.keep_bitstreams else None
        curve = measure_curve(curve_job(clip, job.strategy, job.preset, job.options, job.points, job.metric, prefix))
        anchor = job.anchors[clip.name]
        r = _bd(anchor["points"], curve["points"], job.metric)
        if r.value is None:
            raise MeasurementError(f"trial {job.trial_number}: no BD-rate on {clip.name} ({r.note})")
        enc += curve["encode_seconds"]
        anc += anchor["seconds"]
        per_clip[clip.name] = {"bd_rate": r.value, "overlap": round(r.overlap, 3),
                               "time_multiple": curve["encode_seconds"] / anchor["seconds"]}
        curves[clip.name] = curve["points"]
        if curve["bitstreams"]:
            bitstreams[clip.name] = curve["bitstreams"]
        steps.append(mean(c["bd_rate"] for c in per_clip.values()))
        if job.prune is not None and i + 1 < len(job.clips) and job.prune(steps, enc / anc):
            pruned = True
            break
    score = {"bd_rate": steps[-1], "time_multiple": enc / anc, "encode_seconds": enc, "anchor_seconds": anc,
             "clips": len(per_clip), "of": len(job.clips), "per_clip": per_clip}
    result = {"trial": job.trial_number, "params": job.params, "metric": job.metric, "score": score,
              "pruned": pruned, "curves": curves}
    result_path = out / f"trial{job.trial_number}_result.json"
    result_path.write_text(dumps(result, indent=1, default=str))
    return {"score": score, "steps": steps, "pruned": pruned,
            "files": {"result": str(result_path), "bitstreams": bitstreams}}

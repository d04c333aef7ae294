"""One trial's measurement: real encodes, decodes and metrics on every clip of the clip set.

This module never touches the study: in the embedded set-up it runs in
spawned worker processes and returns plain data to the orchestrator, which
alone writes to the database.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bench.point import PointJob, measure_point
from ..bench.runner import _prepare
from ..errors import SettingsError
from ..strict_json import dumps

__all__ = ["PreparedClip", "EvalJob", "prepare_clips", "evaluate", "apply_device", "check_device", "METRICS"]

#: Per-clip measurements averaged into the trial's metrics.
METRICS = ("bitrate_kbps", "psnr_yuv", "ssim", "psnr_y", "encode_seconds", "decode_seconds")
_ANCHORS = ("x264", "x265", "av1")


@dataclass(frozen=True)
class PreparedClip:
    name: str
    y4m: str


@dataclass(frozen=True)
class EvalJob:
    """What a worker needs to measure one trial (picklable, for spawned processes)."""

    trial_number: int
    params: dict[str, Any]  # nested: {"strategy": ..., "crf": ..., "preset": ...}
    clips: tuple[PreparedClip, ...]
    outdir: str
    keep_bitstreams: bool = True


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


def prepare_clips(clips: list, frames: int, workdir: str | Path) -> tuple[PreparedClip, ...]:
    """The first ``frames`` frames of each clip as y4m under ``workdir`` (done once per process, not per trial)."""
    out = []
    for i, spec in enumerate(clips):
        folder = Path(workdir) / f"clip{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        y4m, info = _prepare(spec, frames, folder)
        out.append(PreparedClip(info["name"], str(y4m)))
    return tuple(out)


def evaluate(job: EvalJob) -> dict[str, Any]:
    """Measure one parameter set on every clip.

    Returns:
        ``{"metrics": {name: mean over clips}, "clips": [per-clip points],
        "files": {"result": json path, "bitstreams": {clip: .ncv path}}}``.
    """
    codec = job.params["strategy"]
    crf = float(job.params["crf"])
    preset = job.params.get("preset")
    out = Path(job.outdir)
    out.mkdir(parents=True, exist_ok=True)
    points, bitstreams = [], {}
    for i, clip in enumerate(job.clips):
        ncv = out / f"trial{job.trial_number}_clip{i:03d}.ncv"
        with tempfile.TemporaryDirectory(prefix="neurocodec-trial-") as tmp:
            point = measure_point(PointJob(
                clip_y4m=clip.y4m, workdir=tmp, codec=codec, crf=crf, preset=preset, low_delay=False,
                rate_basis="elementary_stream" if codec in _ANCHORS else "ncv_file",
                keep_ncv=str(ncv) if job.keep_bitstreams else None,
            ))
        point["clip"] = clip.name
        points.append(point)
        if job.keep_bitstreams:
            bitstreams[clip.name] = str(ncv)  # the very file that was measured
    metrics = {m: sum(p[m] for p in points) / len(points) for m in METRICS}
    result = {"trial": job.trial_number, "params": job.params, "metrics": metrics, "clips": points}
    result_path = out / f"trial{job.trial_number}_result.json"
    result_path.write_text(dumps(result, indent=1, default=str))
    return {"metrics": metrics, "clips": points, "files": {"result": str(result_path), "bitstreams": bitstreams}}

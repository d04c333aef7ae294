"""VMAF through libvmaf in the bundled FFmpeg binary (see :mod:`neurocodec.io.ffmpeg_tool`).

Two models score every frame: ``vmaf_v0.6.1`` (the default VMAF, trained for
1080p viewing at three picture heights) and ``vmaf_v0.6.1neg`` ("no enhancement
gain", which does not reward sharpening or contrast boosts). Per-frame scores
come from libvmaf's JSON log and are pooled here: arithmetic mean, harmonic
mean (libvmaf's convention, ``n / sum(1 / (1 + s)) - 1``), and the 5th
percentile (linear interpolation), which tracks the worst moments.

Scaling: by default frames are scored at their native size, so the numbers
describe the picture as coded, not as shown on a 1080p screen; ``scale="1080p"``
resizes both videos to 1920x1080 with bicubic filtering first, the usual
convention for comparing encodes of different resolutions against the model's
viewing conditions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import SettingsError, ToolError
from ..io.ffmpeg_tool import run_ffmpeg
from ..io.frame import Frame, VideoInfo

__all__ = ["VMAF_MODELS", "VMAF_POOLS", "VMAF_SCALES", "VmafResult", "vmaf_frames"]

#: libvmaf model versions, by the name their per-frame score has in the log.
VMAF_MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
#: ``native``: score at the videos' own size; ``1080p``: both resized to 1920x1080 (bicubic) first.
VMAF_SCALES = ("native", "1080p")
#: Ways to pool per-frame scores into one number: arithmetic mean, harmonic mean, 5th percentile.
VMAF_POOLS = ("mean", "harmonic", "p5")
_LOG = "vmaf.json"


@dataclass(frozen=True)
class VmafResult:
    """Per-frame VMAF scores and their pooled values.

    Args:
        per_frame: ``vmaf_v0.6.1`` score of each frame (0..100).
        per_frame_neg: ``vmaf_v0.6.1neg`` score of each frame.
        scale: ``native`` or ``1080p`` (see module docs).
    """

    per_frame: tuple[float, ...]
    per_frame_neg: tuple[float, ...]
    scale: str

    @property
    def frames(self) -> int:
        return len(self.per_frame)

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_frame)) if self.per_frame else math.nan

    @property
    def harmonic_mean(self) -> float:
        if not self.per_frame:
            return math.nan
        s = np.asarray(self.per_frame, dtype=np.float64)
        return float(len(s) / np.sum(1.0 / (1.0 + s)) - 1.0)

    @property
    def p5(self) -> float:
        return float(np.percentile(self.per_frame, 5)) if self.per_frame else math.nan

    def pooled(self, pool: str) -> float:
        """The scores pooled by ``pool``, one of :data:`VMAF_POOLS`."""
        if pool not in VMAF_POOLS:
            raise SettingsError(f"VMAF pooling must be one of {', '.join(VMAF_POOLS)}, got {pool!r}")
        return {"mean": self.mean, "harmonic": self.harmonic_mean, "p5": self.p5}[pool]

    @property
    def neg_mean(self) -> float:
        return float(np.mean(self.per_frame_neg)) if self.per_frame_neg else math.nan


def _filter(scale: str, n_threads: int, subsample: int = 1) -> str:
    # "\\:" survives the filtergraph parser as "\:", which libvmaf's model option reads as a literal ":".
    models = "|".join(f"version={v}\\\\:name={k}" for k, v in VMAF_MODELS.items())
    sub = f":n_subsample={subsample}" if subsample > 1 else ""
    vmaf = f"libvmaf=log_fmt=json:log_path={_LOG}:n_threads={n_threads}{sub}:model={models}"
    if scale == "native":
        return f"[0:v][1:v]{vmaf}"
    resize = "scale=1920:1080:flags=bicubic"
    return f"[0:v]{resize}[d];[1:v]{resize}[r];[d][r]{vmaf}"


def vmaf_frames(
    ref: Iterable[Frame],
    dist: Iterable[Frame],
    info: VideoInfo,
    *,
    scale: str = "native",
    n_threads: int | None = None,
    subsample: int = 1,
    timeout: float | None = None,
) -> VmafResult:
    """VMAF of ``dist`` against ``ref``, two frame sequences of equal length and of ``info``'s size.

    Frames stream to FFmpeg through pipes (no temporary video files). Both
    streams are labelled with ``info``'s frame rate, so frames pair by index.

    Args:
        scale: One of :data:`VMAF_SCALES`.
        n_threads: libvmaf threads; None: one per CPU.
        subsample: Score only frames ``0, k, 2k, ...`` (libvmaf's ``n_subsample``; all frames still
            stream, so the motion feature sees its true neighbours). 1: every frame.
        timeout: Seconds allowed for the run (None: no limit).

    Raises:
        SettingsError: Unknown ``scale``.
        ValueError: The sequences differ in length or a frame in size.
        ToolMissingError: No FFmpeg binary.
        ToolError: FFmpeg failed or its log was unreadable.
    """
    if scale not in VMAF_SCALES:
        raise SettingsError(f"VMAF scale must be one of {', '.join(VMAF_SCALES)}, got {scale!r}")
    if subsample < 1:
        raise SettingsError(f"VMAF subsample must be at least 1, got {subsample}")
    threads = n_threads or os.cpu_count() or 1
    # libvmaf's first input is the distorted ("main") video, the second the reference.
    run = run_ffmpeg(["-lavfi", _filter(scale, threads, subsample), "-f", "null", "-"],
                     [(info, dist), (info, ref)], read_back=[_LOG], timeout=timeout)
    n_dist, n_ref = run.frames_fed
    if n_dist != n_ref:
        longer = "distorted" if n_dist > n_ref else "reference"
        raise ValueError(f"frame counts differ: the {longer} video has more than {min(n_dist, n_ref)} frames")
    try:
        frames = json.loads(run.files[_LOG])["frames"]
        scores = [(float(f["metrics"]["vmaf"]), float(f["metrics"]["vmaf_neg"])) for f in frames]
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolError(f"libvmaf log: unreadable ({type(exc).__name__}: {exc})") from None
    expected = -(-n_ref // subsample)
    if len(scores) != expected:
        raise ToolError(f"libvmaf log: {len(scores)} frames scored, {expected} expected of {n_ref} fed")
    return VmafResult(tuple(s for s, _ in scores), tuple(n for _, n in scores), scale)

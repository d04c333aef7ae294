"""Frame- and video-level quality: the numbers ``compare`` and every report print.

Video values are the mean of per-frame values (as FFmpeg's psnr/ssim filters
and the HM reference software report them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from ..io.frame import Frame
from .psnr import psnr, psnr_yuv
from .ssim import ssim, ssim_and_ms_ssim

__all__ = ["FrameQuality", "QualityAccumulator", "VideoQuality", "frame_quality", "compare_frames"]


@dataclass(frozen=True)
class FrameQuality:
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    ssim: float
    ms_ssim: float | None


def frame_quality(ref: Frame, dist: Frame, *, with_ms_ssim: bool = True, with_ssim: bool = True) -> FrameQuality:
    """All metrics of one frame pair (sizes must match).

    ``with_ssim=False`` skips SSIM and MS-SSIM (SSIM is then NaN): PSNR alone
    costs about 1 % of the time, which matters for trial encodes.
    """
    if (ref.width, ref.height) != (dist.width, dist.height):
        raise ValueError(f"frame sizes differ: {ref.width}x{ref.height} vs {dist.width}x{dist.height}")
    py, pu, pv = psnr(ref.y, dist.y), psnr(ref.u, dist.u), psnr(ref.v, dist.v)
    if min(ref.y.shape) < 11 or not with_ssim:
        s, ms = float("nan"), None
    elif with_ms_ssim:
        s, ms = ssim_and_ms_ssim(ref.y, dist.y)
    else:
        s, ms = ssim(ref.y, dist.y), None
    return FrameQuality(py, pu, pv, psnr_yuv(py, pu, pv), s, ms)


@dataclass
class VideoQuality:
    """Mean quality over frames. ``psnr_yuv`` is the 6:1:1 weighted PSNR."""

    frames: int
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    ssim: float
    ms_ssim: float | None
    psnr_yuv_weights: str = "6:1:1"
    min_psnr_yuv: float = field(default=0.0)

    def to_dict(self) -> dict:
        return asdict(self)


class QualityAccumulator:
    """Running means of frame metrics."""

    def __init__(self, *, with_ms_ssim: bool = True, with_ssim: bool = True):
        self.with_ms_ssim = with_ms_ssim
        self.with_ssim = with_ssim
        self._n = 0
        self._sums = {"psnr_y": 0.0, "psnr_u": 0.0, "psnr_v": 0.0, "psnr_yuv": 0.0, "ssim": 0.0}
        self._ms: float | None = 0.0
        self._min_yuv = float("inf")

    def add(self, ref: Frame, dist: Frame) -> FrameQuality:
        q = frame_quality(ref, dist, with_ms_ssim=self.with_ms_ssim, with_ssim=self.with_ssim)
        self.add_quality(q)
        return q

    def add_quality(self, q: FrameQuality) -> None:
        self._n += 1
        for k in self._sums:
            self._sums[k] += getattr(q, k)
        self._ms = None if (self._ms is None or q.ms_ssim is None) else self._ms + q.ms_ssim
        self._min_yuv = min(self._min_yuv, q.psnr_yuv)

    def add_video(self, q: VideoQuality) -> None:
        """Fold in another sequence's means, weighted by its frame count."""
        self._n += q.frames
        for k in self._sums:
            self._sums[k] += getattr(q, k) * q.frames
        self._ms = None if (self._ms is None or q.ms_ssim is None) else self._ms + q.ms_ssim * q.frames
        self._min_yuv = min(self._min_yuv, q.min_psnr_yuv)

    @property
    def frames(self) -> int:
        return self._n

    def result(self) -> VideoQuality:
        if not self._n:
            raise ValueError("no frames were compared")
        n = self._n
        return VideoQuality(
            frames=n,
            **{k: v / n for k, v in self._sums.items()},
            ms_ssim=None if self._ms is None else self._ms / n,
            min_psnr_yuv=self._min_yuv,
        )


def compare_frames(ref: Iterable[Frame], dist: Iterable[Frame], *, with_ms_ssim: bool = True) -> VideoQuality:
    """Compare two frame sequences of equal length and size.

    Raises:
        ValueError: The sequences differ in length or frame size.
    """
    acc = QualityAccumulator(with_ms_ssim=with_ms_ssim)
    ri, di = iter(ref), iter(dist)
    sentinel = object()
    while True:
        a, b = next(ri, sentinel), next(di, sentinel)
        if a is sentinel and b is sentinel:
            break
        if a is sentinel or b is sentinel:
            longer = "distorted" if a is sentinel else "reference"
            raise ValueError(f"frame counts differ: the {longer} video has more than {acc.frames} frames")
        acc.add(a, b)
    return acc.result()

"""The encoding agent: source -> segments -> strategy payloads -> ``.ncv``.

Segments are fixed-length chunks of the source for now (scene detection will
choose them); each is encoded independently, optionally in parallel worker
processes, and written in order, so the output bytes never depend on the
worker count. Memory holds at most ``workers + 1`` segments of raw frames.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from .._version import __version__
from ..bitstream.container import NcvWriter
from ..errors import SettingsError
from ..io.frame import Frame, VideoInfo, crop, frame_nbytes, pad_to_even
from ..io.readers import VideoSource, open_source
from ..metrics.quality import QualityAccumulator, VideoQuality
from ..report import EncodeReport, SegmentReport
from ..settings import EncodeOptions
from ..strategies.base import DecodeContext, Strategy, StrategySettings, get_strategy

__all__ = ["EncodingAgent", "AUTO_STRATEGY", "encode_segment", "SegmentResult"]

log = logging.getLogger(__name__)

#: What ``strategy="auto"`` means until scene-adaptive selection lands.
AUTO_STRATEGY = "x265"
_MAX_SEGMENT_FRAMES = 300

ProgressCallback = Callable[[int, int | None], None]


@dataclass
class SegmentResult:
    """What encoding one segment produced (returned from worker processes)."""

    strategy: str
    strategy_id: int
    payload: bytes
    params: dict[str, Any]
    weight_hashes: tuple[bytes, ...]
    seconds: float
    quality: VideoQuality | None = None
    target_met: bool | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)


def _measure(strategy: Strategy, payload: bytes, frames: list[Frame], padded: Frame, fps, *, ms_ssim: bool) -> VideoQuality:
    """Decode ``payload`` exactly as the decoder will and compare with the source."""
    ctx = DecodeContext(padded.width, padded.height, len(frames), {})
    acc = QualityAccumulator(with_ms_ssim=ms_ssim)
    for ref, rec in zip(frames, strategy.decode(payload, ctx), strict=True):
        acc.add(ref, crop(rec, ref.width, ref.height))
    return acc.result()


def _meets(q: VideoQuality, target_psnr: float | None, target_ssim: float | None) -> bool:
    return (target_psnr is None or q.psnr_yuv >= target_psnr) and (target_ssim is None or q.ssim >= target_ssim)


def encode_segment(
    strategy_name: str,
    settings: StrategySettings,
    frames: list[Frame],
    fps: Fraction,
    *,
    measure: bool = True,
    target_psnr: float | None = None,
    target_ssim: float | None = None,
) -> SegmentResult:
    """Encode one segment; with targets, search the largest CRF whose real decode meets them.

    The search is a bisection over integer CRF; each probe is a full encode and
    decode of the segment, and the returned payload is the probe that was
    measured, so the reported quality is that of the bytes written.
    """
    t0 = time.perf_counter()
    strategy = get_strategy(strategy_name)
    padded = [pad_to_even(f) for f in frames]
    p0 = padded[0]
    if target_psnr is None and target_ssim is None:
        payload = strategy.encode(padded, settings, fps)
        quality = _measure(strategy, payload, frames, p0, fps, ms_ssim=True) if measure else None
        chosen, met, probes = settings, None, []
    else:
        chosen, payload, quality, met, probes = _search_crf(
            strategy, padded, frames, settings, fps, target_psnr, target_ssim
        )
    params = strategy.describe(chosen, p0.width, p0.height, fps)
    return SegmentResult(
        strategy=strategy.name,
        strategy_id=strategy.id,
        payload=payload,
        params=params,
        weight_hashes=strategy.weight_hashes(),
        seconds=time.perf_counter() - t0,
        quality=quality,
        target_met=met,
        probes=probes,
    )


def _search_crf(strategy, padded, frames, settings, fps, target_psnr, target_ssim):
    lo, hi = 0, int(getattr(strategy, "max_crf", 51))
    if not hasattr(strategy, "max_crf"):
        raise SettingsError(f"{strategy.name}: target quality needs a strategy with a CRF scale")
    probes: list[dict[str, Any]] = []
    best = None  # highest CRF that met the targets
    fallback = None  # lowest CRF tried, in case none meets them
    crf = int(strategy.default_crf)
    while lo <= hi:
        s = replace(settings, crf=float(crf))
        payload = strategy.encode(padded, s, fps)
        q = _measure(strategy, payload, frames, padded[0], fps, ms_ssim=False)
        ok = _meets(q, target_psnr, target_ssim)
        probes.append({"crf": crf, "bytes": len(payload), "psnr_yuv": q.psnr_yuv, "ssim": q.ssim, "meets": ok})
        if ok:
            best = (s, payload, q)
            lo = crf + 1
        else:
            if fallback is None or crf < fallback[0].crf:
                fallback = (s, payload, q)
            hi = crf - 1
        crf = (lo + hi) // 2
    chosen, payload, q = best or fallback
    met = best is not None
    if not met:
        log.warning("%s: no CRF reaches the target quality on this segment; used crf %s", strategy.name, chosen.crf)
    # Final numbers (MS-SSIM included) come from the chosen payload itself.
    q = _measure(strategy, payload, frames, padded[0], fps, ms_ssim=True)
    return chosen, payload, q, met, probes


def _writer_meta() -> dict[str, str]:
    """Written once per file: who wrote it, with which FFmpeg (the classical encoders' version)."""
    import av

    return {"writer": f"neurocodec {__version__}", "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}


def _chunks(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for f in frames:
        batch.append(f)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class EncodingAgent:
    """Encodes a video into a ``.ncv`` file.

    Args:
        options: Encode options (or keyword arguments building :class:`~neurocodec.settings.EncodeOptions`).

    Example:
        >>> agent = EncodingAgent(EncodeOptions(strategy="av1", crf=35))  # doctest: +SKIP
        >>> report = agent.encode("in.mp4", "out.ncv")  # doctest: +SKIP
    """

    def __init__(self, options: EncodeOptions | None = None, **kwargs: Any):
        if options is not None and kwargs:
            raise TypeError("pass either options or keyword arguments")
        self.options = options or EncodeOptions(**kwargs)
        name = AUTO_STRATEGY if self.options.strategy == "auto" else self.options.strategy
        self.strategy = get_strategy(name)
        self.settings = StrategySettings(
            crf=self.options.crf,
            bitrate=self.options.bitrate,
            preset=self.options.preset,
            keyint=self.options.keyint,
            threads=self.options.threads,
            low_delay=self.options.low_delay,
        )
        # Validate strategy-specific ranges now, before any input is read.
        self.strategy.describe(self.settings, 2, 2, Fraction(25))

    def segment_frames(self, info: VideoInfo) -> int:
        if self.options.segment_frames:
            return self.options.segment_frames
        budget = self.options.memory_mb * 2**20 // frame_nbytes(info.width, info.height)
        return max(1, min(_MAX_SEGMENT_FRAMES, budget))

    def encode(
        self,
        src: str | os.PathLike | VideoSource,
        dst: str | os.PathLike,
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
    ) -> EncodeReport:
        """Encode ``src`` to ``dst`` (written atomically) and return the report."""
        t0 = time.perf_counter()
        source = src if isinstance(src, VideoSource) else open_source(src)
        info = source.info
        opts = self.options
        color = info.color
        writer = NcvWriter(
            dst,
            width=info.width,
            height=info.height,
            fps=info.fps,
            color=(color.primaries, color.transfer, color.matrix, color.full_range),
            overwrite=overwrite,
            meta=_writer_meta(),
        )
        seg_reports: list[SegmentReport] = []
        overall = QualityAccumulator()
        done = 0
        try:
            per_seg = self.segment_frames(info)
            for frames, result in self._run(_chunks(source.frames(), per_seg), info.fps):
                size = writer.add_segment(
                    strategy_id=result.strategy_id,
                    strategy=result.strategy,
                    frame_count=len(frames),
                    payload=result.payload,
                    params=result.params,
                    weight_hashes=result.weight_hashes,
                )
                start = done
                done += len(frames)
                q = result.quality
                if q is not None:
                    overall.add_video(q)
                seg_reports.append(
                    SegmentReport(
                        index=len(seg_reports),
                        start_frame=start,
                        end_frame=done,
                        strategy=result.strategy,
                        params=result.params | self.strategy.reproduce(result.params, info.width, info.height, info.fps),
                        bytes=size,
                        encode_seconds=round(result.seconds, 3),
                        quality=q.to_dict() if q else None,
                        target_met=result.target_met,
                        probes=result.probes,
                    )
                )
                log.info("segment %d: frames %d-%d, %s, %d bytes", len(seg_reports) - 1, start, done, result.strategy, size)
                if progress:
                    progress(done, info.frame_count)
            if done == 0:
                raise SettingsError(f"{source.path}: no frames to encode")
            nbytes = writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            source.close()
        duration = float(done / info.fps)
        quality = overall.result().to_dict() if overall.frames else None
        return EncodeReport(
            path=str(dst),
            source=str(source.path),
            width=info.width,
            height=info.height,
            fps=f"{info.fps.numerator}/{info.fps.denominator}",
            frames=done,
            bytes=nbytes,
            duration_s=duration,
            bitrate_kbps=nbytes * 8 / duration / 1000,
            encode_seconds=round(time.perf_counter() - t0, 3),
            options=opts.to_dict() | {"strategy_resolved": self.strategy.name},
            segments=seg_reports,
            quality=quality,
        )

    def _job_args(self, frames: list[Frame], fps: Fraction) -> tuple[tuple, dict]:
        o = self.options
        return (self.strategy.name, self.settings, frames, fps), {
            "measure": o.measure_quality,
            "target_psnr": o.target_psnr,
            "target_ssim": o.target_ssim,
        }

    def _run(self, segments: Iterator[list[Frame]], fps: Fraction) -> Iterator[tuple[list[Frame], SegmentResult]]:
        """Encode segments in order, in this process or in spawned workers."""
        if self.options.workers == 1:
            for frames in segments:
                args, kwargs = self._job_args(frames, fps)
                yield frames, encode_segment(*args, **kwargs)
            return
        # Spawn, never fork: forked children break CUDA and inherit locks.
        ctx = multiprocessing.get_context("spawn")
        pending: deque[tuple[list[Frame], Future]] = deque()
        with ProcessPoolExecutor(max_workers=self.options.workers, mp_context=ctx) as pool:
            try:
                for frames in segments:
                    args, kwargs = self._job_args(frames, fps)
                    pending.append((frames, pool.submit(encode_segment, *args, **kwargs)))
                    if len(pending) > self.options.workers:
                        frames0, fut = pending.popleft()
                        yield frames0, fut.result()
                while pending:
                    frames0, fut = pending.popleft()
                    yield frames0, fut.result()
            except BaseException:
                for _, fut in pending:
                    fut.cancel()
                raise


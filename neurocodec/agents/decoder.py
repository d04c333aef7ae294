"""The decoding agent: ``.ncv`` -> validated segments -> strategy decoders -> frames.

Light by design: it holds one segment at a time, imports only what the
segments in the file need, and checks every segment's strategy and model
weights before decoding it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..bitstream.container import NcvHeader, NcvReader, SegmentInfo
from ..errors import ModelMismatchError, NcvFormatError, UnknownStrategyError
from ..io.frame import ColorInfo, Frame, VideoInfo, crop
from ..io.readers import VideoSource
from ..strategies.base import DecodeContext, get_strategy_by_id

__all__ = ["DecodingAgent", "NcvSource", "DecodeReport", "describe"]


@dataclass
class DecodeReport:
    path: str
    frames: int
    width: int
    height: int
    fps: str


def _video_info(h: NcvHeader) -> VideoInfo:
    return VideoInfo(
        width=h.width,
        height=h.height,
        fps=h.fps,
        frame_count=h.frame_count,
        color=ColorInfo(h.primaries, h.transfer, h.matrix, h.full_range),
    )


class DecodingAgent:
    """Decodes a ``.ncv`` file.

    Args:
        path: The bitstream.

    Raises:
        NcvFormatError: The file is not a valid ``.ncv`` (raised on open for
            header problems, while iterating for segment problems).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        with NcvReader(self.path) as reader:
            self.header = reader.header
            self.version = reader.version
        self.info = _video_info(self.header)

    def segments(self) -> list[SegmentInfo]:
        """Validate the whole file and list its segments."""
        with NcvReader(self.path) as reader:
            return reader.segments()

    def frames(self) -> Iterator[Frame]:
        """Yield every frame in display order, at the stream's true size."""
        h = self.header
        with NcvReader(self.path) as reader:
            for seg in reader.iter_segments():
                strategy = self._strategy_for(seg)
                payload = reader.payload(seg)
                ctx = DecodeContext(h.width + h.width % 2, h.height + h.height % 2, seg.frame_count, seg.params)
                try:
                    for frame in strategy.decode(payload, ctx):
                        yield crop(frame, h.width, h.height)
                except NcvFormatError as exc:
                    raise NcvFormatError(
                        f"segment {seg.index}: {exc.reason}", offset=seg.payload_offset, path=self.path
                    ) from None

    def _strategy_for(self, seg: SegmentInfo):
        try:
            strategy = get_strategy_by_id(seg.strategy_id)
        except UnknownStrategyError:
            raise NcvFormatError(
                f"segment {seg.index} needs strategy {seg.strategy!r} (id {seg.strategy_id}), "
                "which is not installed",
                offset=seg.chunk_offset,
                path=self.path,
            ) from None
        if strategy.name != seg.strategy:
            raise NcvFormatError(
                f"segment {seg.index}: strategy id {seg.strategy_id} is {strategy.name!r} here "
                f"but the file names {seg.strategy!r}",
                offset=seg.chunk_offset,
                path=self.path,
            )
        have = strategy.weight_hashes(seg.params)
        if tuple(seg.weight_hashes) != tuple(have):
            want = ", ".join(x.hex()[:16] for x in seg.weight_hashes) or "none"
            raise ModelMismatchError(
                f"segment {seg.index} ({seg.strategy}) was coded with model weights {want}; "
                f"the installed ones are {', '.join(x.hex()[:16] for x in have) or 'none'}",
                offset=seg.chunk_offset,
                path=self.path,
            )
        return strategy

    def decode_to(
        self,
        dst: str | os.PathLike,
        *,
        overwrite: bool = False,
        codec: str | None = None,
        crf: float | None = None,
        progress=None,
    ) -> DecodeReport:
        """Decode to a video file (y4m, yuv, mkv, mp4), written atomically."""
        from ..io.writers import open_writer

        with open_writer(dst, self.info, overwrite=overwrite, codec=codec, crf=crf) as writer:
            for frame in self.frames():
                writer.write(frame)
                if progress:
                    progress(writer.frames_written, self.header.frame_count)
            n = writer.frames_written
        fps = self.header.fps
        return DecodeReport(str(dst), n, self.header.width, self.header.height, f"{fps.numerator}/{fps.denominator}")

    def as_source(self, fps: Fraction | None = None) -> "NcvSource":
        return NcvSource(self, fps)


class NcvSource(VideoSource):
    """A ``.ncv`` file seen as a video source (for ``compare`` and re-encoding)."""

    def __init__(self, agent: DecodingAgent, fps: Fraction | None = None):
        self.agent = agent
        self.path = agent.path
        info = agent.info
        self.info = info if fps is None else VideoInfo(info.width, info.height, fps, info.frame_count, info.color)

    def frames(self) -> Iterator[Frame]:
        return self.agent.frames()


def _reproduce(seg: SegmentInfo, h: NcvHeader) -> dict[str, Any]:
    try:
        strategy = get_strategy_by_id(seg.strategy_id)
    except UnknownStrategyError:
        return {}
    return strategy.reproduce(seg.params, h.width + h.width % 2, h.height + h.height % 2, h.fps)


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """The ``info --json`` view of a file (validates every chunk; decodes nothing)."""
    with NcvReader(path) as reader:
        segs = reader.segments()
        h = reader.header
        size = reader.size
        meta = reader.meta
        version = reader.version
        scene_info = reader.scene_info if len(reader.scene_info) == len(segs) else [{}] * len(segs)
    return {
        "path": str(path),
        "version": f"{version[0]}.{version[1]}",
        "writer": meta.get("writer"),
        "libavcodec": meta.get("libavcodec"),
        "width": h.width,
        "height": h.height,
        "fps": f"{h.fps.numerator}/{h.fps.denominator}",
        "frames": h.frame_count,
        "duration_s": h.duration,
        "bytes": size,
        "bitrate_kbps": size * 8 / h.duration / 1000,
        "chroma_format": "4:2:0",
        "bit_depth": h.bit_depth,
        "color": {
            "primaries": h.primaries,
            "transfer": h.transfer,
            "matrix": h.matrix,
            "range": {None: "unspecified", False: "limited", True: "full"}[h.full_range],
        },
        "segments": [
            {
                "index": s.index,
                "start_frame": s.start_frame,
                "end_frame": s.end_frame,
                "strategy": s.strategy,
                "strategy_id": s.strategy_id,
                "bytes": s.chunk_size,
                "payload_bytes": s.payload_size,
                "params": s.params | _reproduce(s, h),
                "weight_hashes": [x.hex() for x in s.weight_hashes],
                "class": extra.get("class"),
                "transition": extra.get("transition"),
                "quality": {"psnr_yuv": extra.get("psnr_yuv"), "ssim": extra.get("ssim")},
            }
            for s, extra in zip(segs, scene_info)
        ],
    }

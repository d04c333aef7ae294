"""The decoding agent: ``.ncv`` -> validated segments -> strategy decoders -> frames.

Before the first frame is decoded the whole file is checked: every chunk
and the index, every segment's strategy and params, and the model weights
each segment names (by name only, looked up in the installed models or
where the user points; see :mod:`neurocodec.models.registry`) against the
hashes it recorded. A corrupt or hostile file is refused in milliseconds,
not after decoding part of it. Light by design: it holds one segment's
payload at a time and imports only what the segments in the file need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..bitstream import NcvHeader, NcvReader, SegmentInfo
from ..errors import ModelMismatchError, NcvFormatError, NeurocodecError, SettingsError, UnknownStrategyError
from ..io.frame import ColorInfo, Frame, VideoInfo, crop, padded_size
from ..io.readers import VideoSource, register_opener
from ..io.writers import open_writer
from ..models.registry import ModelRegistry
from ..strategies.base import DecodeContext, Strategy, get_strategy_by_id

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
        model_dir: A folder of model weights files (``NAME.pt``) for segments
            naming models that are not installed (trusted: the user's choice).
        intra_model: The intra model for ``semantic_latent`` segments: a
            shipped or ``compressai:`` name, or a weights file (trusted). The
            segment's recorded hash must still match.

    Raises:
        NcvFormatError: The file is not a valid ``.ncv`` (raised on open for
            header problems; by :meth:`check`, and so before the first frame,
            for everything else).
        SettingsError: ``model_dir`` or ``intra_model`` does not exist.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        model_dir: str | os.PathLike | None = None,
        intra_model: str | os.PathLike | None = None,
    ):
        self.path = str(path)
        self.models = ModelRegistry(model_dir, intra_model)
        with NcvReader(self.path) as reader:
            self.header = reader.header
            self.version = reader.version
        self.info = _video_info(self.header)

    def segments(self) -> list[SegmentInfo]:
        """Validate the whole container and list its segments."""
        with NcvReader(self.path) as reader:
            return reader.segments()

    def check(self) -> list[SegmentInfo]:
        """Everything :meth:`frames` checks before decoding, decoding nothing; returns the segments."""
        with NcvReader(self.path) as reader:
            return [seg for seg, _, _ in self._plan(reader)]

    def frames(self) -> Iterator[Frame]:
        """Yield every frame in display order, at the stream's true size (the whole file is checked first)."""
        with NcvReader(self.path) as reader:
            yield from self._decode(reader, self._plan(reader))

    def _plan(self, reader: NcvReader) -> list[tuple[SegmentInfo, Strategy, DecodeContext]]:
        """Check the whole file (chunks, index, strategies, params, model weights) before anything is decoded."""
        h = self.header
        plan = []
        for seg in reader.segments():
            strategy = self._strategy_for(seg)
            ctx = DecodeContext(*padded_size(h.width, h.height), seg.frame_count, seg.params,
                                models=self.models, weight_hashes=seg.weight_hashes)
            try:
                strategy.validate_params(seg.params, ctx)
            except (NcvFormatError, SettingsError) as exc:
                raise self._segment_error(seg, exc, seg.chunk_offset) from None
            plan.append((seg, strategy, ctx))
        return plan

    def _decode(self, reader: NcvReader, plan) -> Iterator[Frame]:
        h = self.header
        for seg, strategy, ctx in plan:
            payload = reader.payload(seg)
            try:
                for frame in strategy.decode(payload, ctx):
                    yield crop(frame, h.width, h.height)
            except (NcvFormatError, SettingsError) as exc:  # SettingsError: params a strategy cannot use
                raise self._segment_error(seg, exc, seg.payload_offset) from None

    def _segment_error(self, seg: SegmentInfo, exc: NcvFormatError | SettingsError, offset: int) -> NcvFormatError:
        cls = ModelMismatchError if isinstance(exc, ModelMismatchError) else NcvFormatError
        reason = exc.reason if isinstance(exc, NcvFormatError) else f"params: {exc}"
        return cls(f"segment {seg.index} ({seg.strategy}): {reason}", offset=offset, path=self.path)

    def _strategy_for(self, seg: SegmentInfo) -> Strategy:
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

        with NcvReader(self.path) as reader:
            plan = self._plan(reader)  # a bad file is refused before the output is created
            with open_writer(dst, self.info, overwrite=overwrite, codec=codec, crf=crf) as writer:
                for frame in self._decode(reader, plan):
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


def _open_ncv(path: str | os.PathLike, fps: Fraction | None) -> NcvSource:
    return DecodingAgent(path).as_source(fps=fps)


register_opener(".ncv", _open_ncv)  # io.open_source reads .ncv files through this agent


def _reproduce(seg: SegmentInfo, h: NcvHeader) -> dict[str, Any]:
    try:
        strategy = get_strategy_by_id(seg.strategy_id)
    except UnknownStrategyError:
        return {}
    try:
        return strategy.reproduce(seg.params, *padded_size(h.width, h.height), h.fps)
    except NeurocodecError:  # params this strategy cannot use: info shows them as stored, derives nothing
        return {}


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

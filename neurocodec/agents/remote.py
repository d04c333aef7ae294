"""Scene jobs that need nothing from the client: they read their own frames and store their own part.

On a cluster, sending every scene's raw frames from the client through the
scheduler makes the client's network link the bottleneck (a 1080p frame is
3 MB). When the workers can open the source themselves (a path on shared
storage or a URL), a job carries only a :class:`SourceRef` and the
:class:`Span` of its scene: the frames' index, the timestamp of the first one
(so a container reader seeks to the keyframe before it instead of decoding from
the start) and a CRC-32 of the frames the analysis saw. The worker checks the
CRC, so the bytes cannot differ from a local encode: a seek that lands
elsewhere falls back to decoding from the first frame, and a source that
changed (or decodes differently on that worker) fails the scene with a clear
line. When the workers can also reach the part store, they write their scene
there and send back only its metadata.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from ..errors import InputError
from ..io.frame import Frame, frame_crc
from ..io.readers import FrameFolderSource, PyAVSource, RawYuvSource, VideoSource, is_url, open_source
from .assembly import part_meta
from .parts import PartStore
from .scene import SceneJob, SceneProgress, SceneResult, encode_scene

__all__ = ["SourceRef", "Span", "SpanLedger", "StoredPart", "read_span", "encode_span", "can_open",
           "sees_store"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceRef:
    """How a worker opens the source: its path (or URL), and the size and rate raw input needs."""

    path: str
    size: tuple[int, int] | None
    fps: Fraction

    @classmethod
    def of(cls, source: VideoSource) -> SourceRef | None:
        """A reference workers may open, or None for a source that exists only in this process."""
        if type(source) not in (PyAVSource, FrameFolderSource, RawYuvSource):
            return None
        path = source.path if is_url(source.path) else os.path.abspath(source.path)
        size = (source.info.width, source.info.height) if isinstance(source, RawYuvSource) else None
        return cls(path, size, source.info.fps)

    def open(self) -> VideoSource:
        return open_source(self.path, size=self.size, fps=self.fps)


@dataclass(frozen=True)
class Span:
    """One scene's frames in the source: ``frames`` from ``start``, the first one's timestamp, and their CRC-32."""

    start: int
    frames: int
    pts: int | None
    crc: int


@dataclass(frozen=True)
class StoredPart:
    """A finished scene the worker wrote to the part store itself: only its metadata comes back."""

    meta: dict[str, Any]
    payload_bytes: int


class SpanLedger(VideoSource):
    """``source`` whose full reads record each frame's CRC-32 and timestamp, so :meth:`span` can describe a scene."""

    def __init__(self, source: VideoSource):
        self.source, self.path, self.info = source, source.path, source.info
        self.crcs: list[int] = []
        self.pts: list[int | None] = []

    def frames(self) -> Iterator[Frame]:
        self.crcs, self.pts = [], []
        for frame in self.source.frames():
            self.crcs.append(frame_crc(frame))
            stamps = getattr(self.source, "frame_pts", None)  # a container reader's, as it decodes
            self.pts.append(stamps[-1] if stamps and len(stamps) == len(self.crcs) else None)
            yield frame

    def span(self, start: int, frames: int) -> Span:
        """The span of ``frames`` frames from ``start``; frames the analysis did not read leave the CRC short,
        so a worker's check fails rather than encode other frames."""
        pts = self.pts[start] if start < len(self.pts) else None
        return Span(start, frames, pts, _chain(self.crcs[start : start + frames]))


def _chain(frame_crcs: Iterable[int]) -> int:
    """A scene's CRC: the CRC-32 of its frames' CRCs (4 bytes each, big-endian), in order."""
    crc = 0
    for c in frame_crcs:
        crc = zlib.crc32(c.to_bytes(4, "big"), crc)
    return crc


def _span_crc(frames: tuple[Frame, ...]) -> int:
    return _chain(frame_crc(f) for f in frames)


def read_span(ref: SourceRef, span: Span) -> tuple[Frame, ...]:
    """The span's frames, read by this process from the source, checked against the analysis' CRC.

    Raises:
        InputError: The frames differ from those the client analysed (the source changed, or this
            worker's decoder gives other pixels).
    """
    with ref.open() as src:
        frames = tuple(src.read(span.start, span.frames, pts=span.pts))
        if span.pts is not None and (len(frames) != span.frames or _span_crc(frames) != span.crc):
            log.warning("%s: seeking to frame %d gave other frames; decoding from the first", ref.path, span.start)
            frames = tuple(src.read(span.start, span.frames))
    if len(frames) != span.frames or _span_crc(frames) != span.crc:
        raise InputError(f"{ref.path}: frames {span.start}-{span.start + span.frames - 1} differ from those the "
                         "encode analysed (the file changed, or decodes differently on this worker)")
    return frames


def encode_span(ref: SourceRef | None, span: Span | None, job: SceneJob, center: float | None,
                parts: tuple[str, str] | None, progress: SceneProgress | None = None) -> SceneResult | StoredPart:
    """Encode one scene where this runs: read its frames (``ref`` and ``span``; None: ``job`` carries them),
    and with ``parts`` (the store's folder and job key) write the part there and return only its metadata."""
    if ref is not None and span is not None:
        job = replace(job, frames=read_span(ref, span))
    result = encode_scene(job, center, progress=progress)
    if parts is None:
        return result
    meta = part_meta(result)
    PartStore.attach(*parts).put(job.index, meta, result.payload)
    return StoredPart(meta, len(result.payload))


def can_open(ref: SourceRef, frames: int) -> str | None:
    """None if this process opens ``ref`` and sees ``frames`` frames' worth of video, else why not (run on workers)."""
    try:
        with ref.open() as src:
            count = src.info.frame_count
    except (OSError, ValueError) as exc:
        return str(exc)
    if count is not None and count < frames:
        return f"{ref.path} has {count} frames here, the client read {frames}"
    return None


def sees_store(folder: str, key: str) -> bool:
    """Whether this process sees the part store in ``folder`` for the job ``key`` (run on workers)."""
    try:
        PartStore.attach(folder, key)
    except FileNotFoundError:
        return False
    return True

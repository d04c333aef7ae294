"""Video sources: anything PyAV decodes, folders of numbered images, raw .yuv.

Every source yields :class:`~neurocodec.io.frame.Frame` objects one at a time,
so memory never grows with the length of the video. ``frames()`` may be called
again to read the video from the start; ``read(start, count)`` reads a span
(what a worker on another machine does for its scene): raw YUV and image
folders go straight to it, containers seek to the keyframe before it when given
the timestamp a full read recorded (:attr:`PyAVSource.frame_pts`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ..errors import InputError, SettingsError, SourceNotFoundError
from .avframes import color_from_av, from_av
from .frame import ColorInfo, Frame, VideoInfo, frame_nbytes

__all__ = [
    "register_opener",
    "VideoSource",
    "PyAVSource",
    "FrameFolderSource",
    "RawYuvSource",
    "open_source",
    "is_url",
    "parse_size",
    "parse_fps",
    "IMAGE_SUFFIXES",
    "RAW_SUFFIXES",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
RAW_SUFFIXES = (".yuv", ".i420", ".raw")
#: File suffix -> ``opener(path, fps) -> VideoSource`` for formats a higher layer decodes (``.ncv``: the agents).
_OPENERS: dict[str, Callable[[Path, Fraction | None], "VideoSource"]] = {}
DEFAULT_FPS = Fraction(25)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` into ``(W, H)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise SettingsError(f"size must look like 1280x720, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise SettingsError(f"size {w}x{h} is outside 1..16384")
    return w, h


def parse_fps(text: str | float | Fraction) -> Fraction:
    """Parse a frame rate such as ``25``, ``29.97`` or ``30000/1001`` exactly."""
    try:
        if isinstance(text, str) and "/" in text:
            num, den = text.split("/", 1)
            fps = Fraction(int(num), int(den))
        else:
            fps = Fraction(str(text)).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError):
        raise SettingsError(f"frame rate must look like 25, 29.97 or 30000/1001, got {text!r}") from None
    if not 0 < fps <= 1000:
        raise SettingsError(f"frame rate {text} is outside (0, 1000]")
    return fps


class VideoSource(ABC):
    """A readable video. Use as a context manager or call :meth:`close`."""

    path: str
    info: VideoInfo

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Yield the frames in display order, from the first."""

    def read(self, start: int, count: int, *, pts: int | None = None) -> Iterator[Frame]:
        """Yield ``count`` frames from frame ``start`` (0-based; fewer if the video ends first).

        Args:
            start: Index of the first frame, as :meth:`frames` numbers them.
            count: How many frames.
            pts: Frame ``start``'s timestamp from an earlier full read (a container
                reader seeks with it); None: decode from the first frame.
        """
        return itertools.islice(self.frames(), start, start + count)

    def close(self) -> None:  # noqa: B027 - most sources hold nothing open
        pass

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PyAVSource(VideoSource):
    """Any container or elementary stream PyAV (FFmpeg) can decode, including y4m."""

    def __init__(self, path: str | os.PathLike, *, fps: Fraction | None = None, strict: bool = False):
        self.path = str(path)
        try:
            with self._open() as container:
                if not container.streams.video:
                    raise InputError(f"{self.path}: no video stream in this file")
                stream = container.streams.video[0]
                first = next(container.decode(stream), None)
                if first is None:
                    raise InputError(f"{self.path}: the video stream has no decodable frame")
                rate = fps or stream.average_rate or stream.guessed_rate
                if not rate:
                    log.warning("%s carries no frame rate; assuming %s fps (override with --fps)", self.path, DEFAULT_FPS)
                    rate = DEFAULT_FPS
                count = stream.frames or None
                if first.format.name not in ("yuv420p", "yuvj420p", "gray", "rgb24", "bgr24", "pal8"):
                    log.info("%s: converting %s to 8-bit yuv420p", self.path, first.format.name)
                self.info = VideoInfo(
                    width=first.width,
                    height=first.height,
                    fps=Fraction(rate),
                    frame_count=count,
                    color=color_from_av(first),
                )
        except av.FFmpegError as exc:
            raise InputError(f"{self.path}: not a readable video ({_av_reason(exc)})") from None
        # FFmpeg drops a y4m frame cut short without a word; the file's layout tells.
        scan = None if is_url(self.path) else _scan_y4m(self.path)
        if scan is not None and scan[1]:
            frames, extra, size = scan
            what = f"{self.path}: truncated: {extra} bytes after frame {frames} are less than a frame ({size} bytes)"
            _cut_short(what, frames, strict=strict)
        #: Timestamps of the frames the latest :meth:`frames` call yielded, in order (None: the stream has none).
        self.frame_pts: list[int | None] = []

    def frames(self) -> Iterator[Frame]:
        self.frame_pts = []
        for frame in self._decode(None):
            self.frame_pts.append(frame.pts)
            yield from_av(frame)

    def read(self, start: int, count: int, *, pts: int | None = None) -> Iterator[Frame]:
        if pts is None or start == 0:
            yield from super().read(start, count)
            return
        taken = 0
        for frame in self._decode(pts):
            if taken == 0:
                if frame.pts is not None and frame.pts < pts:
                    continue  # the frames between the keyframe and the span
                if frame.pts != pts:
                    # The seek did not land on or before the frame: only a read from the start is exact.
                    log.info("%s: cannot seek to frame %d (pts %d); decoding from the first frame",
                             self.path, start, pts)
                    yield from super().read(start, count)
                    return
            yield from_av(frame)
            taken += 1
            if taken == count:
                return

    @contextlib.contextmanager
    def _open(self) -> Iterator[av.container.InputContainer]:
        """The container, from the file or (a URL) through fsspec."""
        if not is_url(self.path):
            with av.open(self.path) as container:
                yield container
            return
        try:
            import fsspec  # why: optional (it comes with Dask); only URLs need it
        except ImportError:
            raise InputError(f"{self.path}: reading a URL needs fsspec (pip install fsspec)") from None
        try:
            fh = fsspec.open(self.path, "rb").open()
        except FileNotFoundError:
            raise SourceNotFoundError(f"{self.path}: no such file") from None
        except (ImportError, ValueError) as exc:  # an unknown protocol, or its package missing
            raise InputError(f"{self.path}: {exc}") from None
        with fh, av.open(fh) as container:
            yield container

    def _decode(self, seek_pts: int | None) -> Iterator[av.VideoFrame]:
        """The stream's frames, from the first, or from the keyframe at or before ``seek_pts``."""
        try:
            with self._open() as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                if seek_pts is not None:
                    container.seek(seek_pts, backward=True, any_frame=False, stream=stream)
                for frame in container.decode(stream):
                    if frame.width != self.info.width or frame.height != self.info.height:
                        raise InputError(
                            f"{self.path}: frame size changes mid-stream "
                            f"({self.info.width}x{self.info.height} -> {frame.width}x{frame.height})"
                        )
                    yield frame
        except av.FFmpegError as exc:
            raise InputError(f"{self.path}: decoding failed ({_av_reason(exc)})") from None


def _av_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _cut_short(what: str, frames: int, *, strict: bool) -> None:
    """Warn that an input's last frame is incomplete (``what``: the file and how), or with ``strict`` refuse it."""
    if strict:
        raise InputError(f"{what}; refused by --strict")
    log.warning("%s; reading the %d whole frames", what, frames)


#: y4m colour spaces: (horizontal, vertical) chroma subsampling shifts and plane count.
_Y4M_LAYOUTS = {
    "420": (1, 1, 3), "420jpeg": (1, 1, 3), "420mpeg2": (1, 1, 3), "420paldv": (1, 1, 3),
    "411": (2, 0, 3), "422": (1, 0, 3), "444": (0, 0, 3), "444alpha": (0, 0, 4), "mono": (0, 0, 1),
}


def _y4m_frame_bytes(header: bytes) -> int | None:
    """Bytes of one frame's pixels from a y4m stream header; None for a layout not understood."""
    fields = {t[:1]: t[1:] for t in header.decode("ascii", "replace").split()[1:]}
    try:
        w, h = int(fields["W"]), int(fields["H"])
    except (KeyError, ValueError):
        return None
    m = re.fullmatch(r"(\w+?)(?:p(\d+))?", fields.get("C", "420"))  # e.g. 420jpeg, 420p10
    if not m or m.group(1) not in _Y4M_LAYOUTS:
        return None
    sx, sy, planes = _Y4M_LAYOUTS[m.group(1)]
    chroma = -(-w >> sx) * -(-h >> sy)  # rounded up, as FFmpeg sizes odd frames
    samples = w * h + (2 * chroma if planes > 1 else 0) + (w * h if planes == 4 else 0)
    return samples * (2 if m.group(2) and int(m.group(2)) > 8 else 1)


def _scan_y4m(path: str) -> tuple[int, int, int] | None:
    """Whole frames, bytes of an incomplete last frame and frame size of a y4m file.

    Reads only the stream and frame header lines (seeking over the pixels).
    None when the file is not y4m or its layout is not understood (then the
    decoder alone judges it).
    """
    with open(path, "rb") as fh:
        header = fh.readline(4096)
        if not header.startswith(b"YUV4MPEG2 ") or not header.endswith(b"\n"):
            return None
        size = _y4m_frame_bytes(header)
        if size is None:
            return None
        total = os.fstat(fh.fileno()).st_size
        frames, pos = 0, fh.tell()
        while pos < total:
            line = fh.readline(4096)
            if not line.startswith(b"FRAME"):
                return None
            if not line.endswith(b"\n") or fh.tell() + size > total:
                return frames, total - pos, size
            pos = fh.tell() + size
            fh.seek(pos)
            frames += 1
        return frames, 0, size


class FrameFolderSource(VideoSource):
    """A folder of numbered images (PNG, JPEG, ...); names in natural order (f2 before f10) give the frame order.

    RGB and greyscale images are converted to BT.601 limited-range YUV 4:2:0
    by FFmpeg's swscale (the same conversion ``ffmpeg -i %d.png out.y4m`` uses).
    """

    def __init__(self, path: str | os.PathLike, *, fps: Fraction | None = None):
        self.path = str(path)
        files = sorted(
            (p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        if not files:
            raise InputError(f"{self.path}: folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        self.files = files
        try:
            with Image.open(files[0]) as im:
                w, h = im.size
        except OSError as exc:
            raise InputError(f"{files[0]}: not a readable image ({exc})") from None
        self.info = VideoInfo(
            width=w,
            height=h,
            fps=fps or DEFAULT_FPS,
            frame_count=len(files),
            # swscale's RGB->YUV default: BT.601 matrix (H.273 code 6), limited range.
            color=ColorInfo(primaries=2, transfer=2, matrix=6, full_range=False),
        )

    def frames(self) -> Iterator[Frame]:
        return self._images(self.files)

    def read(self, start: int, count: int, *, pts: int | None = None) -> Iterator[Frame]:
        return self._images(self.files[start : start + count])

    def _images(self, files: list[Path]) -> Iterator[Frame]:
        for f in files:
            try:
                with Image.open(f) as im:
                    rgb = np.asarray(im.convert("RGB"))
            except OSError as exc:
                raise InputError(f"{f}: not a readable image ({exc})") from None
            if rgb.shape[:2] != (self.info.height, self.info.width):
                raise InputError(
                    f"{f}: size {rgb.shape[1]}x{rgb.shape[0]} differs from the first image "
                    f"({self.info.width}x{self.info.height})"
                )
            yield from_av(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"))


def _natural_key(p: Path) -> list:
    """Sort ``f2.png`` before ``f10.png`` (numbers compared as numbers)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


class RawYuvSource(VideoSource):
    """Headerless planar 8-bit YUV 4:2:0 (I420) with an explicit size and rate."""

    def __init__(
        self, path: str | os.PathLike, *, size: tuple[int, int] | None, fps: Fraction | None, strict: bool = False
    ):
        self.path = str(path)
        if size is None:
            raise InputError(f"{self.path}: raw YUV has no header; give its --size WxH and --fps")
        if fps is None:
            raise InputError(f"{self.path}: raw YUV has no frame rate; give --fps too (e.g. 25 or 30000/1001)")
        w, h = size
        self.frame_bytes = frame_nbytes(w, h)
        total = os.path.getsize(self.path)
        count, rest = divmod(total, self.frame_bytes)
        if count == 0:
            raise InputError(
                f"{self.path}: {total} bytes is less than one {w}x{h} I420 frame ({self.frame_bytes} bytes); "
                "check --size"
            )
        if rest:
            what = (f"{self.path}: {total} bytes is not a whole number of {w}x{h} I420 frames "
                    f"({self.frame_bytes} bytes each): truncated, or check --size")
            _cut_short(what, count, strict=strict)
        self.info = VideoInfo(width=w, height=h, fps=fps, frame_count=count)

    def frames(self) -> Iterator[Frame]:
        return self.read(0, self.info.frame_count)

    def read(self, start: int, count: int, *, pts: int | None = None) -> Iterator[Frame]:
        w, h = self.info.width, self.info.height
        start = min(start, self.info.frame_count)
        with open(self.path, "rb") as fh:
            fh.seek(start * self.frame_bytes)
            for _ in range(min(count, self.info.frame_count - start)):
                chunk = fh.read(self.frame_bytes)
                if len(chunk) != self.frame_bytes:
                    raise InputError(f"{self.path}: shrank while being read")
                yield Frame.frombuffer(chunk, w, h)


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URL for fsspec (``s3://...``); ``file://`` URLs are local paths."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def register_opener(suffix: str, opener: Callable[[Path, Fraction | None], "VideoSource"]) -> None:
    """Let :func:`open_source` read files ending in ``suffix`` through ``opener(path, fps)``.

    io is the lowest layer: it cannot import the decoder of its own bitstream,
    so the agents layer registers ``.ncv`` here when it is imported.
    """
    _OPENERS[suffix.lower()] = opener


def open_source(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | str | None = None,
    fps: Fraction | str | float | None = None,
    strict: bool = False,
) -> VideoSource:
    """Open a video for reading, choosing the reader from the path.

    Args:
        path: A video file PyAV reads (mp4, mkv, webm, avi, flv, y4m, raw .264/.265, ...),
            a folder of numbered images, a raw ``.yuv`` file, a ``.ncv`` bitstream, or the
            fsspec URL of a container (``s3://bucket/clip.mp4``; needs fsspec and the
            protocol's package).
        size: ``(W, H)`` or ``"WxH"``; required for raw ``.yuv``.
        fps: Frame rate; required for raw ``.yuv``, overrides the container's otherwise.
        strict: Refuse a y4m or raw ``.yuv`` whose last frame is incomplete; by
            default a warning is logged and the whole frames before it are read.

    Raises:
        SourceNotFoundError: The path does not exist.
        InputError: The path is not a readable video (or, with ``strict``, is truncated).
    """
    if isinstance(size, str):
        size = parse_size(size)
    if fps is not None and not isinstance(fps, Fraction):
        fps = parse_fps(fps)
    if is_url(path):  # a container read through fsspec (raw .yuv and image folders are local only)
        if size is not None:
            raise InputError(f"{path}: --size only applies to raw .yuv input, which is read from a local path")
        source = PyAVSource(str(path), fps=fps, strict=strict)
        if fps is not None:
            source.info = replace(source.info, fps=fps)
        return source
    p = Path(str(path).removeprefix("file://"))
    if not p.exists():
        raise SourceNotFoundError(f"{p}: no such file or folder")
    if p.is_dir():
        return FrameFolderSource(p, fps=fps)
    if p.suffix.lower() in RAW_SUFFIXES:
        return RawYuvSource(p, size=size, fps=fps, strict=strict)
    opener = _OPENERS.get(p.suffix.lower())
    if opener is not None:
        return opener(p, fps)
    if p.suffix.lower() == ".ncv":
        raise InputError(f"{p}: a .ncv file is read through neurocodec.open() (or after importing neurocodec.agents)")
    if size is not None:
        raise InputError(f"{p}: --size only applies to raw .yuv input")
    source = PyAVSource(p, fps=fps, strict=strict)
    if fps is not None:
        source.info = replace(source.info, fps=fps)
    return source

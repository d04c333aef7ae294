"""Video writers: y4m (lossless default), raw .yuv, and mkv/mp4 through PyAV.

All writers write atomically: the output appears under its name only once
it is complete.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

import av

from ..errors import SettingsError
from .atomic import atomic_path, check_writable
from .avframes import to_av
from .frame import Frame, VideoInfo

__all__ = ["VideoWriter", "Y4MWriter", "RawYuvWriter", "PyAVWriter", "open_writer", "write_video", "OUTPUT_SUFFIXES", "X264_CRF_RANGE", "y4m_header"]

OUTPUT_SUFFIXES = (".y4m", ".yuv", ".mkv", ".mp4")
#: libx264's CRF scale, checked for lossy .mp4/.mkv output.
X264_CRF_RANGE = (0, 51)


class VideoWriter(ABC):
    """Writes frames of one size to a file; ``close()`` commits it."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo, *, overwrite: bool = False):
        self.path = Path(path)
        self.info = info
        self.frames_written = 0
        self._ctx = atomic_path(self.path, overwrite=overwrite)
        self._tmp = self._ctx.__enter__()
        self._closed = False

    def write(self, frame: Frame) -> None:
        if frame.width != self.info.width or frame.height != self.info.height:
            raise ValueError(
                f"{self.path}: frame {frame.width}x{frame.height} does not match {self.info.width}x{self.info.height}"
            )
        self._write(frame)
        self.frames_written += 1

    @abstractmethod
    def _write(self, frame: Frame) -> None: ...

    @abstractmethod
    def _finish(self) -> None: ...

    def close(self) -> None:
        """Finish the file and move it under its final name."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
        except BaseException as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        """Discard the partial output."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._finish()
        err = RuntimeError("aborted")
        with contextlib.suppress(RuntimeError):
            self._ctx.__exit__(RuntimeError, err, None)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def y4m_header(info: VideoInfo) -> bytes:
    """The YUV4MPEG2 stream header for 8-bit 4:2:0 frames of ``info`` (files and FFmpeg pipes alike)."""
    fps = info.fps
    header = (f"YUV4MPEG2 W{info.width} H{info.height} F{fps.numerator}:{fps.denominator} "
              "Ip A1:1 C420jpeg XYSCSS=420JPEG")
    if info.color.full_range is not None:
        header += " XCOLORRANGE=" + ("FULL" if info.color.full_range else "LIMITED")
    return header.encode("ascii") + b"\n"


class Y4MWriter(VideoWriter):
    """YUV4MPEG2, 8-bit 4:2:0: lossless and readable by FFmpeg and every codec tool."""

    def __init__(self, path, info, *, overwrite=False):
        super().__init__(path, info, overwrite=overwrite)
        self._fh = open(self._tmp, "wb")
        self._fh.write(y4m_header(info))

    def _write(self, frame):
        self._fh.write(b"FRAME\n")
        self._fh.write(frame.tobytes())

    def _finish(self):
        self._fh.close()


class RawYuvWriter(VideoWriter):
    """Headerless planar I420."""

    def __init__(self, path, info, *, overwrite=False):
        super().__init__(path, info, overwrite=overwrite)
        self._fh = open(self._tmp, "wb")

    def _write(self, frame):
        self._fh.write(frame.tobytes())

    def _finish(self):
        self._fh.close()


class PyAVWriter(VideoWriter):
    """mkv or mp4 through PyAV.

    Args:
        codec: ``"ffv1"`` (lossless; mkv only) or ``"x264"``. Default: FFV1 for
            mkv, lossless x264 (qp 0) for mp4.
        crf: x264 CRF; None means lossless.
    """

    def __init__(self, path, info, *, overwrite=False, codec: str | None = None, crf: float | None = None):
        suffix = Path(path).suffix.lower()
        fmt = {".mkv": "matroska", ".mp4": "mp4"}[suffix]
        codec = codec or ("ffv1" if suffix == ".mkv" else "x264")
        if codec not in ("ffv1", "x264"):
            raise SettingsError(f"output codec must be ffv1 or x264, got {codec!r}")
        if codec == "ffv1" and suffix == ".mp4":
            raise SettingsError(f"{path}: FFV1 cannot be stored in mp4; use .mkv or --codec x264")
        if crf is not None:
            if codec == "ffv1":
                raise SettingsError(f"{path}: FFV1 is lossless and takes no --crf; use --codec x264 for a lossy file")
            lo, hi = X264_CRF_RANGE
            if not lo <= crf <= hi:
                raise SettingsError(f"{path}: x264 crf {crf:g} is outside {lo}..{hi}")
        if codec == "x264" and (info.width % 2 or info.height % 2):
            raise SettingsError(f"{path}: x264 needs even dimensions, video is {info.width}x{info.height}; use .y4m or .mkv")
        super().__init__(path, info, overwrite=overwrite)
        self._container = av.open(str(self._tmp), "w", format=fmt)
        if codec == "ffv1":
            stream = self._container.add_stream("ffv1", rate=info.fps)
        else:
            stream = self._container.add_stream("libx264", rate=info.fps)
            stream.options = {"qp": "0"} if crf is None else {"crf": str(crf)}
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
        self._stream = stream

    def _write(self, frame):
        av_frame = to_av(frame)
        av_frame.pts = self.frames_written
        av_frame.time_base = 1 / self.info.fps
        self._container.mux(self._stream.encode(av_frame))

    def _finish(self):
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


def open_writer(
    path: str | os.PathLike,
    info: VideoInfo,
    *,
    overwrite: bool = False,
    codec: str | None = None,
    crf: float | None = None,
) -> VideoWriter:
    """Open a writer chosen by the file extension (.y4m, .yuv, .mkv, .mp4)."""
    check_writable(path, overwrite)  # a folder or an existing file is named as such, before its extension
    suffix = Path(path).suffix.lower()
    if suffix == ".y4m":
        cls = Y4MWriter
    elif suffix in (".yuv", ".i420"):
        cls = RawYuvWriter
    elif suffix in (".mkv", ".mp4"):
        return PyAVWriter(path, info, overwrite=overwrite, codec=codec, crf=crf)
    else:
        raise SettingsError(f"{path}: unknown output type {suffix!r}; use one of {', '.join(OUTPUT_SUFFIXES)}")
    if codec is not None or crf is not None:
        raise SettingsError(f"{path}: --codec/--crf apply to .mkv/.mp4 output only")
    return cls(path, info, overwrite=overwrite)


def write_video(path, info: VideoInfo, frames: Iterable[Frame], **kwargs) -> int:
    """Write all frames to ``path``; returns the number written."""
    with open_writer(path, info, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
        return writer.frames_written

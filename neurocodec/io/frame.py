"""The internal frame model: 8-bit YUV 4:2:0 planes.

Chroma planes are ``ceil(H/2) x ceil(W/2)``, so odd sizes are represented
exactly; codecs that need even sizes get frames padded by
:func:`pad_to_even` and the decoder crops back with :func:`crop`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import SettingsError

__all__ = ["Frame", "VideoInfo", "ColorInfo", "chroma_size", "padded_size", "pad_to_even", "pad_edges", "crop",
           "frame_nbytes", "frame_crc"]


def chroma_size(width: int, height: int) -> tuple[int, int]:
    """Width and height of a 4:2:0 chroma plane for a luma size."""
    return (width + 1) // 2, (height + 1) // 2


def padded_size(width: int, height: int) -> tuple[int, int]:
    """The even size strategies code a ``width x height`` picture at (see :func:`pad_to_even`)."""
    return width + width % 2, height + height % 2


def frame_nbytes(width: int, height: int) -> int:
    """Bytes of one 8-bit 4:2:0 frame."""
    cw, ch = chroma_size(width, height)
    return width * height + 2 * cw * ch


@dataclass(frozen=True)
class Frame:
    """One picture as three 8-bit planes (Y full size, U and V 4:2:0).

    Args:
        y: Luma, shape ``(H, W)``, dtype uint8.
        u: Cb, shape ``(ceil(H/2), ceil(W/2))``, dtype uint8.
        v: Cr, same shape as ``u``.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        for name in ("y", "u", "v"):
            plane = getattr(self, name)
            if not isinstance(plane, np.ndarray):
                raise TypeError(f"Frame.{name} must be a numpy array, got {type(plane).__name__}")
            if plane.dtype != np.uint8:
                raise TypeError(f"Frame.{name} must be uint8, got {plane.dtype}")
            if plane.ndim != 2:
                raise ValueError(f"Frame.{name} must be 2-D (H, W), got shape {plane.shape}")
        h, w = self.y.shape
        if h < 1 or w < 1:
            raise ValueError(f"Frame.y must be non-empty, got shape {self.y.shape}")
        want = chroma_size(w, h)[::-1]
        if self.u.shape != want or self.v.shape != want:
            raise ValueError(
                f"chroma planes must be {want} for luma {self.y.shape}, got u {self.u.shape}, v {self.v.shape}"
            )

    @property
    def width(self) -> int:
        return self.y.shape[1]

    @property
    def height(self) -> int:
        return self.y.shape[0]

    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.y, self.u, self.v

    def tobytes(self) -> bytes:
        """Planar I420 bytes (Y, then U, then V)."""
        return self.y.tobytes() + self.u.tobytes() + self.v.tobytes()

    @classmethod
    def frombuffer(cls, data: bytes | memoryview, width: int, height: int) -> "Frame":
        """Build a frame from planar I420 bytes of exactly one frame."""
        cw, ch = chroma_size(width, height)
        n = width * height
        if len(data) != frame_nbytes(width, height):
            raise ValueError(f"expected {frame_nbytes(width, height)} bytes for {width}x{height}, got {len(data)}")
        buf = np.frombuffer(data, dtype=np.uint8)
        y = buf[:n].reshape(height, width)
        u = buf[n : n + cw * ch].reshape(ch, cw)
        v = buf[n + cw * ch :].reshape(ch, cw)
        return cls(y.copy(), u.copy(), v.copy())


@dataclass(frozen=True)
class ColorInfo:
    """Colour description, as ITU-T H.273 code points (2 = unspecified).

    ``full_range`` is None when the source did not say.
    """

    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    full_range: bool | None = None

    def __post_init__(self) -> None:
        for name in ("primaries", "transfer", "matrix"):
            value = getattr(self, name)
            if not 0 <= value <= 255:
                raise SettingsError(f"colour {name} code {value} is outside 0..255")


@dataclass(frozen=True)
class VideoInfo:
    """What a reader knows about a video before decoding it.

    Args:
        width: Luma width in pixels.
        height: Luma height in pixels.
        fps: Frame rate as an exact rational.
        frame_count: Number of frames if known up front, else None.
        color: Colour metadata carried through to the output.
    """

    width: int
    height: int
    fps: Fraction
    frame_count: int | None = None
    color: ColorInfo = field(default_factory=ColorInfo)

    def __post_init__(self) -> None:
        if not (1 <= self.width <= 16384 and 1 <= self.height <= 16384):
            raise SettingsError(f"frame size {self.width}x{self.height} is outside 1..16384")
        if not isinstance(self.fps, Fraction):
            object.__setattr__(self, "fps", Fraction(self.fps).limit_denominator(1_000_000))
        if self.fps <= 0:
            raise SettingsError(f"frame rate must be positive, got {self.fps}")


def pad_to_even(frame: Frame) -> Frame:
    """Replicate the last row/column so both dimensions are even."""
    w, h = frame.width, frame.height
    w2, h2 = padded_size(w, h)
    if (w2, h2) == (w, h):
        return frame
    y = np.pad(frame.y, ((0, h2 - h), (0, w2 - w)), mode="edge")
    # Chroma is already ceil-sized, which equals the padded size halved.
    return Frame(y, frame.u, frame.v)


def pad_edges(frame: Frame, width: int, height: int) -> Frame:
    """Grow ``frame`` to ``width x height`` by repeating its last row and column (each plane on its own grid)."""
    if frame.width == width and frame.height == height:
        return frame
    if frame.width > width or frame.height > height:
        raise ValueError(f"cannot pad {frame.width}x{frame.height} to smaller {width}x{height}")
    cw, ch = chroma_size(width, height)
    y = np.pad(frame.y, ((0, height - frame.height), (0, width - frame.width)), mode="edge")
    u, v = (np.pad(p, ((0, ch - p.shape[0]), (0, cw - p.shape[1])), mode="edge") for p in (frame.u, frame.v))
    return Frame(y, u, v)


def crop(frame: Frame, width: int, height: int) -> Frame:
    """Crop a (padded) frame back to ``width x height``."""
    if frame.width == width and frame.height == height:
        return frame
    if frame.width < width or frame.height < height:
        raise ValueError(f"cannot crop {frame.width}x{frame.height} to larger {width}x{height}")
    cw, ch = chroma_size(width, height)
    return Frame(
        np.ascontiguousarray(frame.y[:height, :width]),
        np.ascontiguousarray(frame.u[:ch, :cw]),
        np.ascontiguousarray(frame.v[:ch, :cw]),
    )


def frame_crc(frame: Frame, crc: int = 0) -> int:
    """CRC-32 of a frame's planes (Y, U, V), continuing from ``crc``: to check that two reads gave the same pixels."""
    for plane in frame.planes():
        crc = zlib.crc32(np.ascontiguousarray(plane), crc)
    return crc

"""Conversion between PyAV frames and :class:`~neurocodec.io.frame.Frame`.

PyAV's ``to_ndarray``/``from_ndarray`` refuse odd widths for yuv420p, so the
planes are copied through their line-padded buffers directly.
"""

from __future__ import annotations

import av
import numpy as np

from .frame import ColorInfo, Frame

__all__ = ["from_av", "to_av", "color_from_av"]


def _plane_array(plane) -> np.ndarray:
    buf = np.frombuffer(plane, dtype=np.uint8)
    return buf.reshape(plane.height, plane.line_size)[:, : plane.width].copy()


def from_av(frame: av.VideoFrame) -> Frame:
    """Convert any PyAV video frame to 8-bit YUV 4:2:0 (swscale converts other formats)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    y, u, v = (_plane_array(p) for p in frame.planes[:3])
    return Frame(y, u, v)


def to_av(frame: Frame) -> av.VideoFrame:
    """Wrap a frame as a PyAV yuv420p frame (any size)."""
    out = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for plane, data in zip(out.planes, frame.planes()):
        h, w = data.shape
        if plane.line_size == w:
            plane.update(np.ascontiguousarray(data).tobytes())
        else:
            padded = np.zeros((plane.buffer_size // plane.line_size, plane.line_size), np.uint8)
            padded[:h, :w] = data
            plane.update(padded.tobytes())
    return out


def color_from_av(frame: av.VideoFrame) -> ColorInfo:
    """Read H.273 colour code points from a decoded frame (PyAV uses the same numbering)."""
    rng = int(frame.color_range)
    # AVColorRange: 0 unspecified, 1 MPEG (limited), 2 JPEG (full).
    full = None if rng == 0 else rng == 2
    return ColorInfo(
        primaries=int(frame.color_primaries),
        transfer=int(frame.color_trc),
        matrix=int(frame.colorspace),
        full_range=full,
    )

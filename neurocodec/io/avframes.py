"""Conversion between PyAV objects and ours: frames and :class:`~neurocodec.io.frame.Frame`, bytes and packets.

PyAV's ``to_ndarray``/``from_ndarray`` refuse odd widths for yuv420p, so the
planes are copied through their line-padded buffers directly.
"""

from __future__ import annotations

import av
import numpy as np

from .frame import ColorInfo, Frame

__all__ = ["from_av", "to_av", "to_packet", "color_from_av"]


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


def to_packet(data: bytes | memoryview) -> av.Packet:
    """A packet holding a copy of ``data`` in a buffer FFmpeg allocated (so FFmpeg frees it without Python).

    ``av.Packet(data)`` lends the Python object instead, and releasing it
    takes the GIL. libdav1d's worker threads release packets while holding
    dav1d's lock, and PyAV frees a decoder with the GIL held
    (``avcodec_free_context`` waits for that lock in ``dav1d_flush``): one
    process decoding many segments deadlocked in about half the runs
    (PyAV 18.1). Copying keeps the decoders' threads, so decoding stays fast,
    and conforming decoders give the same pixels with any thread count.
    """
    packet = av.Packet(len(data))
    if len(data):
        packet.update(data)
    return packet


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

"""FFmpeg's ``scdet`` scene-change filter run through PyAV, one frame at a time."""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter
import numpy as np

from ..io.avframes import to_av
from ..io.frame import Frame

__all__ = ["Scdet"]


class Scdet:
    """A ``buffer -> scdet -> buffersink`` filter graph that scores each frame pushed into it.

    scdet's score (``lavfi.scd.score``, a percentage of full scale) is
    ``min(MAFD_i, |MAFD_i - MAFD_{i-1}|)``, MAFD being its mean absolute frame
    difference: a frame's change against the previous frame's change.

    Args:
        fps: Frame rate (sets the time base).
        frame: The first frame (sets the size in ``"full"`` mode).
        thumb: The first frame's luma thumbnail (sets the size in ``"thumb"`` mode).
        mode: ``"full"`` feeds whole YUV frames, ``"thumb"`` the grey thumbnails.
        threshold: scdet's ``threshold`` option (it only affects scdet's own marks, not the score).
    """

    def __init__(self, fps: Fraction, frame: Frame, thumb: np.ndarray, mode: str, threshold: float):
        self.mode = mode
        tb = 1 / fps
        if mode == "full":
            w, h, fmt = frame.width, frame.height, "yuv420p"
        else:
            h, w = thumb.shape
            fmt = "gray"
        self.graph = av.filter.Graph()
        src = self.graph.add_buffer(width=w, height=h, format=fmt, time_base=tb)
        det = self.graph.add("scdet", f"threshold={threshold}")
        sink = self.graph.add("buffersink")
        src.link_to(det)
        det.link_to(sink)
        self.graph.configure()
        self.tb = tb

    def push(self, frame: Frame, thumb: np.ndarray, n: int) -> float:
        """Score frame ``n`` (``frame`` or its ``thumb``, by mode); 0 when scdet returns nothing yet."""
        if self.mode == "full":
            vf = to_av(frame)
        else:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rint(thumb).astype(np.uint8)), format="gray")
        vf.pts = n
        vf.time_base = self.tb
        self.graph.push(vf)
        score = 0.0
        while True:
            try:
                out = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            score = float(out.metadata.get("lavfi.scd.score", 0.0))
        return score

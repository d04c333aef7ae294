"""Luma thumbnails the shot detector works on, and a ring buffer of recent ones.

Every frame's luma is reduced to block means at most ``analysis_width``
pixels wide (the *thumbnail*), which is halved once more when it is wider than
:data:`SMALL_WIDTH` (the *small thumbnail*). The cost per frame then hardly
depends on the resolution.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SMALL_WIDTH", "block_size", "block_mean", "half", "small_thumbnail", "shrink", "ThumbRing"]

#: A thumbnail wider than this is halved once for the small thumbnail, pixels.
SMALL_WIDTH = 80


def block_size(width: int, analysis_width: int) -> int:
    """Side of the blocks that make a frame ``width`` pixels wide at most ``analysis_width`` wide."""
    return max(1, math.ceil(width / analysis_width))


def block_mean(y: np.ndarray, b: int) -> np.ndarray:
    """Mean of ``b`` x ``b`` blocks of ``y`` (trailing partial blocks dropped) as float32.

    Args:
        y: A uint8 luma plane.
        b: Block side, pixels.

    Returns:
        The block means; a 1x1 array of the plane's mean when no whole block fits.
    """
    if b == 1:
        return y.astype(np.float32)
    h, w = y.shape
    hh, ww = h // b, w // b
    if hh == 0 or ww == 0:
        return np.array([[float(y.mean())]], np.float32)
    acc = y[0 : hh * b : b, : ww * b].astype(np.uint16 if b <= 16 else np.uint32)
    for k in range(1, b):
        acc += y[k : hh * b : b, : ww * b]
    out = acc.reshape(hh, ww, b).sum(axis=2, dtype=np.uint32).astype(np.float32)
    out *= 1.0 / (b * b)
    return out


def half(t: np.ndarray) -> np.ndarray:
    """Means of 2 x 2 blocks of ``t`` (a trailing row or column dropped); ``t`` itself when thinner than 2."""
    h, w = t.shape
    if h < 2 or w < 2:
        return t
    h2, w2 = h // 2 * 2, w // 2 * 2
    return 0.25 * (t[0:h2:2, 0:w2:2] + t[1:h2:2, 0:w2:2] + t[0:h2:2, 1:w2:2] + t[1:h2:2, 1:w2:2])


def small_thumbnail(thumb: np.ndarray) -> np.ndarray:
    """``thumb`` halved once if it is wider than :data:`SMALL_WIDTH`, else ``thumb`` itself."""
    return half(thumb) if thumb.shape[1] > SMALL_WIDTH else thumb


def shrink(t: np.ndarray, width: int) -> np.ndarray:
    """``t`` halved until it is at most ``width`` pixels wide (or one pixel thin)."""
    while t.shape[1] > width and min(t.shape) >= 2:  # a one-row thumbnail cannot shrink: stop, not spin
        t = half(t)
    return t


class ThumbRing:
    """The thumbnails (and thumbnail standard deviations) of the last ``cap`` frames.

    Args:
        cap: Number of frames kept.
    """

    def __init__(self, cap: int):
        self.cap = cap
        self.buf: list[np.ndarray | None] = [None] * cap
        self.stds = np.zeros(cap)
        self.newest = -1

    @property
    def oldest(self) -> int:
        """The oldest frame still in the ring."""
        return max(0, self.newest - self.cap + 1)

    def put(self, i: int, t: np.ndarray, std: float) -> None:
        """Store frame ``i``'s thumbnail ``t`` and standard deviation ``std`` (``i`` the newest frame)."""
        self.buf[i % self.cap] = t.astype(np.float16)  # 1/8 of a level near white: plenty, half the memory
        self.stds[i % self.cap] = std
        self.newest = i

    def get(self, i: int) -> np.ndarray:
        """Frame ``i``'s thumbnail as float32.

        Raises:
            IndexError: Frame ``i`` is not in the ring.
        """
        if not self.oldest <= i <= self.newest:
            raise IndexError(f"frame {i} is not in the ring ({self.oldest}..{self.newest})")
        return self.buf[i % self.cap].astype(np.float32)

    def std(self, i: int) -> float:
        """Frame ``i``'s standard deviation as stored (not checked to be in the ring)."""
        return float(self.stds[i % self.cap])

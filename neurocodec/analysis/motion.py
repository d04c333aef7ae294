"""Global-motion measures between two thumbnails: what is left of their difference once a
camera motion (a shift, or a shift and a zoom) is compensated, and their best correlation."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["shift_mad", "motion_residual", "similarity"]


def shift_mad(prev: np.ndarray, cur: np.ndarray, r: int) -> float:
    """Smallest mean absolute difference between ``cur`` and ``prev`` shifted by up to ``r`` pixels.

    Args:
        prev: The earlier thumbnail.
        cur: The later thumbnail, of the same shape.
        r: Search radius, pixels (reduced to a quarter of the size; 0 is the plain difference).

    Returns:
        The smallest mean ``|cur - prev shifted by (dy, dx)|`` over ``|dy|, |dx| <= r``, in the
        units of the thumbnails; a border of ``r`` pixels of ``cur`` is left out.
    """
    h, w = cur.shape
    r = min(r, (h - 1) // 4, (w - 1) // 4)
    if r <= 0:
        return float(np.abs(cur - prev).mean())
    core = cur[r : h - r, r : w - r]
    win = sliding_window_view(prev, core.shape)  # (2r+1, 2r+1, h-2r, w-2r), a view
    return float(np.abs(win - core).mean(axis=(2, 3)).min())


def similarity(a_: np.ndarray, b_: np.ndarray, r: int = 3) -> float:
    """Largest normalised cross-correlation of ``b_`` with ``a_`` shifted by up to ``r`` pixels.

    Args:
        a_: One thumbnail.
        b_: Another, of the same shape.
        r: Search radius, pixels (reduced for small thumbnails).

    Returns:
        A correlation between -1 and 1 (1: the same picture, moved).
    """
    h, w = b_.shape
    r = max(0, min(r, (h - 3) // 4, (w - 3) // 4))
    core = b_[r : h - r, r : w - r]
    win = sliding_window_view(a_, core.shape)
    cz = core - core.mean()
    wz = win - win.mean(axis=(2, 3), keepdims=True)
    num = (wz * cz).mean(axis=(2, 3))
    den = np.sqrt((wz * wz).mean(axis=(2, 3)) * float((cz * cz).mean())) + 1e-6
    return float((num / den).max())


def motion_residual(a_: np.ndarray, b_: np.ndarray, r: int = 2) -> float:
    """Mean ``|b_ - a_|`` left once a global motion is compensated.

    The motion is a shift of up to ``r`` pixels in half-pixel steps, then a finer shift and a
    zoom fitted by least squares on the image gradients.

    Args:
        a_: The earlier thumbnail.
        b_: The later thumbnail, of the same shape.
        r: Search radius, pixels (reduced for small thumbnails; below 1 the plain difference).

    Returns:
        The mean absolute residual, in the units of the thumbnails.
    """
    h, w = b_.shape
    r = min(r, (h - 3) // 4, (w - 3) // 4)
    if r < 1:
        return float(np.abs(b_ - a_).mean())
    core = b_[r : h - r, r : w - r]
    win = sliding_window_view(a_, core.shape)
    mads = np.abs(win - core).mean(axis=(2, 3))
    dy, dx = np.unravel_index(int(mads.argmin()), mads.shape)
    # Half-pixel shifts around the best whole-pixel one: bilinear averages of neighbouring windows.
    y0, x0 = max(dy - 1, 0), max(dx - 1, 0)
    nb = win[y0 : dy + 2, x0 : dx + 2]
    hx = 0.5 * (nb[:, 1:] + nb[:, :-1])
    cands = [nb.reshape(-1, *core.shape), hx.reshape(-1, *core.shape),
             (0.5 * (nb[1:] + nb[:-1])).reshape(-1, *core.shape), (0.5 * (hx[1:] + hx[:-1])).reshape(-1, *core.shape)]
    cands = np.concatenate(cands)
    moved = cands[int(np.abs(cands - core).mean(axis=(1, 2)).argmin())]
    err = (core - moved)[1:-1, 1:-1].ravel()
    gx = 0.5 * (moved[1:-1, 2:] - moved[1:-1, :-2])
    gy = 0.5 * (moved[2:, 1:-1] - moved[:-2, 1:-1])
    yy, xx = _centred_grid(gx.shape)
    basis = np.stack([gx.ravel(), gy.ravel(), (xx * gx + yy * gy).ravel()])
    gram = basis @ basis.T
    try:
        coef = np.linalg.solve(gram + 1e-6 * np.trace(gram) * np.eye(3), basis @ err)
    except np.linalg.LinAlgError:
        return float(np.abs(err).mean())
    return float(np.abs(err - coef @ basis).mean())


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _centred_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates of ``shape`` about its centre (cached: one per thumbnail size)."""
    if shape not in _GRIDS:
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        _GRIDS[shape] = (yy - yy.mean(), xx - xx.mean())
    return _GRIDS[shape]

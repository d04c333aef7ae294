"""PSNR on 8-bit planes.

Per-frame PSNR is capped at :data:`PSNR_CAP` dB (identical planes would give
infinity, which JSON cannot hold). PSNR-YUV weights the per-frame plane PSNRs
6:1:1 (Y:U:V), the convention of JVET common test conditions and most
learned-video-coding papers.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["PSNR_CAP", "mse", "psnr", "psnr_from_mse", "psnr_yuv"]

PSNR_CAP = 100.0


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two equally shaped arrays."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = a.astype(np.int32) - b.astype(np.int32)
    return float(np.mean(d * d, dtype=np.float64))


def psnr_from_mse(value: float, peak: float = 255.0) -> float:
    if value <= 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(peak * peak / value))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two 8-bit planes (capped at :data:`PSNR_CAP`)."""
    return psnr_from_mse(mse(a, b), peak)


def psnr_yuv(y: float, u: float, v: float) -> float:
    """6:1:1 weighted combination of plane PSNRs."""
    return (6.0 * y + u + v) / 8.0

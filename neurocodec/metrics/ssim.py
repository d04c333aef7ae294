"""SSIM and MS-SSIM on 8-bit luma.

SSIM follows Wang et al., "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 2004: 11x11 Gaussian window with sigma 1.5,
K1 = 0.01, K2 = 0.03, population covariances, mean over the valid region
(identical to ``skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255)``).

MS-SSIM follows Wang, Simoncelli and Bovik, "Multiscale structural similarity
for image quality assessment", Asilomar 2003: five scales, 2x2 average-pool
downsampling (odd sides rounded up), exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), negative
contrast-structure terms clamped to zero. It needs the smaller side to exceed
160 pixels; smaller frames give None.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["ssim", "ms_ssim", "ssim_and_ms_ssim", "MS_SSIM_MIN_SIDE"]

_K1, _K2, _SIGMA, _TRUNCATE = 0.01, 0.03, 1.5, 3.5  # truncate 3.5 * 1.5 -> 11x11 window
_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
MS_SSIM_MIN_SIDE = 161
_PAD = 5  # (11 - 1) // 2


def _stats(x: np.ndarray, y: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel luminance term and contrast-structure term (valid region only)."""
    f = lambda a: gaussian_filter(a, _SIGMA, mode="reflect", truncate=_TRUNCATE)  # noqa: E731
    mx, my = f(x), f(y)
    sxx = f(x * x) - mx * mx
    syy = f(y * y) - my * my
    sxy = f(x * y) - mx * my
    c1, c2 = (_K1 * peak) ** 2, (_K2 * peak) ** 2
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    crop = (slice(_PAD, -_PAD), slice(_PAD, -_PAD))
    return lum[crop], cs[crop]


def _check(a: np.ndarray, b: np.ndarray, min_side: int) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D plane, got shape {a.shape}")
    if min(a.shape) < min_side:
        raise ValueError(f"plane {a.shape} is smaller than the {min_side}-pixel minimum")


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Mean SSIM of two planes (each side at least 11 pixels)."""
    _check(a, b, 11)
    lum, cs = _stats(a.astype(np.float64), b.astype(np.float64), peak)
    return float(np.mean(lum * cs))


def ms_ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float | None:
    """MS-SSIM of two planes, or None when the smaller side is under 161 pixels."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape) < MS_SSIM_MIN_SIDE:
        return None
    return ssim_and_ms_ssim(a, b, peak)[1]


def ssim_and_ms_ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> tuple[float, float | None]:
    """SSIM and MS-SSIM together, sharing the full-resolution statistics (about half the work of both)."""
    _check(a, b, 11)
    x, y = a.astype(np.float64), b.astype(np.float64)
    lum, cs = _stats(x, y, peak)
    full = float(np.mean(lum * cs))
    if min(a.shape) < MS_SSIM_MIN_SIDE:
        return full, None
    values = []
    for level in range(len(_WEIGHTS)):
        if level:
            x, y = _halve(x), _halve(y)
            lum, cs = _stats(x, y, peak)
        if level == len(_WEIGHTS) - 1:
            values.append(max(float(np.mean(lum * cs)), 0.0))
        else:
            values.append(max(float(np.mean(cs)), 0.0))
    return full, float(np.prod(np.power(values, _WEIGHTS)))


def _halve(p: np.ndarray) -> np.ndarray:
    """2x2 average pool; an odd last row/column is repeated first, so sides round up.

    Rounding up (as the reference MATLAB code's symmetric padding does) keeps the
    coarsest scale at least 11 pixels for every side over 160; dropping the odd
    row instead left 161..175-pixel sides with an empty last scale (NaN).
    """
    h, w = p.shape
    if h % 2 or w % 2:
        p = np.pad(p, ((0, h % 2), (0, w % 2)), mode="edge")
    return p.reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2).mean(axis=(1, 3))

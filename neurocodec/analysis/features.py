"""Per-scene content features for the scene-adaptive encoder.

:class:`FeatureExtractor` sees every frame once, in order (:meth:`~FeatureExtractor.push`),
and keeps only a few numbers per frame (15 doubles, 120 bytes) plus the
previous frame's downscaled luma. :meth:`~FeatureExtractor.scene_features`
then summarises any frame range (``end`` exclusive) into a flat
``dict[str, float]`` (keys: :data:`FEATURE_NAMES`) that is cheap to store in a
scene file and to feed to :func:`neurocodec.analysis.classify.classify`.

Analysis scale
    Every luma plane is resized to ``analysis_width`` pixels wide (320 by
    default; area averaging when shrinking, bilinear when enlarging), keeping
    the aspect ratio (very tall frames are capped at 4x ``analysis_width``
    high). Motion, temporal and spatial features are measured at that scale,
    so they do not depend on the source resolution. The screen-content
    features need the real pixels and use the native luma.

Pairs
    A pair feature of frame ``i`` describes the step from ``i - 1`` to ``i``;
    a scene ``start..end`` uses the pairs ``start+1 .. end-1``, so the step
    across a scene cut never leaks into either scene. A one-frame scene has
    no pairs: its motion and temporal features are 0. Optical flow runs on
    every pair (it fits the cost budget, so no pairs are skipped).

Textured cells
    Motion is measured on a grid of 4x4-pixel cells of the analysis image.
    Cells whose mean neighbour difference is under 1.5 luma levels are
    untextured: flow there is a guess (DIS reports motion in plain sky) and
    costs no bits anyway, so they are left out of the motion features. A pair
    with under 2 % textured cells, or an analysis image under 32 pixels on a
    side, has motion features of 0.

Features (all floats; a scene's value is the mean over its pairs, or over
its sampled frames, unless said otherwise):

``frames``, ``duration_s``
    Scene length in frames and in seconds (from ``fps``).
``motion_mean``
    Mean optical-flow magnitude over the textured cells, in **percent of the
    frame width per frame** (1.0 = a displacement of 1/100 of the width: 3.2
    px at 320 wide, 12.8 px at 1280 wide). Flow is OpenCV DIS
    (``DISOPTICAL_FLOW_PRESET_FAST``) between consecutive analysis-scale
    luma planes.
``motion_p95``
    95th percentile of the flow magnitude over the textured cells (same
    unit): how fast the fastest parts move.
``motion_coverage``
    Fraction (0..1) of the whole picture that is textured and moves more than
    :data:`MOVING_PCT` percent of the width per frame.
``motion_global``, ``motion_local``
    The flow of the textured cells is fitted with a 6-parameter affine model
    (pan, zoom, rotation, shear): least squares, then refitted on the vectors
    within max(:data:`MOVING_PCT`, 2.5 x the median residual) of the first
    fit. ``motion_global`` is the mean magnitude of the fitted field (camera
    motion), ``motion_local`` the mean magnitude of flow minus fit (objects
    moving against the background). Both in percent of the width per frame.
``motion_local_coverage``
    Fraction (0..1) of the whole picture that is textured and whose residual
    motion exceeds :data:`MOVING_PCT`.
``temporal_diff``
    Mean absolute luma difference of consecutive analysis-scale frames, in
    8-bit luma levels (0..255).
``spatial_complexity``
    Mean absolute luma difference between horizontally and vertically
    adjacent analysis-scale pixels (luma levels per pixel): texture, detail.
``luma_mean``
    Mean luma (levels) over the scene's frames.
``luma_slope``
    Least-squares slope of the per-frame mean luma (levels per frame;
    negative: getting darker, as in a fade to black).
``luma_range``
    Highest minus lowest per-frame mean luma (levels).
``luma_trend_r2``
    How well a straight line fits the per-frame mean luma (r^2, 0..1; 0 when
    the luma does not change at all). Near 1 for a fade.
``fade_ratio``
    Sum over pairs of ``|change of mean luma|`` divided by the sum of the mean
    absolute differences (0..1): near 1 when consecutive frames differ by a
    global brightness change (fades), near 0 when they differ by motion.
``flat_blocks``
    Fraction (0..1) of 8x8 native luma blocks whose 64 pixels are all
    exactly equal. Measured inside the active picture: border rows and
    columns with a luma range of at most 12 levels (letterbox and pillarbox
    bars, plain margins) are cropped, plus 4 more lines where a bar was
    found. Rendered content has many; camera video almost none.
``level_concentration``
    Fraction (0..1) of active-picture native luma pixels that take one of
    the 8 most common luma values: few distinct levels, as in text and
    graphics.
``sharp_edges``
    Among active-picture native horizontal and vertical neighbour
    differences of at least 16 levels (edges), the fraction (0..1) that are
    at least 64 levels in a single pixel step: crisp rendered edges rather
    than the softer edges a lens records.
``face_presence``, ``face_area``
    From OpenCV's frontal-face Haar cascade on the analysis image, run on
    every :data:`FACE_EVERY`-th frame only: the fraction of sampled frames
    with a face, and the mean area of the largest face as a fraction of the
    picture. 0 when no sampled frame falls in the scene (scenes shorter than
    :data:`FACE_EVERY` frames may have none).

The three screen-content features are measured on every
:data:`SCREEN_EVERY`-th frame; a scene with no sampled frame gets 0.

Cost
    Measured on the 2-core development machine (see ``docs/scene-classes.md``):
    about 3.4 ms per 1280x720 frame on average (budget: 5 ms), of which DIS
    flow ~1.1 ms, the rest of the flow statistics ~0.6 ms, the resize
    ~0.45 ms, face detection ~0.75 ms (10-15 ms a call, every 15th frame)
    and the screen statistics ~0.45 ms (3-4 ms a call, every 8th frame).
"""

from __future__ import annotations

import logging
import math
from array import array
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from ..io.frame import Frame

__all__ = [
    "FeatureExtractor",
    "FEATURE_NAMES",
    "MOVING_PCT",
    "SCREEN_EVERY",
    "FACE_EVERY",
]

log = logging.getLogger(__name__)

#: Flow magnitude (percent of width per frame) above which a pixel counts as moving: 0.25 % is
#: 0.8 px at 320 wide, above DIS's noise on still, compressed video.
MOVING_PCT = 0.25
#: Screen-content statistics are taken on every n-th frame (they change slowly within a scene).
SCREEN_EVERY = 8
#: Face detection runs on every n-th frame, the first included (it costs 5-15 ms a call).
FACE_EVERY = 15
#: Step of the grid of flow vectors used for the affine fit and the statistics (analysis pixels).
_GRID = 4
#: Grid cells whose mean neighbour difference is below this (luma levels) are untextured: their
#: flow is not measurable (DIS invents motion in flat sky) and is left out of the motion features.
_TEXTURE = 1.5
#: Below this textured fraction of the picture, a pair's motion features are 0.
_MIN_TEXTURED = 0.02
#: DIS needs both sides of the analysis image at least this long (OpenCV 4.11 crashes, not raises,
#: on some thinner images): thinner pictures get motion features of 0.
_MIN_FLOW_SIDE = 32
#: The analysis image is at most this many times taller than ``analysis_width``.
_MAX_ASPECT = 4
#: Block size of the flatness test (native pixels).
_BLOCK = 8
#: A native luma step of at least this many levels counts as an edge; ``_SHARP`` as a sharp one.
_EDGE = 16
_SHARP = 64
#: Border rows/columns whose luma range is at most this are bars or plain margins, left out of the
#: screen statistics (with ``_BAR_MARGIN`` more lines, for the ringing at a bar's edge).
_BAR_RANGE = 12
_BAR_MARGIN = 4

#: Per-frame columns kept by the extractor (NaN where not measured).
_COLUMNS = (
    "luma",  # mean luma of the frame
    "spatial",  # spatial complexity of the frame
    "tdiff",  # pair: mean abs difference
    "dluma",  # pair: change of mean luma
    "mag",  # pair: mean flow magnitude (% width)
    "p95",  # pair: 95th percentile flow magnitude
    "cover",  # pair: moving fraction
    "glob",  # pair: mean magnitude of the affine fit
    "loc",  # pair: mean residual magnitude
    "loc_cover",  # pair: fraction with residual above MOVING_PCT
    "flat",  # sampled: flat block fraction
    "levels",  # sampled: top-8 level mass
    "sharp",  # sampled: sharp edge fraction
    "face",  # sampled: 1 if a face was found
    "face_area",  # sampled: area fraction of the largest face
)

#: Keys of :meth:`FeatureExtractor.scene_features`, in a stable order.
FEATURE_NAMES = (
    "frames",
    "duration_s",
    "motion_mean",
    "motion_p95",
    "motion_coverage",
    "motion_global",
    "motion_local",
    "motion_local_coverage",
    "temporal_diff",
    "spatial_complexity",
    "luma_mean",
    "luma_slope",
    "luma_range",
    "luma_trend_r2",
    "fade_ratio",
    "flat_blocks",
    "level_concentration",
    "sharp_edges",
    "face_presence",
    "face_area",
)

#: The loaded face detector; False once loading failed (warned once, face features 0).
_face_cascade: Any = None


def _cascade() -> Any:
    global _face_cascade
    if _face_cascade is None:
        _face_cascade = _load_cascade() or False
    return _face_cascade or None


def _load_cascade() -> Any:
    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved it out of the main package
        log.warning("OpenCV %s has no face detector (neurocodec supports OpenCV < 4.12); face features will be 0",
                    cv2.__version__)
        return None
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        log.warning("could not load the face cascade %s; face features will be 0", path)
        return None
    return cascade


class FeatureExtractor:
    """Accumulate per-frame statistics and summarise frame ranges (see the module docstring).

    Args:
        fps: Frame rate of the video (for ``duration_s``).
        analysis_width: Width in pixels every luma plane is resized to for motion,
            temporal and spatial measurements.
    """

    def __init__(self, fps: Fraction, *, analysis_width: int = 320):
        fps = Fraction(fps)
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not 32 <= int(analysis_width) <= 4096:
            raise ValueError(f"analysis_width must be in 32..4096, got {analysis_width}")
        self.fps = fps
        self.analysis_width = int(analysis_width)
        self._cols: dict[str, array] = {name: array("d") for name in _COLUMNS}
        self._prev: np.ndarray | None = None
        self._prev_grad: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._grid: np.ndarray | None = None

    def __len__(self) -> int:
        """Number of frames pushed so far."""
        return len(self._cols["luma"])

    # ------------------------------------------------------------------ push

    def push(self, frame: Frame) -> None:
        """Measure one frame (frames must come in display order, all the same size)."""
        y = frame.y
        h, w = y.shape
        if self._size is None:
            self._size = (w, h)
        elif self._size != (w, h):
            raise ValueError(f"frame size changed from {self._size[0]}x{self._size[1]} to {w}x{h}")
        index = len(self)
        small = self._downscale(y)
        row = dict.fromkeys(_COLUMNS, math.nan)
        row["luma"] = float(small.mean())
        grad = _gradient(small)
        row["spatial"] = float(grad.mean())
        if self._prev is not None:
            row["tdiff"] = float(cv2.absdiff(small, self._prev).mean())
            row["dluma"] = row["luma"] - self._cols["luma"][-1]
            row.update(self._flow(self._prev, small, self._prev_grad))
        if index % SCREEN_EVERY == 0:
            row.update(_screen_stats(y))
        if index % FACE_EVERY == 0:
            row.update(_faces(small))
        for name, value in row.items():
            self._cols[name].append(value)
        self._prev = small
        self._prev_grad = grad

    def _downscale(self, y: np.ndarray) -> np.ndarray:
        h, w = y.shape
        scale = self.analysis_width / w
        if h * scale > _MAX_ASPECT * self.analysis_width:  # very tall frames: cap the height
            scale = _MAX_ASPECT * self.analysis_width / h
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if size == (w, h):
            return np.ascontiguousarray(y)
        return cv2.resize(y, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)

    def _flow(self, prev: np.ndarray, cur: np.ndarray, grad: np.ndarray) -> dict[str, float]:
        h, w = prev.shape
        if min(h, w) < _MIN_FLOW_SIDE:
            return dict.fromkeys(("mag", "p95", "cover", "glob", "loc", "loc_cover"), 0.0)
        flow = self._dis.calc(prev, cur, None)
        gh, gw = h // _GRID, w // _GRID
        scale = 100.0 / w  # analysis pixels -> percent of width
        c = _GRID // 2
        vec = flow[c : gh * _GRID : _GRID, c : gw * _GRID : _GRID].reshape(-1, 2).astype(np.float64) * scale
        # Mean neighbour difference of each grid cell of the previous frame: where it is below
        # _TEXTURE, the flow is a guess (nothing to track) and the motion costs no bits anyway.
        cells = cv2.resize(grad[: gh * _GRID, : gw * _GRID], (gw, gh), interpolation=cv2.INTER_AREA)
        textured = cells.ravel() >= _TEXTURE
        if self._grid is None or len(self._grid) != len(vec):
            gy, gx = np.mgrid[0:gh, 0:gw]
            # Cell centres relative to the picture centre, in units of half the width.
            xs = (gx.ravel() * _GRID + c - w / 2) / (w / 2)
            ys = (gy.ravel() * _GRID + c - h / 2) / (w / 2)
            self._grid = np.stack([xs, ys, np.ones_like(xs)], axis=1)
        if textured.sum() < _MIN_TEXTURED * len(vec):
            return dict.fromkeys(("mag", "p95", "cover", "glob", "loc", "loc_cover"), 0.0)
        grid, vec = self._grid[textured], vec[textured]
        share = float(textured.mean())  # fraction of the picture where motion is measurable
        mag = np.hypot(vec[:, 0], vec[:, 1])
        k95 = int(0.95 * (len(mag) - 1))
        fitted = _robust_affine(grid, vec)
        resid = np.hypot(vec[:, 0] - fitted[:, 0], vec[:, 1] - fitted[:, 1])
        return {
            "mag": float(mag.mean()),
            "p95": float(np.partition(mag, k95)[k95]),
            "cover": float((mag > MOVING_PCT).mean()) * share,
            "glob": float(np.hypot(fitted[:, 0], fitted[:, 1]).mean()),
            "loc": float(resid.mean()),
            "loc_cover": float((resid > MOVING_PCT).mean()) * share,
        }

    # ------------------------------------------------------------ summarise

    def scene_features(self, start: int, end: int) -> dict[str, float]:
        """Features of frames ``start .. end-1`` (see the module docstring for their meaning)."""
        n = len(self)
        if not 0 <= start < end <= n:
            raise ValueError(f"scene {start}..{end} is not a non-empty range inside the {n} frames pushed")

        def col(name: str, first: int = start) -> np.ndarray:
            return np.asarray(self._cols[name][first:end], dtype=np.float64)

        def mean(values: np.ndarray) -> float:
            values = values[~np.isnan(values)]
            return float(values.mean()) if values.size else 0.0

        luma = col("luma")
        pair = start + 1  # pairs that stay inside the scene
        tdiff, dluma = col("tdiff", pair), col("dluma", pair)
        frames = end - start
        feats = {
            "frames": float(frames),
            "duration_s": frames / float(self.fps),
            "motion_mean": mean(col("mag", pair)),
            "motion_p95": mean(col("p95", pair)),
            "motion_coverage": mean(col("cover", pair)),
            "motion_global": mean(col("glob", pair)),
            "motion_local": mean(col("loc", pair)),
            "motion_local_coverage": mean(col("loc_cover", pair)),
            "temporal_diff": mean(tdiff),
            "spatial_complexity": mean(col("spatial")),
            "luma_mean": float(luma.mean()),
        }
        feats.update(_luma_trend(luma))
        total = float(np.nansum(tdiff)) if tdiff.size else 0.0
        feats["fade_ratio"] = min(1.0, float(np.nansum(np.abs(dluma))) / total) if total > 1e-9 else 0.0
        feats["flat_blocks"] = mean(col("flat"))
        feats["level_concentration"] = mean(col("levels"))
        feats["sharp_edges"] = mean(col("sharp"))
        feats["face_presence"] = mean(col("face"))
        feats["face_area"] = mean(col("face_area"))
        return {k: feats[k] for k in FEATURE_NAMES}


# ------------------------------------------------------------------ helpers


def _gradient(small: np.ndarray) -> np.ndarray:
    """Per pixel, the mean of the absolute differences to the right and lower neighbours (float32)."""
    g = np.zeros(small.shape, np.float32)
    if small.shape[1] > 1:
        g[:, :-1] += cv2.absdiff(small[:, 1:], small[:, :-1])
    if small.shape[0] > 1:
        g[:-1] += cv2.absdiff(small[1:], small[:-1])
    return g * 0.5


def _robust_affine(coords: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Affine flow model fitted to ``vec`` (N x 2) at ``coords`` (N x 3), refitted on inliers."""
    keep = np.ones(len(vec), dtype=bool)
    fitted = np.zeros_like(vec)
    for _ in range(2):
        a, b = coords[keep], vec[keep]
        if len(a) < 6:
            break
        # 3x3 normal equations (cheap); the tiny ridge keeps them solvable when the textured cells
        # lie on one line (the fit is only evaluated on those cells, where it is still right).
        ata = a.T @ a
        ata[np.diag_indices(3)] += 1e-9 * len(a)
        params = np.linalg.solve(ata, a.T @ b)
        fitted = coords @ params
        resid = np.hypot(vec[:, 0] - fitted[:, 0], vec[:, 1] - fitted[:, 1])
        # Inliers: within the larger of the moving threshold and 2.5x the median residual.
        keep = resid <= max(MOVING_PCT, 2.5 * float(np.median(resid)))
    return fitted


def _luma_trend(luma: np.ndarray) -> dict[str, float]:
    n = luma.size
    rng = float(luma.max() - luma.min())
    if n < 2 or rng <= 1e-9:
        return {"luma_slope": 0.0, "luma_range": rng, "luma_trend_r2": 0.0}
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    dev = luma - luma.mean()
    slope = float((t * dev).sum() / (t * t).sum())
    ss = float((dev * dev).sum())
    resid = dev - slope * t
    r2 = max(0.0, 1.0 - float((resid * resid).sum()) / ss) if ss > 0 else 0.0
    return {"luma_slope": slope, "luma_range": rng, "luma_trend_r2": r2}


def _active_area(y: np.ndarray) -> np.ndarray:
    """``y`` without uniform bars at its borders (letterbox / pillarbox).

    Where a bar is found, :data:`_BAR_MARGIN` more lines are dropped, so the bar's edge (often
    with a little ringing) counts neither as a flat block nor as a sharp edge.
    """
    h, w = y.shape
    rows = np.flatnonzero(y.max(axis=1).astype(np.int16) - y.min(axis=1) > _BAR_RANGE)
    cols = np.flatnonzero(y.max(axis=0).astype(np.int16) - y.min(axis=0) > _BAR_RANGE)
    if rows.size == 0 or cols.size == 0:
        return y
    top = rows[0] + _BAR_MARGIN if rows[0] > 0 else 0
    bottom = rows[-1] + 1 - _BAR_MARGIN if rows[-1] < h - 1 else h
    left = cols[0] + _BAR_MARGIN if cols[0] > 0 else 0
    right = cols[-1] + 1 - _BAR_MARGIN if cols[-1] < w - 1 else w
    if bottom - top < _BLOCK or right - left < _BLOCK:
        return y
    return y[top:bottom, left:right]


def _screen_stats(y: np.ndarray) -> dict[str, float]:
    area = _active_area(y)
    h, w = area.shape
    flat = 0.0
    if h >= _BLOCK and w >= _BLOCK:
        kernel = np.ones((_BLOCK, _BLOCK), np.uint8)
        # With the anchor at the top-left corner, pixel (r, c) of the dilation is the max of the
        # block starting there; sampling every 8th gives the block maxima (minima with erode).
        hi = cv2.dilate(area, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        lo = cv2.erode(area, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        hb, wb = h // _BLOCK * _BLOCK, w // _BLOCK * _BLOCK
        flat = float((hi[:hb:_BLOCK, :wb:_BLOCK] == lo[:hb:_BLOCK, :wb:_BLOCK]).mean())
    hist = cv2.calcHist([area], [0], None, [256], [0, 256]).ravel()
    levels = float(np.sort(hist)[-8:].sum()) / area.size
    edges = sharp = 0
    for a, b in ((area[:, 1:], area[:, :-1]), (area[1:], area[:-1])):
        if a.size:
            d = cv2.absdiff(a, b)
            edges += int(np.count_nonzero(d >= _EDGE))
            sharp += int(np.count_nonzero(d >= _SHARP))
    return {"flat": flat, "levels": levels, "sharp": sharp / edges if edges else 0.0}


def _faces(small: np.ndarray) -> dict[str, float]:
    cascade = _cascade()
    h, w = small.shape
    side = max(12, round(0.08 * min(w, h)))
    if cascade is None or min(h, w) < side:
        return {"face": 0.0, "face_area": 0.0}
    found = cascade.detectMultiScale(small, scaleFactor=1.2, minNeighbors=4, minSize=(side, side))
    if len(found) == 0:
        return {"face": 0.0, "face_area": 0.0}
    largest = max(int(fw) * int(fh) for _, _, fw, fh in found)
    return {"face": 1.0, "face_area": largest / float(w * h)}

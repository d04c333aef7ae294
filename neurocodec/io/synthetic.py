"""Test clips the project makes itself: pans and zooms over photographs scikit-image ships,
and moving synthetic patterns (noise, bars, a block on a flat field, gradients).

Used by ``neurocodec demo``, the examples and the test suite, so nothing has
to be downloaded or copied into the repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np
from PIL import Image
from skimage import data

from .avframes import from_av
from .frame import ColorInfo, Frame, VideoInfo

__all__ = ["IMAGES", "PATTERNS", "load_image", "pan_zoom", "pan_zoom_info", "pattern", "concat_shots", "hard_cut_clips"]

#: Photographs bundled with scikit-image (no download needed).
IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "camera")

#: Kinds of :func:`pattern` clips.
PATTERNS = ("noise", "bars", "block", "gradient")


def load_image(name: str) -> np.ndarray:
    """An RGB uint8 photograph from ``skimage.data``."""
    if name not in IMAGES:
        raise ValueError(f"unknown image {name!r}; use one of {', '.join(IMAGES)}")
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def pan_zoom(
    width: int,
    height: int,
    frames: int,
    *,
    image: str = "astronaut",
    pan: tuple[float, float] = (2.0, 1.0),
    zoom: float = 0.0,
    start_scale: float | None = None,
) -> Iterator[Frame]:
    """Yield frames of a virtual camera moving over a photograph.

    Args:
        width, height: Output frame size (any size, odd included).
        frames: Number of frames.
        image: A name from :data:`IMAGES`.
        pan: Camera motion in source pixels per frame (x, y); sub-pixel values are fine.
        zoom: Relative change of the view size per frame (e.g. -0.005 zooms in).
        start_scale: Source pixels per output pixel at frame 0 (default: the view
            covers 85 % of the photograph's limiting side, upsampling if needed).
    """
    src = Image.fromarray(load_image(image))
    sw, sh = src.size
    if start_scale is None:
        start_scale = 0.85 * min(sw / width, sh / height)
    for i in range(frames):
        scale = start_scale * (1.0 + zoom) ** i
        vw, vh = width * scale, height * scale
        if vw > sw or vh > sh:
            raise ValueError(f"a {width}x{height} view at scale {scale:.2f} does not fit the {sw}x{sh} {image} image")
        # Bounce inside the image so long clips stay valid.
        x = _bounce(sw * 0.5 - vw / 2 + pan[0] * i, sw - vw)
        y = _bounce(sh * 0.5 - vh / 2 + pan[1] * i, sh - vh)
        view = src.resize((width, height), Image.BICUBIC, box=(x, y, x + vw, y + vh))
        yield from_av(av.VideoFrame.from_ndarray(np.asarray(view), format="rgb24"))


def _bounce(pos: float, limit: float) -> float:
    if limit <= 0:
        return 0.0
    period = 2 * limit
    pos = pos % period
    return pos if pos <= limit else period - pos


def pan_zoom_info(width: int, height: int, frames: int, fps: Fraction | int = 25) -> VideoInfo:
    """The :class:`VideoInfo` of a :func:`pan_zoom` clip (BT.601 limited range, as swscale converts)."""
    return VideoInfo(width, height, Fraction(fps), frames, ColorInfo(matrix=6, full_range=False))


def pattern(
    width: int,
    height: int,
    frames: int,
    *,
    kind: str = "noise",
    motion: tuple[float, float] = (3.0, 1.0),
    seed: int = 0,
) -> Iterator[Frame]:
    """Yield frames of a moving synthetic pattern (deterministic for a given ``seed``).

    Args:
        width, height: Output frame size (any size, odd included).
        frames: Number of frames.
        kind: One of :data:`PATTERNS`: ``noise`` (a pan over pixel-sized random noise),
            ``bars`` (stripes moving across the frame), ``block`` (a flat field with a
            rectangle moving over it, bouncing off the edges) or ``gradient`` (a smooth
            luma ramp sliding along its direction).
        motion: Pixels per frame (x, y); sub-pixel values are rounded for ``block``.
        seed: Picks the texture, the levels, the stripe period and angle, and the colours.
    """
    if kind not in PATTERNS:
        raise ValueError(f"unknown pattern {kind!r}; use one of {', '.join(PATTERNS)}")
    rng = np.random.default_rng(seed)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    u_level, v_level = (int(c) for c in rng.integers(96, 161, 2))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "noise":
        mean, spread = float(rng.uniform(70, 180)), float(rng.uniform(25, 50))
        pad = 64
        tex = np.clip(rng.normal(mean, spread, (height + 2 * pad + 1, width + 2 * pad + 1)), 16, 235)
    elif kind == "bars":
        period = float(rng.uniform(12, 40))
        angle = float(rng.uniform(-0.6, 0.6))
        lo = float(rng.uniform(30, 150))
        hi = lo + float(rng.uniform(60, 100))
        along = xx * np.cos(angle) + yy * np.sin(angle)
    elif kind == "block":
        field, ink = float(rng.uniform(40, 200)), float(rng.uniform(40, 200))
        ink = ink if abs(ink - field) >= 50 else (field + 90 if field < 128 else field - 90)
        bw, bh = max(1, width // 4), max(1, height // 3)
    else:  # gradient
        angle = float(rng.uniform(0, 2 * np.pi))
        span = float(rng.uniform(0.7, 1.5)) * max(width, height)
        lo, hi = float(rng.uniform(20, 90)), float(rng.uniform(160, 230))
        along = xx * np.cos(angle) + yy * np.sin(angle)
    u = np.full((ch, cw), u_level, np.uint8)
    v = np.full((ch, cw), v_level, np.uint8)
    for i in range(frames):
        dx, dy = motion[0] * i, motion[1] * i
        if kind == "noise":
            # Bilinear interpolation between texture pixels (what a sensor integrating over its
            # pixel area sees of pixel-sized grains): a sub-pixel pan.
            px, py = _bounce(pad + dx, 2 * pad), _bounce(pad + dy, 2 * pad)
            x0, y0 = min(int(px), 2 * pad - 1), min(int(py), 2 * pad - 1)
            fx, fy = px - x0, py - y0
            win = tex[y0 : y0 + height + 1, x0 : x0 + width + 1]
            top = (1 - fx) * win[:-1, :-1] + fx * win[:-1, 1:]
            bottom = (1 - fx) * win[1:, :-1] + fx * win[1:, 1:]
            y = (1 - fy) * top + fy * bottom
        elif kind == "bars":
            phase = (along - (dx * np.cos(angle) + dy * np.sin(angle))) / period
            y = np.where(phase % 1.0 < 0.5, lo, hi)
        elif kind == "block":
            x0 = int(round(_bounce(dx, width - bw)))
            y0 = int(round(_bounce(dy, height - bh)))
            y = np.full((height, width), field, np.float32)
            y[y0 : y0 + bh, x0 : x0 + bw] = ink
        else:
            # A triangle wave of the position: a smooth ramp up and down that slides without jumps.
            t = (along - (dx * np.cos(angle) + dy * np.sin(angle))) / span
            y = lo + (hi - lo) * np.abs((t % 2.0) - 1.0)
        yield Frame(np.ascontiguousarray(np.clip(np.rint(y), 0, 255).astype(np.uint8)), u, v)


def concat_shots(shots: Iterable[Iterable[Frame]]) -> tuple[list[Frame], list[int]]:
    """Join shots with hard cuts; returns the frames and the cuts (first frame of each new shot)."""
    frames: list[Frame] = []
    cuts: list[int] = []
    for shot in shots:
        if frames:
            cuts.append(len(frames))
        frames.extend(shot)
    return frames, cuts


def hard_cut_clips(
    sizes: Iterable[tuple[int, int, int, int]] = ((160, 96, 6, 8), (256, 144, 2, 3), (640, 360, 2, 3)),
    *,
    seed: int = 0,
) -> Iterator[tuple[str, list[Frame], list[int]]]:
    """Clips of unrelated shots joined by hard cuts, with the cuts: a test set for shot detection.

    Each shot is a pan or zoom over one of :data:`IMAGES` or a moving :func:`pattern`, at a
    random speed (slow to fast), and no shot is of the same source as the one before it.

    Args:
        sizes: ``(width, height, clips, shots per clip)`` groups.
        seed: Picks the sources, their order, the shot lengths (12 to 30 frames) and the motion.

    Yields:
        ``(name, frames, cuts)`` with the cuts as first frames of the new shots.
    """
    rng = np.random.default_rng(seed)
    sources = [*(f"pan:{name}" for name in IMAGES), *PATTERNS]
    for width, height, clips, shots in sizes:
        for c in range(clips):
            parts, names, prev = [], [], None
            for _ in range(shots):
                src = str(rng.choice([s for s in sources if s != prev]))
                n = int(rng.integers(12, 31))
                # Output pixels per frame: 0.2 % to 4 % of the width (up to 6.4 px at 160 wide).
                speed = float(rng.choice([0.002, 0.008, 0.02, 0.04])) * width
                angle = float(rng.uniform(0, 2 * np.pi))
                motion = (speed * np.cos(angle), speed * np.sin(angle))
                if src.startswith("pan:"):
                    h, w = load_image(src[4:]).shape[:2]
                    scale = 0.85 * min(w / width, h / height)  # pan_zoom's default framing
                    zoom = float(rng.choice([0.0, 0.0, -0.008, 0.004]))  # at most 13 % out: the view stays inside
                    pan = (motion[0] * scale, motion[1] * scale)
                    parts.append(pan_zoom(width, height, n, image=src[4:], pan=pan, zoom=zoom, start_scale=scale))
                else:
                    parts.append(pattern(width, height, n, kind=src, motion=motion, seed=int(rng.integers(1 << 30))))
                names.append(src)
                prev = src
            frames, cuts = concat_shots(parts)
            yield f"{width}x{height} #{c}: {' | '.join(names)}", frames, cuts

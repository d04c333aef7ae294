"""Test clips the project makes itself: pans and zooms over photographs scikit-image ships.

Used by ``neurocodec demo``, the examples and the test suite, so nothing has
to be downloaded or copied into the repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from .frame import ColorInfo, Frame, VideoInfo

__all__ = ["IMAGES", "load_image", "pan_zoom", "pan_zoom_info"]

#: Photographs bundled with scikit-image (no download needed).
IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def load_image(name: str) -> np.ndarray:
    """An RGB uint8 photograph from ``skimage.data``."""
    from skimage import data

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
    import av
    from PIL import Image

    from .avframes import from_av

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

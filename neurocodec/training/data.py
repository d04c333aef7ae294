"""Training data: random crops of YUV 4:2:0 pictures from folders of images and from videos.

Images are converted RGB -> YUV with the BT.601 limited-range matrix (what
FFmpeg's swscale applies by default) and 2x2 chroma averaging, in numpy, so
the same code runs where PyAV is missing (e.g. a GPU training host).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import open_source

__all__ = ["rgb_to_yuv420", "CropSampler", "IMAGE_SUFFIXES"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".flv", ".y4m", ".264", ".265")


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range RGB -> Y, Cb, Cr (uint8), chroma averaged over 2x2 (even sizes are cropped to)."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    x = rgb[:h, :w].astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    pool = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    out = (y, pool(cb), pool(cr))
    return tuple(np.clip(np.round(c), 0, 255).astype(np.uint8) for c in out)  # type: ignore[return-value]


def _load_image(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    try:
        with Image.open(path) as im:
            return rgb_to_yuv420(np.asarray(im.convert("RGB")))
    except OSError as exc:
        log.warning("skipping %s: %s", path, exc)
        return None


def _load_video(path: Path, every: int, limit: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    with open_source(path) as src:
        for i, f in enumerate(src.frames()):
            if i % every == 0:
                h, w = f.height // 2 * 2, f.width // 2 * 2
                out.append((f.y[:h, :w], f.u[: h // 2, : w // 2], f.v[: h // 2, : w // 2]))
            if len(out) >= limit:
                break
    return out


class CropSampler:
    """Holds decoded pictures in memory and draws random crops.

    Args:
        sources: Image files, folders (searched recursively) and video files.
        crop: Crop size in luma pixels (a multiple of 64); smaller pictures are skipped.
        video_every, video_limit: Take every ``video_every``-th frame, at most ``video_limit`` per video.
    """

    def __init__(self, sources: list[str | os.PathLike], *, crop: int = 256, video_every: int = 10, video_limit: int = 30):
        if crop % 64:
            raise ValueError(f"crop must be a multiple of 64, got {crop}")
        self.crop = crop
        self.pictures: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for src in sources:
            p = Path(src)
            files = sorted(p.rglob("*")) if p.is_dir() else [p]
            for f in files:
                suffix = f.suffix.lower()
                if suffix in IMAGE_SUFFIXES:
                    pic = _load_image(f)
                    if pic is not None:
                        self.pictures.append(pic)
                elif suffix in _VIDEO_SUFFIXES:
                    self.pictures += _load_video(f, video_every, video_limit)
        self.pictures = [p for p in self.pictures if min(p[0].shape) >= crop]
        if not self.pictures:
            raise ValueError(f"no picture of at least {crop}x{crop} found in {', '.join(map(str, sources))}")
        log.info("training data: %d pictures", len(self.pictures))

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``batch`` random crops (even offsets keep chroma aligned), randomly flipped: uint8 (B,H,W) and (B,H/2,W/2)."""
        c, hc = self.crop, self.crop // 2
        ys, us, vs = [], [], []
        for _ in range(batch):
            y, u, v = self.pictures[rng.integers(len(self.pictures))]
            oy = int(rng.integers((y.shape[0] - c) // 2 + 1)) * 2
            ox = int(rng.integers((y.shape[1] - c) // 2 + 1)) * 2
            py, pu, pv = y[oy : oy + c, ox : ox + c], u[oy // 2 : oy // 2 + hc, ox // 2 : ox // 2 + hc], v[oy // 2 : oy // 2 + hc, ox // 2 : ox // 2 + hc]
            if rng.random() < 0.5:
                py, pu, pv = py[:, ::-1], pu[:, ::-1], pv[:, ::-1]
            ys.append(py)
            us.append(pu)
            vs.append(pv)
        return np.stack(ys), np.stack(us), np.stack(vs)

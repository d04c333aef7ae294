"""Training pairs for the enhancement network: (classical decode, original) crops of short sequences.

Each pair sequence is ``frames`` consecutive frames cropped from a video (or
a slow synthetic pan over a photograph), downscaled by a scale drawn from
``scales``, coded by a classical strategy drawn from ``codecs`` at a CRF
drawn from that codec's low-rate range, decoded, and upscaled back: exactly
what the ``hybrid`` decoder hands its network. Inter-coded frames are part
of every sequence, so the network sees P/B-frame artifacts too.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io import Frame, open_source
from ..io.resize import resize_frame, scaled_size
from ..strategies import DecodeContext, StrategySettings, get_strategy
from .data import _VIDEO_SUFFIXES, IMAGE_SUFFIXES, _load_image

__all__ = ["PairConfig", "make_pairs", "load_pairs", "pair_sequences", "pair_scales", "PAIR_CODECS"]

log = logging.getLogger(__name__)

#: Codec -> (preset, lowest CRF, highest CRF) drawn from (the low-rate end the hybrid strategy targets).
PAIR_CODECS = {"x265": ("medium", 27, 45), "av1": ("8", 38, 63)}


@dataclass
class PairConfig:
    """What to generate."""

    sources: list[str]
    out: str
    sequences: int = 160
    frames: int = 6
    crop: int = 256
    scales: tuple[float, ...] = (1.0, 0.75, 0.5)
    codecs: dict[str, tuple[str, int, int]] = field(default_factory=lambda: dict(PAIR_CODECS))
    video_share: float = 0.6  # share of sequences from videos (the rest: pans over photographs)
    seed: int = 0


def _sources(paths: list[str]) -> list[Path]:
    """Video files, frame folders (8 or more images directly inside) and single images, found recursively."""
    out: list[Path] = []
    for src in map(Path, paths):
        if not src.is_dir():
            out.append(src)
            continue
        images = [f for f in src.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        if len(images) >= 8 and src.name.endswith(("_png", "_jpg")):
            out.append(src)  # a frame folder: one video
            continue
        out += sorted(images)
        out += sorted(f for f in src.iterdir() if f.is_file() and f.suffix.lower() in _VIDEO_SUFFIXES)
        out += _sources(sorted(str(d) for d in src.iterdir() if d.is_dir()))
    return out


def _sequence(path: Path, frames: int, crop: int, rng: np.random.Generator):
    """``frames`` crops (Frame) of one source, or None when it is too small."""
    h = crop // 2
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        pic = _load_image(path)
        m = 2 * frames  # room for a slow pan of up to 2 pixels per frame
        if pic is None or min(pic[0].shape) < crop + 2 * m + 2:
            return None
        y, u, v = pic
        dy, dx = (2 * int(rng.integers(-1, 2)) for _ in range(2))
        oy = m + 2 * int(rng.integers((y.shape[0] - crop - 2 * m) // 2 + 1))
        ox = m + 2 * int(rng.integers((y.shape[1] - crop - 2 * m) // 2 + 1))
        offsets = [(oy + i * dy, ox + i * dx) for i in range(frames)]
        pics = [(y, u, v)] * frames
    else:
        with open_source(path) as src:
            if min(src.info.width, src.info.height) < crop:
                return None
            got = []
            for f in src.frames():  # the first 48 + frames frames, then a random run of them
                got.append(f)
                if len(got) == 48 + frames:
                    break
        if len(got) < frames:
            return None
        start = int(rng.integers(0, len(got) - frames + 1))
        got = got[start : start + frames]
        oy = 2 * int(rng.integers((got[0].height - crop) // 2 + 1))
        ox = 2 * int(rng.integers((got[0].width - crop) // 2 + 1))
        offsets = [(oy, ox)] * frames
        pics = [(f.y, f.u, f.v) for f in got]
    return [Frame(y[a : a + crop, b : b + crop].copy(), u[a // 2 : a // 2 + h, b // 2 : b // 2 + h].copy(),
                  v[a // 2 : a // 2 + h, b // 2 : b // 2 + h].copy()) for (y, u, v), (a, b) in zip(pics, offsets)]


def degrade(seq, codec: str, preset: str, crf: int, scale: float):
    """Code ``seq`` at ``scale`` with a classical strategy, decode, upscale back (what the hybrid decoder sees)."""
    w, h = seq[0].width, seq[0].height
    bw, bh = scaled_size(w, h, scale)
    small = [resize_frame(f, bw, bh) for f in seq]
    s = get_strategy(codec)
    payload = s.encode(small, StrategySettings(crf=crf, preset=preset), 25)
    dec = list(s.decode(payload, DecodeContext(bw, bh, len(small), {})))
    return [resize_frame(f, w, h) for f in dec], len(payload)


def make_pairs(cfg: PairConfig) -> Path:
    """Generate ``cfg.sequences`` sequences into ``cfg.out`` (``pairs.npz`` + ``pairs.json``) and return the npz path."""
    rng = np.random.default_rng(cfg.seed)
    sources = _sources(cfg.sources)
    if not sources:
        raise ValueError(f"no videos or images in {', '.join(cfg.sources)}")
    photos = [p for p in sources if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p in sources if p not in photos]
    groups = [g for g in (videos, photos) if g]
    share = cfg.video_share if len(groups) == 2 else 1.0
    planes = {k: [] for k in ("deg_y", "deg_u", "deg_v", "ref_y", "ref_u", "ref_v")}
    meta = []
    tries = 0
    while len(meta) < cfg.sequences and tries < 20 * cfg.sequences:
        tries += 1
        group = groups[0] if rng.random() < share else groups[-1]
        path = group[int(rng.integers(len(group)))]
        seq = _sequence(path, cfg.frames, cfg.crop, rng)
        if seq is None:
            continue
        codec = sorted(cfg.codecs)[int(rng.integers(len(cfg.codecs)))]
        preset, lo, hi = cfg.codecs[codec]
        crf = int(rng.integers(lo, hi + 1))
        scale = float(cfg.scales[int(rng.integers(len(cfg.scales)))])
        deg, nbytes = degrade(seq, codec, preset, crf, scale)
        for f, g in zip(seq, deg):
            for k, a, b in (("y", f.y, g.y), ("u", f.u, g.u), ("v", f.v, g.v)):
                planes[f"ref_{k}"].append(a)
                planes[f"deg_{k}"].append(b)
        meta.append({"source": path.name, "codec": codec, "crf": crf, "scale": scale, "bytes": nbytes})
        if len(meta) % 20 == 0:
            log.info("pairs: %d / %d sequences", len(meta), cfg.sequences)
    if not meta:
        raise ValueError(f"no source in {', '.join(cfg.sources)} has {cfg.frames} frames of at least {cfg.crop}x{cfg.crop}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    npz = out / "pairs.npz"
    np.savez(npz, **{k: np.stack(v) for k, v in planes.items()})
    (out / "pairs.json").write_text(json.dumps({"config": asdict(cfg), "sequences": meta}, indent=1) + "\n")
    return npz


def load_pairs(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def pair_sequences(path: str | os.PathLike) -> list[dict]:
    """The sequences ``pairs.json`` (beside ``path``, a pairs.npz) records: source, codec, CRF, scale, bytes."""
    return json.loads(Path(path).with_suffix(".json").read_text())["sequences"]


def pair_scales(sequences: list[dict], pairs: int) -> np.ndarray:
    """The base scale of each of ``pairs`` pairs (the sequences' frames, in order, equally many per sequence)."""
    return np.repeat(np.array([s["scale"] for s in sequences], dtype=np.float32), pairs // len(sequences))

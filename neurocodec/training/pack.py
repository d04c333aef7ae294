"""Training packs: everything a GPU run needs in one file under 64 MiB, and the run that trains from it.

A GPU machine may be lent for minutes, with no access to the training data
and a small upload. :func:`build_pack` (``neurocodec train pack``) draws
fixed crops once, on the machine that has the data: enhancement pairs (a
classical decode and its original, from ``train pairs``, with their base
scale) and pictures for the learned intra codec, all uint8 YUV 4:2:0 in one
compressed ``.npz``. :func:`train_from_pack` (``neurocodec train from-pack``)
then trains, one after the other, the standard and the light enhancement
networks and the intra codec, each from its shipped weights, within one
time budget (default 10 minutes: bfloat16 autocast and large batches for
the enhancement networks on CUDA, TF32 for the intra codec), and writes the
three weights files under their shipped names, so ``--model-dir DIR``
uses them. Nothing here needs a GPU: on a CPU the same command runs,
slower, with smaller batches.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..models.names import SHIPPED
from .data import CropSampler
from .pairs import load_pairs, pair_scales, pair_sequences

__all__ = ["MAX_PACK_BYTES", "PackConfig", "PackSampler", "FromPackConfig", "build_pack", "load_pack", "train_from_pack"]

log = logging.getLogger(__name__)

#: The largest pack :func:`build_pack` writes (the device machine's upload limit).
MAX_PACK_BYTES = 64 << 20
_FORMAT = "neurocodec.pack/1"
_PLANES = ("y", "u", "v")


@dataclass
class PackConfig:
    """What a pack holds.

    Attributes:
        pairs: ``pairs.npz`` from ``train pairs`` (its ``pairs.json`` beside it gives each pair's scale).
        intra_data: Images, image folders or videos for the intra codec (never evaluation sets).
        out: The pack file to write (``.npz``).
        pair_crops, pair_crop: How many enhancement crops, and their luma size.
        intra_crops, intra_crop: How many intra crops, and their luma size (a multiple of 64).
    """

    pairs: str
    intra_data: list[str]
    out: str
    pair_crops: int = 1152
    pair_crop: int = 128
    intra_crops: int = 352
    intra_crop: int = 256
    seed: int = 0


def build_pack(cfg: PackConfig) -> Path:
    """Write the pack and return its path.

    Raises:
        ValueError: The pack would exceed :data:`MAX_PACK_BYTES` (nothing is left behind), or a crop is
            larger than the pairs.
    """
    rng = np.random.default_rng(cfg.seed)
    pairs = load_pairs(cfg.pairs)
    seqs = pair_sequences(cfg.pairs)
    n, h, w = pairs["ref_y"].shape
    c = cfg.pair_crop
    if c % 2 or c > min(h, w):
        raise ValueError(f"pair crop {c} must be even and at most the pairs' {w}x{h}")
    idx = rng.integers(n, size=cfg.pair_crops)
    oy = rng.integers((h - c) // 2 + 1, size=cfg.pair_crops) * 2
    ox = rng.integers((w - c) // 2 + 1, size=cfg.pair_crops) * 2
    arrays: dict[str, np.ndarray] = {}
    for kind in ("deg", "ref"):
        for k in _PLANES:
            d = c if k == "y" else c // 2
            src = pairs[f"{kind}_{k}"]
            arrays[f"pair_{kind}_{k}"] = np.stack([src[i, a : a + d, b : b + d] if k == "y"
                                                   else src[i, a // 2 : a // 2 + d, b // 2 : b // 2 + d]
                                                   for i, a, b in zip(idx, oy, ox)])
    arrays["pair_scale"] = pair_scales(seqs, n)[idx]
    sampler = CropSampler(cfg.intra_data, crop=cfg.intra_crop)
    for k, a in zip(_PLANES, sampler.sample(cfg.intra_crops, rng)):
        arrays[f"intra_{k}"] = a
    meta = {"format": _FORMAT, "config": cfg.__dict__, "pair_sources": sorted({s["source"] for s in seqs}),
            "intra_pictures": len(sampler.pictures)}
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(cfg.out, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        size = os.path.getsize(tmp)
        if size > MAX_PACK_BYTES:
            raise ValueError(f"{cfg.out}: the pack would be {size / 2**20:.1f} MiB, over {MAX_PACK_BYTES >> 20} MiB; "
                             "take fewer crops")
    log.info("pack %s: %d pairs, %d intra crops, %.1f MiB", cfg.out, cfg.pair_crops, cfg.intra_crops, size / 2**20)
    return Path(cfg.out)


def load_pack(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A pack's arrays (no pickles are read).

    Raises:
        ValueError: Not a neurocodec training pack.
    """
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    try:
        meta = json.loads(str(out.pop("meta")))
    except (KeyError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a neurocodec training pack")
    return out


class PackSampler:
    """A pack's intra crops as :class:`~neurocodec.training.data.CropSampler` serves them (random picks and flips)."""

    def __init__(self, pack: dict[str, np.ndarray]):
        self.y, self.u, self.v = pack["intra_y"], pack["intra_u"], pack["intra_v"]
        self.crop = self.y.shape[1]

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = rng.integers(len(self.y), size=batch)
        flip = rng.random(batch) < 0.5
        out = []
        for a in (self.y, self.u, self.v):
            picked = a[idx]
            picked[flip] = picked[flip, :, ::-1]
            out.append(picked)
        return out[0], out[1], out[2]


@dataclass
class FromPackConfig:
    """A run over a pack: where, on what, for how long.

    Attributes:
        minutes: The whole run's budget, shared by the three models (``shares``, by shipped name).
        steps: At most this many steps per model (None: the time decides).
        device: ``auto`` (CUDA when PyTorch sees a GPU), ``cpu`` or ``cuda[:N]``.
    """

    pack: str
    out: str
    device: str = "auto"
    minutes: float = 10.0
    steps: int | None = None
    shares: dict[str, float] = field(default_factory=lambda: {"enhance_yuv420": 0.35, "enhance_light_yuv420": 0.2,
                                                              "intra_yuv420": 0.45})


def train_from_pack(cfg: FromPackConfig) -> dict[str, tuple[Path, str]]:
    """Train the three models from their shipped weights; returns, per shipped name, (weights path, sha256)."""
    from ..models.coder import resolve_device  # why: imports torch; building a pack does not need it
    from ..models.enhance import SCALES  # why: imports torch
    from .enhance import EnhanceTrainConfig, export_enhance, train_enhance  # why: imports torch
    from .intra import TrainConfig, export_weights, train  # why: imports torch and compressai

    device = resolve_device(cfg.device)
    gpu = device.startswith("cuda")
    pack = load_pack(cfg.pack)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = {f"{kind}_{k}": pack[f"pair_{kind}_{k}"] for kind in ("deg", "ref") for k in _PLANES}
    data["scale_index"] = np.array([SCALES.index(float(s)) for s in pack["pair_scale"]], dtype=np.int64)
    steps = cfg.steps or 10**9
    done: dict[str, tuple[Path, str]] = {}
    for name, channels, layers in (("enhance_yuv420", 32, 8), ("enhance_light_yuv420", 16, 6)):
        ecfg = EnhanceTrainConfig(pairs=cfg.pack, out=str(out / name), steps=steps, batch=64 if gpu else 8,
                                  crop=min(128, data["ref_y"].shape[1]), lr=2e-4, device=device,
                                  time_limit_s=60 * cfg.minutes * cfg.shares[name], channels=channels, layers=layers,
                                  init=name, amp=gpu, ckpt_every=max(500, steps))
        ckpt = train_enhance(ecfg, data=data)
        done[name] = export_enhance(ckpt, out / SHIPPED["enhance"][name], device=device)
        log.info("%s: %s", name, done[name][1])
    crop = pack["intra_y"].shape[1]
    icfg = TrainConfig(data=[cfg.pack], out=str(out / "intra_yuv420"), steps=steps, batch=32 if gpu else 4, crop=crop,
                       lr=5e-5, device=device, time_limit_s=60 * cfg.minutes * cfg.shares["intra_yuv420"], init="intra_yuv420",
                       ckpt_every=max(2000, steps))
    ckpt = train(icfg, sampler=PackSampler(pack))
    done["intra_yuv420"] = export_weights(ckpt, out / SHIPPED["intra"]["intra_yuv420"], device=device)
    return done

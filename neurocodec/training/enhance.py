"""Training the enhancement network (:class:`~neurocodec.models.enhance.EnhanceNet`) on pairs from :mod:`.pairs`.

Loss: YUV 6:1:1 weighted MSE between the network's output and the original
(the same weighting as PSNR-YUV; :func:`neurocodec.models.adapt.yuv_mse`,
which the hybrid encoder's content adaptation uses too). Checkpoints (model,
optimiser, step and log), limits, resume and export are :mod:`.loop`'s.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.adapt import yuv_mse
from ..models.enhance import EnhanceNet, planes_to_input
from ..models.registry import load_enhance
from .loop import TrainingJob, TrainingLoop, export
from .pairs import load_pairs, pair_scales, pair_sequences

__all__ = ["EnhanceTrainConfig", "train_enhance", "export_enhance"]

log = logging.getLogger(__name__)


@dataclass
class EnhanceTrainConfig:
    """Settings of one training run (saved in every checkpoint)."""

    pairs: str
    out: str
    steps: int = 20_000
    batch: int = 16
    crop: int = 128
    lr: float = 5e-4
    device: str = "cpu"
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 500
    time_limit_s: float | None = None
    channels: int = 32
    layers: int = 8
    init: str | None = None  # start from these weights (shipped name or file) instead of random ones
    amp: bool = False  # bfloat16 autocast for the forward pass (GPU runs)


def _batch(data: dict[str, np.ndarray], batch: int, crop: int, rng: np.random.Generator, device):
    """Random aligned crops: (degraded, original, scale index) tensors."""
    n, h, w = data["ref_y"].shape
    idx = rng.integers(n, size=batch)
    oy = rng.integers((h - crop) // 2 + 1, size=batch) * 2
    ox = rng.integers((w - crop) // 2 + 1, size=batch) * 2
    c2 = crop // 2
    out = []
    for kind in ("deg", "ref"):
        y = np.stack([data[f"{kind}_y"][i, a : a + crop, b : b + crop] for i, a, b in zip(idx, oy, ox)])
        u = np.stack([data[f"{kind}_u"][i, a // 2 : a // 2 + c2, b // 2 : b // 2 + c2] for i, a, b in zip(idx, oy, ox)])
        v = np.stack([data[f"{kind}_v"][i, a // 2 : a // 2 + c2, b // 2 : b // 2 + c2] for i, a, b in zip(idx, oy, ox)])
        t = [torch.from_numpy(p).to(device).float().unsqueeze(1) / 255 for p in (y, u, v)]
        out.append(planes_to_input(*t))
    return out[0], out[1], torch.from_numpy(data["scale_index"][idx]).to(device)


class _EnhanceJob(TrainingJob):
    """Weighted-MSE steps of the enhancement network on random crops of the pairs, cosine learning rate."""

    def __init__(self, net: EnhanceNet, config: EnhanceTrainConfig, data: dict[str, np.ndarray], device: torch.device):
        self.net, self.config, self.data, self.device = net, config, data, device
        self.opt = torch.optim.Adam(net.parameters(), lr=config.lr)
        net.train()

    def state(self) -> dict[str, Any]:
        return {"model": self.net.state_dict(), "opt": self.opt.state_dict()}

    def restore(self, state: dict[str, Any]) -> None:
        missing, _ = self.net.load_state_dict(state["model"], strict=False)
        if missing == ["scale_bias"]:  # a run from before per-scale biases: continue it with them (zero start)
            log.info("adding per-scale biases to a checkpoint without them")
        else:
            self.opt.load_state_dict(state["opt"])

    def step(self, rng: np.random.Generator, progress: float) -> dict[str, Any]:
        cfg = self.config
        for g in self.opt.param_groups:  # cosine decay over the run (steps or time, whichever binds)
            g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
        deg, ref, scale = _batch(self.data, cfg.batch, cfg.crop, rng, self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            out = self.net(deg, scale)
        loss = yuv_mse(out.float(), ref).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"mse": float(loss.detach()), "base_mse": float(yuv_mse(deg, ref).mean())}

    def row(self, means: dict[str, float]) -> dict[str, float]:
        mse = means["mse"]
        return {"mse": mse, "gain_db": 10 * math.log10(means["base_mse"] / max(mse, 1e-12))}

    def describe(self, row: dict[str, float]) -> str:
        return f"mse {row['mse']:.6f} gain {row['gain_db']:.3f} dB"


def train_enhance(config: EnhanceTrainConfig, *, resume: bool = False, data: dict[str, np.ndarray] | None = None) -> Path:
    """Train (or continue training) and return the path of the last checkpoint.

    ``data``: pairs already in memory (``deg_*``, ``ref_*`` planes and ``scale_index``, e.g. from a training
    pack, :mod:`.pack`) instead of ``config.pairs``.
    """
    loop = TrainingLoop(config.out, steps=config.steps, time_limit_s=config.time_limit_s, log_every=config.log_every,
                        ckpt_every=config.ckpt_every, config=asdict(config), device=config.device, resume=resume)
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    net = EnhanceNet(config.channels, config.layers)
    if config.init and loop.resumed is None:
        start = load_enhance(config.init).net
        if (start.channels, start.layers, start.scales) != (net.channels, net.layers, net.scales):
            raise ValueError(f"{config.init}: a {start.channels}-channel, {start.layers}-layer network, "
                             f"not {net.channels} and {net.layers}")
        net.load_state_dict(start.state_dict())
    net = net.to(device)
    if data is None:
        data = load_pairs(config.pairs)
        scales = pair_scales(pair_sequences(config.pairs), len(data["ref_y"]))
        data["scale_index"] = np.array([net.scale_index(float(s)) for s in scales], dtype=np.int64)
    return loop.run(_EnhanceJob(net, config, data, device), config.seed)


def _net_of(state: dict[str, Any]) -> EnhanceNet:
    cfg = state["config"]
    net = EnhanceNet(cfg["channels"], cfg["layers"])
    net.load_state_dict(state["model"])
    return net


def export_enhance(checkpoint: str | os.PathLike, out: str | os.PathLike, **trained: object) -> tuple[Path, str]:
    """Write the shipped form of a checkpoint and return (path, sha256 hex of the file).

    The file is float32 (:func:`neurocodec.models.enhance.pack_enhance`); ``trained`` adds facts to its
    training record (e.g. ``device``).
    """
    return export(checkpoint, out, "enhance", _net_of, **trained)

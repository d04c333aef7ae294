"""Training the enhancement network (:class:`~neurocodec.models.enhance.EnhanceNet`) on pairs from :mod:`.pairs`.

Loss: YUV 6:1:1 weighted MSE between the network's output and the original
(the same weighting as PSNR-YUV). Checkpoints hold model, optimiser, step
and log, so ``resume`` continues a run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..models.enhance import EnhanceNet, planes_to_input
from ..io.atomic import atomic_path
from .pairs import load_pairs

__all__ = ["EnhanceTrainConfig", "train_enhance", "export_enhance", "yuv_mse", "ENHANCE_FORMAT"]

log = logging.getLogger(__name__)

ENHANCE_FORMAT = "neurocodec.enhance/1"


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


def yuv_mse(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-sample YUV 6:1:1 weighted MSE of two (B,6,h,w) tensors."""
    e = (out - ref) ** 2
    return (6 * e[:, :4].mean(dim=(1, 2, 3)) + e[:, 4].mean(dim=(1, 2)) + e[:, 5].mean(dim=(1, 2))) / 8


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


def train_enhance(config: EnhanceTrainConfig, *, resume: bool = False) -> Path:
    """Train (or continue training) and return the path of the last checkpoint."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    net = EnhanceNet(config.channels, config.layers).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    step, history = 0, []
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        missing, _ = net.load_state_dict(state["model"], strict=False)
        if missing == ["scale_bias"]:  # a run from before per-scale biases: continue it with them (zero start)
            log.info("adding per-scale biases to a checkpoint without them")
        else:
            opt.load_state_dict(state["opt"])
        step, history = state["step"], state["log"]
        log.info("resumed at step %d", step)
    rng = np.random.default_rng(config.seed + step)
    data = load_pairs(config.pairs)
    data["scale_index"] = _scale_indexes(Path(config.pairs).with_suffix(".json"), len(data["ref_y"]), net)
    t0 = time.perf_counter()
    acc = {"mse": 0.0, "base_mse": 0.0}

    def save() -> None:
        state = {"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "log": history, "config": asdict(config)}
        with atomic_path(ckpt_path, overwrite=True) as tmp:  # an interrupted save keeps the last checkpoint
            torch.save(state, tmp)

    net.train()
    while step < config.steps:
        elapsed = time.perf_counter() - t0
        if config.time_limit_s is not None and elapsed > config.time_limit_s:
            log.info("time limit reached at step %d", step)
            break
        progress = max(step / config.steps, elapsed / config.time_limit_s if config.time_limit_s else 0.0)
        for g in opt.param_groups:  # cosine decay over the run (steps or time, whichever binds)
            g["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        deg, ref, scale = _batch(data, config.batch, config.crop, rng, device)
        loss = yuv_mse(net(deg, scale), ref).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        acc["mse"] += float(loss.detach())
        acc["base_mse"] += float(yuv_mse(deg, ref).mean())
        if step % config.log_every == 0:
            mse, base = acc["mse"] / config.log_every, acc["base_mse"] / config.log_every
            row = {"step": step, "seconds": round(time.perf_counter() - t0, 1), "mse": mse,
                   "gain_db": 10 * math.log10(base / max(mse, 1e-12))}
            history.append(row)
            log.info("step %d mse %.6f gain %.3f dB", step, mse, row["gain_db"])
            acc = {"mse": 0.0, "base_mse": 0.0}
        if step % config.ckpt_every == 0:
            save()
    save()
    return ckpt_path


def _scale_indexes(meta_path: Path, pairs: int, net: EnhanceNet) -> np.ndarray:
    """Per pair, the index of its base scale (pairs.json lists one scale per sequence of equal length)."""
    import json

    seqs = json.loads(meta_path.read_text())["sequences"]
    per = pairs // len(seqs)
    return np.repeat(np.array([net.scale_index(s["scale"]) for s in seqs], dtype=np.int64), per)


def pack_enhance(net: EnhanceNet, trained: dict) -> bytes:
    """Serialise a network as a shipped weights file (float32; it is small)."""
    buf = io.BytesIO()
    torch.save({"format": ENHANCE_FORMAT, "config": {"channels": net.channels, "layers": net.layers, "scales": list(net.scales)},
                "weights": {k: v.detach().cpu().float() for k, v in net.state_dict().items()}, "trained": trained}, buf)
    return buf.getvalue()


def export_enhance(checkpoint: str | os.PathLike, out: str | os.PathLike, **trained: object) -> tuple[Path, str]:
    """Write the shipped form of a checkpoint and return (path, sha256 hex)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = state["config"]
    net = EnhanceNet(cfg["channels"], cfg["layers"])
    net.load_state_dict(state["model"])
    record = {"steps": state["step"], "config": cfg, "seconds": state["log"][-1]["seconds"] if state["log"] else None,
              "last": state["log"][-1] if state["log"] else None} | trained
    data = pack_enhance(net, record)
    Path(out).write_bytes(data)
    return Path(out), hashlib.sha256(data).hexdigest()

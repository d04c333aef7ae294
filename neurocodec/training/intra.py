"""Training the learned intra codec (:class:`~neurocodec.models.intra.IntraCodec`).

Rate-distortion loss per sample, at a quality level drawn uniformly for each
sample: ``lambda_l * 255^2 * D + R`` with ``D`` the YUV 6:1:1 weighted MSE
(on 0..1 values) and ``R`` the estimated bits per luma pixel. The entropy
bottleneck's quantiles are fitted by their own optimiser (the auxiliary
loss), as in CompressAI. Checkpoints (the model, both optimisers, the step
and the log), limits, resume and export are :mod:`.loop`'s.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.intra import LAMBDAS, IntraCodec, to_model_input
from ..models.registry import load_intra
from .data import CropSampler
from .loop import TrainingJob, TrainingLoop, export

__all__ = ["TrainConfig", "train", "export_weights", "rd_loss", "warm_start"]


@dataclass
class TrainConfig:
    """Settings of one training run (saved in every checkpoint)."""

    data: list[str]
    out: str
    steps: int = 100_000
    batch: int = 16
    crop: int = 256
    lr: float = 1e-4
    lr_drop_at: float = 0.85  # fraction of the run (steps, or time with a time limit) after which lr /= 10
    device: str = "cpu"
    seed: int = 0
    log_every: int = 100
    ckpt_every: int = 2000
    time_limit_s: float | None = None
    levels: list[int] = field(default_factory=lambda: list(range(len(LAMBDAS))))
    init: str | None = None  # start from this weights file (shipped name or path) instead of random weights
    only_gains: bool = False  # train the gain vectors alone (e.g. to fit new levels of a warm-started model)


def rd_loss(model: IntraCodec, y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, level: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rate-distortion loss of a batch (inputs in 0..1); returns loss, bpp, per-plane MSE and PSNR-YUV."""
    x = to_model_input(y, u, v)
    out = model(x, level)
    xh = out["x_hat"]
    mse_y = ((xh[:, :4] - x[:, :4]) ** 2).mean(dim=(1, 2, 3))
    mse_u = ((xh[:, 4] - x[:, 4]) ** 2).mean(dim=(1, 2))
    mse_v = ((xh[:, 5] - x[:, 5]) ** 2).mean(dim=(1, 2))
    d = (6 * mse_y + mse_u + mse_v) / 8
    pixels = y.shape[-1] * y.shape[-2]
    bits = -(out["y"].clamp_min(1e-9).log2().sum(dim=(1, 2, 3)) + out["z"].clamp_min(1e-9).log2().sum(dim=(1, 2, 3)))
    bpp = bits / pixels
    lam = torch.tensor(model.lambdas, device=y.device)[level]
    loss = (lam * 255**2 * d + bpp).mean()
    psnr_yuv = (6 * _psnr(mse_y) + _psnr(mse_u) + _psnr(mse_v)) / 8
    return {"loss": loss, "bpp": bpp.mean(), "psnr_yuv": psnr_yuv.mean(), "mse": d.mean()}


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(mse.clamp_min(1e-10))


def warm_start(model: IntraCodec, source: str | os.PathLike) -> None:
    """Load a weights file into ``model``, mapping its gain vectors onto ``model.lambdas``.

    Gain vectors are interpolated (or extrapolated from the two nearest
    levels) linearly in log-lambda, so a model can gain levels beyond the
    file's rate range and then be trained further.
    """
    src = load_intra(source).model
    model.load_state_dict({k: v for k, v in src.state_dict().items() if not k.startswith("log_")}, strict=False)
    xs = [math.log(lam) for lam in src.lambdas]
    with torch.no_grad():
        for i, lam in enumerate(model.lambdas):
            model.log_gain[i] = _interpolate_row(xs, src.log_gain, math.log(lam))
            model.log_inv_gain[i] = _interpolate_row(xs, src.log_inv_gain, math.log(lam))


def _interpolate_row(xs: list[float], table: torch.Tensor, x: float) -> torch.Tensor:
    """Row of ``table`` at ``x`` (rows sit at increasing ``xs``): linear between, extrapolated beyond the ends."""
    if len(xs) == 1:
        return table[0]
    j = min(max(bisect.bisect_left(xs, x), 1), len(xs) - 1)
    f = (x - xs[j - 1]) / (xs[j] - xs[j - 1])
    return (1 - f) * table[j - 1] + f * table[j]


def _optimizers(model: IntraCodec, lr: float):
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=1e-3)


class _IntraJob(TrainingJob):
    """Rate-distortion steps of an intra model on random crops at random quality levels."""

    def __init__(self, model: IntraCodec, config: TrainConfig, sampler: CropSampler, device: torch.device):
        self.model, self.config, self.sampler, self.device = model, config, sampler, device
        self.opt, self.aux_opt = _optimizers(model, config.lr)
        self.levels = torch.tensor(config.levels)
        self.dropped = False
        self.aux = 0.0
        model.train()

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "aux_opt": self.aux_opt.state_dict(),
                "lambdas": self.model.lambdas}

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.aux_opt.load_state_dict(state["aux_opt"])

    def step(self, rng: np.random.Generator, progress: float) -> dict[str, Any]:
        cfg, device = self.config, self.device
        if not self.dropped and progress >= cfg.lr_drop_at:
            self.dropped = True
            for g in self.opt.param_groups:
                g["lr"] = cfg.lr / 10
        y, u, v = (torch.from_numpy(np.ascontiguousarray(a)).to(device).float().unsqueeze(1) / 255
                   for a in self.sampler.sample(cfg.batch, rng))
        level = self.levels[torch.from_numpy(rng.integers(len(self.levels), size=cfg.batch))].to(device)
        self.opt.zero_grad(set_to_none=True)
        self.aux_opt.zero_grad(set_to_none=True)
        res = rd_loss(self.model, y, u, v, level)
        res["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.opt.step()
        aux = self.model.aux_loss()
        aux.backward()
        self.aux_opt.step()
        self.aux = aux.detach()
        return {k: res[k].detach() for k in ("loss", "bpp", "psnr_yuv")}  # kept on the device: no sync per step

    def row(self, means: dict[str, float]) -> dict[str, float]:
        return {"aux": float(self.aux)} | means

    def describe(self, row: dict[str, float]) -> str:
        return f"loss {row['loss']:.4f} bpp {row['bpp']:.4f} psnr-yuv {row['psnr_yuv']:.2f}"


def train(config: TrainConfig, *, resume: bool = False, sampler: CropSampler | None = None) -> Path:
    """Train (or continue training) and return the path of the last checkpoint."""
    loop = TrainingLoop(config.out, steps=config.steps, time_limit_s=config.time_limit_s, log_every=config.log_every,
                        ckpt_every=config.ckpt_every, config=asdict(config), device=config.device, resume=resume)
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    model = IntraCodec()
    if config.init and loop.resumed is None:
        warm_start(model, config.init)
    if config.only_gains:
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith("log_") or n.endswith(".quantiles"))
    job = _IntraJob(model.to(device), config, sampler or CropSampler(config.data, crop=config.crop), device)
    return loop.run(job, config.seed)


def _model_of(state: dict[str, Any]) -> IntraCodec:
    model = IntraCodec(lambdas=tuple(state.get("lambdas", LAMBDAS)))
    model.load_state_dict(state["model"])
    return model


def export_weights(checkpoint: str | os.PathLike, out: str | os.PathLike, **trained: object) -> tuple[Path, str]:
    """Write the shipped form of a checkpoint and return (path, sha256 hex of the file).

    The file holds float16 transforms and the integer entropy tables
    (:func:`neurocodec.models.weights.pack_weights`). Its hash is what
    bitstreams record, so a decoder holding other weights refuses to decode.
    ``trained`` adds facts to the training record (e.g. ``device``).
    """
    return export(checkpoint, out, "intra", _model_of, **trained)

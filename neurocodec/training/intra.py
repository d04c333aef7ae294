"""Training the learned intra codec (:class:`~neurocodec.models.intra.IntraCodec`).

Rate-distortion loss per sample, at a quality level drawn uniformly for each
sample: ``lambda_l * 255^2 * D + R`` with ``D`` the YUV 6:1:1 weighted MSE
(on 0..1 values) and ``R`` the estimated bits per luma pixel. The entropy
bottleneck's quantiles are fitted by their own optimiser (the auxiliary
loss), as in CompressAI. Checkpoints hold the model, both optimisers, the
step and the log, so ``resume`` continues where a run stopped.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.intra import LAMBDAS, IntraCodec, to_model_input
from ..io.atomic import atomic_path
from .data import CropSampler

__all__ = ["TrainConfig", "train", "export_weights", "rd_loss", "warm_start"]

log = logging.getLogger(__name__)


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
    from ..models.weights import load_intra

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


def train(config: TrainConfig, *, resume: bool = False, sampler: CropSampler | None = None) -> Path:
    """Train (or continue training) and return the path of the last checkpoint."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    resuming = resume and ckpt_path.exists()
    model = IntraCodec()
    if config.init and not resuming:
        warm_start(model, config.init)
    if config.only_gains:
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith("log_") or n.endswith(".quantiles"))
    model = model.to(device)
    opt, aux_opt = _optimizers(model, config.lr)
    step, history = 0, []
    if resuming:
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        aux_opt.load_state_dict(state["aux_opt"])
        step, history = state["step"], state["log"]
        rng = np.random.default_rng(config.seed + step)
        log.info("resumed at step %d", step)
    sampler = sampler or CropSampler(config.data, crop=config.crop)
    levels = torch.tensor(config.levels)
    t0 = time.perf_counter()
    acc: dict[str, torch.Tensor] = {}
    dropped = False
    model.train()

    def save() -> None:
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                 "step": step, "log": history, "config": asdict(config), "lambdas": model.lambdas}
        with atomic_path(ckpt_path, overwrite=True) as tmp:  # an interrupted save keeps the last checkpoint
            torch.save(state, tmp)

    while step < config.steps:
        elapsed = time.perf_counter() - t0
        if config.time_limit_s is not None and elapsed > config.time_limit_s:
            log.info("time limit reached at step %d", step)
            break
        progress = max(step / config.steps, elapsed / config.time_limit_s if config.time_limit_s else 0.0)
        if not dropped and progress >= config.lr_drop_at:
            dropped = True
            for g in opt.param_groups:
                g["lr"] = config.lr / 10
        y, u, v = (torch.from_numpy(np.ascontiguousarray(a)).to(device).float().unsqueeze(1) / 255 for a in sampler.sample(config.batch, rng))
        level = levels[torch.from_numpy(rng.integers(len(levels), size=config.batch))].to(device)
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        res = rd_loss(model, y, u, v, level)
        res["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        aux = model.aux_loss()
        aux.backward()
        aux_opt.step()
        step += 1
        for k in ("loss", "bpp", "psnr_yuv"):  # kept on the device: no sync per step
            acc[k] = acc.get(k, 0.0) + res[k].detach()
        if step % config.log_every == 0:
            row = {"step": step, "seconds": round(time.perf_counter() - t0, 1), "aux": float(aux.detach())}
            row |= {k: float(v) / config.log_every for k, v in acc.items()}
            history.append(row)
            log.info("step %d loss %.4f bpp %.4f psnr-yuv %.2f", step, row["loss"], row["bpp"], row["psnr_yuv"])
            acc = {}
        if step % config.ckpt_every == 0:
            save()
    save()
    return ckpt_path


def export_weights(checkpoint: str | os.PathLike, out: str | os.PathLike, **trained: object) -> tuple[Path, str]:
    """Write the shipped form of a checkpoint and return (path, sha256 hex of the file).

    The file holds float16 transforms and the integer entropy tables
    (:func:`neurocodec.models.weights.pack_weights`). Its hash is what
    bitstreams record, so a decoder holding other weights refuses to decode.
    ``trained`` adds facts to the training record (e.g. ``device``).
    """
    from ..models.weights import pack_weights

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = IntraCodec(lambdas=tuple(state.get("lambdas", LAMBDAS)))
    model.load_state_dict(state["model"])
    record = {"steps": state["step"], "config": state["config"],
              "seconds": state["log"][-1]["seconds"] if state["log"] else None} | trained
    data = pack_weights(model, record)
    Path(out).write_bytes(data)
    return Path(out), hashlib.sha256(data).hexdigest()

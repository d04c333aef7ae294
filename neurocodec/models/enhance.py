"""A small restoration / super-resolution network for decoded classical video (the ``hybrid`` strategy).

Input: the classical decode, upsampled to the output size by bicubic
interpolation when the base layer was coded at reduced resolution, in the
same 6-channel half-resolution YUV 4:2:0 layout as the intra codec (luma
pixel-unshuffled 2x2 beside the two chroma planes). Output: that input plus
a learned residual (global residual learning, as in VDSR: J. Kim et al.,
"Accurate image super-resolution using very deep convolutional networks",
CVPR 2016). Working at half resolution keeps the cost low: with 32 channels
and 8 body layers the network costs about 19.3k MACs per output luma pixel
(budget 20k); the light variant, 16 channels and 6 layers, about 3.9k
(budget 5k, for a 40 TOPS NPU at 1080p30).

The ``hybrid`` encoder overfits the network to each scene and sends the
change (:mod:`.update`, :mod:`.adapt`); the decoder folds it into a copy of
the shipped weights.

Weights file: a ``torch.save`` archive (read with ``weights_only=True``) of
``format`` (``neurocodec.enhance/1``), ``config``, float32 ``weights`` and
``trained``; the registry (:mod:`neurocodec.models.registry`) finds and
hashes it before :func:`unpack_enhance` sees its bytes.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import NeurocodecError
from .names import FORMATS

__all__ = ["FORMAT", "SCALES", "EnhanceNet", "LoadedEnhance", "planes_to_input", "output_to_planes", "macs_per_pixel",
           "pack_enhance", "unpack_enhance"]

FORMAT = FORMATS["enhance"]


#: Base-layer scales the hybrid strategy uses (index order of the per-scale biases).
SCALES = (1.0, 0.75, 0.5)


class EnhanceNet(nn.Module):
    """Residual CNN on 6-channel half-resolution YUV 4:2:0.

    Args:
        channels: Width of the body.
        layers: Number of 3x3 body convolutions (each followed by a ReLU).
        scales: The base-layer scales it serves. Each has its own set of
            layer biases added to the shared ones: one network trained on all
            scales without knowing which it sees learned to sharpen
            everything, which hurt full-scale bases (-0.2 dB on its own
            training pairs; docs/training.md).
    """

    def __init__(self, channels: int = 32, layers: int = 8, scales: tuple[float, ...] = SCALES):
        super().__init__()
        self.channels, self.layers, self.scales = channels, layers, tuple(scales)
        self.head = nn.Conv2d(6, channels, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(layers))
        self.tail = nn.Conv2d(channels, 6, 3, padding=1)
        # He initialisation keeps the signal alive through the plain ReLU stack (PyTorch's default shrinks it),
        # and a small tail starts the network close to the identity while letting gradients reach the body.
        for conv in (self.head, *self.body):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        with torch.no_grad():
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()
        self.scale_bias = nn.Parameter(torch.zeros(len(self.scales), channels * (layers + 1) + 6))

    def scale_index(self, scale: float) -> int:
        try:
            return self.scales.index(scale)
        except ValueError:
            raise ValueError(f"enhancement network serves scales {self.scales}, not {scale}") from None

    def nearest_scale_index(self, scale: float) -> int:
        """The index of the served scale nearest ``scale`` (whose per-scale biases a base at ``scale`` uses)."""
        return min(range(len(self.scales)), key=lambda i: (abs(self.scales[i] - scale), i))

    def forward(self, x: torch.Tensor, scale: torch.Tensor | int = 0) -> torch.Tensor:
        """``x`` (B,6,h,w) in 0..1; ``scale``: index into :attr:`scales`, one for all or one per sample."""
        idx = torch.as_tensor(scale, device=x.device).reshape(-1)
        sb = self.scale_bias[idx].expand(x.shape[0], -1) if idx.numel() == 1 else self.scale_bias[idx]
        c = self.channels
        h = F.relu(self.head(x - 0.5) + sb[:, :c, None, None])
        for i, conv in enumerate(self.body):
            h = F.relu(conv(h) + sb[:, c * (i + 1) : c * (i + 2), None, None])
        return x + self.tail(h) + sb[:, c * (self.layers + 1) :, None, None]


def planes_to_input(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) luma, (B,1,H/2,W/2) chroma in 0..1 -> (B,6,H/2,W/2)."""
    return torch.cat([F.pixel_unshuffle(y, 2), u, v], dim=1)


def output_to_planes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return F.pixel_shuffle(x[:, :4], 2), x[:, 4:5], x[:, 5:6]


def macs_per_pixel(net: EnhanceNet, luma_size: tuple[int, int] = (128, 128)) -> float:
    """Multiply-accumulates per output luma pixel, counted with ``torch.utils.flop_counter`` (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode  # why: ~80 ms to import; only costing needs it

    h, w = luma_size
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 6, h // 2, w // 2), 0)
    return counter.get_total_flops() / 2 / (h * w)


class LoadedEnhance(NamedTuple):
    """A ready enhancement network (eval mode, CPU, frozen) and the identity of its file."""

    net: EnhanceNet
    sha256: bytes
    path: str


def pack_enhance(net: EnhanceNet, trained: dict[str, Any]) -> bytes:
    """Serialise a network as a shipped weights file (float32; it is small)."""
    buf = io.BytesIO()
    config = {"channels": net.channels, "layers": net.layers, "scales": list(net.scales)}
    torch.save({"format": FORMAT, "config": config,
                "weights": {k: v.detach().cpu().float() for k, v in net.state_dict().items()}, "trained": trained}, buf)
    return buf.getvalue()


def unpack_enhance(data: bytes, path: str, sha256: bytes) -> LoadedEnhance:
    """A weights file's bytes (already checked to hash to ``sha256``) -> the network in eval mode, on the CPU.

    Raises:
        NeurocodecError: Not a neurocodec enhancement weights file.
    """
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NeurocodecError(f"{path}: not a readable weights file ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise NeurocodecError(f"{path}: not a neurocodec enhancement weights file")
    cfg = dict(state["config"])
    net = EnhanceNet(cfg["channels"], cfg["layers"], tuple(cfg.get("scales", SCALES)))
    net.load_state_dict(state["weights"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return LoadedEnhance(net, sha256, str(path))

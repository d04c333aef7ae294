"""CompressAI's published pretrained image models as the intra codec (``compressai:ARCH:QUALITY[:METRIC]``).

Supported: ``mbt2018-mean`` (Minnen, Ballé and Toderici, NeurIPS 2018, the
mean-scale hyperprior without context model), qualities 1-8, metric ``mse``
(default) or ``ms-ssim``. Its transforms work on RGB, so the wrapper converts
our YUV 4:2:0 input to RGB before analysis (BT.601 limited range, chroma
upsampled by repetition) and the synthesis output back (2x2 chroma mean):
unlike the native model, this adds a colour round trip.

Determinism: the integer tables (CDFs, integer hyper-synthesis, including
its LeakyReLUs) are derived when the model is loaded, on the CPU, from the
downloaded float weights; the hash a bitstream records covers those derived
tables. Two machines that derive different tables therefore refuse each
other's streams (:class:`~neurocodec.errors.ModelMismatchError`) instead of
decoding garbage. Shipped neurocodec weights carry their tables in the file
and need no derivation.

The weights are downloaded once by CompressAI (through torch hub's cache);
without network access loading fails with one clear error.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import NeurocodecError
from .integer import build_tables
from .names import parse_pretrained
from .weights import LoadedIntra

__all__ = ["PretrainedIntra", "load_pretrained"]


def _yuv_to_rgb(x6: torch.Tensor) -> torch.Tensor:
    y = F.pixel_shuffle(x6[:, :4], 2) * 255
    u = F.interpolate(x6[:, 4:5], scale_factor=2, mode="nearest") * 255 - 128
    v = F.interpolate(x6[:, 5:6], scale_factor=2, mode="nearest") * 255 - 128
    y = (y - 16) * (255 / 219)
    u, v = u * (255 / 224), v * (255 / 224)
    r = y + 1.402 * v
    g = y - 0.344136 * u - 0.714136 * v
    b = y + 1.772 * u
    return (torch.cat([r, g, b], dim=1) / 255).clamp(0, 1)


def _rgb_to_yuv(rgb: torch.Tensor) -> torch.Tensor:
    r, g, b = (rgb[:, i : i + 1] * 255 for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return torch.cat([F.pixel_unshuffle(y, 2), F.avg_pool2d(cb, 2), F.avg_pool2d(cr, 2)], dim=1) / 255


class _Analysis(nn.Module):
    def __init__(self, g_a: nn.Module):
        super().__init__()
        self.inner = g_a

    def forward(self, x6):
        return self.inner(_yuv_to_rgb(x6))


class _Synthesis(nn.Module):
    def __init__(self, g_s: nn.Module):
        super().__init__()
        self.inner = g_s

    def forward(self, y):
        return _rgb_to_yuv(self.inner(y).clamp(0, 1))


class PretrainedIntra(nn.Module):
    """A CompressAI mean-scale model presented with the :class:`~neurocodec.models.intra.IntraCodec` interface."""

    def __init__(self, net: nn.Module, lam: float):
        super().__init__()
        self.g_a, self.g_s = _Analysis(net.g_a), _Synthesis(net.g_s)
        self.h_a, self.h_s = net.h_a, net.h_s
        self.entropy_bottleneck, self.gaussian_conditional = net.entropy_bottleneck, net.gaussian_conditional
        self.M = net.M
        self.Nz = net.N
        self.N = net.N
        self.levels = 1
        self.lambdas = (lam,)
        self.log_gain = nn.Parameter(torch.zeros(1, net.M), requires_grad=False)  # one rate: unit gains
        self.log_inv_gain = nn.Parameter(torch.zeros(1, net.M), requires_grad=False)


_COMPRESSAI_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)


def _download(arch: str, quality: int, metric: str) -> nn.Module:
    from compressai import zoo  # why: heavy, and needed only when a pretrained model is first used

    fn = {"mbt2018-mean": zoo.mbt2018_mean}[arch]
    return fn(quality=quality, metric=metric, pretrained=True, progress=False)


def load_pretrained(name: str, *, fetch=_download):
    """Build a :class:`~neurocodec.models.weights.LoadedIntra` from a CompressAI pretrained model.

    Args:
        name: ``compressai:ARCH:QUALITY[:METRIC]``.
        fetch: Returns the CompressAI network (tests pass an offline stand-in).
    """
    arch, quality, metric = parse_pretrained(name)
    try:
        net = fetch(arch, quality, metric)
    except Exception as exc:  # urllib, torch.hub and http errors differ by version; all mean "not downloadable now"
        raise NeurocodecError(
            f"{name}: could not get CompressAI's pretrained weights ({exc.__class__.__name__}: {exc}); "
            f"the first use needs internet access (later uses read torch hub's cache)"
        ) from None
    # The trade-off the model was trained for (CompressAI's MSE lambdas on the same 255^2 scale as ours);
    # semantic_latent weighs tile updates with it. MS-SSIM models get the MSE one of their quality: an approximation.
    model = PretrainedIntra(net.float().cpu(), _COMPRESSAI_LAMBDAS[quality - 1]).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tables = build_tables(model)
    # Identity: the downloaded float weights and the integer tables derived from them on this machine.
    digest = hashlib.sha256(name.encode())
    for prefix, tensors in (("weights", net.state_dict()), ("tables", tables)):
        for key in sorted(tensors):
            digest.update(f"{prefix}.{key}".encode())
            digest.update(tensors[key].detach().cpu().contiguous().numpy().tobytes())
    return LoadedIntra(model, tables, digest.digest(), None, {"source": name})

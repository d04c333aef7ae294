"""Integer tables and the exact integer hyper-synthesis that drive the intra codec's entropy decoding.

Why: a learned codec's decoder reads symbols with CDFs chosen from scales
(and offsets them by means) that a neural network computes from the
hyper-latent. Computed in floating point, those values differ in their last
bits between CPUs, GPUs, thread counts and library versions, and one
different CDF index desynchronises the arithmetic decoder: the picture
decodes to garbage (Ballé et al., "Integer networks for data compression
with latent-variable models", ICLR 2019, describe the failure and the cure
followed here in spirit).

What is integer here (all of it is computed once, at export, and stored in
the weights file, so no machine ever recomputes it from floats):

* the quantised CDF tables of the hyper-latent ``z`` and of the latent ``y``
  (CompressAI's 16-bit tables), the medians of ``z`` in fixed point;
* the hyper-synthesis weights (per-output-channel power-of-two scales,
  at most 14 bits) and biases, its activations (16 fractional bits, clamped
  to +-256) and its outputs (log-scales and means);
* the scale-table thresholds in the log domain, the per-CRF log-gains and
  gains (the gain-unit interpolation between trained levels).

The convolutions run in float64 on integer-valued tensors. Every product
and every partial sum is an integer below ``2**53`` (checked when the tables
are built: ``Cin * k * k * 2**14 * 2**24 < 2**53``), so IEEE double
arithmetic is exact and the result does not depend on summation order,
blocking, FMA use, threads or device. Requantisation (rounding shifts),
clamps and the scale-index search are int64 operations. The synthesis
transform that turns latents into pixels stays float: it feeds no entropy
decoder, so device differences only move pixels slightly (see
docs/determinism.md).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "FRAC",
    "MEAN_FRAC",
    "CRF_COUNT",
    "build_tables",
    "IntegerHyperSynthesis",
    "entropy_parameters",
    "crf_level",
    "crf_blend",
]

FRAC = 16  # fractional bits of activations, log-scales and gains
MEAN_FRAC = 8  # fractional bits of the means added to decoded symbols
WEIGHT_BITS = 14  # |integer weight| < 2**14
ACT_LIMIT = 1 << 24  # activations clamped to +-256.0
LOG_SCALE_LIMIT = 6 << FRAC  # log-scales clamped to +-6, as in training
CRF_COUNT = 64  # the strategy's CRF 0..63 spans the trained levels (CRF 0 = best)
_EXACT = 1 << 53


def crf_level(crf: float, levels: int) -> float:
    """Continuous quality level (0 = lowest rate) that a CRF selects: CRF 0 is the top level, 63 the bottom one."""
    return (levels - 1) * (1 - crf / (CRF_COUNT - 1))


def crf_blend(crf: float, levels: int) -> tuple[int, int, float]:
    """The trained levels ``a <= b`` a CRF lies between and the weight ``f`` of ``b`` (a single-rate model: 0, 0, 0)."""
    if levels == 1:
        return 0, 0, 0.0
    pos = crf_level(crf, levels)
    a = min(int(math.floor(pos)), levels - 2)
    return a, a + 1, pos - a


#: Activations after a layer: none, ReLU, or LeakyReLU with slope LEAKY_SLOPE / 2**16 (CompressAI's models use 0.01).
ACT_NONE, ACT_RELU, ACT_LEAKY = 0, 1, 2
LEAKY_SLOPE = 655


@contextmanager
def _plain_convolution():
    # cuDNN may pick FFT or Winograd algorithms, which are not sums of the
    # integer products; the native path is im2col + GEMM (exact on integers).
    with torch.backends.cudnn.flags(enabled=False):
        yield


def _quantize_layer(m: nn.Module, act: int) -> dict[str, torch.Tensor]:
    transposed = isinstance(m, nn.ConvTranspose2d)
    w = m.weight.detach().double().cpu()
    out_dim = 1 if transposed else 0
    cin = w.shape[0] if transposed else w.shape[1]
    k = w.shape[2] * w.shape[3]
    if cin * k * (1 << WEIGHT_BITS) * ACT_LIMIT >= _EXACT:
        raise ValueError(f"layer with {cin}x{k} inputs per output could overflow exact float64 sums")
    other = [d for d in range(4) if d != out_dim]
    maxabs = w.abs().amax(dim=other).clamp_min(1e-12)
    shift = torch.floor(torch.log2(((1 << WEIGHT_BITS) - 1) / maxabs)).clamp(1, 40).long()
    view = [1, 1, 1, 1]
    view[out_dim] = -1
    w_int = torch.round(w * torch.pow(2.0, shift.double()).view(view)).to(torch.int16)
    bias = m.bias.detach().double().cpu()
    b_int = torch.round(bias * torch.pow(2.0, (shift + FRAC).double())).long()
    geom = torch.tensor([int(transposed), m.stride[0], m.padding[0],
                         m.output_padding[0] if transposed else 0, act], dtype=torch.int64)
    return {"weight": w_int, "shift": shift, "bias": b_int, "geom": geom}


def build_tables(model) -> dict[str, torch.Tensor]:
    """All integer tables of an :class:`~neurocodec.models.intra.IntraCodec` (float weights as they will be shipped).

    Runs CompressAI's own CDF construction once, on the CPU, and freezes the result.
    """
    from compressai.models.google import get_scale_table  # why: compressai is heavy; imported when tables are built

    model = model.cpu().eval()
    eb, gc = model.entropy_bottleneck, model.gaussian_conditional
    scale_table = get_scale_table()
    gc.update_scale_table(scale_table, force=True)
    eb.update(force=True)
    t: dict[str, torch.Tensor] = {}
    for prefix, em in (("z", eb), ("y", gc)):
        lengths = em._cdf_length.reshape(-1).long()
        rows = [em._quantized_cdf[i, : int(n)] for i, n in enumerate(lengths)]
        t[f"{prefix}.cdf"] = torch.cat(rows).to(torch.int32)
        t[f"{prefix}.cdf_length"] = lengths
        t[f"{prefix}.offset"] = em._offset.reshape(-1).long()
    medians = eb.quantiles.detach()[:, 0, 1].double()
    t["z.median"] = torch.round(medians * (1 << FRAC)).long()
    # CompressAI's index: the number of table entries (all but the last) strictly below the scale.
    t["y.log_scale_threshold"] = torch.round(torch.log(scale_table[:-1].double()) * (1 << FRAC)).long()

    levels = model.log_gain.shape[0]
    lg, ilg = model.log_gain.detach().double(), model.log_inv_gain.detach().double()
    log_gain, inv_log_gain = [], []
    for crf in range(CRF_COUNT):
        # Exponential interpolation of adjacent gain vectors (Cui et al., CVPR 2021).
        a, b, f = crf_blend(crf, levels)
        log_gain.append((1 - f) * lg[a] + f * lg[b])
        inv_log_gain.append((1 - f) * ilg[a] + f * ilg[b])
    log_gain_t = torch.stack(log_gain)
    t["gain.log"] = torch.round(log_gain_t * (1 << FRAC)).long()
    t["gain.linear"] = torch.round(torch.exp(log_gain_t) * (1 << FRAC)).long()
    t["gain.inverse"] = torch.exp(torch.stack(inv_log_gain)).float()

    i = 0
    modules = list(model.h_s)
    for j, m in enumerate(modules):
        if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            continue
        nxt = modules[j + 1] if j + 1 < len(modules) else None
        if isinstance(nxt, nn.LeakyReLU):
            if round(nxt.negative_slope * (1 << FRAC)) != LEAKY_SLOPE:
                raise ValueError(f"LeakyReLU slope {nxt.negative_slope} is not supported (only 0.01)")
            act = ACT_LEAKY
        else:
            act = ACT_RELU if isinstance(nxt, nn.ReLU) else ACT_NONE
        for k, v in _quantize_layer(m, act).items():
            t[f"h_s.{i}.{k}"] = v
        i += 1
    return t


class IntegerHyperSynthesis:
    """The hyper-synthesis transform on integers: fixed-point ``z`` in, fixed-point log-scales and means out.

    Args:
        tables: The ``h_s.*`` entries of :func:`build_tables`.
    """

    def __init__(self, tables: dict[str, torch.Tensor]):
        self.layers = []
        i = 0
        while f"h_s.{i}.weight" in tables:
            self.layers.append({k: tables[f"h_s.{i}.{k}"] for k in ("weight", "shift", "bias", "geom")})
            i += 1
        if not self.layers:
            raise ValueError("no hyper-synthesis layers in the tables")

    def __call__(self, z_fixed: torch.Tensor) -> torch.Tensor:
        """``z`` as int64 with :data:`FRAC` fractional bits, shape (B, Nz, h, w) -> int64 (B, 2M, 4h, 4w)."""
        x = z_fixed.long().clamp(-ACT_LIMIT, ACT_LIMIT)
        for layer in self.layers:
            transposed, stride, pad, out_pad, act = (int(v) for v in layer["geom"])
            w = layer["weight"].to(x.device, torch.float64)
            with _plain_convolution():
                if transposed:
                    acc = F.conv_transpose2d(x.double(), w, stride=stride, padding=pad, output_padding=out_pad)
                else:
                    acc = F.conv2d(x.double(), w, stride=stride, padding=pad)
            acc = acc.long() + layer["bias"].to(x.device)[None, :, None, None]
            shift = layer["shift"].to(x.device)[None, :, None, None]
            x = (acc + (1 << (shift - 1))) >> shift  # round half up
            if act == ACT_LEAKY:
                x = torch.where(x < 0, (x * LEAKY_SLOPE + (1 << (FRAC - 1))) >> FRAC, x)
            x = x.clamp(0 if act == ACT_RELU else -ACT_LIMIT, ACT_LIMIT)
        return x


def entropy_parameters(hyper_out: torch.Tensor, crf: int, tables: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """CDF indexes and means (int64, :data:`MEAN_FRAC` fractional bits) of the gained latent at ``crf``."""
    log_scale, mean = hyper_out.chunk(2, dim=1)
    dev = hyper_out.device
    log_gain = tables["gain.log"][crf].to(dev)[None, :, None, None]
    gain = tables["gain.linear"][crf].to(dev)[None, :, None, None]
    log_scale = log_scale.clamp(-LOG_SCALE_LIMIT, LOG_SCALE_LIMIT) + log_gain
    indexes = torch.bucketize(log_scale, tables["y.log_scale_threshold"].to(dev))
    drop = 2 * FRAC - MEAN_FRAC
    means = (mean * gain + (1 << (drop - 1))) >> drop
    return indexes, means

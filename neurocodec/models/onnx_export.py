"""Export the intra decoder's neural transform to ONNX for edge runtimes (NPUs, onnxruntime).

What goes to ONNX is the synthesis transform: dequantised gained latent and
CRF in, YUV 4:2:0 planes in 0..1 out. What stays on the host, by design, is
everything that drives entropy decoding: the rANS decoder and the integer
hyper-synthesis (:mod:`neurocodec.models.integer`), which must be bit-exact
on every machine and so cannot be handed to a runtime that computes in
floating point (or int8) as it likes.

Graph ``intra_synthesis.onnx``::

    inputs   latent  float32 (1, M, H/16, W/16)  LatentPicture.gained_latent()
             crf     int64   (1,)                 0..63
    outputs  luma    float32 (1, 1, H, W)         0..1 (multiply by 255 and round)
             chroma  float32 (1, 2, H/2, W/2)     Cb, Cr
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io.atomic import atomic_path
from .intra import decoder_macs_per_pixel
from .registry import load_intra

__all__ = ["export_onnx", "SynthesisGraph"]


class _BakedGDN(nn.Module):
    """(Inverse) GDN with its reparametrised beta and gamma frozen into plain tensors (exportable)."""

    def __init__(self, gdn):
        super().__init__()
        c = gdn.beta.shape[0]
        with torch.no_grad():
            self.register_buffer("beta", gdn.beta_reparam(gdn.beta).clone())
            self.register_buffer("gamma", gdn.gamma_reparam(gdn.gamma).reshape(c, c, 1, 1).clone())
        self.inverse = gdn.inverse

    def forward(self, x):
        norm = F.conv2d(x * x, self.gamma, self.beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


class SynthesisGraph(nn.Module):
    """The exported module: inverse gain lookup, synthesis, clamp, luma pixel-shuffle."""

    def __init__(self, model, inverse_gains: torch.Tensor):
        super().__init__()
        from compressai.layers import GDN  # why: compressai is heavy and optional until a model is used

        self.g_s = nn.Sequential(*[_BakedGDN(m) if isinstance(m, GDN) else m for m in model.g_s])
        self.register_buffer("inverse_gains", inverse_gains.float().clone())

    def forward(self, latent: torch.Tensor, crf: torch.Tensor):
        inv = torch.index_select(self.inverse_gains, 0, crf)[:, :, None, None]
        x = self.g_s(latent * inv).clamp(0, 1)
        return F.pixel_shuffle(x[:, :4], 2), x[:, 4:6]


def export_onnx(out_dir: str | os.PathLike, model_name: str | None = None, *, opset: int = 17) -> list[Path]:
    """Write ``intra_synthesis.onnx`` and ``intra_synthesis.json`` (what it is, which weights) to ``out_dir``.

    Returns:
        The paths written.
    """
    loaded = load_intra(model_name)
    graph = SynthesisGraph(loaded.model, loaded.tables["gain.inverse"]).eval()
    m = loaded.model.M
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path, meta_path = out / "intra_synthesis.onnx", out / "intra_synthesis.json"
    example = (torch.zeros(1, m, 4, 6), torch.tensor([20]))
    with atomic_path(onnx_path, overwrite=True) as tmp, torch.no_grad():
        torch.onnx.export(
            graph, example, str(tmp), input_names=["latent", "crf"], output_names=["luma", "chroma"],
            dynamic_axes={"latent": {2: "h16", 3: "w16"}, "luma": {2: "height", 3: "width"},
                          "chroma": {2: "height2", 3: "width2"}},
            opset_version=opset, dynamo=False,
        )
    meta = {
        "graph": onnx_path.name,
        "weights": str(loaded.path.name),
        "weights_sha256": loaded.sha256.hex(),
        "latent_channels": m,
        "crf_range": [0, int(loaded.tables["gain.inverse"].shape[0]) - 1],
        "macs_per_pixel": round(decoder_macs_per_pixel(loaded.model, hyper=False)),
        "host_side": "rANS decoding and the integer hyper-synthesis (neurocodec.models.integer) stay on the host",
    }
    with atomic_path(meta_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return [onnx_path, meta_path]

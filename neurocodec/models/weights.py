"""The learned intra codec's weights file format: packing and unpacking.

A weights file is a ``torch.save`` archive (loaded with ``weights_only=True``:
no code runs on load) holding::

    format   "neurocodec.intra/3" (read: /2 and /3)
    config   {"N", "M", "Nz", "lambdas"} (format 2: "levels", see _LEGACY_LAMBDAS)
    weights  float16 tensors of the float transforms (analysis, synthesis, gains...)
    tables   integer tables that drive entropy decoding (neurocodec.models.integer)
    trained  how it was trained (steps, data, device, seconds)

Its SHA-256 is what a bitstream records. Finding, hashing and caching
files is the registry's job (:mod:`neurocodec.models.registry`, which
registers this format as the ``intra`` kind): :func:`unpack_weights` only
ever sees bytes whose hash was checked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import NeurocodecError
from .integer import FRAC, build_tables
from .intra import IntraCodec
from .names import FORMATS

__all__ = ["FORMAT", "LoadedIntra", "pack_weights", "unpack_weights"]

FORMAT = FORMATS["intra"]
_READABLE = (FORMAT, "neurocodec.intra/2")  # format 2 stored the number of levels instead of their lambdas
#: Format-2 files hold "levels": the first that many of these lambdas.
_LEGACY_LAMBDAS = (0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18)


@dataclass(frozen=True)
class LoadedIntra:
    """A ready intra model: float transforms, integer tables, and the file's identity."""

    model: Any  # IntraCodec, eval mode, float32, CPU
    tables: dict[str, torch.Tensor]
    sha256: bytes
    path: Path | None  # None for models not loaded from a file (CompressAI's pretrained ones)
    trained: dict[str, Any]


def pack_weights(model, trained: dict[str, Any]) -> bytes:
    """Serialise ``model`` as a shipped weights file (float16 transforms plus integer tables).

    The integer tables are built from the float16-rounded weights, so they
    match exactly what a loader reconstructs.
    """
    half = {k: v.detach().cpu().half() for k, v in model.state_dict().items()
            if v.is_floating_point() and not _is_table_buffer(k)}
    rounded = IntraCodec(model.N, model.M, model.Nz, model.lambdas)
    rounded.load_state_dict({k: v.float() for k, v in half.items()}, strict=False)
    tables = build_tables(rounded)
    # The integer hyper-synthesis is the authoritative one; its float form is rebuilt from it on load.
    half = {k: v for k, v in half.items() if not k.startswith("h_s.")}
    buf = io.BytesIO()
    torch.save({"format": FORMAT,
                "config": {"N": model.N, "M": model.M, "Nz": model.Nz, "lambdas": list(model.lambdas)},
                "weights": half, "tables": tables, "trained": trained}, buf)
    return buf.getvalue()


def _is_table_buffer(key: str) -> bool:
    # CompressAI's CDF buffers are floats of another run's update(); the tables replace them.
    return key.rsplit(".", 1)[-1] in {"_quantized_cdf", "_cdf_length", "_offset", "scale_table", "scale_bound"}


def _float_hyper_synthesis(model, tables: dict[str, torch.Tensor]) -> None:
    """Set the float hyper-synthesis to the integer one's dequantised weights (for ONNX and analysis)."""
    convs = [m for m in model.h_s if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    for i, m in enumerate(convs):
        shift = tables[f"h_s.{i}.shift"].double()
        view = [1, -1, 1, 1] if isinstance(m, torch.nn.ConvTranspose2d) else [-1, 1, 1, 1]
        w = tables[f"h_s.{i}.weight"].double() / torch.pow(2.0, shift).view(view)
        b = tables[f"h_s.{i}.bias"].double() / torch.pow(2.0, shift + FRAC)
        with torch.no_grad():
            m.weight.copy_(w.float())
            m.bias.copy_(b.float())


def unpack_weights(data: bytes, path: str | Path, sha256: bytes) -> LoadedIntra:
    """A weights file's bytes (already checked to hash to ``sha256``) -> the model in eval mode, on the CPU.

    Raises:
        NeurocodecError: Not a neurocodec intra weights file of a readable format.
    """
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NeurocodecError(f"{path}: not a readable weights file ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") not in _READABLE:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise NeurocodecError(f"{path}: weights format {found!r}, expected {FORMAT!r}")
    config = dict(state["config"])
    if "levels" in config:
        config["lambdas"] = _LEGACY_LAMBDAS[: config.pop("levels")]
    model = IntraCodec(**config)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in state["weights"].items()}, strict=False)
    _float_hyper_synthesis(model, state["tables"])
    missing = [k for k in missing if not _is_table_buffer(k) and not k.startswith("h_s.")]
    if missing or unexpected:
        raise NeurocodecError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedIntra(model, state["tables"], sha256, Path(path), state.get("trained", {}))

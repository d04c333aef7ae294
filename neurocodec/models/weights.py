"""Weights files of the learned intra codec: packing, hashing, loading.

A weights file is a ``torch.save`` archive (loaded with ``weights_only=True``:
no code runs on load) holding::

    format   "neurocodec.intra/3" (read: /2 and /3)
    config   {"N", "M", "Nz", "lambdas"} (format 2: "levels", see _LEGACY_LAMBDAS)
    weights  float16 tensors of the float transforms (analysis, synthesis, gains...)
    tables   integer tables that drive entropy decoding (neurocodec.models.integer)
    trained  how it was trained (steps, data, device, seconds)

Its SHA-256 is what a bitstream records; a decoder holding other weights
refuses the segment (:class:`~neurocodec.errors.ModelMismatchError`), and
the hash is checked before ``torch.load`` sees the bytes. The functions here
take names or paths from the user; names read from a bitstream go through
:mod:`neurocodec.models.registry` first.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelMismatchError, NeurocodecError
from . import registry

__all__ = ["FORMAT", "SHIPPED", "LoadedIntra", "pack_weights", "load_intra", "resolve_weights", "check_model_name",
           "stored_name", "sha256_file"]

FORMAT = "neurocodec.intra/3"
_READABLE = (FORMAT, "neurocodec.intra/2")  # format 2 stored the number of levels instead of their lambdas
#: Shipped weights (package data in neurocodec/weights/), by the name the CLI and bitstream use.
SHIPPED = registry.SHIPPED["intra"]
DEFAULT = registry.DEFAULTS["intra"]
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
    from .integer import build_tables
    from .intra import IntraCodec

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


def sha256_file(path: str | os.PathLike) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def resolve_weights(name_or_path: str | os.PathLike | None) -> Path:
    """A shipped weights name (``intra_yuv420``) or a file path the user gave -> the file's path."""
    name = str(name_or_path or DEFAULT)
    if name in SHIPPED:
        from importlib.resources import files

        return Path(str(files("neurocodec.weights") / SHIPPED[name]))
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such weights file (shipped: {', '.join(SHIPPED)})")
    return path


def stored_name(name_or_path: str | os.PathLike | None) -> str:
    """The model name a bitstream stores for an encoder's intra model, never a path.

    Shipped and pretrained names as they are; a weights file by its stem
    (a decoder finds it through :mod:`.registry`, by name and hash).
    """
    name = str(name_or_path or DEFAULT)
    if name in SHIPPED or name.startswith("compressai:"):
        return name
    return registry.name_for_file(name)


def check_model_name(name: str) -> None:
    """Fail early (one clear error) on a model name that cannot be loaded or stored; downloads nothing."""
    if str(name).startswith("compressai:"):
        from .pretrained import parse_name

        parse_name(str(name))
    else:
        resolve_weights(name)
        stored_name(name)


def load_intra(name_or_path: str | os.PathLike | None = None, *, expect_sha256: bytes | None = None) -> LoadedIntra:
    """Load an intra model, optionally checking that it is the one a bitstream was made with.

    A file is hashed and compared with ``expect_sha256`` before it is
    unpickled; a CompressAI model's identity is derived on load, so it is
    compared after.

    Raises:
        ModelMismatchError: the weights' hash is not ``expect_sha256``.
        NeurocodecError: the file is not a neurocodec intra weights file.
    """
    if str(name_or_path or "").startswith("compressai:"):
        loaded = _load_pretrained_cached(str(name_or_path))
        _check_hash(str(name_or_path), loaded.sha256, expect_sha256)
        return loaded
    path = resolve_weights(name_or_path).resolve()
    st = path.stat()
    sha = registry.file_sha256(path)
    _check_hash(str(path), sha, expect_sha256)
    return _load_cached(str(path), st.st_size, st.st_mtime_ns, sha)


def _check_hash(where: str, sha: bytes, expect: bytes | None) -> None:
    if expect is not None and sha != expect:
        raise ModelMismatchError(
            f"{where}: weights sha256 {sha.hex()} but the bitstream needs {expect.hex()}; "
            "decode with the weights it was made with"
        )


def _float_hyper_synthesis(model, tables: dict[str, torch.Tensor]) -> None:
    """Set the float hyper-synthesis to the integer one's dequantised weights (for ONNX and analysis)."""
    from .integer import FRAC

    convs = [m for m in model.h_s if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    for i, m in enumerate(convs):
        shift = tables[f"h_s.{i}.shift"].double()
        view = [1, -1, 1, 1] if isinstance(m, torch.nn.ConvTranspose2d) else [-1, 1, 1, 1]
        w = tables[f"h_s.{i}.weight"].double() / torch.pow(2.0, shift).view(view)
        b = tables[f"h_s.{i}.bias"].double() / torch.pow(2.0, shift + FRAC)
        with torch.no_grad():
            m.weight.copy_(w.float())
            m.bias.copy_(b.float())


@lru_cache(maxsize=2)
def _load_pretrained_cached(name: str) -> LoadedIntra:
    from .pretrained import load_pretrained

    return load_pretrained(name)


@lru_cache(maxsize=4)  # keyed by size and mtime too, so a rewritten file is reloaded
def _load_cached(path: str, size: int, mtime_ns: int, sha256: bytes) -> LoadedIntra:
    from .intra import IntraCodec

    data = registry.read_verified(path, sha256)  # the bytes unpickled are the bytes whose hash was checked
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

"""Coding pictures with the learned intra codec: bytes in, bytes out (no files).

Picture payload (all integers big-endian or LEB128 varints)::

    u8      crf (0..63; 0 is the best quality)
    varint  length of the z stream, then the z stream (rANS, CompressAI's coder)
    bytes   the y stream (rANS) up to the end of the payload

Both sides reach the same :class:`LatentPicture` (exact integers: symbols,
CDF indexes, means) through :mod:`neurocodec.models.integer`, so the decoder
reads exactly the symbols the encoder wrote on any machine. Pixels come from
the float synthesis transform.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..bitstream.chunks import Cursor, encode_varint
from .integer import CRF_COUNT, FRAC, MEAN_FRAC, IntegerHyperSynthesis, entropy_parameters
from .intra import from_model_output, to_model_input
from .weights import LoadedIntra

__all__ = ["IntraCoder", "LatentPicture", "PAD", "resolve_device", "thread_independent"]

PAD = 64  # luma multiple: the hyper-latent is at 1/64 resolution
_MAX_STREAM = 1 << 30


@dataclass
class LatentPicture:
    """A coded picture's latent, identical on encoder and decoder.

    Attributes:
        crf: The quality it was coded at.
        symbols: Quantised gained latent minus its mean, int64 (1, M, H/16, W/16).
        means: Means in units of ``2**-MEAN_FRAC``, int64, same shape.
        indexes: CDF (scale) indexes, int64, same shape.
    """

    crf: int
    symbols: torch.Tensor
    means: torch.Tensor
    indexes: torch.Tensor

    def gained_latent(self) -> torch.Tensor:
        """The dequantised gained latent as float32 (exact: values are multiples of 2**-8 below 2**15)."""
        return ((self.symbols << MEAN_FRAC) + self.means).float() / (1 << MEAN_FRAC)


class IntraCoder:
    """Compresses YUV 4:2:0 pictures with a loaded intra model.

    Args:
        loaded: From :func:`neurocodec.models.weights.load_intra`.
        device: Where the float transforms run (``cpu`` or ``cuda``); integer
            tables and the rANS coder stay on the host.
    """

    def __init__(self, loaded: LoadedIntra, device: str | torch.device = "cpu"):
        from compressai.ans import RansDecoder, RansEncoder  # why: compressai is heavy; imported when a coder is made

        self.loaded = loaded
        self.device = torch.device(resolve_device(str(device)))
        # The loaded model is shared (cached): move a copy, never the shared one.
        self.model = loaded.model if self.device.type == "cpu" else copy.deepcopy(loaded.model).to(self.device)
        self.tables = loaded.tables
        self.hyper = IntegerHyperSynthesis(self.tables)
        self._enc, self._dec = RansEncoder, RansDecoder
        self._cdfs = {p: _split(self.tables[f"{p}.cdf"], self.tables[f"{p}.cdf_length"]) for p in ("z", "y")}

    # -- tensors ------------------------------------------------------------------

    def _input(self, planes) -> tuple[torch.Tensor, tuple[int, int]]:
        y, u, v = planes
        h, w = y.shape
        if h % 2 or w % 2 or u.shape != (h // 2, w // 2) or v.shape != (h // 2, w // 2):
            raise ValueError(f"expected even-sized 4:2:0 planes, got luma {y.shape}, chroma {u.shape} and {v.shape}")
        ph, pw = -h % PAD, -w % PAD
        t = [torch.from_numpy(np.ascontiguousarray(p)).to(self.device, torch.float32)[None, None] / 255 for p in planes]
        t = [F.pad(t[0], (0, pw, 0, ph), mode="replicate")] + [F.pad(c, (0, pw // 2, 0, ph // 2), mode="replicate") for c in t[1:]]
        return to_model_input(*t), (h, w)

    @torch.no_grad()
    def analyse(self, planes) -> torch.Tensor:
        """The (ungained) latent ``y`` of a picture, float (1, M, H/16, W/16) on the model's device."""
        x, _ = self._input(planes)
        return self.model.g_a(x)

    def _hyper(self, z_symbols: torch.Tensor, crf: int):
        z_fixed = (z_symbols << FRAC) + self.tables["z.median"][None, :, None, None]
        return entropy_parameters(self.hyper(z_fixed), crf, self.tables)

    @torch.no_grad()
    def quantize(self, y: torch.Tensor, crf: int) -> tuple[bytes, LatentPicture, torch.Tensor]:
        """Code a latent: returns the z stream, the latent picture, and the z symbols."""
        _check_crf(crf)
        z = self.model.h_a(y).cpu().double()
        medians = self.tables["z.median"].double()[None, :, None, None] / (1 << FRAC)
        z_sym = torch.round(z - medians).long()
        z_idx = torch.arange(z_sym.shape[1]).view(1, -1, 1, 1).expand_as(z_sym)
        z_stream = self._encode("z", z_sym, z_idx)
        indexes, means = self._hyper(z_sym, crf)
        gain = self.tables["gain.linear"][crf].double()[None, :, None, None] / (1 << FRAC)
        sym = torch.round(y.cpu().double() * gain - means.double() / (1 << MEAN_FRAC)).long()
        return z_stream, LatentPicture(crf, sym, means, indexes), z_sym

    @torch.no_grad()
    def synthesise(self, latent: LatentPicture, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixels (uint8 planes cropped to ``size`` = (height, width)) of a latent picture."""
        inv = self.tables["gain.inverse"][latent.crf].to(self.device)[None, :, None, None]
        with thread_independent():
            x = self.model.g_s(latent.gained_latent().to(self.device) * inv).clamp(0, 1)
        h, w = size
        y, u, v = from_model_output(x)
        crops = (y[0, 0, :h, :w], u[0, 0, : h // 2, : w // 2], v[0, 0, : h // 2, : w // 2])
        return tuple(torch.round(c * 255).to(torch.uint8).cpu().numpy() for c in crops)  # type: ignore[return-value]

    # -- bytes ----------------------------------------------------------------------

    def _encode(self, which: str, symbols: torch.Tensor, indexes: torch.Tensor) -> bytes:
        return self._enc().encode_with_indexes(
            symbols.reshape(-1).int().tolist(), indexes.reshape(-1).int().tolist(),
            self._cdfs[which], self.tables[f"{which}.cdf_length"].tolist(), self.tables[f"{which}.offset"].tolist())

    def _decode(self, which: str, stream: bytes, indexes: torch.Tensor) -> torch.Tensor:
        values = self._dec().decode_with_indexes(
            stream, indexes.reshape(-1).int().tolist(),
            self._cdfs[which], self.tables[f"{which}.cdf_length"].tolist(), self.tables[f"{which}.offset"].tolist())
        return torch.tensor(values, dtype=torch.int64).reshape(indexes.shape)

    def encode_symbols(self, latent: LatentPicture, mask: torch.Tensor | None = None) -> bytes:
        """rANS stream of the latent's symbols (only where ``mask``, a bool (H/16, W/16) grid, is set)."""
        sym, idx = latent.symbols, latent.indexes
        if mask is not None:
            sym, idx = sym[..., mask], idx[..., mask]
        return self._encode("y", sym, idx)

    def decode_symbols(self, stream: bytes, indexes: torch.Tensor) -> torch.Tensor:
        return self._decode("y", stream, indexes)

    def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of the z and y symbol tensors for a picture of this (even) size."""
        hp, wp = height + (-height % PAD), width + (-width % PAD)
        return (1, self.model.Nz, hp // 64, wp // 64), (1, self.model.M, hp // 16, wp // 16)

    def decode_latent(self, cur: Cursor, crf: int, height: int, width: int) -> LatentPicture:
        """Read a z stream from ``cur`` and return the entropy parameters, symbols still to be read."""
        _check_crf(crf, cur)
        z_shape, _ = self.latent_shapes(height, width)
        z_stream = bytes(cur.blob("z stream", _MAX_STREAM))
        z_idx = torch.arange(z_shape[1]).view(1, -1, 1, 1).expand(z_shape)
        z_sym = self._decode("z", z_stream, z_idx)
        indexes, means = self._hyper(z_sym, crf)
        return LatentPicture(crf, torch.zeros_like(indexes), means, indexes)

    def compress(self, planes, crf: int) -> tuple[bytes, LatentPicture]:
        """One picture -> payload (see module docstring) and its latent."""
        y = self.analyse(planes)
        z_stream, latent, _ = self.quantize(y, crf)
        data = bytes([crf]) + encode_varint(len(z_stream)) + z_stream + self.encode_symbols(latent)
        return data, latent

    def decompress(self, data: bytes, height: int, width: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], LatentPicture]:
        """Payload of :meth:`compress` -> uint8 planes and the latent."""
        cur = Cursor(data)
        crf = cur.u8("crf")
        latent = self.decode_latent(cur, crf, height, width)
        latent.symbols = self.decode_symbols(bytes(cur.take(cur.remaining, "y stream")), latent.indexes)
        return self.synthesise(latent, (height, width)), latent


def thread_independent():
    """Float convolutions whose results do not depend on the CPU thread count.

    oneDNN splits some reductions (measured: the transposed convolutions of
    the synthesis) differently with 1 and 2 threads, which moved a few pixels
    by one level; PyTorch's native convolution gave identical results, about
    1.5x slower on this CPU (docs/determinism.md).
    """
    # allow_tf32=None leaves oneDNN's TF32 switch alone: the default (True) is meant for Intel GPUs, and setting
    # it warned on every call here, flooding logs from bench and experiment workers.
    return torch.backends.mkldnn.flags(enabled=False, allow_tf32=None)


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) -> ``cuda`` when PyTorch sees a GPU, else ``cpu``."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _check_crf(crf: int, cur: Cursor | None = None) -> None:
    if not 0 <= crf < CRF_COUNT:
        msg = f"intra crf {crf} is outside 0..{CRF_COUNT - 1}"
        raise cur.error(msg) if cur else ValueError(msg)


def _split(flat: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    out, pos = [], 0
    for n in lengths.tolist():
        out.append(flat[pos : pos + n].tolist())
        pos += n
    return out

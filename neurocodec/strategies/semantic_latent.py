"""``semantic_latent``: a learned keyframe, then per-frame latent updates or skips (static and slow scenes).

The decoder keeps the keyframe's latent (exact integers, see
:mod:`neurocodec.models.coder`) as its state. Each later frame is one of:

* **skip**: the previous picture is shown again (one byte);
* **update**: 64x64-pixel tiles of the latent (4x4 latent positions) are
  replaced by the current frame's quantised latent, coded with the
  keyframe's entropy parameters; the state is synthesised again;
* **refresh**: a new learned keyframe.

The encoder decides per tile by rate-distortion with the training loss's
own trade-off: a tile is updated when ``lambda * (D_skip - D_update)``
exceeds the update's bits (``D``: YUV 6:1:1 weighted SSE, as in training).
A frame that would update more than half its tiles is refreshed instead.
Because the state is integer latents, encoder and decoder never drift,
whatever machine synthesises the pixels.

Payload::

    u8      format (1)
    u8      crf (0..63, 0 best)
    varint  frame count
    per frame: u8 type (0 skip, 1 update, 2 refresh), then
        refresh: varint length + intra picture payload (neurocodec.models.coder)
        update:  tile bitmap (ceil(tiles / 8) bytes, row-major, LSB first),
                 varint length + rANS stream of the updated tiles' symbols
"""

from __future__ import annotations

# torch is imported inside functions: importing the strategy registry must stay light.
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bitstream.chunks import Cursor, encode_varint
from ..bitstream.ids import STRATEGY_IDS
from ..errors import NcvFormatError, NeurocodecError
from ..io.frame import Frame
from ..models.registry import (
    DEFAULTS,
    INSTALLED,
    ModelRef,
    check_name,
    check_segment_model,
    load_intra,
    macs_per_pixel,
    stored_name,
)
from .base import AutoCapability, DecodeContext, Strategy, StrategySettings

if TYPE_CHECKING:
    import torch

__all__ = ["SemanticLatent"]

_FORMAT = 1
_TILE = 4  # latent positions per tile side: 64 luma pixels
_TILE_PX = 16 * _TILE
_REFRESH_SHARE = 0.5
_MIN_GAIN_BITS = 16.0  # a tile whose whole error is worth fewer bits than this is never updated
SKIP, UPDATE, REFRESH = 0, 1, 2
_MAX_PICTURE = 1 << 30


def _lambda(crf: int, lambdas: tuple[float, ...]) -> float:
    """The training lambda at a CRF (geometric interpolation between trained levels)."""
    from ..models.integer import crf_blend  # heavy: imports torch

    a, b, f = crf_blend(crf, len(lambdas))
    if a == b:  # a single-rate model
        return lambdas[a]
    return math.exp((1 - f) * math.log(lambdas[a]) + f * math.log(lambdas[b]))


def _tile_distortion(src: Frame, rec: tuple[np.ndarray, ...], tiles: tuple[int, int]) -> np.ndarray:
    """Weighted SSE ``(1.5 SSE_Y + SSE_U + SSE_V) / 2`` per 64x64 tile (the training loss's distortion)."""
    th, tw = tiles
    out = np.zeros(tiles, dtype=np.float64)
    for plane, r, weight, px in ((src.y, rec[0], 0.75, _TILE_PX), (src.u, rec[1], 0.5, _TILE_PX // 2), (src.v, rec[2], 0.5, _TILE_PX // 2)):
        e = (plane.astype(np.float64) - r.astype(np.float64)) ** 2
        e = np.pad(e, ((0, th * px - e.shape[0]), (0, tw * px - e.shape[1])))
        out += weight * e.reshape(th, px, tw, px).sum(axis=(1, 3))
    return out


def _symbol_bits(sym: torch.Tensor, idx: torch.Tensor, cdf: torch.Tensor, length: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Estimated rANS bits of each symbol from the integer CDF tables (escapes approximated)."""
    import torch  # heavy: torch loads only on the neural paths

    value = sym - offset[idx]
    top = length[idx] - 2  # the last in-table value is the escape symbol
    inside = (value >= 0) & (value < top)
    v = torch.where(inside, value, top)
    p = (cdf[idx, v + 1] - cdf[idx, v]).clamp_min(1).double() / 65536
    bits = -torch.log2(p)
    escape = 2 * torch.log2(value.abs().double() + 1) + 8
    return torch.where(inside, bits, bits + escape)


def _to_tiles(x: torch.Tensor, tiles: tuple[int, int]) -> torch.Tensor:
    """Sum a (1, C, H/16, W/16) tensor over channels and 4x4 latent tiles -> (th, tw)."""
    import torch  # heavy: torch loads only on the neural paths

    th, tw = tiles
    s = x[0].sum(dim=0)
    s = torch.nn.functional.pad(s, (0, tw * _TILE - s.shape[1], 0, th * _TILE - s.shape[0]))
    return s.reshape(th, _TILE, tw, _TILE).sum(dim=(1, 3))


class SemanticLatent(Strategy):
    """Learned keyframe plus skip / latent-tile updates / refreshes chosen by rate-distortion."""

    name = "semantic_latent"
    id = STRATEGY_IDS["semantic_latent"]
    default_crf = 20
    crf_range = (0, 63)
    rd_crf_range = (0, 63)  # benchmark sweep: every trained level

    def __init__(self) -> None:
        self._coders: dict[tuple[bytes, str], Any] = {}
        # Weights files this instance encoded with, by the name stored for them (the encoder's own
        # measurements and hashes use them; a decoder finds them only through its ModelRegistry).
        self._user_files: dict[str, str] = {}
        self._encoded_with: str | None = None

    def _coder(self, model: str | os.PathLike | None, device: str = "cpu", expect_sha256: bytes | None = None):
        """The intra coder for a shipped or pretrained name or a trusted weights file; decoding runs on the CPU."""
        from ..models.coder import IntraCoder  # heavy: imports torch

        loaded = load_intra(model, expect_sha256=expect_sha256)  # hash checked before the file is unpickled
        key = (loaded.sha256, device)
        if key not in self._coders:
            self._coders[key] = IntraCoder(loaded, device)
        return self._coders[key]

    def _stored_name(self, model: str | None) -> str:
        """The name :meth:`describe` stores; a weights file is remembered under it for :meth:`weight_hashes`."""
        name = stored_name(model)
        if model is not None and name != model:
            self._user_files[name] = str(model)
        return name

    def _encoder_ref(self, params: dict[str, Any] | None):
        """The weights a segment's params name, as the encoder sees them: installed, or a file it encoded with."""
        name = check_name((params or {}).get("model", DEFAULTS["intra"]))
        if name in self._user_files:
            return ModelRef("intra", name, Path(self._user_files[name]))
        return INSTALLED.resolve("intra", name)

    # -- encoder -------------------------------------------------------------------

    def encode(self, frames: Sequence[Frame], settings: StrategySettings, fps: Any) -> bytes:
        import torch  # heavy: torch loads only on the neural paths

        crf = int(round(settings.crf if settings.crf is not None else self.default_crf))
        if settings.bitrate is not None:
            raise NotImplementedError("semantic_latent has no bitrate mode; use crf (or auto's bitrate mode)")
        coder = self._coder(settings.model, settings.device)
        self._encoded_with = settings.model
        lam = _lambda(crf, coder.model.lambdas)
        t = coder.tables
        cdf_rows = t["y.cdf_length"]
        cdf = torch.zeros(len(cdf_rows), int(cdf_rows.max()), dtype=torch.int64)
        pos = 0
        for i, n in enumerate(cdf_rows.tolist()):
            cdf[i, :n] = t["y.cdf"][pos : pos + n]
            pos += n
        h, w = frames[0].y.shape
        tiles = (math.ceil(h / _TILE_PX), math.ceil(w / _TILE_PX))
        out = [bytes([_FORMAT, crf]), encode_varint(len(frames))]
        state = recon = None
        since_key = 0
        for f in frames:
            planes = (f.y, f.u, f.v)
            if state is None or (settings.keyint is not None and since_key >= settings.keyint):
                state, recon = self._refresh(coder, planes, crf, out)
                since_key = 1
                continue
            since_key += 1
            d_skip = _tile_distortion(f, recon, tiles)
            if lam * d_skip.max() < _MIN_GAIN_BITS:
                out.append(bytes([SKIP]))
                continue
            gain = t["gain.linear"][crf].double()[None, :, None, None] / 65536
            y = coder.analyse(planes).cpu().double()
            sym = torch.round(y * gain - state.means.double() / 256).long()
            bits = _to_tiles(_symbol_bits(sym, state.indexes, cdf, cdf_rows, t["y.offset"]), tiles).numpy()
            cand = type(state)(crf, sym, state.means, state.indexes)
            d_upd = _tile_distortion(f, coder.synthesise(cand, (h, w)), tiles)
            update = lam * (d_skip - d_upd) > bits + _MIN_GAIN_BITS
            if update.mean() > _REFRESH_SHARE:
                state, recon = self._refresh(coder, planes, crf, out)
                since_key = 1
                continue
            if not update.any():
                out.append(bytes([SKIP]))
                continue
            mask = _latent_mask(update, sym.shape[-2:])
            state.symbols[..., mask] = sym[..., mask]
            stream = coder.encode_symbols(state, mask)
            out += [bytes([UPDATE]), np.packbits(update.reshape(-1), bitorder="little").tobytes(),
                    encode_varint(len(stream)), stream]
            recon = coder.synthesise(state, (h, w))
        return b"".join(out)

    @staticmethod
    def _refresh(coder, planes, crf, out):
        data, state = coder.compress(planes, crf)
        out += [bytes([REFRESH]), encode_varint(len(data)), data]
        return state, coder.synthesise(state, planes[0].shape)

    # -- decoder -------------------------------------------------------------------

    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        cur = Cursor(payload)
        fmt = cur.u8("payload format")
        if fmt != _FORMAT:
            raise cur.error(f"semantic_latent payload format {fmt} is not supported")
        crf = cur.u8("crf")
        count = cur.varint("frame count", ctx.frame_count)
        if count != ctx.frame_count:
            raise cur.error(f"semantic_latent payload holds {count} frames, the segment {ctx.frame_count}")
        coder = self._decoder(ctx)
        h, w = ctx.height, ctx.width
        tiles = (math.ceil(h / _TILE_PX), math.ceil(w / _TILE_PX))
        ntiles = tiles[0] * tiles[1]
        state = frame = None
        for _ in range(count):
            kind = cur.u8("frame type")
            if kind == REFRESH:
                planes, state = coder.decompress(bytes(cur.blob("keyframe", _MAX_PICTURE)), h, w)
                if state.crf != crf:
                    raise cur.error(f"keyframe crf {state.crf} differs from the segment's {crf}")
                frame = Frame(*planes)
            elif state is None:
                raise cur.error("semantic_latent segment does not start with a keyframe")
            elif kind == UPDATE:
                bits = np.frombuffer(bytes(cur.take((ntiles + 7) // 8, "tile bitmap")), dtype=np.uint8)
                update = np.unpackbits(bits, bitorder="little")[:ntiles].astype(bool).reshape(tiles)
                if not update.any():
                    raise cur.error("update frame with no tile")
                mask = _latent_mask(update, state.symbols.shape[-2:])
                stream = bytes(cur.blob("tile stream", _MAX_PICTURE))
                state.symbols[..., mask] = coder.decode_symbols(stream, state.indexes[..., mask])
                frame = Frame(*coder.synthesise(state, (h, w)))
            elif kind != SKIP:
                raise cur.error(f"unknown semantic_latent frame type {kind}")
            yield frame
        if cur.remaining:
            raise NcvFormatError(f"semantic_latent payload has {cur.remaining} trailing bytes")

    def _decoder(self, ctx: DecodeContext):
        if "model" not in ctx.params and self._encoded_with is not None:
            return self._coder(self._encoded_with)  # the encoder measuring its own payload (no params yet)
        ref = (ctx.models or INSTALLED).resolve("intra", check_name(ctx.params.get("model", DEFAULTS["intra"])))
        expect = ctx.weight_hashes[0] if ctx.weight_hashes else None
        return self._coder(ref.path if ref.path is not None else ref.name, expect_sha256=expect)

    def validate_params(self, params: dict[str, Any], ctx: DecodeContext) -> None:
        crf = params.get("crf", self.default_crf)
        if type(crf) is not int or not 0 <= crf <= 63:
            raise NcvFormatError(f"semantic_latent crf {crf!r} is not an integer in 0..63")
        keyint = params.get("keyint")
        if keyint is not None and (type(keyint) is not int or not 1 <= keyint <= 10_000):
            raise NcvFormatError(f"semantic_latent keyint {keyint!r} is not an integer in 1..10000")
        check_segment_model("intra", params, ctx)

    # -- description -----------------------------------------------------------------

    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        crf = int(round(settings.crf if settings.crf is not None else self.default_crf))
        return {"crf": crf, "model": self._stored_name(settings.model), "keyint": settings.keyint}

    def reproduce(self, params, width, height, fps):
        try:
            return {"decoder_macs_per_pixel": round(self.decoder_macs_per_pixel(params))}
        except NeurocodecError:  # a model this machine does not have (or a bad name): nothing to derive
            return {}

    def weight_hashes(self, params: dict[str, Any] | None = None) -> tuple[bytes, ...]:
        return (self._encoder_ref(params).sha256(),)

    def decoder_macs_per_pixel(self, params: dict[str, Any] | None = None) -> float:
        return macs_per_pixel(self._encoder_ref(params))

    # -- scene-adaptive hooks ------------------------------------------------------------

    def auto_capability(self) -> AutoCapability:
        # No effort tries it: it needed 480-2,150 % more bits than x265 on the static and talking-head
        # clips it was built for (docs/benchmarks.md), so trials would only spend the effort's time.
        # The capability remains for its CRF search (--quality, quality targets).
        return AutoCapability(rank=4, crf_range=self.crf_range, presets={},
                              scene_classes=frozenset({"static", "talking_head"}), quality_points=_QUALITY_MAP)


# x265 all-intra CRF with the same mean PSNR-YUV on Kodak (benchmarks/intra_kodak.py, docs/benchmarks.md) as our
# CRF 0, 9, ..., 63; x265 above CRF 47 extrapolated. Better quality than x265 CRF 33 is out of reach (CRF 0).
_QUALITY_MAP = ((33.1, 34.2, 36.0, 39.2, 43.8, 48.9, 52.9, 55.7), (0, 9, 18, 27, 36, 45, 54, 63))


def _latent_mask(update: np.ndarray, latent_hw):
    import torch  # heavy: torch loads only on the neural paths

    m = torch.from_numpy(np.repeat(np.repeat(update, _TILE, axis=0), _TILE, axis=1))
    return m[: latent_hw[0], : latent_hw[1]]

"""``hybrid``: a classical base layer (x265 or SVT-AV1, optionally at reduced resolution) plus neural enhancement.

Encoder: downscale the scene by ``scale`` (1, 3/4, 2/3 or 1/2), code it with the
base strategy, decode and upscale it back (bicubic), then overfit the
enhancement network to this scene (it has the originals) and send the
change when its measured quality gain is worth its bits. Per scene the
encoder picks, by rate-distortion on frames spread over the scene: no
network (the upscaled base as it is), the shipped network, or the network
with an update, whose groups (biases, per-channel gains, output and input
layer weights) and quantisation step are chosen the same way
(:mod:`neurocodec.models.update`). The decoder runs the base decoder, the
upscale and the network with the update folded in: the update changes
what the network computes, not how much.

Options (:class:`HybridOptions`, ``--opt KEY=VALUE``): ``base`` (av1 or x265),
``base-preset``, ``scale`` (1, 0.75, 0.667, 0.5), ``adapt`` (fine-tuning steps per
scene; 0: the shipped weights only), ``light`` (the light network, under
5k MACs per pixel) and ``network`` (false: never run the network; the
bicubic upscale of the base is the picture, auto's resolution ladder). The
older preset ``BASE[:PRESET][/scale=S][/adapt=N]`` (e.g. ``av1:8/scale=0.5``)
is an alias.

Payload (format 2; format 1, with a zlib-coded bias update as adaptation
type 1, is still read)::

    u8      format (2)
    u8      base strategy id (2 x265, 3 av1)
    varint  base width, varint base height
    u8      scale index (0: 1, 1: 3/4, 2: 1/2; selects the network's per-scale biases; a 2/3 base uses
            3/4's, the nearest: the base size above, not the index, gives the geometry)
    u8      adaptation: 0 shipped network, 2 no network (upscaled base only), 3 network update
    if 3:   the update (:mod:`neurocodec.models.update`: groups, step exponents, priors, rANS stream)
    bytes   the base strategy's payload, to the end
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bitstream.chunks import Cursor, encode_varint
from ..bitstream.ids import STRATEGY_IDS
from ..errors import NeurocodecError
from ..io.frame import Frame
from ..io.resize import resize_frame, scaled_size
from ..models.registry import DEFAULTS, INSTALLED, check_name, check_segment_model, load_enhance, macs_per_pixel
from .base import DecodeContext, StrategySettings, get_strategy
from .layered import LayeredStrategy, base_option, base_preset_option, format_preset, read_header
from .options import changed_options, format_value, option

# torch is imported inside functions: importing the strategy registry must stay light.

__all__ = ["Hybrid", "HybridOptions", "LIGHT_MODEL"]

log = logging.getLogger(__name__)

_FORMAT = 2
_SCALES = (1.0, 0.75, 2 / 3, 0.5)
_SHIPPED, _BYPASS, _UPDATE = 0, 2, 3  # adaptation types (1: format 1's zlib bias update, read only)
#: The shipped light network (16 channels, 6 layers): the ``light`` option.
LIGHT_MODEL = "enhance_light_yuv420"
# An update is kept when its gain in dB exceeds its rate increase in percent / 16: on the development
# clips 1 dB cost about 16 % of the bits at these rates (a typical video RD slope).
_PCT_PER_DB = 16.0
_MAX_BLOB = 1 << 20
_TRAIN_FRAMES, _EVAL_FRAMES, _EVAL_SIDE = 16, 8, 192
# Step exponents (value * 2**-e) per update group, tried as they are and one step coarser.
_EXPONENTS = {"bias": 9, "gain": 7, "tail": 9, "head": 9}
# The subsets of each fine-tuning stage's groups (models.adapt.STAGES) offered to the RD choice.
_SUBSETS = ((("bias",), ("bias", "gain")), (("bias", "gain", "tail"), ("bias", "gain", "tail", "head")))


@dataclass(frozen=True)
class HybridOptions:
    """The options of ``hybrid`` (alias: ``BASE[:PRESET][/scale=S][/adapt=N]``, what ``str()`` writes)."""

    base: str = base_option()
    base_preset: str | None = base_preset_option()
    scale: float = option(1.0, float, "Base layer resolution, relative to the video.", choices=_SCALES)
    adapt: int = option(200, int, "Fine-tuning steps of the enhancement network per scene (0: shipped weights only).",
                        range=(0, 2000))
    network: bool = option(True, bool, "Run the enhancement network (false: the normatively upscaled base only, "
                           "a rung of auto's resolution ladder).")
    light: bool = option(False, bool, "The light network (16 channels, 6 layers, under 5k MACs per pixel) "
                         "instead of the standard one (32 channels, 8 layers, 19.3k).")

    def __str__(self) -> str:
        tail = ("" if self.network else "/network=false") + ("/light=true" if self.light else "")
        return format_preset(self.base, self.base_preset, f"scale={format_value(self.scale)}/adapt={self.adapt}{tail}")


def _to_tensor(frames: Sequence[Frame]):
    import torch  # heavy: torch loads only on the neural paths

    from ..models.enhance import planes_to_input  # heavy: imports torch

    t = [torch.from_numpy(np.stack([getattr(f, k) for f in frames])).float().unsqueeze(1) / 255 for k in "yuv"]
    return planes_to_input(*t)


def _to_frame(x) -> Frame:
    from ..models.enhance import output_to_planes  # heavy: imports torch

    y, u, v = (p[0, 0].clamp(0, 1).mul(255).round().byte().numpy() for p in output_to_planes(x))
    return Frame(y, u, v)


def _enhance(net, frames: Sequence[Frame], scale_index: int) -> list[Frame]:
    """Run the network frame by frame."""
    import torch  # heavy: torch loads only on the neural paths

    from ..models.coder import thread_independent  # heavy: imports torch

    with torch.no_grad(), thread_independent():
        return [_to_frame(net(_to_tensor([f]), scale_index)) for f in frames]


def _eval_crops(x, ref, side: int = _EVAL_SIDE):
    """One crop of at most ``side`` (half resolution) per frame, placed on a 3x3 grid that moves frame to frame."""
    import torch  # heavy: torch loads only on the neural paths

    h, w = x.shape[-2:]
    ch, cw = min(side, h), min(side, w)
    xs, rs = [], []
    for j in range(len(x)):
        oy = (h - ch) * (j % 3) // 2
        ox = (w - cw) * (j * 2 % 3) // 2
        xs.append(x[j : j + 1, :, oy : oy + ch, ox : ox + cw])
        rs.append(ref[j : j + 1, :, oy : oy + ch, ox : ox + cw])
    return torch.cat(xs), torch.cat(rs)


def _distortion(net, x, ref, scale_index: int) -> float:
    """YUV 6:1:1 squared error of the network's 8-bit output (None: of ``x`` itself) on evaluation crops."""
    import torch  # heavy: torch loads only on the neural paths

    from ..models.adapt import one_thread, yuv_mse  # heavy: imports torch

    # The encoder's choice only (the decoder never compares): oneDNN on one thread is fast and thread-count free.
    with torch.no_grad(), one_thread():
        out = x if net is None else torch.cat([net(x[i : i + 2], scale_index) for i in range(0, len(x), 2)])
        out = out.clamp(0, 1).mul(255).round().div(255)
        return float(yuv_mse(out, ref).double().sum())


def _read_zlib_biases(cur: Cursor, net) -> list:
    """Format 1's bias update: u8 step exponent, then a zlib blob of int8 values (one per bias, layer order)."""
    import torch  # heavy: torch loads only on the neural paths

    from ..models.update import group_tensors  # heavy: imports torch

    exp = cur.u8("step exponent")
    blob = bytes(cur.blob("adaptation", _MAX_BLOB))
    sizes = [t.numel() for t in group_tensors(net, "bias")]
    want = sum(sizes)
    inflate = zlib.decompressobj()
    try:
        raw = np.frombuffer(inflate.decompress(blob, want + 1), dtype=np.int8)  # bounded: no zip bombs
    except zlib.error:
        raise cur.error("hybrid adaptation data is not valid zlib") from None
    if raw.size != want or inflate.unconsumed_tail:
        raise cur.error(f"hybrid adaptation holds {raw.size}{'+' if inflate.unconsumed_tail else ''} values, the network has {want}")
    out, pos = [], 0
    for n in sizes:
        out.append(torch.from_numpy(raw[pos : pos + n].astype(np.float32)) / (1 << exp))
        pos += n
    return out


class Hybrid(LayeredStrategy):
    """Classical base layer (x265 / SVT-AV1, at scale 1, 3/4, 2/3 or 1/2) plus a content-adapted enhancement network."""

    name = "hybrid"
    id = STRATEGY_IDS["hybrid"]
    Options = HybridOptions
    grammar = "BASE[:PRESET][/scale=S][/adapt=N]"
    auto_rank = 3
    auto_scene_classes = None  # reduced resolution pays at low rates on any content (soft content most)
    # The resolution ladder of medium and slow: the base at 3/4, 2/3 and 1/2 scale, upscaled normatively, no
    # network. The network itself is screened out of every effort: overfitted per scene it saved at most
    # 1 % at full scale and 0.3-6 points over the plain upscale at half scale, and its fine-tuning costs
    # 37-228x SVT-AV1 preset 6's time (6-61x with the light network), far past any effort's budget on a CPU
    # (docs/benchmarks.md, "hybrid against its own base").
    auto_variants = tuple((("medium", "slow"), {"scale": s, "network": False}) for s in _SCALES if s != 1.0)
    # Reduced resolution won only at the low-rate end (SVT-AV1 CRF 59 and above on the development clips).
    auto_low_rate_only = True

    def _net(self, model: str | None = None, expect_sha256: bytes | None = None):
        """The enhancement network of a shipped name or a trusted weights file (hash checked before loading)."""
        return load_enhance(model, expect_sha256=expect_sha256)

    def _ref(self, params: dict[str, Any] | None, models=None):
        """The weights a segment's params name, found by name only (installed, or where ``models`` says)."""
        name = check_name((params or {}).get("model", DEFAULTS["enhance"]), "enhance")
        return (models or INSTALLED).resolve("enhance", name)

    # -- encoder -------------------------------------------------------------------

    def encode(self, frames: Sequence[Frame], settings: StrategySettings, fps: Any) -> bytes:
        p = self.resolve_options(settings)
        base = get_strategy(p.base)
        w, h = frames[0].width, frames[0].height
        bw, bh = scaled_size(w, h, p.scale)
        small = [resize_frame(f, bw, bh) for f in frames]
        bs = self.base_settings(p, settings)
        base_payload = base.encode(small, bs, fps)
        ctx = DecodeContext(bw, bh, len(frames), base.describe(bs, bw, bh, fps))
        net, _, _ = self._net(LIGHT_MODEL if p.light else None)
        sidx = net.nearest_scale_index(p.scale)
        head = bytes([_FORMAT, base.id]) + encode_varint(bw) + encode_varint(bh) + bytes([sidx])
        if not p.network:
            return head + bytes([_BYPASS]) + base_payload
        up = [resize_frame(f, w, h) for f in base.decode(base_payload, ctx)]
        return head + self._adaptation(net, sidx, up, frames, p.adapt, len(head) + len(base_payload)) + base_payload

    def _adaptation(self, net, sidx: int, up: Sequence[Frame], src: Sequence[Frame], steps: int, rest: int) -> bytes:
        """The adaptation bytes the rate-distortion choice keeps: no network, the shipped one, or an update.

        Judged on crops of frames spread over the scene (between the frames the fine-tuning saw, where the
        scene is long enough): each candidate's gain in dB against its extra bytes as a share of the
        segment (``rest`` bytes besides the adaptation), at :data:`_PCT_PER_DB`.
        """
        from ..models.adapt import one_thread, overfit, spread  # heavy: imports torch
        from ..models.update import apply_update, quantize, write_update  # heavy: imports torch

        n = len(src)
        evals = spread(n, _EVAL_FRAMES, 0.5 if n > _TRAIN_FRAMES else 0.0)
        x, ref = _eval_crops(_to_tensor([up[i] for i in evals]), _to_tensor([src[i] for i in evals]))
        d_off, d_plain = _distortion(None, x, ref, sidx), _distortion(net, x, ref, sidx)
        best, d_best = (bytes([_SHIPPED]), d_plain) if d_plain <= d_off else (bytes([_BYPASS]), d_off)
        if steps == 0:
            return best
        train = spread(n, _TRAIN_FRAMES)
        with one_thread():
            stages = overfit(net, _to_tensor([up[i] for i in train]), _to_tensor([src[i] for i in train]), sidx, steps)
        size = rest + 1
        best_score = 0.0
        for deltas, subsets in zip(stages, _SUBSETS):
            for groups in subsets:
                for coarser in (0, 1):
                    q = quantize({g: deltas[g] for g in groups}, {g: _EXPONENTS[g] - coarser for g in groups})
                    data = bytes([_UPDATE]) + write_update(q)
                    d = _distortion(apply_update(net, q.deltas()), x, ref, sidx)
                    if d <= 0 or d_best <= 0:
                        continue
                    score = _PCT_PER_DB * 10 * math.log10(d_best / d) - 100 * (len(data) - 1) / size
                    log.debug("hybrid update %s at %s: %d bytes, %+.3f dB, score %+.2f", "+".join(groups),
                              "coarser" if coarser else "finer", len(data) - 1, 10 * math.log10(d_best / d), score)
                    if score > best_score:
                        best, best_score = data, score
        return best

    # -- decoder -------------------------------------------------------------------

    def _parse(self, payload: bytes, net):
        cur = Cursor(payload)
        fmt, base = read_header(cur, "hybrid", (1, _FORMAT))
        bw, bh = cur.varint("base width", 1 << 16), cur.varint("base height", 1 << 16)
        if bw < 16 or bh < 16 or bw % 2 or bh % 2:
            raise cur.error(f"hybrid base size {bw}x{bh} is not even and at least 16x16")
        sidx = cur.u8("scale index")
        if sidx >= len(net.scales):
            raise cur.error(f"hybrid scale index {sidx} is not one of the network's {len(net.scales)} scales")
        deltas = None
        kind = cur.u8("adaptation type")
        if kind == 1 and fmt == 1:
            deltas = {"bias": _read_zlib_biases(cur, net)}
        elif kind == _UPDATE and fmt == _FORMAT:
            from ..models.update import read_update  # heavy: imports torch

            deltas = read_update(cur, net).deltas()
        elif kind not in (_SHIPPED, _BYPASS):
            raise cur.error(f"unknown hybrid adaptation type {kind} in payload format {fmt}")
        return base, bw, bh, sidx, kind, deltas, bytes(cur.take(cur.remaining, "base payload"))

    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        from ..models.update import apply_update  # heavy: imports torch

        expect = ctx.weight_hashes[0] if ctx.weight_hashes else None
        net, _, _ = self._net(str(self._ref(ctx.params, ctx.models).path), expect)
        base, bw, bh, sidx, kind, deltas, base_payload = self._parse(payload, net)
        net = apply_update(net, deltas)
        base_ctx = DecodeContext(bw, bh, ctx.frame_count, {})
        batch: list[Frame] = []
        for f in base.decode(base_payload, base_ctx):
            up = resize_frame(f, ctx.width, ctx.height)
            if kind == _BYPASS:
                yield up
                continue
            batch.append(up)
            if len(batch) == 8:
                yield from _enhance(net, batch, sidx)
                batch = []
        yield from _enhance(net, batch, sidx)

    # -- description ------------------------------------------------------------------

    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        # Kept small (stored in every segment): the base encoder's options follow from these (see reproduce()).
        opts = self.resolve_options(settings)
        params = {"crf": settings.crf, "model": LIGHT_MODEL if opts.light else DEFAULTS["enhance"]}
        changed = changed_options(opts)
        if changed:
            params["opts"] = changed
        return params

    def reproduce(self, params, width, height, fps):
        p = self.stored_options(params)
        base = get_strategy(p.base)
        bw, bh = scaled_size(width, height, p.scale)
        bs = StrategySettings(crf=self.stored_crf(params), preset=p.base_preset)
        bp = base.describe(bs, bw, bh, fps)
        out = {"base": bp | base.reproduce(bp, bw, bh, fps), "base_size": [bw, bh]}
        try:
            out["decoder_macs_per_pixel"] = round(self.decoder_macs_per_pixel(params))
        except NeurocodecError:  # a model this machine does not have (or a bad name): nothing to derive
            pass
        return out

    def validate_params(self, params: dict[str, Any], ctx: DecodeContext) -> None:
        self.stored_options(params)
        self.stored_crf(params)
        check_segment_model("enhance", params, ctx)

    def weight_hashes(self, params: dict[str, Any] | None = None) -> tuple[bytes, ...]:
        return (self._ref(params).sha256(),)

    def decoder_macs_per_pixel(self, params: dict[str, Any] | None = None) -> float:
        # Plus the bicubic upscale of a reduced base: 4 taps x 2 passes per sample, 1.5 samples per pixel.
        p = self.stored_options(params or {})
        network = macs_per_pixel(self._ref(params)) if p.network else 0.0
        return network + (12.0 if p.scale != 1.0 else 0.0)

"""``hybrid``: a classical base layer (x265 or SVT-AV1, optionally at reduced resolution) plus neural enhancement.

Encoder: downscale the scene by ``scale`` (1, 3/4 or 1/2), code it with the
base strategy, decode and upscale it back (bicubic), then (optionally)
fine-tune the enhancement network's biases on this scene, quantise the
change and keep it when its measured quality gain is worth its bits. A
scene where the network does not help (a clean, full-scale base) is sent
with the network switched off. The
decoder runs the base decoder, the upscale and the fixed small network with
the scene's bias update. See :mod:`neurocodec.models.enhance`.

Options (:class:`HybridOptions`, ``--opt KEY=VALUE``): ``base`` (av1 or x265),
``base-preset``, ``scale`` (1, 0.75, 0.5), ``adapt``, the number of
fine-tuning steps (0: shipped weights only; default 40), and ``network``
(false: never run the network; the bicubic upscale of the base is the
picture, auto's resolution ladder). The older preset
``BASE[:PRESET][/scale=S][/adapt=N]`` (e.g. ``av1:8/scale=0.5``) is an alias.

Payload::

    u8      format (1)
    u8      base strategy id (2 x265, 3 av1)
    varint  base width, varint base height
    u8      scale index (0: 1, 1: 3/4, 2: 1/2; selects the network's per-scale biases)
    u8      adaptation: 0 shipped network, 1 bias update, 2 no network (upscaled base only)
    if 1:   u8 step exponent e (update = int8 value * 2**-e),
            varint length + zlib-compressed int8 values (adaptation_parameters order)
    bytes   the base strategy's payload, to the end
"""

from __future__ import annotations

import copy

# torch is imported inside functions: importing the strategy registry must stay light.
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
from .options import changed_options, option

__all__ = ["Hybrid", "HybridOptions"]

_FORMAT = 1
_SCALES = (1.0, 0.75, 0.5)
_BYPASS = 2  # adaptation type: no network for this scene, the (upscaled) base as it is
_STEP_EXP = 10  # bias updates in steps of 2**-10 of the 0..1 pixel range
# Keep an update when its gain in dB exceeds its rate increase in percent / 16: on the development
# clips 1 dB cost about 16 % of the bits at these rates (a typical video RD slope).
_PCT_PER_DB = 16.0
_MAX_BLOB = 1 << 20


@dataclass(frozen=True)
class HybridOptions:
    """The options of ``hybrid`` (alias: ``BASE[:PRESET][/scale=S][/adapt=N]``, what ``str()`` writes)."""

    base: str = base_option()
    base_preset: str | None = base_preset_option()
    scale: float = option(1.0, float, "Base layer resolution, relative to the video.", choices=_SCALES)
    adapt: int = option(40, int, "Fine-tuning steps of the enhancement network per scene (0: shipped weights only).",
                        range=(0, 1000))
    network: bool = option(True, bool, "Run the enhancement network (false: the normatively upscaled base only, "
                           "a rung of auto's resolution ladder).")

    def __str__(self) -> str:
        tail = "" if self.network else "/network=false"
        return format_preset(self.base, self.base_preset, f"scale={self.scale:g}/adapt={self.adapt}{tail}")


def _to_tensor(frames: Sequence[Frame]):
    import torch  # heavy: torch loads only on the neural paths

    from ..models.enhance import planes_to_input  # heavy: imports torch

    t = [torch.from_numpy(np.stack([getattr(f, k) for f in frames])).float().unsqueeze(1) / 255 for k in "yuv"]
    return planes_to_input(*t)


def _to_frame(x) -> Frame:
    from ..models.enhance import output_to_planes  # heavy: imports torch

    y, u, v = (p[0, 0].clamp(0, 1).mul(255).round().byte().numpy() for p in output_to_planes(x))
    return Frame(y, u, v)


def _adapted(net, deltas):
    """A copy of the shipped network with a scene's bias update added (the shipped one is shared: never modified)."""

    import torch  # heavy: torch loads only on the neural paths

    from ..models.enhance import adaptation_parameters  # heavy: imports torch

    if deltas is None:
        return net
    work = copy.deepcopy(net)
    with torch.no_grad():
        for p, d in zip(adaptation_parameters(work), deltas):
            p.add_(d)
    return work


def _enhance(net, frames: Sequence[Frame], scale_index: int) -> list[Frame]:
    """Run the network frame by frame."""
    import torch  # heavy: torch loads only on the neural paths

    from ..models.coder import thread_independent  # heavy: imports torch

    with torch.no_grad(), thread_independent():
        return [_to_frame(net(_to_tensor([f]), scale_index)) for f in frames]


def _finetune(net, up: Sequence[Frame], src: Sequence[Frame], steps: int, scale_index: int, seed: int = 0):
    """Bias deltas tuned on this scene (random crops of up to 8 evenly spaced frames), quantised to int8."""

    import torch  # heavy: torch loads only on the neural paths

    from ..models.adapt import yuv_mse  # heavy: imports torch
    from ..models.enhance import adaptation_parameters  # heavy: imports torch

    work = copy.deepcopy(net)
    for p in work.parameters():
        p.requires_grad_(False)
    params = adaptation_parameters(work)
    for p in params:
        p.requires_grad_(True)
    pick = _pick(len(up))
    x, ref = _to_tensor([up[i] for i in pick]), _to_tensor([src[i] for i in pick])
    gen = torch.Generator().manual_seed(seed)
    crop = min(64, x.shape[-2], x.shape[-1])  # half-resolution crop (128 luma pixels)
    opt = torch.optim.Adam(params, lr=1e-3)
    for _ in range(steps):
        i = torch.randint(len(pick), (4,), generator=gen)
        oy = torch.randint(x.shape[-2] - crop + 1, (1,), generator=gen).item()
        ox = torch.randint(x.shape[-1] - crop + 1, (1,), generator=gen).item()
        xb, rb = x[i, :, oy : oy + crop, ox : ox + crop], ref[i, :, oy : oy + crop, ox : ox + crop]
        loss = yuv_mse(work(xb, scale_index), rb).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    base = adaptation_parameters(net)
    q = [torch.round((p.detach() - b) * (1 << _STEP_EXP)).clamp(-127, 127).to(torch.int8) for p, b in zip(params, base)]
    return q


def _pick(n: int) -> np.ndarray:
    """At most 8 evenly spaced frame indexes of a scene of ``n`` frames."""
    return np.unique(np.linspace(0, n - 1, min(8, n)).round().astype(int))


def _dequantize(q):
    return [t.float() / (1 << _STEP_EXP) for t in q]


def _weighted_sse(a: Sequence[Frame], b: Sequence[Frame]) -> float:
    total = 0.0
    for f, g in zip(a, b):
        for pa, pb, w in ((f.y, g.y, 6.0), (f.u, g.u, 4.0), (f.v, g.v, 4.0)):  # 6:1:1 per pixel of each plane size
            total += w * float(((pa.astype(np.float64) - pb.astype(np.float64)) ** 2).sum())
    return total


class Hybrid(LayeredStrategy):
    """Classical base layer (x265 / SVT-AV1, at scale 1, 3/4 or 1/2) plus a content-adapted enhancement network."""

    name = "hybrid"
    id = STRATEGY_IDS["hybrid"]
    Options = HybridOptions
    grammar = "BASE[:PRESET][/scale=S][/adapt=N]"
    auto_rank = 3
    auto_scene_classes = None  # reduced resolution pays at low rates on any content (soft content most)
    # The resolution ladder of medium and slow: the base at 3/4 and 1/2 scale, upscaled normatively, no
    # network. The network itself is screened out of every effort: it tied SVT-AV1 at full scale and lost at
    # reduced scales except on one clip, where the reduction did most of the work (docs/benchmarks.md), and
    # its per-scene fine-tuning in every trial took slow far past its time budget (0.1 fps at 176x144).
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
        net, _, _ = self._net()
        sidx = net.scale_index(p.scale)
        head = bytes([_FORMAT, base.id]) + encode_varint(bw) + encode_varint(bh) + bytes([sidx])
        if not p.network:
            return head + bytes([_BYPASS]) + base_payload
        up = [resize_frame(f, w, h) for f in base.decode(base_payload, ctx)]
        # Per scene, the cheapest of: the shipped network, no network (the network can hurt a clean, full-scale
        # base), and the network with a bias update (worth its bytes?). Judged on at most 8 evenly spaced frames.
        pick = _pick(len(frames))
        ref, dec = [frames[i] for i in pick], [up[i] for i in pick]
        d_plain, d_off = _weighted_sse(ref, _enhance(net, dec, sidx)), _weighted_sse(ref, dec)
        plain = head + (b"\0" if d_plain <= d_off else bytes([_BYPASS])) + base_payload
        if p.adapt == 0:
            return plain
        q = _finetune(net, up, frames, p.adapt, sidx)
        blob = zlib.compress(np.concatenate([t.numpy().reshape(-1) for t in q]).tobytes(), 9)
        adapted = head + bytes([1, _STEP_EXP]) + encode_varint(len(blob)) + blob + base_payload
        d_adapt = _weighted_sse(ref, _enhance(_adapted(net, _dequantize(q)), dec, sidx))
        d_best = min(d_plain, d_off)
        gain_db = 10 * math.log10(d_best / d_adapt) if d_adapt > 0 and d_best > 0 else 0.0
        extra_pct = 100 * (len(adapted) - len(plain)) / len(plain)
        return adapted if gain_db * _PCT_PER_DB > extra_pct else plain

    # -- decoder -------------------------------------------------------------------

    def _parse(self, payload: bytes, net):
        cur = Cursor(payload)
        base = read_header(cur, "hybrid", _FORMAT)
        bw, bh = cur.varint("base width", 1 << 16), cur.varint("base height", 1 << 16)
        if bw < 16 or bh < 16 or bw % 2 or bh % 2:
            raise cur.error(f"hybrid base size {bw}x{bh} is not even and at least 16x16")
        sidx = cur.u8("scale index")
        if sidx >= len(net.scales):
            raise cur.error(f"hybrid scale index {sidx} is not one of the network's {len(net.scales)} scales")
        deltas = None
        kind = cur.u8("adaptation type")
        if kind == 1:
            exp = cur.u8("step exponent")
            blob = bytes(cur.blob("adaptation", _MAX_BLOB))
            from ..models.enhance import adaptation_parameters  # heavy: imports torch

            shapes = [p.shape for p in adaptation_parameters(net)]
            want = sum(math.prod(s) for s in shapes)
            inflate = zlib.decompressobj()
            try:
                raw = np.frombuffer(inflate.decompress(blob, want + 1), dtype=np.int8)  # bounded: no zip bombs
            except zlib.error:
                raise cur.error("hybrid adaptation data is not valid zlib") from None
            if raw.size != want or inflate.unconsumed_tail:
                raise cur.error(f"hybrid adaptation holds {raw.size}{'+' if inflate.unconsumed_tail else ''} values, the network has {want}")
            import torch  # heavy: torch loads only on the neural paths

            deltas, pos = [], 0
            for s in shapes:
                n = math.prod(s)
                deltas.append(torch.from_numpy(raw[pos : pos + n].astype(np.float32)).reshape(s) / (1 << exp))
                pos += n
        elif kind not in (0, _BYPASS):
            raise cur.error(f"unknown hybrid adaptation type {kind}")
        return base, bw, bh, sidx, kind, deltas, bytes(cur.take(cur.remaining, "base payload"))

    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        expect = ctx.weight_hashes[0] if ctx.weight_hashes else None
        net, _, _ = self._net(str(self._ref(ctx.params, ctx.models).path), expect)
        base, bw, bh, sidx, kind, deltas, base_payload = self._parse(payload, net)
        net = _adapted(net, deltas)
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
        params = {"crf": settings.crf, "model": DEFAULTS["enhance"]}
        changed = changed_options(self.resolve_options(settings))
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

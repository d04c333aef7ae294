"""``i_frame_interpolation``: code anchor frames only, synthesise the others at the decoder (talking heads, slow scenes).

Encoder:

1. Anchors every ``gap`` frames, plus the scene's last frame.
2. The anchors are coded as one low-frame-rate classical stream (SVT-AV1 or
   x265, so anchors predict from each other), decoded, and every other frame
   is interpolated from its two decoded neighbours
   (:mod:`neurocodec.models.interpolation`).
3. Corrections, chosen on the decoded result: a frame whose interpolation
   falls more than ``drop`` dB (PSNR-YUV) below the mean of the decoded
   anchors becomes an anchor itself, and the anchors are coded again (at
   most ``_PASSES`` passes). Quality then rises continuously with the
   anchors' CRF, and no frame sits far below the scene's level.

Options (:class:`InterpolationOptions`, ``--opt KEY=VALUE``): ``base`` (av1 or
x265), ``base-preset``, ``gap`` (default 2) and ``drop`` (dB, default 3). The
older preset ``BASE[:PRESET][/gap=N][/drop=DB]`` (e.g. ``av1:8/gap=3``) is an alias.

Payload::

    u8      format (1)
    u8      base strategy id (2 x265, 3 av1)
    varint  frame count (must equal the segment's)
    bytes   anchor bitmap, ceil(frames / 8) bytes, LSB first; first and last frames are anchors
    bytes   the base strategy's payload of the anchor frames in order, to the end

Everything that drives entropy decoding is the classical stream, which
conforming decoders reproduce exactly; the interpolation is float (OpenCV,
one thread), so pixels are reproducible on one machine and may move by a
rounding step on another.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..bitstream.chunks import Cursor, encode_varint
from ..bitstream.ids import STRATEGY_IDS
from ..errors import NcvFormatError
from ..io.frame import Frame, pad_edges
from ..metrics import psnr, psnr_yuv
from ..models.interpolation import OPS_PER_PIXEL, FlowPair, estimate_flows, interpolate
from .base import DecodeContext, StrategySettings, get_strategy
from .layered import LayeredStrategy, base_option, base_preset_option, format_preset, read_header
from .options import changed_options, option

__all__ = ["FrameInterpolation", "InterpolationOptions"]

_FORMAT = 1
_PASSES = 3
_FLOW_MIN_SIDE = 32  # optical flow is estimated on frames padded to at least this size (see _flows)


@dataclass(frozen=True)
class InterpolationOptions:
    """The options of ``i_frame_interpolation`` (alias: ``BASE[:PRESET][/gap=N][/drop=DB]``, what ``str()`` writes)."""

    base: str = base_option()
    base_preset: str | None = base_preset_option()
    gap: int = option(2, int, "Frames from one anchor to the next.", range=(1, 16))
    drop: float = option(3.0, float, "dB below the anchors' mean PSNR-YUV at which an interpolated frame becomes an anchor.",
                         range=(0, 20), low_open=True)

    def __str__(self) -> str:
        return format_preset(self.base, self.base_preset, f"gap={self.gap}/drop={self.drop:g}")


def _psnr_yuv(a: Frame, b: Frame) -> float:
    return psnr_yuv(psnr(a.y, b.y), psnr(a.u, b.u), psnr(a.v, b.v))


def _flows(a: Frame, b: Frame):
    """Optical flow between two anchors, estimated on copies padded to at least 32 pixels a side.

    OpenCV 4.11's DIS refuses frames under 8 pixels a side, and on thin frames picks a pyramid that
    reads out of bounds: 96x8 and 320x24 crashed the process, 640x24 raised (docs/scene-classes.md).
    """

    w, h = a.width, a.height
    pw, ph = max(w, _FLOW_MIN_SIDE), max(h, _FLOW_MIN_SIDE)
    if (pw, ph) == (w, h):
        return estimate_flows(a, b)
    flows = estimate_flows(pad_edges(a, pw, ph), pad_edges(b, pw, ph))
    return FlowPair(np.ascontiguousarray(flows.forward[:h, :w]), np.ascontiguousarray(flows.backward[:h, :w]))


def _fill(anchors: dict[int, Frame], n: int) -> Iterator[Frame]:
    """All ``n`` frames: anchors as decoded, the others interpolated from the anchors around them."""

    keys = sorted(anchors)
    for a, b in zip(keys, keys[1:]):
        yield anchors[a]
        if b - a > 1:
            flows = _flows(anchors[a], anchors[b])
            for t in range(a + 1, b):
                yield interpolate(anchors[a], anchors[b], (t - a) / (b - a), flows)
    yield anchors[keys[-1]]


class FrameInterpolation(LayeredStrategy):
    """Anchor frames in a classical stream; the frames between them interpolated by motion compensation."""

    name = "i_frame_interpolation"
    id = STRATEGY_IDS["i_frame_interpolation"]
    Options = InterpolationOptions
    grammar = "BASE[:PRESET][/gap=N][/drop=DB]"
    auto_rank = 3
    auto_scene_classes = frozenset({"talking_head", "static"})
    auto_variants = tuple((("slow",), {"gap": gap}) for gap in (2, 3, 4))

    def base_settings(self, opts: InterpolationOptions, settings: StrategySettings) -> StrategySettings:
        return replace(super().base_settings(opts, settings), keyint=None)

    def _base(self, p: InterpolationOptions, settings: StrategySettings):
        return get_strategy(p.base), self.base_settings(p, settings)

    def _code(self, frames, idx, p, settings, fps):
        base, bs = self._base(p, settings)
        w, h = frames[0].width, frames[0].height
        payload = base.encode([frames[i] for i in idx], bs, fps)
        decoded = list(base.decode(payload, DecodeContext(w, h, len(idx), base.describe(bs, w, h, fps))))
        return payload, dict(zip(idx, decoded))

    def encode(self, frames: Sequence[Frame], settings: StrategySettings, fps: Any) -> bytes:
        p = self.resolve_options(settings)
        n = len(frames)
        anchors = set(range(0, n, p.gap)) | {n - 1}
        for _ in range(_PASSES):
            idx = sorted(anchors)
            payload, decoded = self._code(frames, idx, p, settings, fps)
            level = float(np.mean([_psnr_yuv(frames[i], decoded[i]) for i in idx]))
            weak = [t for t, f in enumerate(_fill(decoded, n)) if t not in anchors and _psnr_yuv(frames[t], f) < level - p.drop]
            if not weak:
                break
            anchors |= set(weak)
        else:
            idx = sorted(anchors)
            payload, _ = self._code(frames, idx, p, settings, fps)
        bitmap = np.zeros(n, dtype=bool)
        bitmap[idx] = True
        base, _ = self._base(p, settings)
        return (bytes([_FORMAT, base.id]) + encode_varint(n) + np.packbits(bitmap, bitorder="little").tobytes() + payload)

    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        cur = Cursor(payload)
        _, base = read_header(cur, "i_frame_interpolation", (_FORMAT,))
        n = cur.varint("frame count", ctx.frame_count)
        if n != ctx.frame_count:
            raise cur.error(f"i_frame_interpolation payload holds {n} frames, the segment {ctx.frame_count}")
        bits = np.unpackbits(np.frombuffer(bytes(cur.take((n + 7) // 8, "anchor bitmap")), dtype=np.uint8), bitorder="little")[:n]
        if not (bits[0] and bits[-1]):
            raise cur.error("the first and last frames of an i_frame_interpolation segment must be anchors")
        idx = np.flatnonzero(bits).tolist()
        base_ctx = DecodeContext(ctx.width, ctx.height, len(idx), {})
        decoded = base.decode(bytes(cur.take(cur.remaining, "anchor stream")), base_ctx)
        prev = None
        for i, frame in zip(idx, decoded):
            if prev is None:
                yield frame
            else:
                window = dict([prev, (i, frame)])
                yield from list(_fill(window, i + 1))[1:]  # the previous anchor was already shown
            prev = (i, frame)
        if prev is None or prev[0] != idx[-1]:
            raise NcvFormatError("i_frame_interpolation anchor stream ended early")

    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        # Kept small (stored in every segment): the base encoder's options follow from these (see reproduce()).
        params: dict[str, Any] = {"crf": settings.crf}
        changed = changed_options(self.resolve_options(settings))
        if changed:
            params["opts"] = changed
        return params

    def reproduce(self, params, width, height, fps):
        base, bs = self._base(self.stored_options(params), StrategySettings(crf=self.stored_crf(params)))
        bp = base.describe(bs, width, height, fps)
        return {"base": bp | base.reproduce(bp, width, height, fps),
                "decoder_ops_per_pixel_estimate": self.decoder_macs_per_pixel(params)}

    def decoder_macs_per_pixel(self, params: dict[str, Any] | None = None) -> float:
        """Estimated (DIS is not a network; see :mod:`neurocodec.models.interpolation`) for interpolated frames."""

        return float(OPS_PER_PIXEL)

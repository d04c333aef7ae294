"""``zlib``: every frame's Y, U and V planes, optionally as differences from the previous frame, zlib-compressed.

Lossless, so the decoded frames equal the (padded) input exactly. It shows
what a third-party strategy needs: a name and an id of its own, typed
options, an encoder, a decoder that trusts nothing in the payload, and small
params recorded in each segment.

Payload::

    u8      format (1)
    u8      flags: bit 0 set: every frame after the first is stored as its
            difference from the previous frame (mod 256); other bits are 0
    per frame (the segment's frame count):
    varint  size of the frame's zlib stream (at most deflate's bound for one raw frame)
    bytes   the zlib stream; it inflates to exactly one frame's bytes (Y, then U, then V)

The bytes depend on the zlib library Python links (zlib or zlib-ng give
different, equally valid, streams); any zlib decodes them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurocodec.bitstream.chunks import Cursor, encode_varint
from neurocodec.io.frame import Frame, chroma_size, frame_nbytes
from neurocodec.strategies import DecodeContext, Strategy, StrategySettings, option
from neurocodec.strategies.options import changed_options

__all__ = ["ZLIB_ID", "ZlibOptions", "ZlibStrategy"]

#: This strategy's id in ``.ncv`` segments ("zl" in ASCII): a third party's id is at least
#: ``neurocodec.bitstream.ids.PRIVATE_ID_MIN`` (0x4000), which :func:`neurocodec.strategies.register` checks.
ZLIB_ID = 0x7A6C

_FORMAT = 1
_DELTA = 1


def _deflate_bound(n: int) -> int:
    """The largest zlib stream zlib writes for ``n`` input bytes (its ``compressBound``)."""
    return n + (n >> 12) + (n >> 14) + (n >> 25) + 13


@dataclass(frozen=True)
class ZlibOptions:
    """The options of ``zlib`` (``--opt level=9``, ``opts={"delta": False}``)."""

    level: int = option(6, int, "zlib compression level (1 fastest, 9 smallest).", range=(1, 9))
    delta: bool = option(True, bool, "Store each frame after the first as its difference from the previous one.")


def _flat(frame: Frame) -> np.ndarray:
    return np.concatenate([frame.y.ravel(), frame.u.ravel(), frame.v.ravel()])


class ZlibStrategy(Strategy):
    """Lossless: YUV planes (or frame differences) through zlib."""

    name = "zlib"
    id = ZLIB_ID
    Options = ZlibOptions
    crf_range = None  # lossless: no quality knob, and so no part in ``auto``

    def encode(self, frames: Sequence[Frame], settings: StrategySettings, fps: Any) -> bytes:
        opts = self.resolve_options(settings)
        out = bytearray([_FORMAT, _DELTA if opts.delta else 0])
        prev = None
        for frame in frames:
            cur = _flat(frame)
            data = cur - prev if prev is not None else cur  # uint8 arithmetic wraps: differences mod 256
            packed = zlib.compress(data.tobytes(), opts.level)
            out += encode_varint(len(packed)) + packed
            prev = cur if opts.delta else None
        return bytes(out)

    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        cur = Cursor(payload)
        fmt = cur.u8("zlib payload format")
        if fmt != _FORMAT:
            raise cur.error(f"zlib payload format {fmt} is not supported")
        flags = cur.u8("zlib flags")
        if flags & ~_DELTA:
            raise cur.error(f"zlib flags {flags:#x} set unknown bits")
        w, h = ctx.width, ctx.height
        cw, ch = chroma_size(w, h)
        n = frame_nbytes(w, h)
        prev = None
        for index in range(ctx.frame_count):
            stream = bytes(cur.blob(f"zlib frame {index}", _deflate_bound(n)))
            inflater = zlib.decompressobj()
            try:
                # One byte more than a frame: a stream that inflates to more is caught without inflating it all.
                raw = inflater.decompress(stream, n + 1)
            except zlib.error as exc:
                raise cur.error(f"zlib frame {index}: {exc}") from None
            if len(raw) != n or not inflater.eof or inflater.unused_data:
                raise cur.error(f"zlib frame {index} does not inflate to exactly {n} bytes")
            data = np.frombuffer(raw, dtype=np.uint8)
            flat = data + prev if prev is not None else data.copy()
            prev = flat if flags & _DELTA else None
            yield Frame(flat[: w * h].reshape(h, w), flat[w * h : w * h + cw * ch].reshape(ch, cw),
                        flat[w * h + cw * ch :].reshape(ch, cw))
        cur.expect_end("zlib payload")

    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        # Stored in every segment, so only the options not at their default.
        changed = changed_options(self.resolve_options(settings))
        return {"opts": changed} if changed else {}

    def validate_params(self, params: dict[str, Any], ctx: DecodeContext) -> None:
        self.stored_options(params)  # hostile params are an NcvFormatError before anything is decoded
        super().validate_params(params, ctx)

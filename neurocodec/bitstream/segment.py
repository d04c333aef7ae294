"""The SEGM chunk: its metadata prefix (strategy, frame range, weight hashes, params) and :class:`SegmentInfo`.

A SEGM payload is the prefix packed by :meth:`SegmentPrefix.pack`, then the
strategy's payload, which runs to the end of the chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .chunks import Cursor, encode_varint
from .header import MAX_FRAMES, MAX_SEGMENTS
from .ids import MAX_STRATEGY_ID

__all__ = [
    "MAX_NAME",
    "MAX_HASHES",
    "HASH_SIZE",
    "MAX_PARAMS",
    "MAX_PREFIX_SIZE",
    "SegmentPrefix",
    "SegmentInfo",
]

MAX_NAME = 64
MAX_HASHES = 16
HASH_SIZE = 32
MAX_PARAMS = 1 << 20
#: A generous bound on a valid prefix's size: a reader need not read more of a SEGM chunk to parse it.
MAX_PREFIX_SIZE = 16 + MAX_NAME + MAX_HASHES * HASH_SIZE + 12 + MAX_PARAMS + 12


@dataclass(frozen=True)
class SegmentPrefix:
    """The metadata at the start of a SEGM chunk's payload."""

    index: int
    strategy_id: int
    strategy: str
    start_frame: int
    frame_count: int
    weight_hashes: tuple[bytes, ...]
    params: dict[str, Any]

    def pack(self) -> bytes:
        """The prefix's bytes (params as canonical JSON: sorted keys, no spaces).

        Raises:
            ValueError: A field the reader would refuse.
        """
        name = self.strategy.encode("utf-8")
        if not 1 <= len(name) <= MAX_NAME or not self.strategy.isprintable():
            raise ValueError(f"strategy name must be printable and 1..{MAX_NAME} bytes")
        if not isinstance(self.params, dict):
            raise ValueError("segment params must be a dict")
        if not 0 < self.strategy_id <= MAX_STRATEGY_ID:
            raise ValueError(f"strategy id {self.strategy_id} outside 1..{MAX_STRATEGY_ID}")
        if len(self.weight_hashes) > MAX_HASHES or any(len(h) != HASH_SIZE for h in self.weight_hashes):
            raise ValueError(f"at most {MAX_HASHES} weight hashes of {HASH_SIZE} bytes")
        params_raw = json.dumps(self.params, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if len(params_raw) > MAX_PARAMS:
            raise ValueError(f"segment params exceed {MAX_PARAMS} bytes")
        return b"".join(
            [
                encode_varint(self.index),
                encode_varint(self.strategy_id),
                encode_varint(len(name)),
                name,
                encode_varint(self.start_frame),
                encode_varint(self.frame_count),
                encode_varint(len(self.weight_hashes)),
                *self.weight_hashes,
                encode_varint(len(params_raw)),
                params_raw,
            ]
        )

    @classmethod
    def unpack(cls, cur: Cursor) -> "SegmentPrefix":
        """Parse and validate a prefix; the cursor is left at the start of the strategy's payload.

        Args:
            cur: A cursor at the start of a SEGM chunk's payload.

        Raises:
            NcvFormatError: A field outside its limits, or params that are not a JSON object.
        """
        index = cur.varint("segment index", MAX_SEGMENTS - 1)
        sid = cur.varint("strategy id", MAX_STRATEGY_ID)
        if sid == 0:
            raise cur.error("strategy id 0 is reserved")
        name = cur.text("strategy name", MAX_NAME)
        if not name or not name.isprintable():
            raise cur.error("strategy name must be printable and non-empty")
        start = cur.varint("start frame", MAX_FRAMES)
        count = cur.varint("frame count", MAX_FRAMES)
        if count == 0:
            raise cur.error("segment has no frames")
        n_hashes = cur.varint("weight hash count", MAX_HASHES)
        hashes = tuple(bytes(cur.take(HASH_SIZE, "weight hash")) for _ in range(n_hashes))
        raw = cur.blob("params", MAX_PARAMS)
        try:
            params = json.loads(bytes(raw).decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: hostile nesting depth
            raise cur.error("params are not valid JSON") from None
        if not isinstance(params, dict):
            raise cur.error("params must be a JSON object")
        return cls(index, sid, name, start, count, hashes, params)


@dataclass(frozen=True)
class SegmentInfo:
    """One segment's metadata; the payload is read on demand with :meth:`NcvReader.payload`."""

    index: int
    strategy_id: int
    strategy: str
    start_frame: int
    frame_count: int
    weight_hashes: tuple[bytes, ...]
    params: dict[str, Any]
    chunk_offset: int
    payload_offset: int
    payload_size: int
    payload_crc: int = field(repr=False, default=0)

    @property
    def end_frame(self) -> int:
        """Exclusive end, as in Av1an's scene files."""
        return self.start_frame + self.frame_count

    @property
    def chunk_size(self) -> int:
        """Bytes the segment occupies in the file (chunk header, metadata, payload, CRC)."""
        return self.payload_offset + self.payload_size + 4 - self.chunk_offset

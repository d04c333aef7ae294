"""The seek index at the end of a ``.ncv`` file: the INDX chunk and the fixed-size NEND trailer.

INDX lists every segment's chunk offset and frame range; NEND, always the
last :data:`NEND_CHUNK_SIZE` bytes, holds the offset of INDX so that a
reader can find the index by seeking from the end.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .chunks import CHUNK_OVERHEAD, Cursor, encode_varint
from .header import MAX_FRAMES

__all__ = ["IndexEntry", "NEND_SIZE", "NEND_CHUNK_SIZE", "pack_index", "unpack_index", "pack_nend", "unpack_nend"]

_NEND = struct.Struct(">Q")
NEND_SIZE = _NEND.size
NEND_CHUNK_SIZE = CHUNK_OVERHEAD + NEND_SIZE


class IndexEntry(NamedTuple):
    """One segment in the index."""

    chunk_offset: int
    start_frame: int
    frame_count: int


def pack_index(entries: list[IndexEntry] | list[tuple[int, int, int]]) -> bytes:
    """The INDX payload: the entry count, then three varints per entry."""
    body = [encode_varint(len(entries))]
    for offset, start, count in entries:
        body += [encode_varint(offset), encode_varint(start), encode_varint(count)]
    return b"".join(body)


def unpack_index(cur: Cursor, *, max_entries: int, file_size: int) -> list[IndexEntry]:
    """Parse an INDX payload.

    Args:
        cur: A cursor over exactly the INDX chunk's payload.
        max_entries: The header's segment count.
        file_size: Bound on the chunk offsets.

    Raises:
        NcvFormatError: A value over its bound, a truncated entry or trailing bytes.
    """
    n = cur.varint("index entry count", max_entries)
    entries = [
        IndexEntry(
            cur.varint("index chunk offset", file_size),
            cur.varint("index start frame", MAX_FRAMES),
            cur.varint("index frame count", MAX_FRAMES),
        )
        for _ in range(n)
    ]
    cur.expect_end("INDX")
    return entries


def pack_nend(indx_offset: int) -> bytes:
    """The NEND payload: the file offset of the INDX chunk."""
    return _NEND.pack(indx_offset)


def unpack_nend(payload: bytes) -> int:
    """The INDX offset from a NEND payload of exactly :data:`NEND_SIZE` bytes (the caller checks the size)."""
    (indx_offset,) = _NEND.unpack(payload)
    return indx_offset

"""Low-level ``.ncv`` encoding: chunks with CRC32, bounded varints, a byte cursor.

A chunk is ``type (4 ASCII bytes) | length (u32 BE) | payload | CRC32 (u32 BE)``,
the CRC covering type and payload (as in PNG). Nothing here trusts a length:
every size is checked against what remains before any memory is allocated.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import NcvFormatError

__all__ = ["Cursor", "encode_varint", "pack_chunk", "CHUNK_OVERHEAD", "MAX_CHUNK_PAYLOAD", "is_critical"]

CHUNK_OVERHEAD = 12  # type + length + crc
MAX_CHUNK_PAYLOAD = (1 << 31) - 1
_MAX_VARINT_BYTES = 10


def is_critical(chunk_type: bytes) -> bool:
    """Upper-case first letter: a reader must understand the chunk. Lower-case: safe to skip."""
    return 65 <= chunk_type[0] <= 90


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pack_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    if len(chunk_type) != 4 or not chunk_type.isalpha():
        raise ValueError(f"chunk type must be 4 ASCII letters, got {chunk_type!r}")
    if len(payload) > MAX_CHUNK_PAYLOAD:
        raise ValueError(f"chunk payload of {len(payload)} bytes exceeds {MAX_CHUNK_PAYLOAD}")
    crc = zlib.crc32(payload, zlib.crc32(chunk_type))
    return chunk_type + struct.pack(">I", len(payload)) + payload + struct.pack(">I", crc)


class Cursor:
    """Reads fields from a chunk payload; every read is bounds-checked.

    Args:
        data: The payload.
        base: File offset of ``data[0]``, so errors name the absolute offset.
        path: File name for error messages.
    """

    def __init__(self, data: bytes | memoryview, base: int = 0, path: str | None = None):
        self.data = memoryview(data)
        self.pos = 0
        self.base = base
        self.path = path

    def error(self, message: str) -> NcvFormatError:
        return NcvFormatError(message, offset=self.base + self.pos, path=self.path)

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or n > self.remaining:
            raise self.error(f"{what}: needs {n} bytes but only {self.remaining} remain")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def struct(self, fmt: str, what: str) -> tuple:
        s = struct.Struct(fmt)
        return s.unpack(self.take(s.size, what))

    def varint(self, what: str, maximum: int) -> int:
        start = self.pos
        value = shift = 0
        for _ in range(_MAX_VARINT_BYTES):
            if self.remaining < 1:
                self.pos = start
                raise self.error(f"{what}: truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if value > maximum:
                    self.pos = start
                    raise self.error(f"{what}: value {value} exceeds the limit {maximum}")
                return value
            shift += 7
        self.pos = start
        raise self.error(f"{what}: varint longer than {_MAX_VARINT_BYTES} bytes")

    def blob(self, what: str, maximum: int) -> memoryview:
        """A varint length then that many bytes; the length is checked before use."""
        n = self.varint(f"{what} length", maximum)
        return self.take(n, what)

    def text(self, what: str, maximum: int) -> str:
        raw = self.blob(what, maximum)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"{what}: not valid UTF-8") from None

    def expect_end(self, what: str) -> None:
        if self.remaining:
            raise self.error(f"{what}: {self.remaining} unexpected trailing bytes")

"""AV1 temporal units without their redundant framing (classical payload format 3, bitstream 1.2).

In the low-overhead bitstream format of AV1 (AV1 specification, section 5,
"Low overhead bitstream format") a temporal unit starts with a temporal
delimiter OBU, always the two bytes ``12 00``, and every OBU carries its size.
In a ``.ncv`` packet both are implied: the delimiter never varies, and the
packet's own size gives the last OBU's. :func:`compact` drops the delimiter
and the last OBU's size field (clearing its ``obu_has_size_field`` bit),
3 to 4 bytes per frame, which is a few per cent of a short clip at a low rate;
:func:`expand` restores exactly the bytes the encoder wrote, which is what the
decoder, ``reproduce`` and the anchor checks see.
"""

from __future__ import annotations

from ..bitstream.chunks import encode_varint  # AV1's leb128() is the container's varint: unsigned LEB128

__all__ = ["TEMPORAL_DELIMITER", "compact", "expand"]

TEMPORAL_DELIMITER = b"\x12\x00"
_FORBIDDEN = 0x80
_EXTENSION = 0x04
_HAS_SIZE = 0x02
_MAX_LEB128 = 8  # AV1 limits leb128() to 8 bytes


def _read_leb128(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, position after it)``; ValueError past the data or past 8 bytes."""
    value = 0
    for i in range(_MAX_LEB128):
        if pos + i >= len(data):
            raise ValueError("OBU size runs past the packet")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise ValueError("OBU size longer than 8 bytes")


def _header(data: bytes, pos: int) -> tuple[int, int]:
    """An OBU header's first byte and its length (1, or 2 with the extension byte)."""
    byte = data[pos]
    if byte & _FORBIDDEN:
        raise ValueError("OBU forbidden bit set")
    length = 2 if byte & _EXTENSION else 1
    if pos + length > len(data):
        raise ValueError("OBU header runs past the packet")
    return byte, length


def compact(unit: bytes) -> bytes | None:
    """A temporal unit less its delimiter and its last OBU's size, or None if :func:`expand` could not undo it.

    Args:
        unit: One encoder packet: a whole temporal unit in the low-overhead format.
    """
    if not unit.startswith(TEMPORAL_DELIMITER) or len(unit) == len(TEMPORAL_DELIMITER):
        return None
    body = unit[len(TEMPORAL_DELIMITER):]
    pos = 0
    try:
        while pos < len(body):
            last, (byte, hlen) = pos, _header(body, pos)  # the last OBU's offset, header and payload start
            if not byte & _HAS_SIZE:
                return None
            size, start = _read_leb128(body, pos + hlen)
            pos = start + size
    except ValueError:
        return None
    if pos != len(body):
        return None
    out = body[:last] + bytes([byte & ~_HAS_SIZE]) + body[last + 1 : last + hlen] + body[start:]
    return out if _safe_expand(out) == unit else None  # a padded size field would not come back the same


def _safe_expand(data: bytes) -> bytes | None:
    try:
        return expand(data)
    except ValueError:
        return None


def expand(data: bytes) -> bytes:
    """The temporal unit :func:`compact` made ``data`` from.

    Raises:
        ValueError: ``data`` is not a compacted unit: an OBU runs past the end, a sized OBU comes last, or
            the forbidden bit is set.
    """
    pos = 0
    while pos < len(data):
        byte, hlen = _header(data, pos)
        if byte & _HAS_SIZE:
            size, start = _read_leb128(data, pos + hlen)
            if start + size > len(data):
                raise ValueError("OBU runs past the packet")
            pos = start + size
            continue
        payload = data[pos + hlen :]
        return b"".join(
            [TEMPORAL_DELIMITER, data[:pos], bytes([byte | _HAS_SIZE]), data[pos + 1 : pos + hlen],
             encode_varint(len(payload)), payload]
        )
    raise ValueError("the last OBU keeps its size field (not a compacted temporal unit)")

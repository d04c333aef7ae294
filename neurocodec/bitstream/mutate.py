"""Structure-aware mutations of ``.ncv`` files, for fuzzing the reader and every strategy's decoder.

Random bytes mostly stop at the first CRC. To reach the parsers behind it,
most mutations here edit one chunk and re-pack the file: the CRC is
recomputed, and the index and trailer are rebuilt so that the container
stays valid and the damage lands in a segment's params or in a strategy's
payload. A few operators (raw truncation and bit flips, forged chunk
lengths, concatenation) deliberately leave the container broken.

Used by the fast hypothesis sample in the test suite and by
``benchmarks/fuzz_ncv.py`` (many thousands of mutants in one process).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

from .chunks import CHUNK_OVERHEAD, Cursor, encode_varint, pack_chunk
from .header import PREAMBLE_SIZE
from .index import pack_index, pack_nend
from .segment import HASH_SIZE, SegmentPrefix

__all__ = ["Chunk", "split_chunks", "join_chunks", "OPERATORS", "mutate"]


@dataclass
class Chunk:
    """One chunk of a file: its 4-byte type and payload (the CRC is recomputed on join)."""

    ctype: bytes
    payload: bytes


def split_chunks(data: bytes) -> tuple[bytes, list[Chunk]]:
    """Preamble and chunks of a well-formed file (the seeds; never a mutant)."""
    pos, chunks = PREAMBLE_SIZE, []
    while pos < len(data):
        ctype = data[pos : pos + 4]
        (length,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        chunks.append(Chunk(ctype, data[pos + 8 : pos + 8 + length]))
        pos += CHUNK_OVERHEAD + length
    return data[:PREAMBLE_SIZE], chunks


def join_chunks(preamble: bytes, chunks: list[Chunk], *, reindex: bool = True) -> bytes:
    """Pack chunks; with ``reindex`` the INDX and NEND chunks are rebuilt to match the SEGM chunks."""
    body = [c for c in chunks if not (reindex and c.ctype in (b"INDX", b"NEND"))]
    out = bytearray(preamble)
    entries = []
    for c in body:
        if c.ctype == b"SEGM":
            start, count = _segment_frames(c.payload)
            entries.append((len(out), start, count))
        out += pack_chunk(c.ctype, c.payload)
    if reindex:
        indx_at = len(out)
        out += pack_chunk(b"INDX", pack_index(entries))
        out += pack_chunk(b"NEND", pack_nend(indx_at))
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Unbounded and never failing: a truncated varint gives what was read."""
    value = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return value, pos


def _segment_frames(seg: bytes) -> tuple[int, int]:
    """Start frame and frame count of a SEGM payload, best effort.

    Not :meth:`SegmentPrefix.unpack`: this also runs on prefixes that a mutation
    damaged (and the reader will refuse), where odd numbers are harmless.
    """
    pos = 0
    for _ in ("index", "strategy id"):
        _, pos = _read_varint(seg, pos)
    n, pos = _read_varint(seg, pos)
    start, pos = _read_varint(seg, pos + n)  # after the strategy name
    count, pos = _read_varint(seg, pos)
    return start, count


def _split_segment(seg: bytes) -> tuple[SegmentPrefix, bytes, bytes]:
    """A well-formed SEGM payload (from a seed file): its parsed prefix, the prefix's bytes, the strategy payload."""
    cur = Cursor(seg)
    prefix = SegmentPrefix.unpack(cur)
    return prefix, seg[: cur.pos], seg[cur.pos :]


def _segments(chunks: list[Chunk]) -> list[int]:
    return [i for i, c in enumerate(chunks) if c.ctype == b"SEGM"]


_EXTREMES = (0, 1, -1, 2**31, 2**63, 1e308, -1e308, 0.5, None, True, "", "x" * 300, [], {}, [1, 2, 3])
_HOSTILE_MODELS = ("/etc/passwd", "/proc/self/mem", "/dev/zero", "../../etc/passwd", "weights/../../x",
                   "http://example.com/x.pt", "", "intra_yuv420/../intra_yuv420", "compressai:mbt2018-mean:99")


def _flip_bits(rng: random.Random, buf: bytes, n: int) -> bytes:
    if not buf:
        return buf
    out = bytearray(buf)
    for _ in range(n):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _one_segment(edit: Callable[[random.Random, SegmentPrefix, bytes, bytes], bytes]):
    """An operator that rewrites one random SEGM chunk: ``edit(rng, prefix, head, payload) -> SEGM payload``."""

    def op(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
        segs = _segments(chunks)
        if not segs:
            return join_chunks(pre, chunks)
        i = rng.choice(segs)
        chunks[i] = Chunk(b"SEGM", edit(rng, *_split_segment(chunks[i].payload)))
        return join_chunks(pre, chunks)

    return op


def _payload_op(fn: Callable[[random.Random, bytes], bytes]):
    """An operator that damages one segment's strategy payload, its prefix kept."""
    return _one_segment(lambda rng, prefix, head, payload: head + fn(rng, payload))


def _payload_flip(rng, payload):
    return _flip_bits(rng, payload, rng.choice((1, 2, 4, 16)))


def _payload_truncate(rng, payload):
    return payload[: rng.randrange(len(payload) + 1)] if payload else payload


def _payload_bytes(rng, payload):
    if not payload:
        return bytes([rng.randrange(256)])
    out = bytearray(payload)
    for _ in range(rng.choice((1, 3, 8))):
        out[rng.randrange(len(out))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(out)


def _payload_forge_length(rng, payload):
    """A huge or off-by-some varint where a length field may stand (the payloads' lengths are varints)."""
    if not payload:
        return payload
    at = rng.randrange(len(payload))
    value = rng.choice((2**32 - 1, 2**62, 2**20, len(payload) + rng.randrange(1, 64), 0))
    cut = at + rng.choice((0, 1, 2))
    return payload[:at] + encode_varint(value) + payload[cut:]


def _payload_splice(rng, payload):
    """Repeat or drop an inner slice (a duplicated or missing packet)."""
    if len(payload) < 4:
        return payload + payload
    a = rng.randrange(len(payload))
    b = rng.randrange(a, len(payload) + 1)
    return payload[:b] + payload[a:b] + payload[b:] if rng.random() < 0.5 else payload[:a] + payload[b:]


@_one_segment
def _params_edit(rng: random.Random, prefix: SegmentPrefix, head: bytes, payload: bytes) -> bytes:
    whole = isinstance(prefix.params, list)  # 1.1 stores some params whole, as [params]
    params = dict(prefix.params[0] if whole else prefix.params)
    roll = rng.random()
    if "model" in params and roll < 0.25:
        params["model"] = rng.choice(_HOSTILE_MODELS)
    elif params and roll < 0.5:
        params.pop(rng.choice(sorted(params)))
    elif params and roll < 0.9:
        params[rng.choice(sorted(params))] = rng.choice(_EXTREMES)
    else:
        params[rng.choice(("crf", "model", "scale", "gap", "format", "zzz"))] = rng.choice(_EXTREMES)
    return replace(prefix, params=[params] if whole else params).pack() + payload


@_one_segment
def _segment_field_edit(rng: random.Random, prefix: SegmentPrefix, head: bytes, payload: bytes) -> bytes:
    """Change a segment's strategy id, frame count or weight hash (with valid CRC and index)."""
    roll = rng.random()
    if roll < 0.4:
        head = replace(prefix, strategy_id=rng.choice((1, 2, 3, 16, 17, 18, 4, 200))).pack()
    elif roll < 0.7 and prefix.weight_hashes:
        first = bytearray(prefix.weight_hashes[0])
        first[rng.randrange(HASH_SIZE)] ^= 0xFF
        head = replace(prefix, weight_hashes=(bytes(first), *prefix.weight_hashes[1:])).pack()
    else:  # one bit anywhere in the prefix, which may leave it unparseable
        head = _flip_bits(rng, head, 1)
    return head + payload


def _header_edit(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
    head = next((c for c in chunks if c.ctype == b"HEAD"), None)
    if head is not None:
        head.payload = _flip_bits(rng, head.payload, rng.choice((1, 2, 4)))
    return join_chunks(pre, chunks)


def _index_edit(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
    fixed = join_chunks(pre, chunks)
    p, cs = split_chunks(fixed)
    for c in cs:
        if c.ctype in (b"INDX", b"NEND"):
            if rng.random() < 0.5:
                c.payload = _flip_bits(rng, c.payload, rng.choice((1, 3)))
    if rng.random() < 0.2:
        cs = [c for c in cs if c.ctype != b"NEND"]
    return join_chunks(p, cs, reindex=False)


def _concat(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
    """Whole files glued together, or a segment chunk from another seed (another strategy) spliced in."""
    mine = join_chunks(pre, chunks)
    other = rng.choice(others) if others else mine
    roll = rng.random()
    if roll < 0.3:
        return mine + other
    _, theirs = split_chunks(other)
    mine_segs, their_segs = _segments(chunks), _segments(theirs)
    if not mine_segs or not their_segs:
        return mine + other
    i, j = rng.choice(mine_segs), rng.choice(their_segs)
    if roll < 0.65:  # another strategy's payload under this segment's header
        _, head, _ = _split_segment(chunks[i].payload)
        chunks[i] = Chunk(b"SEGM", head + _split_segment(theirs[j].payload)[2])
    else:  # a duplicated segment chunk
        chunks.insert(i + 1, Chunk(b"SEGM", chunks[i].payload))
    return join_chunks(pre, chunks)


def _raw_truncate(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
    data = join_chunks(pre, chunks)
    return data[: rng.randrange(len(data))]


def _raw_flip(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
    return _flip_bits(rng, join_chunks(pre, chunks), rng.choice((1, 2, 8)))


def _raw_forge_length(rng: random.Random, pre: bytes, chunks: list[Chunk], others: list[bytes]) -> bytes:
    data = bytearray(join_chunks(pre, chunks))
    starts, pos = [], PREAMBLE_SIZE
    while pos + 8 <= len(data):
        starts.append(pos)
        (n,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        pos += CHUNK_OVERHEAD + n
    at = rng.choice(starts)
    data[at + 4 : at + 8] = struct.pack(">I", rng.choice((0, 1, 2**31 - 1, 2**32 - 1, len(data), rng.randrange(2**16))))
    return bytes(data)


#: Name -> operator ``(rng, preamble, chunks, other_seed_files) -> mutant bytes``.
OPERATORS: dict[str, Callable] = {
    "payload_flip": _payload_op(_payload_flip),
    "payload_truncate": _payload_op(_payload_truncate),
    "payload_bytes": _payload_op(_payload_bytes),
    "payload_forge_length": _payload_op(_payload_forge_length),
    "payload_splice": _payload_op(_payload_splice),
    "params_edit": _params_edit,
    "segment_field_edit": _segment_field_edit,
    "header_edit": _header_edit,
    "index_edit": _index_edit,
    "concat": _concat,
    "raw_truncate": _raw_truncate,
    "raw_flip": _raw_flip,
    "raw_forge_length": _raw_forge_length,
}


def mutate(seed: bytes, rng: random.Random, *, op: str | None = None, others: list[bytes] = ()) -> tuple[str, bytes]:
    """One mutant of a well-formed ``seed`` file: ``(operator name, bytes)``."""
    name = op or rng.choice(sorted(OPERATORS))
    pre, chunks = split_chunks(seed)
    return name, OPERATORS[name](rng, pre, chunks, list(others))

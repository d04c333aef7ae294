"""Reading and writing ``.ncv`` files (specified in ``docs/bitstream.md``).

Layout::

    signature (8 bytes) | version major, minor (2 bytes)
    HEAD chunk                      fixed-size stream header
    meta chunk (ancillary)          JSON: writer name and version
    SEGM chunk x N                  one per scene: strategy, frame range, weight hashes, params, payload
    INDX chunk                      chunk offset and frame range of every segment
    NEND chunk                      offset of INDX (fixed size, always last)

The reader verifies every CRC and every length before use and raises
:class:`~neurocodec.errors.NcvFormatError` naming the byte offset of the
problem. The file stays decodable front to back if INDX/NEND are lost.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import NcvFormatError
from .chunks import CHUNK_OVERHEAD, Cursor, encode_varint, is_critical, pack_chunk
from .ids import MAX_STRATEGY_ID

__all__ = ["NcvHeader", "SegmentInfo", "NcvReader", "NcvWriter", "SIGNATURE", "VERSION", "read_header"]

SIGNATURE = b"\x89NCV\r\n\x1a\n"
VERSION = (1, 0)
_PREAMBLE = len(SIGNATURE) + 2
_HEAD = struct.Struct(">IIIIIIBBBBBBH")
_NEND = struct.Struct(">Q")
_NEND_CHUNK = CHUNK_OVERHEAD + _NEND.size

MAX_DIM = 16384
MAX_FRAMES = (1 << 31) - 1
MAX_SEGMENTS = 1 << 20
MAX_NAME = 64
MAX_HASHES = 16
HASH_SIZE = 32
MAX_PARAMS = 1 << 20
CHROMA_420 = 1
_RANGE_CODES = {None: 0, False: 1, True: 2}


@dataclass(frozen=True)
class NcvHeader:
    """The stream header (HEAD chunk).

    Colour fields are ITU-T H.273 code points; ``full_range`` is None when unknown.
    """

    width: int
    height: int
    fps: Fraction
    frame_count: int
    segment_count: int
    chroma_format: int = CHROMA_420
    bit_depth: int = 8
    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    full_range: bool | None = None

    @property
    def duration(self) -> float:
        return float(self.frame_count / self.fps)

    def pack(self) -> bytes:
        return _HEAD.pack(
            self.width,
            self.height,
            self.fps.numerator,
            self.fps.denominator,
            self.frame_count,
            self.segment_count,
            self.chroma_format,
            self.bit_depth,
            self.primaries,
            self.transfer,
            self.matrix,
            _RANGE_CODES[self.full_range],
            0,
        )

    @classmethod
    def unpack(cls, cur: Cursor) -> "NcvHeader":
        if cur.remaining != _HEAD.size:
            raise cur.error(f"HEAD chunk must be {_HEAD.size} bytes, got {cur.remaining}")
        (w, h, num, den, frames, segs, chroma, depth, prim, trc, mat, rng, flags) = cur.struct(
            _HEAD.format, "HEAD"
        )
        cur.pos = 0
        if not (1 <= w <= MAX_DIM and 1 <= h <= MAX_DIM):
            raise cur.error(f"frame size {w}x{h} is outside 1..{MAX_DIM}")
        if num == 0 or den == 0 or Fraction(num, den) > 1000:
            raise cur.error(f"invalid frame rate {num}/{den}")
        if not 1 <= frames <= MAX_FRAMES:
            raise cur.error(f"invalid frame count {frames}")
        if not 1 <= segs <= min(frames, MAX_SEGMENTS):
            raise cur.error(f"invalid segment count {segs} for {frames} frames")
        if chroma != CHROMA_420 or depth != 8:
            raise cur.error(f"unsupported chroma format {chroma} / bit depth {depth} (only 4:2:0, 8-bit)")
        if rng > 2:
            raise cur.error(f"invalid colour range code {rng}")
        if flags:
            raise cur.error(f"unknown header flags 0x{flags:04x}")
        full = {0: None, 1: False, 2: True}[rng]
        return cls(w, h, Fraction(num, den), frames, segs, chroma, depth, prim, trc, mat, full)


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


def _pack_segment(
    index: int,
    strategy_id: int,
    strategy: str,
    start_frame: int,
    frame_count: int,
    weight_hashes: tuple[bytes, ...],
    params: dict[str, Any],
) -> bytes:
    name = strategy.encode("utf-8")
    if not 1 <= len(name) <= MAX_NAME or not strategy.isprintable():
        raise ValueError(f"strategy name must be printable and 1..{MAX_NAME} bytes")
    if not isinstance(params, dict):
        raise ValueError("segment params must be a dict")
    if not 0 < strategy_id <= MAX_STRATEGY_ID:
        raise ValueError(f"strategy id {strategy_id} outside 1..{MAX_STRATEGY_ID}")
    if len(weight_hashes) > MAX_HASHES or any(len(h) != HASH_SIZE for h in weight_hashes):
        raise ValueError(f"at most {MAX_HASHES} weight hashes of {HASH_SIZE} bytes")
    params_raw = json.dumps(params, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(params_raw) > MAX_PARAMS:
        raise ValueError(f"segment params exceed {MAX_PARAMS} bytes")
    return b"".join(
        [
            encode_varint(index),
            encode_varint(strategy_id),
            encode_varint(len(name)),
            name,
            encode_varint(start_frame),
            encode_varint(frame_count),
            encode_varint(len(weight_hashes)),
            *weight_hashes,
            encode_varint(len(params_raw)),
            params_raw,
        ]
    )


def _parse_segment_prefix(cur: Cursor) -> tuple:
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
    return index, sid, name, start, count, hashes, params


def _parse_scene_info(raw: bytes) -> list[dict[str, Any]]:
    """The ``scns`` chunk is informational: anything malformed is ignored."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    rows = doc.get("segments") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        return []
    return [r if isinstance(r, dict) else {} for r in rows]


class NcvWriter:
    """Writes a ``.ncv`` file atomically (temporary file, then rename on :meth:`close`).

    Args:
        path: Output file.
        width, height, fps: Stream geometry and rate.
        color: ``(primaries, transfer, matrix, full_range)`` H.273 code points.
        overwrite: Replace an existing file.
        meta: Extra JSON stored in the ancillary ``meta`` chunk.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        width: int,
        height: int,
        fps: Fraction,
        color: tuple[int, int, int, bool | None] = (2, 2, 2, None),
        overwrite: bool = False,
        meta: dict[str, Any] | None = None,
    ):
        from ..io.atomic import atomic_path

        self.path = Path(path)
        fps = Fraction(fps)
        # Refuse here whatever the reader would refuse later.
        if not (1 <= width <= MAX_DIM and 1 <= height <= MAX_DIM):
            raise ValueError(f"frame size {width}x{height} is outside 1..{MAX_DIM}")
        if not 0 < fps <= 1000:
            raise ValueError(f"frame rate {fps} is outside (0, 1000]")
        self._geometry = (width, height, fps, color)
        # Encode everything before the temporary file exists, so a bad argument leaves nothing behind.
        # Placeholder header: frame and segment counts are patched in close().
        start = SIGNATURE + bytes(VERSION) + pack_chunk(b"HEAD", self._header(0, 0).pack())
        if meta:
            start += pack_chunk(b"meta", json.dumps(meta, sort_keys=True).encode("utf-8"))
        self._ctx = atomic_path(self.path, overwrite=overwrite)
        self._tmp = self._ctx.__enter__()
        try:
            self._fh: BinaryIO = open(self._tmp, "wb")
            self._fh.write(start)
        except BaseException as exc:
            if hasattr(self, "_fh"):
                self._fh.close()
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._entries: list[tuple[int, int, int]] = []
        self._frames = 0
        self._closed = False

    def _header(self, frames: int, segments: int) -> NcvHeader:
        w, h, fps, (prim, trc, mat, full) = self._geometry
        return NcvHeader(w, h, fps, frames, segments, CHROMA_420, 8, prim, trc, mat, full)

    @property
    def frames_written(self) -> int:
        return self._frames

    def add_segment(
        self,
        *,
        strategy_id: int,
        strategy: str,
        frame_count: int,
        payload: bytes,
        params: dict[str, Any] | None = None,
        weight_hashes: tuple[bytes, ...] = (),
    ) -> int:
        """Append the next segment (frames follow the previous segment). Returns its chunk size."""
        if frame_count < 1:
            raise ValueError("a segment needs at least one frame")
        if self._frames + frame_count > MAX_FRAMES or len(self._entries) >= MAX_SEGMENTS:
            raise ValueError(f"a .ncv file holds at most {MAX_FRAMES} frames in {MAX_SEGMENTS} segments")
        index = len(self._entries)
        prefix = _pack_segment(index, strategy_id, strategy, self._frames, frame_count, weight_hashes, params or {})
        offset = self._fh.tell()
        chunk = pack_chunk(b"SEGM", prefix + payload)
        self._fh.write(chunk)
        self._entries.append((offset, self._frames, frame_count))
        self._frames += frame_count
        return len(chunk)

    def add_ancillary(self, chunk_type: bytes, payload: bytes) -> None:
        """Append an ancillary (skippable) chunk, e.g. ``scns`` with per-segment scene information."""
        if not is_critical(chunk_type) and len(payload) <= MAX_PARAMS * 16:
            self._fh.write(pack_chunk(chunk_type, payload))
        else:
            raise ValueError(f"ancillary chunks need a lower-case type and at most {MAX_PARAMS * 16} bytes")

    def close(self) -> int:
        """Write the index and the final header, then move the file into place. Returns its size."""
        if self._closed:
            raise ValueError("writer already closed")
        self._closed = True
        try:
            if not self._entries:
                raise ValueError("a .ncv file needs at least one segment")
            indx_offset = self._fh.tell()
            body = [encode_varint(len(self._entries))]
            for off, start, count in self._entries:
                body += [encode_varint(off), encode_varint(start), encode_varint(count)]
            self._fh.write(pack_chunk(b"INDX", b"".join(body)))
            self._fh.write(pack_chunk(b"NEND", _NEND.pack(indx_offset)))
            size = self._fh.tell()
            self._fh.seek(_PREAMBLE)
            self._fh.write(pack_chunk(b"HEAD", self._header(self._frames, len(self._entries)).pack()))
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except BaseException as exc:
            self._fh.close()
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._ctx.__exit__(None, None, None)
        return size

    def abort(self) -> None:
        """Discard the partial file."""
        if self._closed:
            return
        self._closed = True
        self._fh.close()
        err = RuntimeError("aborted")
        try:
            self._ctx.__exit__(RuntimeError, err, None)
        except RuntimeError:
            pass

    def __enter__(self) -> "NcvWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._closed:
                self.close()
        else:
            self.abort()


class NcvReader:
    """Validating reader for ``.ncv`` files.

    Opening reads and checks the preamble and header only; :meth:`segments`
    walks the file front to back checking every chunk's CRC, and
    :meth:`payload` returns a segment's payload (CRC re-checked).

    Args:
        source: A path, or bytes (handy for tests and fuzzing).

    Raises:
        NcvFormatError: At the first problem, naming its byte offset.
    """

    def __init__(self, source: str | os.PathLike | bytes):
        #: Contents of the ancillary ``meta`` chunk, filled in by :meth:`iter_segments`.
        self.meta: dict[str, Any] = {}
        #: Per-segment scene information from the ancillary ``scns`` chunk (may be empty).
        self.scene_info: list[dict[str, Any]] = []
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path = "<bytes>"
            self._fh: BinaryIO = io.BytesIO(bytes(source))
            self.size = len(source)
        else:
            self.path = str(source)
            try:
                self._fh = open(source, "rb")
            except FileNotFoundError:
                from ..errors import SourceNotFoundError

                raise SourceNotFoundError(f"{source}: no such file") from None
            except IsADirectoryError:
                raise NcvFormatError("is a folder, not a .ncv file", path=self.path) from None
            self.size = os.fstat(self._fh.fileno()).st_size
        try:
            self._read_preamble()
        except BaseException:
            self.close()
            raise

    # -- low level ---------------------------------------------------------

    def _error(self, message: str, offset: int | None) -> NcvFormatError:
        return NcvFormatError(message, offset=offset, path=self.path)

    def _read_exact(self, offset: int, n: int, what: str) -> bytes:
        if offset + n > self.size:
            raise self._error(f"{what}: file ends after {self.size} bytes (truncated?)", offset)
        self._fh.seek(offset)
        data = self._fh.read(n)
        if len(data) != n:
            raise self._error(f"{what}: short read (file changed while reading?)", offset)
        return data

    def _chunk_at(self, offset: int, *, want: bytes | None = None) -> tuple[bytes, int, int]:
        """Check the chunk at ``offset``; return (type, payload offset, payload length).

        The payload is read once to verify its CRC, in bounded blocks.
        """
        head = self._read_exact(offset, 8, "chunk header")
        ctype, length = head[:4], struct.unpack(">I", head[4:])[0]
        if not ctype.isalpha() or not ctype.isascii():
            raise self._error(f"invalid chunk type {ctype!r}", offset)
        if want is not None and ctype != want:
            raise self._error(f"expected a {want.decode()} chunk, found {ctype.decode()}", offset)
        if length > self.size - offset - CHUNK_OVERHEAD:
            raise self._error(
                f"{ctype.decode()} chunk claims {length} bytes but only "
                f"{max(self.size - offset - CHUNK_OVERHEAD, 0)} remain (truncated or corrupt)",
                offset + 4,
            )
        crc = zlib.crc32(ctype)
        self._fh.seek(offset + 8)
        left = length
        while left:
            block = self._fh.read(min(left, 1 << 20))
            if not block:
                raise self._error("short read (file changed while reading?)", offset)
            crc = zlib.crc32(block, crc)
            left -= len(block)
        (stored,) = struct.unpack(">I", self._fh.read(4))
        if stored != crc:
            raise self._error(f"{ctype.decode()} chunk CRC mismatch (corrupt data)", offset)
        return ctype, offset + 8, length

    def _read_preamble(self) -> None:
        pre = self._read_exact(0, min(self.size, _PREAMBLE), "signature") if self.size else b""
        if len(pre) < len(SIGNATURE) or pre[: len(SIGNATURE)] != SIGNATURE:
            raise self._error("not a .ncv file (bad signature)", 0)
        if len(pre) < _PREAMBLE:
            raise self._error("file ends inside the version field (truncated)", len(SIGNATURE))
        major, minor = pre[8], pre[9]
        if major != VERSION[0]:
            raise self._error(
                f"bitstream version {major}.{minor} is not supported by this neurocodec (reads {VERSION[0]}.x)",
                len(SIGNATURE),
            )
        self.version = (major, minor)
        ctype, off, length = self._chunk_at(_PREAMBLE, want=b"HEAD")
        self.header = NcvHeader.unpack(Cursor(self._read_exact(off, length, "HEAD"), off, self.path))
        self._first_chunk = off + length + 4

    # -- public ------------------------------------------------------------

    def iter_segments(self) -> Iterator[SegmentInfo]:
        """Walk the file front to back, validating every chunk, yielding segments in order.

        Checks that segments are numbered 0..N-1, cover the frames contiguously,
        and add up to the header's counts; also cross-checks the index when present.
        """
        offset = self._first_chunk
        expect_index = 0
        expect_frame = 0
        seen: list[SegmentInfo] = []
        index_entries = None
        self.meta: dict[str, Any] = {}
        while True:
            if offset == self.size:
                break
            ctype, poff, plen = self._chunk_at(offset)
            if ctype == b"SEGM":
                if index_entries is not None:
                    raise self._error("SEGM chunk after INDX", offset)
                seg = self._parse_segm(offset, poff, plen)
                if seg.index != expect_index:
                    raise self._error(f"segment {seg.index} found where segment {expect_index} was expected", offset)
                if seg.start_frame != expect_frame:
                    raise self._error(
                        f"segment {seg.index} starts at frame {seg.start_frame}, expected {expect_frame}", offset
                    )
                if seg.index >= self.header.segment_count or seg.end_frame > self.header.frame_count:
                    raise self._error(
                        f"segment {seg.index} (frames {seg.start_frame}..{seg.end_frame}) exceeds the header's "
                        f"{self.header.segment_count} segments / {self.header.frame_count} frames",
                        offset,
                    )
                expect_index += 1
                expect_frame = seg.end_frame
                seen.append(seg)
                yield seg
            elif ctype == b"INDX":
                if index_entries is not None:
                    raise self._error("second INDX chunk", offset)
                index_entries = self._parse_indx(poff, plen)
            elif ctype == b"NEND":
                if plen != _NEND.size or poff + plen + 4 != self.size:
                    raise self._error("NEND chunk must be the 8-byte last chunk", offset)
                (indx_off,) = _NEND.unpack(self._read_exact(poff, plen, "NEND"))
                if index_entries is None or indx_off != self._indx_offset:
                    raise self._error("NEND points to no INDX chunk", poff)
            elif ctype == b"meta" and plen <= MAX_PARAMS:
                try:
                    meta = json.loads(self._read_exact(poff, plen, "meta"))
                    self.meta = meta if isinstance(meta, dict) else {}
                except (ValueError, RecursionError):
                    self.meta = {}
            elif ctype == b"scns" and plen <= MAX_PARAMS * 16:
                self.scene_info = _parse_scene_info(self._read_exact(poff, plen, "scns"))
            elif ctype == b"HEAD":
                raise self._error("second HEAD chunk", offset)
            elif is_critical(ctype):
                raise self._error(
                    f"unknown critical chunk {ctype.decode()} (written by a newer neurocodec?)", offset
                )
            offset = poff + plen + 4
        if expect_index != self.header.segment_count or expect_frame != self.header.frame_count:
            raise self._error(
                f"file holds {expect_index} segments / {expect_frame} frames but the header promises "
                f"{self.header.segment_count} / {self.header.frame_count} (truncated?)",
                offset,
            )
        if index_entries is not None:
            got = [(s.chunk_offset, s.start_frame, s.frame_count) for s in seen]
            if got != index_entries:
                raise self._error("INDX does not match the segments in the file", self._indx_offset)

    def segments(self) -> list[SegmentInfo]:
        """All segments, after validating the whole file."""
        return list(self.iter_segments())

    def payload(self, seg: SegmentInfo) -> bytes:
        """Read a segment's payload (its CRC is checked again)."""
        self._chunk_at(seg.chunk_offset, want=b"SEGM")
        return self._read_exact(seg.payload_offset, seg.payload_size, f"segment {seg.index} payload")

    def _parse_segm(self, offset: int, poff: int, plen: int) -> SegmentInfo:
        # The metadata prefix is small and bounded; read at most that much.
        head_len = min(plen, 16 + MAX_NAME + MAX_HASHES * HASH_SIZE + 12 + MAX_PARAMS + 12)
        cur = Cursor(self._read_exact(poff, head_len, "SEGM"), poff, self.path)
        index, sid, name, start, count, hashes, params = _parse_segment_prefix(cur)
        return SegmentInfo(
            index=index,
            strategy_id=sid,
            strategy=name,
            start_frame=start,
            frame_count=count,
            weight_hashes=hashes,
            params=params,
            chunk_offset=offset,
            payload_offset=poff + cur.pos,
            payload_size=plen - cur.pos,
        )

    def _parse_indx(self, poff: int, plen: int) -> list[tuple[int, int, int]]:
        self._indx_offset = poff - 8
        cur = Cursor(self._read_exact(poff, plen, "INDX"), poff, self.path)
        n = cur.varint("index entry count", self.header.segment_count)
        entries = []
        for _ in range(n):
            entries.append(
                (
                    cur.varint("index chunk offset", self.size),
                    cur.varint("index start frame", MAX_FRAMES),
                    cur.varint("index frame count", MAX_FRAMES),
                )
            )
        cur.expect_end("INDX")
        return entries

    def index(self) -> list[tuple[int, int, int]] | None:
        """Read the index through the NEND trailer without scanning: ``[(chunk_offset, start, count)]``.

        Returns None if the trailer or index is missing or damaged (the file
        may still decode front to back).
        """
        if self.size < self._first_chunk + _NEND_CHUNK:
            return None
        try:
            ctype, poff, plen = self._chunk_at(self.size - _NEND_CHUNK, want=b"NEND")
            if plen != _NEND.size:
                return None
            (indx_off,) = _NEND.unpack(self._read_exact(poff, plen, "NEND"))
            if not self._first_chunk <= indx_off < self.size:
                return None
            _, ipoff, iplen = self._chunk_at(indx_off, want=b"INDX")
            return self._parse_indx(ipoff, iplen)
        except NcvFormatError:
            return None

    def segment_at(self, chunk_offset: int) -> SegmentInfo:
        """Parse the SEGM chunk at a byte offset (from :meth:`index`)."""
        if not self._first_chunk <= chunk_offset < self.size:
            raise self._error("segment offset outside the file", chunk_offset)
        _, poff, plen = self._chunk_at(chunk_offset, want=b"SEGM")
        return self._parse_segm(chunk_offset, poff, plen)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "NcvReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_header(path: str | os.PathLike) -> NcvHeader:
    """Read and validate only the header of a ``.ncv`` file."""
    with NcvReader(path) as reader:
        return reader.header

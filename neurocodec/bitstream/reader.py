"""Reading ``.ncv`` files (specified in ``docs/bitstream.md``): :class:`NcvReader` and :func:`read_header`.

The reader verifies every CRC and every length before use and raises
:class:`~neurocodec.errors.NcvFormatError` naming the byte offset of the
problem. The file stays decodable front to back if INDX/NEND are lost.
The fields of each chunk are parsed by the codecs in :mod:`.header`,
:mod:`.segment`, :mod:`.index` and :mod:`.ancillary`; this module walks the
file and checks that the chunks agree with one another.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..errors import NcvFormatError, SourceNotFoundError
from .ancillary import MAX_ANCILLARY_SIZE, MAX_META_SIZE, parse_meta, parse_scene_info, parse_scene_rows
from .bases import params_base
from .chunks import CHUNK_OVERHEAD, Cursor, is_critical
from .header import FLAG_PARAMS_BASE, FLAG_PARAMS_DELTA, PREAMBLE_SIZE, NcvHeader, parse_preamble
from .index import NEND_CHUNK_SIZE, NEND_SIZE, IndexEntry, unpack_index, unpack_nend
from .segment import MAX_PREFIX_SIZE, SegmentInfo, SegmentPrefix, apply_params_patch

__all__ = ["NcvReader", "read_header"]


class NcvReader:
    """Validating reader for ``.ncv`` files.

    Opening reads and checks the preamble and header only; :meth:`segments`
    walks the file front to back checking every chunk's CRC, and
    :meth:`payload` returns a segment's payload (CRC re-checked).

    Args:
        source: A path, or bytes (handy for tests and fuzzing).

    Raises:
        NcvFormatError: At the first problem, naming its byte offset.
        SourceNotFoundError: ``source`` is a path to nothing.
    """

    def __init__(self, source: str | os.PathLike | bytes):
        #: Contents of the ancillary ``meta`` chunk, filled in by :meth:`iter_segments`.
        self.meta: dict[str, Any] = {}
        #: Per-segment scene information from the ancillary ``scnb`` (or 1.0's ``scns``) chunk (may be empty).
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
        pre = self._read_exact(0, min(self.size, PREAMBLE_SIZE), "signature") if self.size else b""
        self.version = parse_preamble(pre, self.path)
        ctype, off, length = self._chunk_at(PREAMBLE_SIZE, want=b"HEAD")
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
        params: dict[str, Any] | None = None  # the previous segment's; None before the first
        index_entries = None
        self.meta = {}
        while True:
            if offset == self.size:
                break
            ctype, poff, plen = self._chunk_at(offset)
            if ctype == b"SEGM":
                if index_entries is not None:
                    raise self._error("SEGM chunk after INDX", offset)
                seg = self._parse_segm(offset, poff, plen, params)
                params = seg.params
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
                if plen != NEND_SIZE or poff + plen + 4 != self.size:
                    raise self._error("NEND chunk must be the 8-byte last chunk", offset)
                indx_off = unpack_nend(self._read_exact(poff, plen, "NEND"))
                if index_entries is None or indx_off != self._indx_offset:
                    raise self._error("NEND points to no INDX chunk", poff)
            elif ctype == b"meta" and plen <= MAX_META_SIZE:
                self.meta = parse_meta(self._read_exact(poff, plen, "meta"))
            elif ctype == b"scns" and plen <= MAX_ANCILLARY_SIZE:
                self.scene_info = parse_scene_info(self._read_exact(poff, plen, "scns"))
            elif ctype == b"scnb" and plen <= MAX_ANCILLARY_SIZE:
                self.scene_info = parse_scene_rows(self._read_exact(poff, plen, "scnb"), self.header.segment_count)
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

    def _parse_segm(self, offset: int, poff: int, plen: int, previous: dict[str, Any] | None) -> SegmentInfo:
        # The metadata prefix is small and bounded; read at most that much.
        cur = Cursor(self._read_exact(poff, min(plen, MAX_PREFIX_SIZE), "SEGM"), poff, self.path)
        prefix = SegmentPrefix.unpack(cur)
        params = prefix.params
        if previous is None:  # the first segment
            previous = params_base(prefix.strategy_id) if self.header.flags & FLAG_PARAMS_BASE else {}
        if not self.header.flags & FLAG_PARAMS_DELTA and not isinstance(params, dict):
            raise self._error("params must be a JSON object", poff)
        if self.header.flags & FLAG_PARAMS_DELTA:
            try:
                params = apply_params_patch(previous, params)
            except ValueError as exc:
                raise self._error(str(exc), offset) from None
        return SegmentInfo(
            index=prefix.index,
            strategy_id=prefix.strategy_id,
            strategy=prefix.strategy,
            start_frame=prefix.start_frame,
            frame_count=prefix.frame_count,
            weight_hashes=prefix.weight_hashes,
            params=params,
            chunk_offset=offset,
            payload_offset=poff + cur.pos,
            payload_size=plen - cur.pos,
        )

    def _parse_indx(self, poff: int, plen: int) -> list[IndexEntry]:
        self._indx_offset = poff - 8
        cur = Cursor(self._read_exact(poff, plen, "INDX"), poff, self.path)
        return unpack_index(cur, max_entries=self.header.segment_count, file_size=self.size)

    def index(self) -> list[IndexEntry] | None:
        """Read the index through the NEND trailer without scanning: ``[(chunk_offset, start, count)]``.

        Returns None if the trailer or index is missing or damaged (the file
        may still decode front to back).
        """
        if self.size < self._first_chunk + NEND_CHUNK_SIZE:
            return None
        try:
            ctype, poff, plen = self._chunk_at(self.size - NEND_CHUNK_SIZE, want=b"NEND")
            if plen != NEND_SIZE:
                return None
            indx_off = unpack_nend(self._read_exact(poff, plen, "NEND"))
            if not self._first_chunk <= indx_off < self.size:
                return None
            _, ipoff, iplen = self._chunk_at(indx_off, want=b"INDX")
            return self._parse_indx(ipoff, iplen)
        except NcvFormatError:
            return None

    def segment_at(self, chunk_offset: int) -> SegmentInfo:
        """Parse the SEGM chunk at a byte offset (from :meth:`index`).

        In a file whose params are patches (``FLAG_PARAMS_DELTA``) the segments before it are read too.
        """
        if not self._first_chunk <= chunk_offset < self.size:
            raise self._error("segment offset outside the file", chunk_offset)
        _, poff, plen = self._chunk_at(chunk_offset, want=b"SEGM")
        if not self.header.flags & FLAG_PARAMS_DELTA:
            return self._parse_segm(chunk_offset, poff, plen, None)
        for seg in self.iter_segments():
            if seg.chunk_offset == chunk_offset:
                return seg
            if seg.chunk_offset > chunk_offset:
                break
        raise self._error("no segment starts at this offset", chunk_offset)

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()

    def __enter__(self) -> "NcvReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_header(path: str | os.PathLike) -> NcvHeader:
    """Read and validate only the header of a ``.ncv`` file.

    Raises:
        NcvFormatError: The preamble or HEAD chunk is damaged or of an unsupported version.
        SourceNotFoundError: ``path`` is a path to nothing.
    """
    with NcvReader(path) as reader:
        return reader.header

"""Writing ``.ncv`` files (specified in ``docs/bitstream.md``): :class:`NcvWriter`.

Layout::

    signature (8 bytes) | version major, minor (2 bytes)
    HEAD chunk                      fixed-size stream header
    meta chunk (ancillary)          JSON: writer name and version
    SEGM chunk x N                  one per scene: strategy, frame range, weight hashes, params (a merge
                                    patch over the previous segment's; the first one's over its
                                    strategy's base params), payload
    scnb chunk (ancillary)          per-segment scene class and measured quality (added by the encoder)
    INDX chunk                      chunk offset and frame range of every segment
    NEND chunk                      offset of INDX (fixed size, always last)

The chunks' fields are packed by the codecs in :mod:`.header`,
:mod:`.segment`, :mod:`.index` and :mod:`.ancillary`; this module orders
them in a file and makes the file appear atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_path
from .ancillary import MAX_ANCILLARY_SIZE, pack_meta
from .bases import params_base
from .chunks import is_critical, pack_chunk
from .header import (
    CHROMA_420,
    FLAG_PARAMS_BASE,
    FLAG_PARAMS_DELTA,
    MAX_DIM,
    MAX_FRAMES,
    MAX_SEGMENTS,
    PREAMBLE_SIZE,
    NcvHeader,
    pack_preamble,
)
from .index import IndexEntry, pack_index, pack_nend
from .segment import SegmentPrefix, params_patch

__all__ = ["NcvWriter"]


class _Discard(Exception):
    """Unwinds the writer's contexts so that :func:`atomic_path` deletes the temporary file."""


class NcvWriter:
    """Writes a ``.ncv`` file atomically (temporary file, then rename on :meth:`close`).

    Use it as a context manager: leaving the block closes the file, or
    discards it if the block raised.

    Args:
        path: Output file.
        width: Luma width in pixels.
        height: Luma height in pixels.
        fps: Frame rate.
        color: ``(primaries, transfer, matrix, full_range)`` H.273 code points.
        overwrite: Replace an existing file.
        meta: Extra JSON stored in the ancillary ``meta`` chunk.

    Raises:
        ValueError: Geometry or rate the reader would refuse (nothing is created).
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
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
        # Imported here: the neurocodec.io package loads numpy, which reading a file never needs.
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
        start = pack_preamble() + pack_chunk(b"HEAD", self._header(0, 0).pack())
        if meta:
            start += pack_chunk(b"meta", pack_meta(meta))
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.path, overwrite=overwrite))
            self._fh = stack.enter_context(open(tmp, "wb"))
            self._fh.write(start)
            # Held open until close() or abort(); on an error above, the stack deletes the temporary file.
            self._files = stack.pop_all()
        self._entries: list[IndexEntry] = []
        self._params: dict[str, Any] = {}  # the previous segment's: the next one's params are a patch over them
        self._frames = 0
        self._closed = False

    def _header(self, frames: int, segments: int) -> NcvHeader:
        w, h, fps, (prim, trc, mat, full) = self._geometry
        return NcvHeader(w, h, fps, frames, segments, CHROMA_420, 8, prim, trc, mat, full,
                         FLAG_PARAMS_DELTA | FLAG_PARAMS_BASE)

    @property
    def frames_written(self) -> int:
        """Frames in the segments added so far."""
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
        """Append the next segment (frames follow the previous segment).

        Args:
            strategy_id: The strategy's frozen id.
            strategy: The strategy's registered name.
            frame_count: Frames in the segment, at least one.
            payload: The strategy's encoded bytes.
            params: The strategy's settings, stored as JSON: the changes from the previous segment's, or
                whole where that is shorter (or they hold a null, which a merge patch cannot set).
            weight_hashes: SHA-256 of each weights file the decoder needs.

        Returns:
            The segment's chunk size in bytes.

        Raises:
            ValueError: A field the reader would refuse, or the file is full.
        """
        if frame_count < 1:
            raise ValueError("a segment needs at least one frame")
        if self._frames + frame_count > MAX_FRAMES or len(self._entries) >= MAX_SEGMENTS:
            raise ValueError(f"a .ncv file holds at most {MAX_FRAMES} frames in {MAX_SEGMENTS} segments")
        index = len(self._entries)
        if not isinstance(params or {}, dict):
            raise ValueError("segment params must be a dict")
        params = json.loads(json.dumps(params or {}))  # as a reader will see them (tuples become lists, ...)
        patch = params_patch(self._params if index else params_base(strategy_id), params)
        prefix = SegmentPrefix(
            index, strategy_id, strategy, self._frames, frame_count, weight_hashes, patch
        ).pack()
        offset = self._fh.tell()
        chunk = pack_chunk(b"SEGM", prefix + payload)
        self._fh.write(chunk)
        self._entries.append(IndexEntry(offset, self._frames, frame_count))
        self._params = params
        self._frames += frame_count
        return len(chunk)

    def add_ancillary(self, chunk_type: bytes, payload: bytes) -> None:
        """Append an ancillary (skippable) chunk, e.g. ``scns`` with per-segment scene information.

        Raises:
            ValueError: A critical (upper-case) type, or a payload over :data:`MAX_ANCILLARY_SIZE`.
        """
        if not is_critical(chunk_type) and len(payload) <= MAX_ANCILLARY_SIZE:
            self._fh.write(pack_chunk(chunk_type, payload))
        else:
            raise ValueError(f"ancillary chunks need a lower-case type and at most {MAX_ANCILLARY_SIZE} bytes")

    def close(self) -> int:
        """Write the index and the final header, then move the file into place.

        Returns:
            The file's size in bytes.

        Raises:
            ValueError: Already closed, or no segment was added (the partial file is deleted).
        """
        if self._closed:
            raise ValueError("writer already closed")
        self._closed = True
        # Leaving the stack closes the file, then renames it into place (or deletes it if this raised).
        with self._files:
            if not self._entries:
                raise ValueError("a .ncv file needs at least one segment")
            indx_offset = self._fh.tell()
            self._fh.write(pack_chunk(b"INDX", pack_index(self._entries)))
            self._fh.write(pack_chunk(b"NEND", pack_nend(indx_offset)))
            size = self._fh.tell()
            self._fh.seek(PREAMBLE_SIZE)
            self._fh.write(pack_chunk(b"HEAD", self._header(self._frames, len(self._entries)).pack()))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return size

    def abort(self) -> None:
        """Discard the partial file (nothing happens if the writer is already closed)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(_Discard), self._files:
            raise _Discard

    def __enter__(self) -> "NcvWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._closed:
                self.close()
        else:
            self.abort()

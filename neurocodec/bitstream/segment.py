"""The SEGM chunk: its metadata prefix (strategy, frame range, weight hashes, params) and :class:`SegmentInfo`.

A SEGM payload is the prefix packed by :meth:`SegmentPrefix.pack`, then the
strategy's payload, which runs to the end of the chunk. In a file whose header
sets ``FLAG_PARAMS_DELTA`` (1.1) the prefix's params are a JSON merge patch
(RFC 7386) over the previous segment's params (:func:`params_patch`,
:func:`apply_params_patch`): scenes coded alike repeat nothing, which matters
on short, low-rate clips where 80-odd bytes of params per scene were several
per cent of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    "params_patch",
    "apply_params_patch",
]

MAX_NAME = 64
MAX_HASHES = 16
HASH_SIZE = 32
MAX_PARAMS = 1 << 20
#: A generous bound on a valid prefix's size: a reader need not read more of a SEGM chunk to parse it.
MAX_PREFIX_SIZE = 16 + MAX_NAME + MAX_HASHES * HASH_SIZE + 12 + MAX_PARAMS + 12


def params_patch(prev: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
    """What a delta file stores for ``cur`` after ``prev``: the shorter of a merge patch and ``[cur]``.

    A JSON merge patch (RFC 7386) cannot set a null (null means "remove"), so params that hold one
    are stored whole, as the one-element list ``[cur]``; so are params a patch would not shorten.
    """
    whole = [cur]
    try:
        patch = _patch(prev, cur)
    except _HasNull:
        return whole
    return patch if len(_canonical(patch)) <= len(_canonical(whole)) else whole


class _HasNull(Exception):
    pass


def _patch(prev: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in cur.items():
        old = prev.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            sub = _patch(old, value)
            if sub:
                patch[key] = sub
        elif key not in prev or _canonical(old) != _canonical(value):  # 1, 1.0 and true differ in JSON
            patch[key] = _check_no_null(value)
    patch.update({key: None for key in prev if key not in cur})
    return patch


def _check_no_null(value: Any) -> Any:
    if value is None:
        raise _HasNull
    if isinstance(value, dict):
        for v in value.values():
            _check_no_null(v)
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def apply_params_patch(prev: dict[str, Any], stored: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """The params a delta file's SEGM stores as ``stored`` after ``prev`` (:func:`params_patch`'s inverse).

    Raises:
        ValueError: The result exceeds :data:`MAX_PARAMS` (patches must not grow params without bound), or
            nests too deeply to merge.
    """
    if isinstance(stored, list):
        return stored[0]
    try:
        out = _merge(prev, stored)
        size = len(_canonical(out))
    except RecursionError:
        raise ValueError("segment params nest too deeply") from None
    if size > MAX_PARAMS:
        raise ValueError(f"segment params exceed {MAX_PARAMS} bytes")
    return out


def _merge(prev: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(prev)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            base = out.get(key)
            out[key] = _merge(base if isinstance(base, dict) else {}, value)
        else:
            out[key] = value
    return out


def _params_shape(params: Any) -> bool:
    return isinstance(params, dict) or (isinstance(params, list) and len(params) == 1 and isinstance(params[0], dict))


@dataclass(frozen=True)
class SegmentPrefix:
    """The metadata at the start of a SEGM chunk's payload."""

    index: int
    strategy_id: int
    strategy: str
    start_frame: int
    frame_count: int
    weight_hashes: tuple[bytes, ...]
    #: A JSON object; in a delta file (``FLAG_PARAMS_DELTA``) a merge patch, or ``[params]`` stored whole.
    params: dict[str, Any] | list[dict[str, Any]]

    def pack(self) -> bytes:
        """The prefix's bytes (params as canonical JSON: sorted keys, no spaces).

        Raises:
            ValueError: A field the reader would refuse.
        """
        name = self.strategy.encode("utf-8")
        if not 1 <= len(name) <= MAX_NAME or not self.strategy.isprintable():
            raise ValueError(f"strategy name must be printable and 1..{MAX_NAME} bytes")
        if not _params_shape(self.params):
            raise ValueError("segment params must be a dict (or a list of one dict)")
        if not 0 < self.strategy_id <= MAX_STRATEGY_ID:
            raise ValueError(f"strategy id {self.strategy_id} outside 1..{MAX_STRATEGY_ID}")
        if len(self.weight_hashes) > MAX_HASHES or any(len(h) != HASH_SIZE for h in self.weight_hashes):
            raise ValueError(f"at most {MAX_HASHES} weight hashes of {HASH_SIZE} bytes")
        params_raw = _canonical(self.params).encode("utf-8")
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
        if not _params_shape(params):
            raise cur.error("params must be a JSON object (or, in a delta file, a list of one object)")
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

    @property
    def end_frame(self) -> int:
        """Exclusive end, as in Av1an's scene files."""
        return self.start_frame + self.frame_count

    @property
    def chunk_size(self) -> int:
        """Bytes the segment occupies in the file (chunk header, metadata, payload, CRC)."""
        return self.payload_offset + self.payload_size + 4 - self.chunk_offset

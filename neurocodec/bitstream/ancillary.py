"""The informational ancillary chunks: ``meta`` (writer name and version) and the per-segment scene rows.

Scene rows (class, transition, measured quality) are written as ``scnb``
(1.1: binary, 6 bytes a segment) and read from ``scnb`` or from the JSON
``scns`` chunk that 1.0 writers used. All of them are skippable: a reader
ignores them when they are too large or malformed, and nothing else in the
file depends on them.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from .chunks import Cursor, encode_varint

__all__ = ["MAX_META_SIZE", "MAX_ANCILLARY_SIZE", "SCENE_CLASSES", "TRANSITIONS", "pack_meta", "parse_meta",
           "parse_scene_info", "pack_scene_rows", "parse_scene_rows"]

MAX_META_SIZE = 1 << 20
#: The largest ancillary chunk a writer accepts (and a reader parses as ``scns``).
MAX_ANCILLARY_SIZE = 16 << 20

#: ``scnb`` codes of the scene classes and transitions: frozen, append-only (docs/bitstream.md).
SCENE_CLASSES = ("static", "talking_head", "moderate_motion", "high_motion", "fade", "screen_content")
TRANSITIONS = ("start", "cut", "fade", "dissolve", "split")
_UNKNOWN = 255
_ROW = struct.Struct(">BBHh")  # class, transition, PSNR-YUV in 1/100 dB, SSIM in 1/10000
_NO_PSNR = 0xFFFF
_NO_SSIM = -0x8000


def pack_meta(meta: dict[str, Any]) -> bytes:
    """The ``meta`` chunk's payload (sorted keys, so the same meta gives the same bytes)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")


def parse_meta(raw: bytes) -> dict[str, Any]:
    """A ``meta`` payload as a dict; anything but a JSON object gives ``{}``."""
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting depth
        return {}
    return meta if isinstance(meta, dict) else {}


def parse_scene_info(raw: bytes) -> list[dict[str, Any]]:
    """The rows of a 1.0 ``scns`` chunk (JSON), one dict per segment; malformed gives ``[]`` (or ``{}`` for a row)."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    rows = doc.get("segments") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        return []
    return [r if isinstance(r, dict) else {} for r in rows]


def _code(table: tuple[str, ...], name: Any) -> int:
    return table.index(name) if name in table else _UNKNOWN


def pack_scene_rows(rows: list[dict[str, Any]]) -> bytes:
    """The ``scnb`` payload: a varint count, then per segment class and transition codes, PSNR-YUV and SSIM.

    A row is ``{"class", "transition", "psnr_yuv", "ssim"}``; a name not in the tables is stored as
    unknown, a missing or non-finite quality (the PSNR of identical frames) as absent, PSNR is clamped
    to 0..655.34 dB and SSIM to -1..1.
    """
    out = [encode_varint(len(rows))]
    for r in rows:
        psnr, ssim = r.get("psnr_yuv"), r.get("ssim")
        p = _NO_PSNR if psnr is None or not math.isfinite(psnr) else min(max(round(psnr * 100), 0), _NO_PSNR - 1)
        s = _NO_SSIM if ssim is None or not math.isfinite(ssim) else min(max(round(ssim * 10000), -10000), 10000)
        out.append(_ROW.pack(_code(SCENE_CLASSES, r.get("class")), _code(TRANSITIONS, r.get("transition")), p, s))
    return b"".join(out)


def parse_scene_rows(raw: bytes, max_rows: int) -> list[dict[str, Any]]:
    """The rows of a ``scnb`` payload (as :func:`pack_scene_rows` takes them); malformed gives ``[]``."""
    cur = Cursor(raw)
    try:
        count = cur.varint("scene rows", max_rows)
        if cur.remaining != count * _ROW.size:
            return []
        rows = []
        for _ in range(count):
            c, t, p, s = cur.struct(_ROW.format, "scene row")
            rows.append({"class": SCENE_CLASSES[c] if c < len(SCENE_CLASSES) else None,
                         "transition": TRANSITIONS[t] if t < len(TRANSITIONS) else None,
                         "psnr_yuv": None if p == _NO_PSNR else p / 100,
                         "ssim": None if s == _NO_SSIM else s / 10000})
    except ValueError:  # NcvFormatError: a bad count
        return []
    return rows

"""The informational ancillary chunks: ``meta`` (writer name and version) and ``scns`` (per-segment scenes).

Both are JSON and skippable: a reader ignores them when they are too large
or malformed, and nothing else in the file depends on them.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_META_SIZE", "MAX_ANCILLARY_SIZE", "pack_meta", "parse_meta", "parse_scene_info"]

MAX_META_SIZE = 1 << 20
#: The largest ancillary chunk a writer accepts (and a reader parses as ``scns``).
MAX_ANCILLARY_SIZE = 16 << 20


def pack_meta(meta: dict[str, Any]) -> bytes:
    """The ``meta`` chunk's payload (sorted keys, so the same meta gives the same bytes)."""
    return json.dumps(meta, sort_keys=True).encode("utf-8")


def parse_meta(raw: bytes) -> dict[str, Any]:
    """A ``meta`` payload as a dict; anything but a JSON object gives ``{}``."""
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting depth
        return {}
    return meta if isinstance(meta, dict) else {}


def parse_scene_info(raw: bytes) -> list[dict[str, Any]]:
    """The ``scns`` rows, one dict per segment; anything malformed gives ``[]`` (or ``{}`` for a row)."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    rows = doc.get("segments") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        return []
    return [r if isinstance(r, dict) else {} for r in rows]

"""Strict JSON: undefined numbers (NaN, infinities) are written as ``null``.

Python's :mod:`json` writes them as the bare words ``NaN`` and ``Infinity``,
which are not JSON: strict parsers (browsers, jq, Go, Rust's serde) reject
the whole document. Metrics can be undefined (the SSIM of a frame smaller
than its window, the PSNR of identical frames), so every JSON neurocodec
writes goes through :func:`dumps`.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["sanitize", "dumps"]


def sanitize(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) inside dicts, lists and tuples replaced by None."""
    if isinstance(obj, float):  # numpy's float64 too
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """:func:`json.dumps` of :func:`sanitize` (``obj``), refusing anything that would still not be JSON."""
    return json.dumps(sanitize(obj), allow_nan=False, **kwargs)

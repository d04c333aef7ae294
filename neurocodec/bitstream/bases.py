"""Base params (bitstream 1.2): what a file's first segment's params are a patch over, per strategy id.

In a file whose header sets ``FLAG_PARAMS_BASE`` the first SEGM stores its
params as a merge patch over its strategy's base below instead of over ``{}``,
so a one-scene file at default settings stores only what differs (the CRF:
24 bytes instead of about 90). The bases are part of the format: frozen,
append-only, never edited (an edited base would change what old files
decode to). A strategy without a base patches over ``{}``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PARAMS_BASES", "params_base"]

#: Strategy id -> base params: each built-in classical encoder's params at its defaults in neurocodec 0.1.
PARAMS_BASES: dict[int, dict[str, Any]] = {
    1: {"encoder": "libx264", "gop_size": 300,
        "options": {"crf": "23", "preset": "medium", "x264-params": "cpu-independent=1"}, "threads": 1},
    2: {"encoder": "libx265", "gop_size": 300,
        "options": {"crf": "28", "preset": "medium", "x265-params": "log-level=error:info=0"}, "threads": 0},
    3: {"encoder": "libsvtav1", "gop_size": 300, "options": {"crf": "35", "preset": "6"}, "threads": 0},
}


def params_base(strategy_id: int) -> dict[str, Any]:
    """A copy of the base params of ``strategy_id`` (``{}`` for a strategy without one)."""
    return copy.deepcopy(PARAMS_BASES.get(strategy_id, {}))

"""The frozen, append-only table of strategy ids stored in ``.ncv`` segments.

Never renumber or reuse an id: files written today must decode tomorrow.
Ids from ``PRIVATE_ID_MIN`` upward are for third-party strategies (entry
point group ``neurocodec.strategies``); the segment also stores the strategy
name, which the decoder checks against the registered strategy.
"""

from __future__ import annotations

__all__ = ["STRATEGY_IDS", "PRIVATE_ID_MIN", "MAX_STRATEGY_ID", "name_for_id"]

STRATEGY_IDS: dict[str, int] = {
    # Classical, through PyAV.
    "x264": 1,
    "x265": 2,
    "av1": 3,
    # Classical, encoded by the bundled FFmpeg binary (imageio-ffmpeg), decoded through PyAV.
    "aom": 4,
    "vvc": 5,
    # Learned and mixed strategies (ids reserved as they are designed).
    "semantic_latent": 16,
    "i_frame_interpolation": 17,
    "hybrid": 18,
}

PRIVATE_ID_MIN = 0x4000
MAX_STRATEGY_ID = 0xFFFF


def name_for_id(strategy_id: int) -> str | None:
    """The built-in strategy name for an id, or None if the id is not in the table."""
    for name, sid in STRATEGY_IDS.items():
        if sid == strategy_id:
            return name
    return None

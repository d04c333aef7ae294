"""Shared parts of strategies that carry a classical base stream (``hybrid``, ``i_frame_interpolation``).

Their presets read ``BASE[:PRESET][/key=value]...`` and their payloads start
with a format byte and the base strategy's id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bitstream.chunks import Cursor
from ..bitstream.ids import STRATEGY_IDS
from ..errors import SettingsError
from .base import Strategy, get_strategy, get_strategy_by_id

__all__ = ["BASES", "parse_preset", "format_preset", "read_header", "SvtAv1Knob"]

BASES = ("x265", "av1")


def parse_preset(text: str, owner: str, grammar: str, options: dict[str, tuple[str, Callable[[str], Any]]]) -> dict[str, Any]:
    """``BASE[:PRESET][/key=value]...`` -> keyword arguments (``base``, ``base_preset`` and each option's field).

    Args:
        owner: Strategy name for error messages.
        grammar: The preset's grammar, quoted in errors.
        options: ``key -> (field name, converter)``.
    """
    head, *pairs = [t.strip() for t in str(text).split("/")]
    base, _, preset = head.partition(":")
    kw: dict[str, Any] = {"base": base or "av1", "base_preset": preset or None}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            field, convert = options[key]
            kw[field] = convert(value)
        except (KeyError, ValueError):
            raise SettingsError(f"{owner} preset {text!r}: expected {grammar}") from None
    if kw["base"] not in BASES:
        raise SettingsError(f"{owner} base must be one of {', '.join(BASES)}, got {kw['base']!r}")
    return kw


def format_preset(base: str, base_preset: str | None, options: str) -> str:
    """The preset string :func:`parse_preset` reads back (``options``: ``key=value/...``)."""
    return base + (f":{base_preset}" if base_preset else "") + f"/{options}"


def read_header(cur: Cursor, owner: str, version: int) -> Strategy:
    """Check the payload's format byte and return its base strategy."""
    fmt = cur.u8("payload format")
    if fmt != version:
        raise cur.error(f"{owner} payload format {fmt} is not supported")
    base_id = cur.u8("base strategy id")
    if base_id not in {STRATEGY_IDS[b] for b in BASES}:
        raise cur.error(f"{owner} base strategy id {base_id} is not x265 or av1")
    return get_strategy_by_id(base_id)


class SvtAv1Knob:
    """Scene-adaptive hooks of a strategy that ``auto`` runs on an SVT-AV1 base: its CRF is SVT-AV1's."""

    rd_crf_range = (30, 63)

    def candidate_presets(self, speed: str) -> list[str]:
        raise NotImplementedError

    def speed_preset(self, speed: str) -> str | None:
        return self.candidate_presets(speed)[0]

    def crf_for_quality(self, quality: float) -> float:
        return get_strategy("av1").crf_for_quality(quality)

    def crf_bounds(self) -> tuple[int, int]:
        return get_strategy("av1").crf_bounds()

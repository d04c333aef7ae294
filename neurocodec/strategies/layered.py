"""Shared parts of strategies that carry a classical base stream (``hybrid``, ``i_frame_interpolation``).

Their options start with ``base`` and ``base-preset``; the older preset
grammar ``BASE[:PRESET][/key=value]...`` stays an alias of them (``--preset``).
Their payloads start with a format byte and the base strategy's id. ``auto``
runs them on an SVT-AV1 base, so their CRF scale and quality map are SVT-AV1's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from ..bitstream.chunks import Cursor
from ..bitstream.ids import STRATEGY_IDS
from ..errors import NcvFormatError, SettingsError
from .base import AutoCapability, Strategy, StrategySettings, get_strategy, get_strategy_by_id
from .options import option, option_specs

__all__ = ["BASES", "LayeredStrategy", "base_option", "base_preset_option", "format_preset", "read_header"]

BASES = ("x265", "av1")


def base_option() -> Any:
    """The ``base`` option field."""
    return option("av1", str, "Classical codec of the base stream.", choices=BASES)


def base_preset_option() -> Any:
    """The ``base-preset`` option field."""
    return option(None, str, "The base codec's preset (x265: ultrafast..placebo, av1: -1..13; default: its own).")


def format_preset(base: str, base_preset: str | None, options: str) -> str:
    """The alias preset string (``options``: ``key=value/...``)."""
    return base + (f":{base_preset}" if base_preset else "") + f"/{options}"


def read_header(cur: Cursor, owner: str, versions: tuple[int, ...]) -> tuple[int, Strategy]:
    """Check the payload's format byte (one of ``versions``) and return it with the base strategy."""
    fmt = cur.u8("payload format")
    if fmt not in versions:
        raise cur.error(f"{owner} payload format {fmt} is not supported")
    base_id = cur.u8("base strategy id")
    if base_id not in {STRATEGY_IDS[b] for b in BASES}:
        raise cur.error(f"{owner} base strategy id {base_id} is not x265 or av1")
    return fmt, get_strategy_by_id(base_id)


class LayeredStrategy(Strategy):
    """A strategy over a classical base stream: the preset alias, base validation and ``auto`` on SVT-AV1.

    Subclasses set ``Options`` (fields ``base``, ``base_preset``, then their own),
    ``grammar`` (the alias, quoted in errors), and for ``auto``: ``auto_rank``,
    ``auto_scene_classes`` and ``auto_variants`` (per effort, the option values compared).
    """

    crf_range = (0, 63)  # auto's base, SVT-AV1; a base of x265 checks its own 0..51 (validate)
    rd_crf_range = (30, 63)
    grammar: ClassVar[str]
    auto_rank: ClassVar[int]
    auto_scene_classes: ClassVar[frozenset[str] | None]
    #: ``(efforts, option values)``: the variants each effort compares (base at SVT-AV1's preset of that effort,
    #: trials at its trial preset).
    auto_variants: ClassVar[tuple[tuple[tuple[str, ...], dict[str, Any]], ...]]
    #: Tried only at low rates (:attr:`AutoCapability.low_rate_only`).
    auto_low_rate_only: ClassVar[bool] = False

    def preset_options(self, preset: str) -> dict[str, Any]:
        """``BASE[:PRESET][/key=value]...`` -> ``{"base": ..., "base-preset": ..., key: value}`` (text values)."""
        head, *pairs = [t.strip() for t in str(preset).split("/")]
        base, _, base_preset = head.partition(":")
        out: dict[str, Any] = {"base": base or "av1", "base-preset": base_preset or None}
        keys = {s.key for s in self.option_specs()} - set(out)
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key not in keys:
                raise SettingsError(f"{self.name} preset {preset!r}: expected {self.grammar}")
            out[key] = value
        return out

    def stored_crf(self, params: dict[str, Any]) -> float | None:
        """The CRF a segment's params record, checked (None: the base's default)."""
        crf = params.get("crf")
        if crf is not None and (type(crf) not in (int, float) or not 0 <= crf <= 63):
            raise NcvFormatError(f"{self.name} crf {crf!r} is not a number in 0..63")
        return crf

    def base_settings(self, opts: Any, settings: StrategySettings) -> StrategySettings:
        """The settings the base strategy encodes with."""
        return replace(settings, preset=opts.base_preset, options={})

    def validate(self, settings: StrategySettings) -> Any:
        opts = super().validate(settings)
        get_strategy(opts.base).validate(self.base_settings(opts, settings))
        return opts

    def auto_capability(self) -> AutoCapability:
        av1 = get_strategy("av1").auto_capability()
        names = {s.key: s.field for s in option_specs(self.Options)}

        def variants(effort, base_preset):
            return tuple(str(self.Options("av1", base_preset, **{names[k]: v for k, v in variant.items()}))
                         for efforts, variant in self.auto_variants if effort in efforts)

        efforts = [e for e in av1.presets if any(e in efforts for efforts, _ in self.auto_variants)]
        return AutoCapability(rank=self.auto_rank, crf_range=av1.crf_range,
                              presets={e: variants(e, av1.presets[e][0]) for e in efforts},
                              probe_presets={e: variants(e, av1.trial_presets(e)[0]) for e in efforts},
                              scene_classes=self.auto_scene_classes, quality_line=av1.quality_line,
                              quality_points=av1.quality_points, low_rate_only=self.auto_low_rate_only)

"""The :class:`Strategy` contract and the strategy registry.

A strategy turns a scene's frames into payload bytes and back. Strategies
never touch files: the agents own I/O and the container. Third-party
strategies register through the entry-point group ``neurocodec.strategies``
(each entry point names a :class:`Strategy` subclass).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np

from ..bitstream.ids import MAX_STRATEGY_ID, PRIVATE_ID_MIN, STRATEGY_IDS
from ..errors import ModelMismatchError, NcvFormatError, SettingsError, UnknownStrategyError
from ..io.frame import Frame
from .options import NoOptions, OptionSpec, build_options, option_specs

__all__ = [
    "Strategy",
    "StrategySettings",
    "AutoCapability",
    "check_crf",
    "DecodeContext",
    "register",
    "get_strategy",
    "get_strategy_by_id",
    "available_strategies",
    "ENTRY_POINT_GROUP",
    "AUTO_EFFORTS",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "neurocodec.strategies"
#: ``auto``'s search efforts, fastest first: a strategy's capability says what it does at each.
AUTO_EFFORTS = ("fast", "medium", "slow")


@dataclass(frozen=True)
class StrategySettings:
    """Quality and speed knobs common to strategies; each strategy reads what applies.

    Args:
        crf: Constant-quality factor (lower is better quality); the strategy's own scale.
        bitrate: Target bitrate in bits per second (mutually exclusive with ``crf``).
        preset: Speed preset in the strategy's own vocabulary (e.g. ``medium``, ``6``).
        keyint: Maximum keyframe interval in frames (None: strategy default).
        threads: Encoder threads; None lets the strategy choose a count that keeps
            its bytes independent of the machine (libx264's output depends on it).
        low_delay: No B-frames / no frame reordering.
        model: Learned intra model (a shipped name such as ``intra_yuv420``, or a
            weights file); None: the shipped default.
        device: Where neural transforms run while encoding (``auto``, ``cpu``, ``cuda``, ``cuda:N``).
        options: The strategy's own options, ``key -> value`` (text or typed; see
            :meth:`Strategy.resolve_options`).
    """

    crf: float | None = None
    bitrate: int | None = None
    preset: str | None = None
    keyint: int | None = None
    threads: int | None = None
    low_delay: bool = False
    model: str | None = None
    device: str = "auto"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, kind in (("crf", (int, float)), ("bitrate", int), ("keyint", int), ("threads", int)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
                raise SettingsError(f"{name} must be a number, got {type(value).__name__}")
        if self.crf is not None and self.bitrate is not None:
            raise SettingsError("give either crf or bitrate, not both")
        # Only what holds on every scale: the range is the strategy's (check_crf, from Strategy.validate).
        if self.crf is not None and not (math.isfinite(self.crf) and self.crf >= 0):
            raise SettingsError(f"crf {self.crf} is not a number >= 0")
        if self.bitrate is not None and not 1000 <= self.bitrate <= 2_000_000_000:
            raise SettingsError(f"bitrate {self.bitrate} b/s is outside 1 kb/s .. 2 Gb/s")
        if self.keyint is not None and not 1 <= self.keyint <= 10_000:
            raise SettingsError(f"keyint {self.keyint} is outside 1..10000")
        if self.threads is not None and not 1 <= self.threads <= 64:
            raise SettingsError(f"threads {self.threads} is outside 1..64")


def check_crf(strategy: Strategy, crf: float | None) -> None:
    """Refuse a CRF outside ``strategy.crf_range`` (or any CRF if it has none), in the strategy's own words."""
    if crf is None:
        return
    if strategy.crf_range is None:
        raise SettingsError(f"{strategy.name} has no crf (no quality knob)")
    lo, hi = strategy.crf_range
    if not lo <= crf <= hi:
        raise SettingsError(f"{strategy.name}: crf {crf:g} is outside {lo}..{hi}")


@dataclass(frozen=True)
class AutoCapability:
    """How a strategy takes part in ``auto``: when it is a candidate, and how its CRF is searched.

    Args:
        rank: Order among the candidates of a scene (lower first; the effort decides how many are tried).
        crf_range: Smallest and largest CRF the search may use.
        presets: Per effort (``fast``, ``medium``, ``slow``), the presets compared (one candidate each,
            in the strategy's ``--preset`` vocabulary; None: its default). An effort missing here: not a candidate.
        probe_presets: Per effort, the preset each of ``presets`` is trial-encoded at (same order; a faster
            one keeps the trials within the effort's time budget). None, or an effort missing: as ``presets``.
        scene_classes: The scene classes it is proposed for (None: every class).
        quality_line: ``crf = a * quality + b`` matching x265 at CRF ``quality`` (centres the trial encodes) ...
        quality_points: ... or piecewise linear through ``(qualities, crfs)`` (flat beyond the ends).
        low_rate_only: Tried only at low rates: where the scene's best-ranked candidate's quality-map CRF
            reaches ``AutoOptions.ladder_crf`` (a ``--bitrate`` encode always tries it).
    """

    rank: int
    crf_range: tuple[int, int]
    presets: Mapping[str, tuple[str | None, ...]]
    scene_classes: frozenset[str] | None = None
    probe_presets: Mapping[str, tuple[str | None, ...]] | None = None
    quality_line: tuple[float, float] | None = (1.0, 0.0)
    quality_points: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    low_rate_only: bool = False

    def offers(self, scene_class: str | None, effort: str) -> bool:
        """Whether the strategy is a candidate for a scene of this class at this effort."""
        return effort in self.presets and (self.scene_classes is None or scene_class in self.scene_classes)

    def trial_presets(self, effort: str) -> tuple[str | None, ...]:
        """The preset each candidate of ``effort`` is trial-encoded at (parallel to ``presets[effort]``)."""
        given = (self.probe_presets or {}).get(effort)
        return given if given is not None else self.presets[effort]

    def crf_for_quality(self, quality: float) -> float:
        """This strategy's CRF expected to match x265 at CRF ``quality``, inside :attr:`crf_range`."""
        lo, hi = self.crf_range
        if self.quality_points is not None:
            crf = float(np.interp(quality, *self.quality_points))
        else:
            a, b = self.quality_line
            crf = a * quality + b
        return min(max(crf, lo), hi)

    def quality_for_crf(self, crf: float) -> float:
        """The knob (x265-CRF-like) this strategy's quality map sends to ``crf`` (the inverse map)."""
        if self.quality_points is not None:
            knobs, crfs = self.quality_points
            return float(np.interp(crf, crfs, knobs))
        a, b = self.quality_line
        return (crf - b) / a


@dataclass(frozen=True)
class DecodeContext:
    """What a strategy's decoder is told about the segment it decodes.

    ``models`` is where the model names in ``params`` are looked up (a
    :class:`~neurocodec.models.registry.ModelRegistry`; None: the installed
    models only) and ``weight_hashes`` what the segment recorded.
    """

    width: int
    height: int
    frame_count: int
    params: dict[str, Any]
    models: Any = None
    weight_hashes: tuple[bytes, ...] = ()


class Strategy(ABC):
    """A way of coding a scene.

    Subclasses set ``name`` and ``id`` (from :mod:`neurocodec.bitstream.ids`
    for built-ins, ``>= PRIVATE_ID_MIN`` for third parties) and implement
    :meth:`encode`, :meth:`decode` and :meth:`describe`. They declare their
    options as a frozen dataclass in ``Options`` (fields made with
    :func:`~neurocodec.strategies.options.option`), their CRF scale in
    ``crf_range`` (None: no quality knob), and whether ``auto`` may propose
    them in :meth:`auto_capability`.

    Frames given to :meth:`encode` have even width and height (the agent pads);
    :meth:`decode` must return frames of that same padded size.
    """

    name: ClassVar[str]
    id: ClassVar[int]
    Options: ClassVar[type] = NoOptions
    crf_range: ClassVar[tuple[int, int] | None] = None

    # -- options ---------------------------------------------------------------------

    @classmethod
    def option_specs(cls) -> tuple[OptionSpec, ...]:
        """The options this strategy declares (for ``neurocodec strategies`` and validation)."""
        return option_specs(cls.Options)

    def preset_options(self, preset: str) -> dict[str, Any]:
        """``--preset`` as options: the ``preset`` option where there is one (an override may parse a grammar)."""
        if "preset" not in {s.key for s in self.option_specs()}:
            raise SettingsError(f"{self.name} takes no preset, got {preset!r}")
        return {"preset": preset}

    def resolve_options(self, settings: StrategySettings) -> Any:
        """The typed options: defaults, then ``settings.preset`` (an alias), then ``settings.options``.

        Raises:
            SettingsError: An unknown option, a value outside its range, or ``--preset`` and
                an option disagreeing about the same key.
        """
        alias = self.preset_options(settings.preset) if settings.preset is not None else {}
        given = {str(k).replace("_", "-"): v for k, v in settings.options.items()}
        for key, value in alias.items():
            if key in given:
                a, b = (build_options(self.Options, self.name, {key: v}) for v in (value, given[key]))
                if a != b:
                    raise SettingsError(f"{self.name}: --preset sets {key}={value}, the options {key}={given[key]}")
        return build_options(self.Options, self.name, alias, given)

    def validate(self, settings: StrategySettings) -> Any:
        """Check ``settings`` (CRF range, options) before any input is read; return the typed options.

        Raises:
            SettingsError: One line naming what is wrong and what is allowed.
        """
        check_crf(self, settings.crf)
        return self.resolve_options(settings)

    def stored_options(self, params: dict[str, Any]) -> Any:
        """The typed options a segment's params record (``opts``; an older file's ``preset`` alias).

        Raises:
            NcvFormatError: The params do not hold valid options.
        """
        opts, preset = params.get("opts", {}), params.get("preset")
        if not isinstance(opts, dict) or (preset is not None and not isinstance(preset, str)):
            raise NcvFormatError(f"{self.name} options {opts!r} / preset {preset!r} are not a table and text")
        try:
            return self.resolve_options(StrategySettings(preset=preset, options=opts))
        except SettingsError as exc:
            raise NcvFormatError(f"{self.name} options: {exc}") from None

    def auto_capability(self) -> AutoCapability | None:
        """How ``auto`` may propose this strategy (None: never)."""
        return None

    @abstractmethod
    def encode(self, frames: Sequence[Frame], settings: StrategySettings, fps: Any) -> bytes:
        """Code ``frames`` (one scene) into payload bytes."""

    @abstractmethod
    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        """Reconstruct the scene's frames from payload bytes."""

    @abstractmethod
    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        """The exact options used, stored in the segment so the encode can be reproduced.

        Keep it small (it costs bytes in every segment); derived, human-facing
        details belong in :meth:`reproduce`.
        """

    def reproduce(self, params: dict[str, Any], width: int, height: int, fps: Any) -> dict[str, Any]:
        """Details derived from stored params for reports (e.g. an equivalent command line)."""
        return {}

    def decoder_macs_per_pixel(self, params: dict[str, Any] | None = None) -> float:
        """Neural decoder cost in multiply-accumulates per output pixel (0 for classical codecs)."""
        return 0.0

    def weight_hashes(self, params: dict[str, Any] | None = None) -> tuple[bytes, ...]:
        """SHA-256 of each weights file the decoder needs (none for classical codecs)."""
        return ()

    def validate_params(self, params: dict[str, Any], ctx: DecodeContext) -> None:
        """Check a segment before any frame of its file is decoded; raise NcvFormatError (or ModelMismatchError).

        Must be cheap and open nothing that ``params`` names. The default
        accepts any params (:meth:`decode` still checks what it reads) and
        compares :meth:`weight_hashes` with the hashes the segment recorded;
        an override that does not check the weights itself calls ``super().validate_params``.
        """
        have = tuple(self.weight_hashes(params))
        if have != tuple(ctx.weight_hashes):
            want = ", ".join(h.hex() for h in ctx.weight_hashes) or "none"
            got = ", ".join(h.hex() for h in have) or "none"
            raise ModelMismatchError(f"was coded with model weights {want}; the installed ones are {got}")


_REGISTRY: dict[str, type[Strategy]] = {}
_BY_ID: dict[int, type[Strategy]] = {}
_entry_points_loaded = False


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator adding a strategy to the registry (checks name/id consistency)."""
    name, sid = cls.name, cls.id
    if name in STRATEGY_IDS and STRATEGY_IDS[name] != sid:
        raise ValueError(f"strategy {name!r} must use its frozen id {STRATEGY_IDS[name]}, not {sid}")
    if name not in STRATEGY_IDS and not PRIVATE_ID_MIN <= sid <= MAX_STRATEGY_ID:
        raise ValueError(f"third-party strategy {name!r} needs an id in {PRIVATE_ID_MIN}..{MAX_STRATEGY_ID}")
    if _BY_ID.get(sid, cls) is not cls or _REGISTRY.get(name, cls) is not cls:
        raise ValueError(f"strategy {name!r} / id {sid} is already registered by another class")
    _REGISTRY[name] = cls
    _BY_ID[sid] = cls
    return cls


def _load_builtins_and_plugins() -> None:
    """Register every strategy of the entry-point group (built-ins are listed there too, see pyproject.toml)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
            if _REGISTRY.get(cls.name) is not cls:
                register(cls)
        except Exception as exc:  # a broken plugin must not break the codec
            log.warning("could not load strategy plugin %s: %s", ep.name, exc)
    missing = sorted(set(STRATEGY_IDS) - set(_REGISTRY))
    if missing:  # stale install metadata (the source tree gained entry points): say how to fix it
        log.warning("built-in strategies %s are not registered; reinstall neurocodec (pip install -e .)", ", ".join(missing))


def get_strategy(name: str) -> Strategy:
    """An instance of the strategy registered under ``name``."""
    _load_builtins_and_plugins()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; available: {', '.join(available_strategies())}"
        ) from None


def get_strategy_by_id(strategy_id: int) -> Strategy:
    """An instance of the strategy with a bitstream id."""
    _load_builtins_and_plugins()
    try:
        return _BY_ID[strategy_id]()
    except KeyError:
        raise UnknownStrategyError(f"no strategy with id {strategy_id} is installed") from None


def available_strategies() -> list[str]:
    """Names of all registered strategies."""
    _load_builtins_and_plugins()
    return sorted(_REGISTRY)

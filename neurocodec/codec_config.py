"""Codec configuration files: a strategy, its preset and typed options, as TOML.

``neurocodec experiments export`` writes one from a study's best trial;
``neurocodec encode --config FILE.toml`` and ``neurocodec bench --config
CODEC=FILE.toml`` read one. The format (``schema = "neurocodec.config/1"``)::

    schema = "neurocodec.config/1"
    strategy = "av1"            # a strategy name, or "auto"
    preset = "6"                # optional: the strategy's --preset (auto: its effort)

    [options]                   # optional: the strategy's typed options (keys as --opt)
    enable-qm = true
    qm-min = 8

    [provenance]                # optional, informative only: where the configuration came from
    study = "svt-p6"
    search_bd_rate = -5.2

A file is untrusted input: it is read only up to :data:`MAX_BYTES`, must be
strict TOML with no other keys, and names no files; the options are checked
against the strategy's own option table (``auto``'s:
:class:`~neurocodec.settings.AutoOptions`) when the file is loaded, so a wrong
key fails before any video is read. Provenance values are kept as data
(text, numbers, booleans, lists and one level of tables) and never acted on.

The package ships one such file per ``auto`` search effort,
``neurocodec/presets/auto_EFFORT.toml`` (:func:`auto_preset`): every
:class:`~neurocodec.settings.AutoOptions` value that effort uses.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .settings import AUTO_STRATEGY, AutoOptions
from .strategies import available_strategies, get_strategy
from .strategies.base import AUTO_EFFORTS, StrategySettings
from .strategies.options import build_options, option_specs

__all__ = ["CodecConfig", "SCHEMA", "MAX_BYTES", "load_config", "parse_config", "check_config", "dump_config",
           "auto_preset", "merge_config"]

SCHEMA = "neurocodec.config/1"
#: Largest configuration file read (bytes): a real one is well under 4 KiB.
MAX_BYTES = 64 * 1024
_KEYS = {"schema", "strategy", "preset", "options", "provenance"}
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class CodecConfig:
    """A codec configuration: what ``encode`` runs, and what a benchmark label measures.

    Args:
        strategy: A registered strategy name, or ``auto``.
        preset: The strategy's ``--preset`` (for ``auto``: the effort); None: its default.
        options: The strategy's typed options, ``key -> value`` as ``--opt`` takes them.
        provenance: Where it came from (study, scores, code version); informative only.
    """

    strategy: str
    preset: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def to_toml(self) -> str:
        """The file text (:func:`dump_config`)."""
        return dump_config(self)


def _check_value(where: str, value: Any, depth: int = 0) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{where}: {value} is not a finite number")
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list) and depth < 2:
        for i, v in enumerate(value):
            _check_value(f"{where}[{i}]", v, depth + 1)
        return
    if isinstance(value, dict) and depth < 1:
        for k, v in value.items():
            _check_value(f"{where}.{k}", v, depth + 1)
        return
    raise SettingsError(f"{where}: unsupported value {type(value).__name__} (text, numbers, booleans, short lists)")


def parse_config(text: str, where: str = "configuration") -> CodecConfig:
    """Parse and check a configuration's TOML text (``where`` names it in errors).

    Raises:
        SettingsError: Not TOML, another schema, unknown keys, a strategy that does not
            exist, or options the strategy refuses; one line naming ``where`` and the key.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{where}: not valid TOML ({exc})") from None
    if doc.get("schema") != SCHEMA:
        raise SettingsError(f"{where}: schema must be {SCHEMA!r}, got {doc.get('schema')!r}")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_KEYS))})")
    strategy, preset = doc.get("strategy"), doc.get("preset")
    if not isinstance(strategy, str) or not strategy:
        raise SettingsError(f"{where}: strategy must be a strategy name")
    if preset is not None and not isinstance(preset, (str, int)):
        raise SettingsError(f"{where}: preset must be text, got {preset!r}")
    options, provenance = doc.get("options", {}), doc.get("provenance", {})
    for key, table in (("options", options), ("provenance", provenance)):
        if not isinstance(table, dict):
            raise SettingsError(f"{where}: {key} must be a table")
    for k, v in options.items():
        if not isinstance(v, _SCALARS):
            raise SettingsError(f"{where}: options.{k} must be text, a number or a boolean")
    for k, v in provenance.items():
        _check_value(f"{where}: provenance.{k}", v)
    config = CodecConfig(strategy, None if preset is None else str(preset), dict(options), dict(provenance))
    check_config(config, where)
    return config


def check_config(config: CodecConfig, where: str = "configuration") -> None:
    """Check the strategy exists and accepts the preset and options.

    Raises:
        SettingsError: One line naming ``where``.
    """
    if config.strategy == AUTO_STRATEGY:
        if config.preset is not None and config.preset not in AUTO_EFFORTS:
            raise SettingsError(f"{where}: auto's preset must be one of {', '.join(AUTO_EFFORTS)}, got {config.preset!r}")
        try:
            build_options(AutoOptions, AUTO_STRATEGY, config.options)
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from None
        return
    if config.strategy not in available_strategies():
        raise SettingsError(f"{where}: unknown strategy {config.strategy!r} "
                            f"(available: {', '.join(available_strategies())}, auto)")
    try:
        get_strategy(config.strategy).resolve_options(StrategySettings(preset=config.preset, options=config.options))
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def load_config(path: str | os.PathLike) -> CodecConfig:
    """Read and check a configuration file.

    Raises:
        SettingsError: Missing, too large, not UTF-8, or invalid (see :func:`parse_config`).
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"{p}: cannot read the configuration ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise SettingsError(f"{p}: a configuration is at most {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{p}: not UTF-8 text") from None
    return parse_config(text, str(p))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise SettingsError(f"{value} cannot be written to a configuration")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string with ASCII escapes is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise SettingsError(f"cannot write {type(value).__name__} to a configuration")


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else json.dumps(key)


def dump_config(config: CodecConfig) -> str:
    """The TOML text of ``config``; :func:`parse_config` reads it back to an equal configuration."""
    lines = [f"schema = {_toml_value(SCHEMA)}", f"strategy = {_toml_value(config.strategy)}"]
    if config.preset is not None:
        lines.append(f"preset = {_toml_value(config.preset)}")
    for name, table in (("options", config.options), ("provenance", config.provenance)):
        if table:
            lines += ["", f"[{name}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def merge_config(config: CodecConfig, where: str, *, strategy: str | None = None, preset: str | None = None,
                 options: Mapping[str, Any] | None = None) -> tuple[str, str | None, dict[str, Any]]:
    """``(strategy, preset, options)`` of ``config`` with what was given explicitly winning.

    ``preset`` replaces the file's; ``options`` are merged over the file's key by key (``_``
    and ``-`` name the same key). A ``strategy`` other than the file's is an error: the file's
    options belong to its strategy.

    Raises:
        SettingsError: The strategies disagree (one line naming ``where``).
    """
    if strategy is not None and strategy != config.strategy:
        raise SettingsError(f"{where}: the configuration is for strategy {config.strategy!r}, "
                            f"but strategy {strategy!r} was given")
    merged = {str(k).replace("_", "-"): v for k, v in config.options.items()}
    merged.update({str(k).replace("_", "-"): v for k, v in (options or {}).items()})
    return config.strategy, config.preset if preset is None else str(preset), merged


@functools.cache
def auto_preset(effort: str) -> CodecConfig:
    """The shipped configuration of an ``auto`` search effort (``neurocodec/presets/auto_EFFORT.toml``).

    Raises:
        SettingsError: Not an effort, or the shipped file is not a complete ``auto`` configuration.
    """
    if effort not in AUTO_EFFORTS:
        raise SettingsError(f"auto's effort must be one of {', '.join(AUTO_EFFORTS)}, got {effort!r}")
    where = f"neurocodec/presets/auto_{effort}.toml"
    text = resources.files("neurocodec").joinpath("presets", f"auto_{effort}.toml").read_text(encoding="utf-8")
    config = parse_config(text, where)
    # A shipped effort states every value it uses: the defaults are one effort's, not all three's.
    missing = [s.key for s in option_specs(AutoOptions) if s.key not in config.options]
    if config.strategy != AUTO_STRATEGY or config.preset != effort or missing:
        raise SettingsError(f"{where}: not the complete auto configuration of effort {effort!r}"
                            + (f" (missing {', '.join(missing)})" if missing else ""))
    return config

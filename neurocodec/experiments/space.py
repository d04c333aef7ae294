"""The search space of an experiment: strategies, their parameters, objectives and quality floors.

A space is read from TOML::

    [objectives]
    quality = "psnr_yuv"     # or "ssim"
    [constraints]
    psnr_yuv_min = 35.0
    ssim_min = 0.95
    max_kbps = 1000          # optional
    [strategies.x265]
    crf = [22, 42]           # two numbers: an inclusive range (ints: integer CRFs)
    preset = ["fast", "medium"]   # strings: the choices

Parameters travel in two shapes: *flat* for Optuna (``{"strategy": "x265",
"x265.crf": 30, "x265.preset": "fast"}``, so each strategy's parameters are
separate conditional distributions) and *nested* for people and the LLM
(``{"strategy": "x265", "crf": 30, "preset": "fast"}``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..strategies import available_strategies, get_strategy

__all__ = ["Space", "StrategySpace", "ParamSpec", "load_space", "parse_space", "QUALITY_METRICS"]

QUALITY_METRICS = ("psnr_yuv", "ssim")
_STRATEGY_KEYS = ("crf", "preset")
_CONSTRAINT_KEYS = ("psnr_yuv_min", "ssim_min", "max_kbps")
_TOP_KEYS = ("objectives", "constraints", "strategies")
# "auto" is not a registered strategy but the encoder's scene-adaptive mode; its CRF is on x265's scale.
_AUTO = "auto"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: an int or float range (``low``..``high``, inclusive) or a list of string choices."""

    kind: str  # "int", "float" or "choice"
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and value != int(value):
            return False
        return self.low <= value <= self.high

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return f"{self.kind} in {self.low:g}..{self.high:g}"


@dataclass(frozen=True)
class StrategySpace:
    name: str
    params: dict[str, ParamSpec]


@dataclass(frozen=True)
class Space:
    """A validated search space (see the module docstring for the TOML form)."""

    strategies: dict[str, StrategySpace]
    quality: str = "psnr_yuv"
    psnr_yuv_min: float | None = None
    ssim_min: float | None = None
    max_kbps: float | None = None
    source: str = "<space>"
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    # -- objectives and constraints ------------------------------------------

    def objective_values(self, metrics: dict[str, float]) -> list[float]:
        """``[bitrate_kbps, quality]``: the first is minimized, the second maximized."""
        return [metrics["bitrate_kbps"], metrics[self.quality]]

    def constraints(self, metrics: dict[str, float]) -> dict[str, float]:
        """One value per floor or ceiling, named by its TOML key; feasible when ``<= 0`` (Optuna's convention)."""
        out = {}
        if self.psnr_yuv_min is not None:
            out["psnr_yuv_min"] = self.psnr_yuv_min - metrics["psnr_yuv"]
        if self.ssim_min is not None:
            out["ssim_min"] = self.ssim_min - metrics["ssim"]
        if self.max_kbps is not None:
            out["max_kbps"] = metrics["bitrate_kbps"] - self.max_kbps
        return out

    def targets(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in _CONSTRAINT_KEYS if getattr(self, k) is not None}

    # -- parameter shapes ------------------------------------------------------

    def flatten(self, nested: dict[str, Any]) -> dict[str, Any]:
        """``{"strategy": s, "crf": c}`` -> ``{"strategy": s, "s.crf": c}``."""
        s = nested["strategy"]
        return {"strategy": s} | {f"{s}.{k}": v for k, v in nested.items() if k != "strategy"}

    def nest(self, flat: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`flatten`."""
        s = flat["strategy"]
        prefix = f"{s}."
        return {"strategy": s} | {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}

    def check(self, nested: dict[str, Any]) -> list[str]:
        """Problems with a nested parameter set (empty when it lies inside the space)."""
        s = nested.get("strategy")
        if s not in self.strategies:
            return [f"strategy {s!r} is not in the space ({', '.join(self.strategies)})"]
        spec = self.strategies[s].params
        errors = [f"{s}: unknown parameter {k!r}" for k in nested if k != "strategy" and k not in spec]
        for k, p in spec.items():
            if k not in nested:
                errors.append(f"{s}: missing parameter {k!r}")
            elif not p.contains(nested[k]):
                errors.append(f"{s}.{k}: {nested[k]!r} is not {p.describe()}")
        return errors

    def to_dict(self) -> dict[str, Any]:
        """The TOML document this space was read from (stored on the study so workers need no file)."""
        return self.raw


def load_space(path: str | Path) -> Space:
    """Read and validate a space TOML file.

    Raises:
        SettingsError: The file is missing, not TOML, or names an unknown key,
            strategy or a bad range (the message names the file and the key).
    """
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise SettingsError(f"{p}: no such space file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{p}: not valid TOML ({exc})") from None
    return parse_space(doc, source=str(p))


def parse_space(doc: dict[str, Any], *, source: str = "<space>") -> Space:
    """Validate a space document (the parsed TOML) and build a :class:`Space`."""
    def bad(key: str, what: str) -> SettingsError:
        return SettingsError(f"{source}: {key}: {what}")

    for k in doc:
        if k not in _TOP_KEYS:
            raise bad(k, f"unknown section; use {', '.join(_TOP_KEYS)}")
    objectives = _table(doc, "objectives", bad)
    for k in objectives:
        if k != "quality":
            raise bad(f"objectives.{k}", "unknown key; use quality")
    quality = objectives.get("quality", "psnr_yuv")
    if quality not in QUALITY_METRICS:
        raise bad("objectives.quality", f"{quality!r} is not one of {', '.join(QUALITY_METRICS)}")
    constraints = _table(doc, "constraints", bad)
    limits: dict[str, float] = {}
    for k, v in constraints.items():
        if k not in _CONSTRAINT_KEYS:
            raise bad(f"constraints.{k}", f"unknown key; use {', '.join(_CONSTRAINT_KEYS)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise bad(f"constraints.{k}", f"{v!r} is not a number")
        if (k == "ssim_min" and not 0 < v <= 1) or (k != "ssim_min" and v <= 0):
            raise bad(f"constraints.{k}", f"{v!r} is out of range")
        limits[k] = float(v)

    strategies_doc = _table(doc, "strategies", bad)
    if not strategies_doc:
        raise bad("strategies", "needs at least one [strategies.NAME] table")
    known = available_strategies()
    strategies: dict[str, StrategySpace] = {}
    for name, body in strategies_doc.items():
        key = f"strategies.{name}"
        if name != _AUTO and name not in known:
            raise bad(key, f"unknown strategy; available: {', '.join([_AUTO, *known])}")
        if not isinstance(body, dict):
            raise bad(key, "must be a table")
        if "crf" not in body:
            raise bad(key, "needs a crf range")
        strategy = get_strategy("x265" if name == _AUTO else name)
        params: dict[str, ParamSpec] = {}
        for pk, pv in body.items():
            if pk not in _STRATEGY_KEYS:
                raise bad(f"{key}.{pk}", f"unknown parameter; use {', '.join(_STRATEGY_KEYS)}")
            if pk == "crf":
                params[pk] = _crf_range(pv, strategy.crf_range, lambda what: bad(f"{key}.crf", what))
            else:
                params[pk] = _choices(pv, getattr(strategy, "presets", None), lambda what: bad(f"{key}.{pk}", what))
        strategies[name] = StrategySpace(name, params)
    return Space(strategies=strategies, quality=quality, source=source, raw=doc, **limits)


def _table(doc: dict[str, Any], key: str, bad) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise bad(key, "must be a table")
    return value


def _crf_range(value: Any, bounds: tuple[int, int], bad) -> ParamSpec:
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise bad(f"{value!r} must be a range [low, high] of two numbers")
    low, high = value
    if not low < high:
        raise bad(f"low {low} must be below high {high}")
    if low < bounds[0] or high > bounds[1]:
        raise bad(f"{low}..{high} is outside the strategy's {bounds[0]}..{bounds[1]}")
    kind = "int" if all(isinstance(v, int) for v in value) else "float"
    return ParamSpec(kind, float(low), float(high))


def _choices(value: Any, allowed: tuple[str, ...] | None, bad) -> ParamSpec:
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise bad(f"{value!r} must be a non-empty list of strings")
    if len(set(value)) != len(value):
        raise bad("lists a choice twice")
    # Strategies with a fixed preset list are checked here; others parse presets in their own grammar at encode time.
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise bad(f"unknown preset {unknown[0]!r}; use one of {', '.join(allowed)}")
    return ParamSpec("choice", choices=tuple(value))

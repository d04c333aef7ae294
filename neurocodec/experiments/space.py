"""The search space of a study: codec configurations, the anchor they are scored against, and the goal.

A space is read from TOML (schema 2; see docs/experiments.md)::

    [study]
    metric = "psnr_yuv"          # BD-rate on "psnr_yuv", "ssim" or "vmaf"
    objective = "constrained"    # minimize BD-rate with time_multiple <= max_time_multiple; or "pareto"
    max_time_multiple = 1.0      # encode time over the anchor's (required for "constrained")
    points = 4                   # rate points per RD curve (CRFs from the strategy's ladder)
    frames = 30                  # frames measured per clip
    frame_step = 1               # take every k-th frame
    pruning_startup = 5          # feasible finished trials before pruning starts

    [anchor]                     # default: av1 preset "6", default options
    strategy = "av1"
    preset = "6"

    [strategies.av1]
    preset = ["5", "6", "7"]     # choices
    [strategies.av1.options]     # the strategy's typed options (keys as --opt)
    tune = {choices = [0, 1]}
    enable-qm = [true, false]
    qm-min = {range = [0, 15], when = {enable-qm = true}}
    lookahead = [0, 120]         # two numbers: an inclusive range

A trial's parameters travel in two shapes: *flat* for Optuna
(``{"strategy": "av1", "av1.preset": "6", "av1.enable-qm": True}``, so each
strategy's parameters are separate conditional distributions) and *nested*
for people, files and the LLM (``{"strategy": "av1", "preset": "6",
"enable-qm": True}``). A conditional parameter whose condition does not hold
is absent from both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from ..bench.point import crf_ladder
from ..errors import SettingsError
from ..codec_config import CodecConfig, check_config
from ..settings import AUTO_STRATEGY, AutoOptions
from ..strategies import available_strategies, get_strategy
from ..strategies.base import AUTO_EFFORTS
from ..strategies.options import OptionSpec, option_specs

__all__ = [
    "Space", "StrategySpace", "ParamSpec", "AnchorSpec", "load_space", "parse_space", "option_table",
    "METRICS", "OBJECTIVES",
]

METRICS = ("psnr_yuv", "ssim", "vmaf")
OBJECTIVES = ("constrained", "pareto")
_TOP_KEYS = ("study", "anchor", "strategies")
_STUDY_KEYS = ("metric", "objective", "max_time_multiple", "points", "frames", "frame_step", "pruning_startup")
_ANCHOR_KEYS = ("strategy", "preset", "options")
_STRATEGY_KEYS = ("preset", "options")
_PARAM_KEYS = ("range", "choices", "when")
_DEFAULT_ANCHOR = {"strategy": "av1", "preset": "6"}


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: ``True`` is not ``1`` here, though ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter.

    Args:
        kind: ``int`` or ``float`` (an inclusive range ``low..high``) or ``choice``.
        choices: The values of a ``choice`` (typed as the option is).
        when: Conditions ``(parameter, allowed values)``; the parameter exists only when all hold.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return any(_same(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and value != int(value):
            return False
        return self.low <= value <= self.high

    def active(self, params: dict[str, Any]) -> bool:
        """Whether the conditions hold for the parameters chosen so far."""
        return all(k in params and any(_same(params[k], v) for v in vals) for k, vals in self.when)

    def condition(self) -> str:
        """The conditions in words (empty when there are none)."""
        return " and ".join(f"{k} is {' or '.join(_show(v) for v in vals)}" for k, vals in self.when)

    def describe(self) -> str:
        what = ("one of " + ", ".join(_show(c) for c in self.choices) if self.kind == "choice"
                else f"{self.kind} in {_show(self.low)}..{_show(self.high)}")
        return what + (f" (only when {self.condition()})" if self.when else "")

    def to_json(self) -> dict[str, Any]:
        """For the LLM's prompt."""
        out: dict[str, Any] = ({"choices": list(self.choices)} if self.kind == "choice" else
                               {"type": self.kind, "min": _num(self.low, self.kind), "max": _num(self.high, self.kind)})
        if self.when:
            out["only_when"] = {k: list(vals) for k, vals in self.when}
        return out


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _num(value: float, kind: str) -> float | int:
    return int(value) if kind == "int" else value


@dataclass(frozen=True)
class StrategySpace:
    name: str
    params: dict[str, ParamSpec]


@dataclass(frozen=True)
class AnchorSpec:
    """The configuration every trial is compared with."""

    strategy: str
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        opts = ", ".join(f"{k}={_show(v)}" for k, v in self.options.items()) or "default options"
        return f"{self.strategy}" + (f" preset {self.preset}" if self.preset is not None else "") + f", {opts}"


@dataclass(frozen=True)
class Space:
    """A validated search space (see the module docstring for the TOML form)."""

    strategies: dict[str, StrategySpace]
    anchor: AnchorSpec = field(default_factory=lambda: AnchorSpec("av1", "6"))
    metric: str = "psnr_yuv"
    objective: str = "constrained"
    max_time_multiple: float | None = None
    points: int = 4
    frames: int = 30
    frame_step: int = 1
    pruning_startup: int = 5
    source: str = "<space>"
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    # -- objectives and constraints ------------------------------------------

    @property
    def directions(self) -> list[str]:
        return ["minimize"] if self.objective == "constrained" else ["minimize", "minimize"]

    @property
    def metric_names(self) -> list[str]:
        bd = f"bd_rate_{self.metric}"
        return [bd] if self.objective == "constrained" else [bd, "time_multiple"]

    def objective_values(self, score: dict[str, Any]) -> list[float]:
        """``[bd_rate]`` (constrained) or ``[bd_rate, time_multiple]`` (pareto), all minimized."""
        if self.objective == "constrained":
            return [score["bd_rate"]]
        return [score["bd_rate"], score["time_multiple"]]

    def constraints(self, score: dict[str, Any]) -> dict[str, float]:
        """The time ceiling, if any: feasible when ``<= 0`` (Optuna's convention)."""
        if self.max_time_multiple is None:
            return {}
        return {"max_time_multiple": score["time_multiple"] - self.max_time_multiple}

    def feasible(self, time_multiple: float, ceiling: float | None = None) -> bool:
        limit = self.max_time_multiple if ceiling is None else ceiling
        return limit is None or time_multiple <= limit

    def goal(self) -> dict[str, Any]:
        """The study's goal as plain data (status, the LLM's prompt)."""
        return {"metric": self.metric, "objective": self.objective, "max_time_multiple": self.max_time_multiple,
                "anchor": self.anchor.describe(), "points": self.points, "frames": self.frames,
                "frame_step": self.frame_step}

    # -- parameter shapes ------------------------------------------------------

    def flatten(self, nested: dict[str, Any]) -> dict[str, Any]:
        """``{"strategy": s, "k": v}`` -> ``{"strategy": s, "s.k": v}``."""
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
            if not p.active(nested):
                if k in nested:
                    errors.append(f"{s}.{k}: must be left out unless {p.condition()}")
            elif k not in nested:
                errors.append(f"{s}: missing parameter {k!r}")
            elif not p.contains(nested[k]):
                errors.append(f"{s}.{k}: {nested[k]!r} is not {p.describe()}")
        return errors

    def config_of(self, nested: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
        """``(strategy, preset, options)`` of a nested parameter set, as an encode takes them."""
        options = {k: v for k, v in nested.items() if k not in ("strategy", "preset")}
        preset = nested.get("preset")
        return nested["strategy"], None if preset is None else str(preset), options

    def to_dict(self) -> dict[str, Any]:
        """The TOML document this space was read from (stored on the study so workers need no file)."""
        return self.raw


#: ``auto``'s effort, searchable like a strategy's preset.
_AUTO_EFFORT = OptionSpec("preset", "preset", str, "medium", "Search effort.", choices=AUTO_EFFORTS)


def option_table(name: str, bad) -> dict[str, OptionSpec]:
    """The typed options of strategy ``name`` (any registered strategy with a CRF ladder to sweep, or ``auto``:
    its decision constants, :class:`~neurocodec.settings.AutoOptions`, and its effort as ``preset``)."""
    if name == AUTO_STRATEGY:
        return {"preset": _AUTO_EFFORT} | {s.key: s for s in option_specs(AutoOptions)}
    known = available_strategies()
    if name not in known:
        raise bad(f"unknown strategy; available: {', '.join(known)} or {AUTO_STRATEGY}")
    strategy = get_strategy(name)
    if getattr(strategy, "rd_crf_range", None) is None:
        raise bad("has no CRF ladder to sweep for an RD curve")
    return {s.key: s for s in strategy.option_specs()}


def load_space(path: str | Path) -> Space:
    """Read and validate a space TOML file.

    Raises:
        SettingsError: The file is missing, not TOML, or names an unknown key,
            strategy, option or a bad range (the message names the file and the key).
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
    def bad_at(key: str):
        return lambda what: SettingsError(f"{source}: {key}: {what}")

    for k in doc:
        if k not in _TOP_KEYS:
            raise bad_at(k)(f"unknown section; use {', '.join(_TOP_KEYS)}")
    settings = _parse_study(_table(doc, "study", bad_at("study")), bad_at)
    anchor = _parse_anchor(_table(doc, "anchor", bad_at("anchor")) or dict(_DEFAULT_ANCHOR), bad_at)
    strategies_doc = _table(doc, "strategies", bad_at("strategies"))
    if not strategies_doc:
        raise bad_at("strategies")("needs at least one [strategies.NAME] table")
    strategies = {name: _parse_strategy(name, body, bad_at) for name, body in strategies_doc.items()}
    for name in {anchor.strategy, *strategies}:
        _check_ladder(name, settings["points"], bad_at("study.points"))
    return Space(strategies=strategies, anchor=anchor, source=source, raw=doc, **settings)


def _table(doc: dict[str, Any], key: str, bad) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise bad("must be a table")
    return value


def _int(value: Any, low: int, bad) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad(f"{value!r} must be an integer of at least {low}")
    return value


def _parse_study(body: dict[str, Any], bad_at) -> dict[str, Any]:
    for k in body:
        if k not in _STUDY_KEYS:
            raise bad_at(f"study.{k}")(f"unknown key; use {', '.join(_STUDY_KEYS)}")
    out: dict[str, Any] = {
        "metric": body.get("metric", "psnr_yuv"),
        "objective": body.get("objective", "constrained"),
        "points": _int(body.get("points", 4), 4, bad_at("study.points")),
        "frames": _int(body.get("frames", 30), 1, bad_at("study.frames")),
        "frame_step": _int(body.get("frame_step", 1), 1, bad_at("study.frame_step")),
        "pruning_startup": _int(body.get("pruning_startup", 5), 0, bad_at("study.pruning_startup")),
    }
    if out["metric"] not in METRICS:
        raise bad_at("study.metric")(f"{out['metric']!r} is not one of {', '.join(METRICS)}")
    if out["objective"] not in OBJECTIVES:
        raise bad_at("study.objective")(f"{out['objective']!r} is not one of {', '.join(OBJECTIVES)}")
    ceiling = body.get("max_time_multiple")
    if ceiling is not None and (isinstance(ceiling, bool) or not isinstance(ceiling, (int, float))
                                or not math.isfinite(ceiling) or ceiling <= 0):
        raise bad_at("study.max_time_multiple")(f"{ceiling!r} must be a positive number")
    if ceiling is None and out["objective"] == "constrained":
        raise bad_at("study.max_time_multiple")("the constrained objective needs a time ceiling")
    out["max_time_multiple"] = None if ceiling is None else float(ceiling)
    return out


def _check_ladder(name: str, points: int, bad) -> None:
    try:
        crf_ladder(name, points)
    except ValueError as exc:
        raise bad(str(exc)) from None


def _parse_anchor(body: dict[str, Any], bad_at) -> AnchorSpec:
    for k in body:
        if k not in _ANCHOR_KEYS:
            raise bad_at(f"anchor.{k}")(f"unknown key; use {', '.join(_ANCHOR_KEYS)}")
    name = body.get("strategy")
    if not isinstance(name, str):
        raise bad_at("anchor.strategy")("must name a strategy")
    option_table(name, bad_at("anchor.strategy"))
    preset = body.get("preset")
    if preset is not None and not isinstance(preset, (str, int)):
        raise bad_at("anchor.preset")(f"{preset!r} must be text")
    options = _table(body, "options", bad_at("anchor.options"))
    try:
        check_config(CodecConfig(name, None if preset is None else str(preset), dict(options)), "anchor")
    except SettingsError as exc:
        raise bad_at("anchor")(str(exc).removeprefix("anchor: ")) from None
    return AnchorSpec(name, None if preset is None else str(preset), dict(options))


def _parse_strategy(name: str, body: Any, bad_at) -> StrategySpace:
    key = f"strategies.{name}"
    if not isinstance(body, dict):
        raise bad_at(key)("must be a table")
    table = option_table(name, bad_at(key))
    for k in body:
        if k not in _STRATEGY_KEYS:
            raise bad_at(f"{key}.{k}")(f"unknown key; use {', '.join(_STRATEGY_KEYS)}")
    params: dict[str, ParamSpec] = {}
    if "preset" in body:
        if "preset" not in table:
            raise bad_at(f"{key}.preset")(f"{name} takes no preset")
        params["preset"] = _param(body["preset"], table["preset"], name, params, bad_at(f"{key}.preset"))
    options = _table(body, "options", bad_at(f"{key}.options"))
    for k, v in options.items():
        where = bad_at(f"{key}.options.{k}")
        if k == "preset":
            raise where(f"set the preset with {key}.preset")
        if k not in table:
            raise where(f"unknown option; {name}'s options: {', '.join(s for s in table if s != 'preset')}")
        params[k] = _param(v, table[k], name, params, where)
    return StrategySpace(name, params)


def _param(value: Any, spec: OptionSpec, owner: str, earlier: dict[str, ParamSpec], bad) -> ParamSpec:
    """One parameter: ``[lo, hi]`` of two numbers, a list of choices, a single value, or a table."""
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    if isinstance(value, dict):
        for k in value:
            if k not in _PARAM_KEYS:
                raise bad(f"unknown key {k!r}; use {', '.join(_PARAM_KEYS)}")
        if ("range" in value) == ("choices" in value):
            raise bad("give exactly one of range or choices")
        when = _when(value["when"], earlier, bad) if "when" in value else ()
        if "range" in value:
            return _range(value["range"], spec, when, bad)
        return _choices(value["choices"], spec, owner, when, bad)
    if isinstance(value, list):
        numeric = spec.type in (int, float)
        if numeric and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return _range(value, spec, when, bad)
        return _choices(value, spec, owner, when, bad)
    return _choices([value], spec, owner, when, bad)


def _range(value: Any, spec: OptionSpec, when, bad) -> ParamSpec:
    if spec.type not in (int, float):
        raise bad(f"a range needs a numeric option; this one is {spec.type.__name__}: list its choices")
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise bad(f"{value!r} must be a range [low, high] of two numbers")
    low, high = value
    if spec.type is int and not all(isinstance(v, int) for v in value):
        raise bad(f"{value!r}: the option takes integers")
    if not low < high:
        raise bad(f"low {low} must be below high {high}")
    if spec.range is not None:
        lo, hi = spec.range
        if low < lo or (spec.low_open and low == lo) or high > hi:
            raise bad(f"{low}..{high} is outside the option's {spec.allowed()}")
    return ParamSpec("int" if spec.type is int else "float", float(low), float(high), when=when)


def _choices(value: Any, spec: OptionSpec, owner: str, when, bad) -> ParamSpec:
    if not (isinstance(value, list) and value):
        raise bad(f"{value!r} must be a non-empty list of choices")
    typed = []
    for v in value:
        if isinstance(v, (dict, list)):
            raise bad(f"{v!r} is not a value")
        try:
            typed.append(spec.convert(v, owner))
        except SettingsError as exc:
            raise bad(str(exc)) from None
    if any(_same(a, b) for i, a in enumerate(typed) for b in typed[i + 1:]):
        raise bad("lists a choice twice")
    return ParamSpec("choice", choices=tuple(typed), when=when)


def _when(value: Any, earlier: dict[str, ParamSpec], bad) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(value, dict) or not value:
        raise bad("when must be a table such as {enable-qm = true}")
    out = []
    for k, v in value.items():
        if k not in earlier:
            raise bad(f"when names {k!r}, which is not a parameter listed before this one")
        vals = tuple(v) if isinstance(v, list) else (v,)
        for x in vals:
            if not earlier[k].contains(x):
                raise bad(f"when {k} = {_show(x)}: {k} is {earlier[k].describe()}")
        out.append((k, vals))
    return tuple(out)

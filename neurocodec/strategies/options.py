"""Typed strategy options: a strategy declares its options as the fields of a frozen dataclass.

Each field is made with :func:`option` (type, allowed values, default, help).
Users name an option by its key, the field name with ``-`` for ``_``
(``--opt qm-min=4`` on the command line, ``opts={"qm-min": 4}`` in the API);
values arrive as text (CLI) or Python values (API) and are converted to the
declared type and checked against the allowed values, in one
:class:`~neurocodec.errors.SettingsError` line naming the option.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SettingsError

__all__ = ["NoOptions", "OptionSpec", "option", "option_specs", "build_options", "changed_options", "format_value", "parse_assignments"]

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class NoOptions:
    """The options of a strategy that declares none."""


@dataclass(frozen=True)
class OptionSpec:
    """One declared option.

    Args:
        key: What users write (``qm-min``).
        field: The dataclass field (``qm_min``).
        type: ``int``, ``float``, ``str`` or ``bool``.
        default: The value when the option is not given (None: the encoder's own choice, nothing passed).
        help: One line for ``neurocodec strategies``.
        choices: The allowed values, if a list.
        range: Smallest and largest allowed value, if numeric.
        low_open: The smallest value of ``range`` itself is not allowed.
    """

    key: str
    field: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    range: tuple[float, float] | None = None
    low_open: bool = False

    def allowed(self) -> str:
        """The allowed values, in words."""
        if self.choices is not None:
            return "one of " + ", ".join(format_value(c) for c in self.choices)
        if self.range is not None:
            lo, hi = self.range
            return f"({format_value(lo)}, {format_value(hi)}]" if self.low_open else f"{format_value(lo)}..{format_value(hi)}"
        return {bool: "true or false", int: "an integer", float: "a number"}.get(self.type, "text")

    def convert(self, value: Any, owner: str) -> Any:
        """``value`` (text or a Python value) as this option's type, checked; SettingsError otherwise."""
        bad = SettingsError(f"{owner}: option {self.key}={value!r} is not allowed; use {self.allowed()}")
        if value is None:
            if self.default is None:
                return None
            raise bad
        try:
            typed = self._typed(value)
        except (TypeError, ValueError):
            raise bad from None
        if self.choices is not None and self.type is float:
            # A number within 0.001 of a choice is that choice: 2/3 is written (and typed) as 0.667.
            typed = next((c for c in self.choices if abs(c - typed) <= 1e-3), typed)
        if self.choices is not None and typed not in self.choices:
            raise bad
        if self.range is not None:
            lo, hi = self.range
            if not ((lo < typed) if self.low_open else (lo <= typed)) or not typed <= hi:
                raise bad
        return typed

    def _typed(self, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if isinstance(value, bool):  # True is an int to Python, not to a user
            raise TypeError(value)
        if self.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value) if isinstance(value, (int, float)) else int(str(value).strip())
        if self.type is float:
            x = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
            if not math.isfinite(x):
                raise ValueError(value)
            return x
        if not isinstance(value, (str, int)):
            raise TypeError(value)
        return str(value).strip()


def format_value(x: Any) -> str:
    """An option value as users write it (2/3 as 0.667, which converts back to it)."""
    if isinstance(x, float):
        return f"{x:g}" if x == round(x, 3) else f"{x:.3f}"
    return str(x)


def option(default: Any, type: type, help: str, *, choices: tuple[Any, ...] | None = None,
           range: tuple[float, float] | None = None, low_open: bool = False) -> Any:
    """A dataclass field declaring an option (see :class:`OptionSpec`)."""
    meta = {"type": type, "help": help, "choices": choices, "range": range, "low_open": low_open}
    return dataclasses.field(default=default, metadata={"neurocodec_option": meta})


def option_specs(cls: type) -> tuple[OptionSpec, ...]:
    """The options an options dataclass declares, in declaration order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("neurocodec_option")
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with option()")
        out.append(OptionSpec(f.name.replace("_", "-"), f.name, default=f.default, **meta))
    return tuple(out)


def build_options(cls: type, owner: str, *layers: Mapping[str, Any]) -> Any:
    """An instance of ``cls`` from its defaults and ``layers`` of ``key -> value`` (later ones win).

    Keys may use ``_`` or ``-``; unknown keys and bad values raise SettingsError.
    """
    specs = {s.key: s for s in option_specs(cls)}
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            spec = specs.get(str(key).replace("_", "-"))
            if spec is None:
                known = ", ".join(specs) or "none"
                raise SettingsError(f"{owner}: unknown option {key!r}; its options: {known}")
            values[spec.field] = spec.convert(value, owner)
    return cls(**values)


def changed_options(opts: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``key -> value`` of the options not at their default (what a segment's params record)."""
    return {s.key: getattr(opts, s.field) for s in option_specs(type(opts))
            if s.key not in exclude and getattr(opts, s.field) != s.default}


def parse_assignments(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` (the CLI's repeated ``--opt``) -> ``{KEY: VALUE}``; a key given twice is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"--opt {item!r}: expected KEY=VALUE")
        if key in out:
            raise SettingsError(f"--opt {key} is given twice")
        out[key] = value
    return out

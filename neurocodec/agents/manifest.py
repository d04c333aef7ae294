"""Batch manifests: which files a ``neurocodec batch`` encodes, where each goes, and with which settings.

Two forms, told apart by the file name:

* ``.csv``: a header row naming the columns, then one file per row. Empty
  cells are not given. ``opts`` holds the strategy's options as
  ``KEY=VALUE`` pairs separated by spaces.
* ``.jsonl`` (JSON lines): one object per line, ``{"input": ..., ...}``, with
  ``opts`` as an object. Blank lines and lines starting with ``#`` are skipped.

Columns (keys): ``input`` (required; relative paths are relative to the
manifest's folder), ``output`` (a ``.ncv`` name inside the output folder;
default the input's stem), and the per-file settings of :data:`SETTINGS`
(the same as ``neurocodec encode``'s options of those names). Every row is
checked before any file is read: a bad one fails the batch with its line
number. A missing input is not a manifest error: that file fails and the
others go on.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import SettingsError
from ..settings import EncodeOptions
from .planner import ScenePlanner

__all__ = ["BatchItem", "read_manifest", "SETTINGS", "MAX_ITEMS", "MAX_BYTES"]

#: Per-file settings a manifest may give, and the type each is read as.
SETTINGS: dict[str, type] = {
    "strategy": str, "crf": float, "quality": float, "target_psnr": float, "target_ssim": float,
    "target_vmaf": float, "vmaf_pool": str, "preset": str, "keyint": int, "low_delay": bool,
    "segment_frames": int, "min_scene_frames": int, "max_scene_frames": int, "measure_quality": bool,
    "size": str, "fps": str, "opts": dict,
}
#: Files one manifest may list, and its largest size (bounds on what a manifest makes this process hold).
MAX_ITEMS = 1_000_000
MAX_BYTES = 256 * 2**20
_NOT_IN_BATCH = {"bitrate": "a target bitrate is not supported in a batch yet (its allocation probes every scene of "
                            "the file first); give crf, quality or a quality target"}


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch: where it comes from, where it goes (relative to the output folder), its settings."""

    line: int
    input: str
    output: str
    settings: dict[str, Any] = field(default_factory=dict)

    def options(self, **common: Any) -> EncodeOptions:
        """The file's encode options, with the batch-wide ones (workers, parts, resume, ...) added."""
        s = {k: v for k, v in self.settings.items() if k not in ("size", "fps")}
        if "strategy" not in s:
            s["strategy"] = "auto"
        return EncodeOptions(**s, **common)


def read_manifest(path: str | os.PathLike) -> list[BatchItem]:
    """Read and check a manifest (see the module docstring).

    Raises:
        SettingsError: Naming the manifest and line: an unknown column, a value of the wrong
            type or out of range, an output outside the output folder, or two rows with one output.
    """
    p = Path(path)
    if not p.is_file():
        raise SettingsError(f"{p}: no such manifest file")
    if p.stat().st_size > MAX_BYTES:
        raise SettingsError(f"{p}: a manifest is at most {MAX_BYTES // 2**20} MiB; split it")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(p)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(p)
    else:
        raise SettingsError(f"{p}: a manifest is .csv (with a header row) or .jsonl (one JSON object per line)")
    items: list[BatchItem] = []
    outputs: dict[str, int] = {}
    for line, row in rows:
        if len(items) >= MAX_ITEMS:
            raise SettingsError(f"{p}: more than {MAX_ITEMS} files; split the manifest")
        item = _item(p, line, row)
        key = item.output.lower()
        if key in outputs:
            raise SettingsError(f"{p}:{line}: output {item.output} is also line {outputs[key]}'s")
        outputs[key] = line
        items.append(item)
    if not items:
        raise SettingsError(f"{p}: the manifest lists no files")
    return items


def _csv_rows(p: Path):
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "input" not in reader.fieldnames:
            raise SettingsError(f"{p}: the first row must name the columns, one of them 'input'")
        for row in reader:
            if None in row:
                raise SettingsError(f"{p}:{reader.line_num}: more cells than the header names")
            yield reader.line_num, {k.strip(): v.strip() for k, v in row.items() if v is not None and v.strip()}


def _jsonl_rows(p: Path):
    with open(p, encoding="utf-8") as fh:
        for line, text in enumerate(fh, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                row = json.loads(text)
            except ValueError as exc:
                raise SettingsError(f"{p}:{line}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise SettingsError(f"{p}:{line}: expected a JSON object such as {{\"input\": \"a.mp4\"}}")
            yield line, row


def _item(p: Path, line: int, row: dict[str, Any]) -> BatchItem:
    where = f"{p}:{line}"
    unknown = sorted(set(row) - set(SETTINGS) - {"input", "output"})
    if unknown:
        key = unknown[0]
        raise SettingsError(f"{where}: {_NOT_IN_BATCH.get(key) or f'unknown column {key!r}'}")
    src = row.get("input")
    if not isinstance(src, str) or not src:
        raise SettingsError(f"{where}: no input")
    src_path = Path(src) if Path(src).is_absolute() else p.parent / src
    out = row.get("output") or f"{Path(src.rstrip('/')).stem}.ncv"
    if not isinstance(out, str):
        raise SettingsError(f"{where}: output must be a file name")
    rel = PurePosixPath(out.replace(os.sep, "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.name.lower().endswith(".ncv"):
        raise SettingsError(f"{where}: output {out!r} must be a .ncv name inside the output folder")
    settings = {k: _typed(where, k, v) for k, v in row.items() if k in SETTINGS}
    item = BatchItem(line, str(src_path), str(rel), settings)
    try:
        ScenePlanner(item.options())  # ranges, combinations and strategy options now, not after hours of others
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None
    return item


def _typed(where: str, key: str, value: Any) -> Any:
    want = SETTINGS[key]
    if want is dict:
        if isinstance(value, str):  # CSV: KEY=VALUE pairs separated by spaces
            pairs = [t.partition("=") for t in value.split()]
            if any(not sep or not k for k, sep, _ in pairs):
                raise SettingsError(f"{where}: opts must be KEY=VALUE pairs separated by spaces, got {value!r}")
            return {k: v for k, _, v in pairs}
        if isinstance(value, dict):
            return value
        raise SettingsError(f"{where}: opts must be an object of option names to values")
    if want is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise SettingsError(f"{where}: {key} must be true or false, got {value!r}")
    if want is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise SettingsError(f"{where}: {key} must be text, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SettingsError(f"{where}: {key} must be a number, got {value!r}")
    if want is int:
        if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value)):
            return int(value)
        raise SettingsError(f"{where}: {key} must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise SettingsError(f"{where}: {key} must be a number, got {value!r}")
    return number

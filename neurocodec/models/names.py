"""Model names, shipped weights files and file format ids: the light half of the model registry (no torch).

A bitstream refers to the model weights a segment needs by NAME, never by
path. A name is either a CompressAI pretrained model
(``compressai:ARCH:QUALITY[:METRIC]``) or a simple identifier: letters,
digits, ``_``, ``-`` and ``.`` (not first), at most 64 characters.

This module holds what the weights formats (:mod:`.weights`,
:mod:`.enhance`, :mod:`.pretrained`) and the registry (:mod:`.registry`,
which adds loading, hashing and costs on top) both need, so neither imports
the other's way: names are checked and files hashed here without loading
anything.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import ModelMismatchError, NcvFormatError, NeurocodecError, SettingsError, SourceNotFoundError

__all__ = [
    "SHIPPED",
    "DEFAULTS",
    "FORMATS",
    "PRETRAINED",
    "PRETRAINED_ARCHS",
    "is_name",
    "is_pretrained",
    "parse_pretrained",
    "check_name",
    "name_for_file",
    "shipped_path",
    "resolve_file",
    "stored_name",
    "check_model_name",
    "file_sha256",
    "read_verified",
]

#: Shipped weights (package data in neurocodec/weights/) by the segment kind they serve and their name.
SHIPPED = {
    "intra": {"intra_yuv420": "intra_yuv420.pt"},
    "enhance": {"enhance_yuv420": "enhance_yuv420.pt", "enhance_light_yuv420": "enhance_light_yuv420.pt"},
}
DEFAULTS = {"intra": "intra_yuv420", "enhance": "enhance_yuv420"}
#: The format id each weights file holds (what its writer stores and its reader requires).
FORMATS = {"intra": "neurocodec.intra/3", "enhance": "neurocodec.enhance/1"}
#: Prefix of CompressAI pretrained model names, and the architectures served as intra models.
PRETRAINED = "compressai:"
PRETRAINED_ARCHS = ("mbt2018-mean",)
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


def is_name(text: Any) -> bool:
    """A simple model name (no separators, no leading dot), as stored in a bitstream."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def is_pretrained(text: Any) -> bool:
    """Whether ``text`` names (well-formed or not) a CompressAI pretrained model."""
    return isinstance(text, str) and text.startswith(PRETRAINED)


def parse_pretrained(name: str) -> tuple[str, int, str]:
    """``compressai:mbt2018-mean:3[:mse]`` -> (architecture, quality, metric).

    Raises:
        NeurocodecError: Not such a name, or an architecture, quality or metric not served.
    """
    parts = name.split(":")
    if len(parts) not in (3, 4) or parts[0] + ":" != PRETRAINED:
        raise NeurocodecError(f"{name}: expected compressai:ARCH:QUALITY[:mse|ms-ssim]")
    arch, quality, metric = parts[1], parts[2], parts[3] if len(parts) == 4 else "mse"
    if arch not in PRETRAINED_ARCHS:
        raise NeurocodecError(
            f"{name}: architecture {arch!r} is not supported as an intra model "
            f"(supported: {', '.join(PRETRAINED_ARCHS)})"
        )
    if not quality.isdigit() or not 1 <= int(quality) <= 8:
        raise NeurocodecError(f"{name}: quality must be 1..8")
    if metric not in ("mse", "ms-ssim"):
        raise NeurocodecError(f"{name}: metric must be mse or ms-ssim")
    return arch, int(quality), metric


def check_name(name: Any, kind: str = "intra") -> str:
    """A model reference read from a bitstream -> the name, or :class:`NcvFormatError` (no path, no offset).

    Nothing is opened: the name is checked as text only.
    """
    if is_pretrained(name) and kind == "intra":
        try:
            parse_pretrained(name)
        except NeurocodecError as exc:
            raise NcvFormatError(f"model reference {exc}") from None
        return name
    if not is_name(name):
        shown = repr(name)[:80]
        raise NcvFormatError(
            f"model reference {shown} is not a model name (letters, digits, '_', '-', '.'; no paths)"
        )
    return name


def name_for_file(path: str | os.PathLike) -> str:
    """The name a bitstream stores for a weights file the user encoded with: the file's stem."""
    stem = Path(path).stem
    if not is_name(stem):
        raise SettingsError(
            f"{path}: the file name {stem!r} cannot be stored as a model name "
            "(use letters, digits, '_', '-', '.'; a leading dot is not allowed)"
        )
    return stem


def shipped_path(kind: str, name: str) -> Path:
    """The file of a shipped model (``kind`` ``intra`` or ``enhance``, ``name`` one of :data:`SHIPPED`)."""
    return Path(str(files("neurocodec.weights") / SHIPPED[kind][name]))


def resolve_file(kind: str, name_or_path: str | os.PathLike | None) -> Path:
    """A shipped name or a file path the user gave (None: the kind's default) -> the weights file.

    Raises:
        SourceNotFoundError: No such shipped name or file.
    """
    name = str(name_or_path or DEFAULTS[kind])
    if name in SHIPPED[kind]:
        return shipped_path(kind, name)
    path = Path(name)
    if not path.is_file():
        raise SourceNotFoundError(f"{name}: no such weights file (shipped {kind} models: {', '.join(SHIPPED[kind])})")
    return path


def stored_name(name_or_path: str | os.PathLike | None) -> str:
    """The model name a bitstream stores for an encoder's intra model, never a path.

    Shipped and pretrained names as they are; a weights file by its stem
    (a decoder finds it through :class:`~.registry.ModelRegistry`, by name and hash).
    """
    name = str(name_or_path or DEFAULTS["intra"])
    if name in SHIPPED["intra"] or is_pretrained(name):
        return name
    return name_for_file(name)


def check_model_name(name: str | os.PathLike) -> None:
    """Fail early (one clear error) on an intra model name that cannot be loaded or stored; downloads nothing."""
    if is_pretrained(str(name)):
        parse_pretrained(str(name))
    else:
        resolve_file("intra", name)
        stored_name(name)


@lru_cache(maxsize=8)  # keyed by size and mtime too, so a rewritten file is hashed again
def _sha256_cached(path: str, size: int, mtime_ns: int) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def file_sha256(path: str | os.PathLike) -> bytes:
    """SHA-256 of a file (cached while its size and mtime stay the same)."""
    st = os.stat(path)
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def read_verified(path: str | os.PathLike, sha256: bytes) -> bytes:
    """A file's bytes, refused unless they hash to ``sha256`` (read once: what is checked is what is used)."""
    data = Path(path).read_bytes()
    got = hashlib.sha256(data).digest()
    if got != sha256:
        raise ModelMismatchError(f"{path}: weights sha256 {got.hex()}, expected {sha256.hex()} (file changed?)")
    return data

"""Model names, and the only places a name is looked up: the installed weights and what the user passes.

A bitstream refers to the model weights a segment needs by NAME, never by
path, so no byte of a ``.ncv`` file can make the decoder open a file of its
choosing. A name is either a CompressAI pretrained model
(``compressai:ARCH:QUALITY[:METRIC]``) or a simple identifier: letters,
digits, ``_``, ``-`` and ``.`` (not first), at most 64 characters. The
decoder resolves it, in this order, through

1. the intra weights the user passes (``--intra-model NAME|FILE``; it stands
   for every intra model the file names),
2. the folder the user passes (``--model-dir DIR``: ``DIR/NAME.pt``),
3. the weights shipped in ``neurocodec/weights/``.

CompressAI's pretrained models are resolved only when the user names them
(``--intra-model compressai:...``): loading one may download weights, and a
file must not make the decoder reach the network.

Whatever is found must have the SHA-256 the segment recorded; files are
hashed before they are loaded. Light on purpose (no torch): checking a file
before decoding it costs milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ModelMismatchError, NcvFormatError, NeurocodecError, SettingsError

__all__ = [
    "SHIPPED",
    "DEFAULTS",
    "ModelRef",
    "ModelRegistry",
    "INSTALLED",
    "check_name",
    "is_name",
    "name_for_file",
    "file_sha256",
    "read_verified",
    "check_segment_model",
]

#: Shipped weights (package data in neurocodec/weights/) by kind and name.
SHIPPED = {
    "intra": {"intra_yuv420": "intra_yuv420.pt"},
    "enhance": {"enhance_yuv420": "enhance_yuv420.pt"},
}
DEFAULTS = {"intra": "intra_yuv420", "enhance": "enhance_yuv420"}
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
_PRETRAINED = "compressai:"


def is_name(text: Any) -> bool:
    """A simple model name (no separators, no leading dot), as stored in a bitstream."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def check_name(name: Any, kind: str = "intra") -> str:
    """A model reference read from a bitstream -> the name, or :class:`NcvFormatError` (no path, no offset).

    Nothing is opened: the name is checked as text only.
    """
    if isinstance(name, str) and name.startswith(_PRETRAINED) and kind == "intra":
        from .pretrained import parse_name

        try:
            parse_name(name)
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


def _shipped_path(kind: str, name: str) -> Path:
    from importlib.resources import files

    return Path(str(files("neurocodec.weights") / SHIPPED[kind][name]))


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


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: a trusted weights file, or a CompressAI pretrained name (``path`` None)."""

    kind: str
    name: str
    path: Path | None

    def sha256(self) -> bytes:
        """The identity a bitstream records (a pretrained model is fetched and its tables derived)."""
        if self.path is not None:
            return file_sha256(self.path)
        from .weights import load_intra

        return load_intra(self.name).sha256


@dataclass(frozen=True)
class ModelRegistry:
    """Where model names are looked up when decoding.

    Args:
        model_dir: A folder the user passes; ``NAME`` is found as ``model_dir/NAME.pt``.
        intra_model: The intra model the user passes (a shipped or ``compressai:``
            name, or a weights file); it serves every intra model a file names.

    Raises:
        SettingsError: ``model_dir`` is not a folder, or ``intra_model`` is
            neither a known name nor a file.
    """

    model_dir: Path | None = None
    intra_model: str | None = None

    def __post_init__(self) -> None:
        if self.model_dir is not None:
            object.__setattr__(self, "model_dir", Path(self.model_dir))
            if not self.model_dir.is_dir():
                raise SettingsError(f"{self.model_dir}: no such model folder")
        if self.intra_model is not None:
            object.__setattr__(self, "intra_model", str(self.intra_model))
            self._user_intra()  # a wrong option fails now, not at the first neural segment

    def _user_intra(self) -> ModelRef:
        given = self.intra_model
        if given in SHIPPED["intra"]:
            return ModelRef("intra", given, _shipped_path("intra", given))
        if given.startswith(_PRETRAINED):
            from .pretrained import parse_name

            try:
                parse_name(given)
            except NeurocodecError as exc:
                raise SettingsError(str(exc)) from None
            return ModelRef("intra", given, None)
        if not Path(given).is_file():
            raise SettingsError(f"{given}: no such weights file (shipped: {', '.join(SHIPPED['intra'])})")
        return ModelRef("intra", given, Path(given))

    def resolve(self, kind: str, name: str) -> ModelRef:
        """The weights for a checked name (:func:`check_name`); opens nothing but ``stat`` calls.

        Raises:
            ModelMismatchError: No weights of that name are installed or passed
                (one line saying how to pass them).
        """
        if kind == "intra" and self.intra_model is not None:
            return self._user_intra()
        if self.model_dir is not None and is_name(name):
            candidate = self.model_dir / f"{name}.pt"
            if candidate.is_file():
                return ModelRef(kind, name, candidate)
        if name in SHIPPED[kind]:
            return ModelRef(kind, name, _shipped_path(kind, name))
        if kind == "intra" and name.startswith(_PRETRAINED):
            # Loading it may download weights: a file must not make the decoder reach the network.
            raise ModelMismatchError(
                f"needs CompressAI's pretrained model {name!r}, which may be downloaded: "
                f"allow it with --intra-model {name}"
            )
        where = f"no {name}.pt in {self.model_dir}" if self.model_dir is not None else "not installed"
        how = "--intra-model FILE or " if kind == "intra" else ""
        raise ModelMismatchError(
            f"needs the {kind} model {name!r} ({where}); pass its weights with {how}--model-dir DIR holding {name}.pt"
        )


INSTALLED = ModelRegistry()


def _hexes(hashes) -> str:
    return ", ".join(h.hex() for h in hashes) or "none"


def check_segment_model(kind: str, params: dict[str, Any], ctx) -> ModelRef:
    """Check the model a segment names before any of it is decoded: a name, installed or passed, right hash.

    Args:
        kind: ``intra`` or ``enhance``.
        params: The segment's params (``model``: the name; absent: the shipped default).
        ctx: The :class:`~neurocodec.strategies.base.DecodeContext` (its
            ``models`` and the ``weight_hashes`` the segment recorded).

    Raises:
        NcvFormatError: ``model`` is not a name.
        ModelMismatchError: no such model, or its weights hash differs.
    """
    name = check_name(params.get("model", DEFAULTS[kind]), kind)
    ref = (ctx.models or INSTALLED).resolve(kind, name)
    have = (ref.sha256(),)
    if have != tuple(ctx.weight_hashes):
        source = ref.path if ref.path is not None else ref.name
        raise ModelMismatchError(
            f"was coded with {kind} model {name!r} of weights sha256 {_hexes(ctx.weight_hashes)}; "
            f"{source} has sha256 {have[0].hex()}; pass the weights it was made with "
            f"({'--intra-model FILE or ' if kind == 'intra' else ''}--model-dir DIR)"
        )
    return ref

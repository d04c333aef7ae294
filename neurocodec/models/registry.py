"""The model registry: each kind of learned model registered once, and the only way a name becomes a model.

Kinds (:data:`KINDS`), each with its names, weights file format, loader,
hash function and decoder cost (MACs per luma pixel):

- ``intra``: the learned intra codec (format :mod:`.weights`), shipped as ``intra_yuv420``;
- ``enhance``: the ``hybrid`` strategy's enhancement network (format
  :mod:`.enhance`), shipped as ``enhance_yuv420``;
- ``compressai``: CompressAI's pretrained image models (:mod:`.pretrained`)
  serving as intra models, named ``compressai:ARCH:QUALITY[:METRIC]``.

Names, shipped files, format ids and file hashing live in :mod:`.names`
(the registry's light half, which the format modules also use); this module
adds loading, identity and cost, and imports the networks (and torch) only
when a model is first loaded.

A bitstream refers to the model weights a segment needs by NAME, never by
path, so no byte of a ``.ncv`` file can make the decoder open a file of its
choosing. The decoder resolves a name, in this order, through

1. the intra weights the user passes (``--intra-model NAME|FILE``; it stands
   for every intra model the file names),
2. the folder the user passes (``--model-dir DIR``: ``DIR/NAME.pt``),
3. the weights shipped in ``neurocodec/weights/``.

CompressAI's pretrained models are resolved only when the user names them
(``--intra-model compressai:...``): loading one may download weights, and a
file must not make the decoder reach the network.

Whatever is found must have the SHA-256 the segment recorded; files are
hashed before they are loaded, and only their verified bytes are unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelMismatchError, NeurocodecError, SettingsError
from .names import (
    DEFAULTS,
    FORMATS,
    SHIPPED,
    check_name,
    check_model_name,
    file_sha256,
    is_name,
    is_pretrained,
    parse_pretrained,
    read_verified,
    resolve_file,
    shipped_path,
    stored_name,
)

if TYPE_CHECKING:
    from .enhance import LoadedEnhance
    from .weights import LoadedIntra

__all__ = [
    "ModelKind",
    "KINDS",
    "kind_for",
    "load",
    "load_intra",
    "load_enhance",
    "macs_per_pixel",
    "pack",
    "ModelRef",
    "ModelRegistry",
    "INSTALLED",
    "check_segment_model",
    # The light half's names most callers need, so that models are looked up in one place (see .names).
    "SHIPPED",
    "DEFAULTS",
    "check_name",
    "check_model_name",
    "stored_name",
    "file_sha256",
]


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: a trusted weights file, or a CompressAI pretrained name (``path`` None)."""

    kind: str  # the segment kind it serves: "intra" or "enhance"
    name: str
    path: Path | None

    @property
    def source(self) -> str:
        """What :func:`load` takes for it: the file, or the pretrained name."""
        return str(self.path) if self.path is not None else self.name

    @property
    def model_kind(self) -> ModelKind:
        return KINDS[self.kind] if self.path is not None else KINDS["compressai"]

    def sha256(self) -> bytes:
        """The identity a bitstream records (a pretrained model is fetched and its tables derived)."""
        return self.model_kind.sha256(self)


@dataclass(frozen=True)
class ModelKind:
    """One kind of model, registered once in :data:`KINDS`.

    Attributes:
        name: The kind's name; the file kinds are named after the segment
            kind they serve (``compressai`` serves ``intra``, see :func:`kind_for`).
        format: The format id its weights files hold; None for a kind loaded
            by name (its weights come from elsewhere).
        shipped: Its shipped weights: name -> file in ``neurocodec/weights/``.
        loader: For a file format: (bytes whose hash was checked, path,
            sha256) -> the loaded model; else name -> the loaded model.
        pack: (network, training record) -> a weights file's bytes; None
            where neurocodec writes no such files.
        sha256: The identity a bitstream records, of a resolved reference.
        macs_per_pixel: The decoder's multiply-accumulates per luma pixel, of a loaded model.
    """

    name: str
    format: str | None
    shipped: Mapping[str, str]
    loader: Callable[..., Any]
    pack: Callable[[Any, dict[str, Any]], bytes] | None
    sha256: Callable[[ModelRef], bytes]
    macs_per_pixel: Callable[[Any], float]


# The networks import torch: each function imports its module when first called, so the registry stays light.


def _unpack_intra(data: bytes, path: str, sha256: bytes) -> LoadedIntra:
    from .weights import unpack_weights  # why: torch

    return unpack_weights(data, path, sha256)


def _pack_intra(model, trained: dict[str, Any]) -> bytes:
    from .weights import pack_weights  # why: torch

    return pack_weights(model, trained)


def _intra_macs(loaded: LoadedIntra) -> float:
    from .intra import decoder_macs_per_pixel  # why: torch

    return decoder_macs_per_pixel(loaded.model)


def _unpack_enhance(data: bytes, path: str, sha256: bytes) -> LoadedEnhance:
    from .enhance import unpack_enhance  # why: torch

    return unpack_enhance(data, path, sha256)


def _pack_enhance(net, trained: dict[str, Any]) -> bytes:
    from .enhance import pack_enhance  # why: torch

    return pack_enhance(net, trained)


def _enhance_macs(loaded: LoadedEnhance) -> float:
    from .enhance import macs_per_pixel  # why: torch

    return macs_per_pixel(loaded.net)


def _fetch_pretrained(name: str) -> LoadedIntra:
    from .pretrained import load_pretrained  # why: torch and compressai

    return load_pretrained(name)


def _file_identity(ref: ModelRef) -> bytes:
    return file_sha256(ref.path)


def _derived_identity(ref: ModelRef) -> bytes:
    return load(ref.kind, ref.name).sha256


KINDS: dict[str, ModelKind] = {
    "intra": ModelKind("intra", FORMATS["intra"], SHIPPED["intra"], _unpack_intra, _pack_intra, _file_identity,
                       _intra_macs),
    "enhance": ModelKind("enhance", FORMATS["enhance"], SHIPPED["enhance"], _unpack_enhance, _pack_enhance,
                         _file_identity, _enhance_macs),
    "compressai": ModelKind("compressai", None, {}, _fetch_pretrained, None, _derived_identity, _intra_macs),
}


def kind_for(role: str, name: str) -> ModelKind:
    """The kind that serves a name for a segment kind (``intra`` names may be CompressAI's)."""
    if role == "intra" and is_pretrained(name):
        return KINDS["compressai"]
    return KINDS[role]


def load(role: str, source: str | os.PathLike | None = None, *, expect_sha256: bytes | None = None) -> Any:
    """Load a model, optionally checking that it is the one a bitstream was made with.

    Args:
        role: ``intra`` or ``enhance``.
        source: A shipped or ``compressai:`` name, or a weights file the
            user gave (None: the shipped default). Names read from a
            bitstream go through :class:`ModelRegistry` first.
        expect_sha256: The identity the bitstream recorded. A file is
            hashed and compared before it is unpickled; a CompressAI
            model's identity is derived on load, so it is compared after.

    Returns:
        What the kind's loader makes (cached while the file is unchanged):
        :class:`~.weights.LoadedIntra` or :class:`~.enhance.LoadedEnhance`.

    Raises:
        ModelMismatchError: The weights' hash is not ``expect_sha256``.
        SourceNotFoundError: No such shipped name or file.
        NeurocodecError: Not a weights file of the kind's format.
    """
    name = str(source or DEFAULTS[role])
    kind = kind_for(role, name)
    if kind.format is None:
        loaded = _load_named(kind.name, name)
        _check_hash(name, role, loaded.sha256, expect_sha256)
        return loaded
    path = resolve_file(role, name).resolve()
    st = path.stat()
    sha = file_sha256(path)
    _check_hash(str(path), role, sha, expect_sha256)
    return _load_file(kind.name, str(path), st.st_size, st.st_mtime_ns, sha)


def load_intra(source: str | os.PathLike | None = None, *, expect_sha256: bytes | None = None) -> LoadedIntra:
    """:func:`load` of an intra model: shipped (default ``intra_yuv420``), ``compressai:`` name or file."""
    return load("intra", source, expect_sha256=expect_sha256)


def load_enhance(source: str | os.PathLike | None = None, *, expect_sha256: bytes | None = None) -> LoadedEnhance:
    """:func:`load` of an enhancement network: shipped (default ``enhance_yuv420``) or file."""
    return load("enhance", source, expect_sha256=expect_sha256)


def macs_per_pixel(ref: ModelRef) -> float:
    """The decoder's multiply-accumulates per luma pixel of a resolved model (loads it)."""
    return ref.model_kind.macs_per_pixel(load(ref.kind, ref.source))


def pack(kind: str, model, trained: dict[str, Any]) -> bytes:
    """A weights file of ``kind``'s format holding ``model`` and its training record."""
    packer = KINDS[kind].pack
    if packer is None:
        raise SettingsError(f"neurocodec writes no {kind} weights files")
    return packer(model, trained)


def _check_hash(where: str, role: str, sha: bytes, expect: bytes | None) -> None:
    if expect is not None and sha != expect:
        raise ModelMismatchError(
            f"{where}: {role} weights sha256 {sha.hex()} but the bitstream needs {expect.hex()}; "
            "decode with the weights it was made with"
        )


@lru_cache(maxsize=2)  # a pretrained model is fetched (maybe downloaded) and its tables derived once
def _load_named(kind: str, name: str) -> Any:
    return KINDS[kind].loader(name)


@lru_cache(maxsize=8)  # keyed by size and mtime too, so a rewritten file is reloaded
def _load_file(kind: str, path: str, size: int, mtime_ns: int, sha256: bytes) -> Any:
    data = read_verified(path, sha256)  # the bytes unpickled are the bytes whose hash was checked
    return KINDS[kind].loader(data, path, sha256)


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
            return ModelRef("intra", given, shipped_path("intra", given))
        if is_pretrained(given):
            try:
                parse_pretrained(given)
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
            return ModelRef(kind, name, shipped_path(kind, name))
        if kind == "intra" and is_pretrained(name):
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

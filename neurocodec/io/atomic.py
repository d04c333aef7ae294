"""Atomic output files: write to a temporary name, rename on success.

An interrupted or failed write never leaves a partial file under the output
name, and an existing file is only replaced once the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputExistsError, OutputIsInputError

__all__ = ["atomic_path", "check_writable", "check_not_input"]


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing output unless ``overwrite``; check its folder exists."""
    p = Path(path)
    if p.is_dir():
        raise OutputExistsError(f"{p}: is a folder, not a file name")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p}: already exists (use --overwrite / -y to replace it)")
    if not p.parent.exists():
        raise FileNotFoundError(f"{p.parent}: output folder does not exist")
    return p


def check_not_input(
    output: str | os.PathLike | None, *inputs: str | os.PathLike | None, inside: bool = False
) -> None:
    """Refuse an output that is one of the inputs, whatever ``overwrite`` says.

    The same path after resolving links, or the same file on disk (a hard
    link) counts as the input. ``None`` entries are skipped, so optional
    arguments can be passed as they are.

    Args:
        output: A file or folder the caller is about to write.
        inputs: Files or folders it reads.
        inside: Also refuse an output inside an input folder (e.g. an encode
            of a frame folder writing into that folder).

    Raises:
        OutputIsInputError: ``output`` is (or, with ``inside``, lies in) an input.
    """
    if output is None:
        return
    out = Path(output)
    resolved = out.resolve()
    for inp in inputs:
        if inp is None:
            continue
        src = Path(inp)
        if resolved == src.resolve() or (out.exists() and src.exists() and os.path.samefile(out, src)):
            raise OutputIsInputError(f"{out}: is the input {src}; choose another output (-y never replaces an input)")
        if inside and src.is_dir() and src.resolve() in resolved.parents:
            raise OutputIsInputError(f"{out}: is inside the input folder {src}; choose an output outside it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary name keeps the suffix so tools that pick a format from the
    extension still work.
    """
    target = check_writable(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the output the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target}: appeared while writing; not replaced")
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()

"""Clip sets: TOML or JSON files listing benchmark clips by local path, or by URL plus SHA-256.

Example (TOML)::

    [[clip]]
    path = "videos/akiyo_cif.y4m"          # relative to this file
    [[clip]]
    name = "foreman"
    url = "https://example.org/foreman_cif.y4m"
    sha256 = "0123...cdef"
    [[clip]]
    path = "raw/crowd_1280x720.yuv"
    size = "1280x720"
    fps = "50"

Downloads go to the user cache (``$NEUROCODEC_CACHE``, else
``$XDG_CACHE_HOME/neurocodec``, else ``~/.cache/neurocodec``), are resumed
with HTTP Range requests after an interruption, and are checked against
their SHA-256 before use.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError, SettingsError
from .runner import ClipSpec

__all__ = ["load_clipset", "download", "cache_dir", "expand_inputs"]

log = logging.getLogger(__name__)

_VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".flv", ".mov", ".y4m", ".264", ".h264", ".265", ".hevc", ".ivf"}


def cache_dir() -> Path:
    if os.environ.get("NEUROCODEC_CACHE"):
        return Path(os.environ["NEUROCODEC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neurocodec"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def download(
    url: str,
    sha256: str,
    *,
    cache: Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into the cache (resuming a partial download) and verify its SHA-256.

    Returns:
        The cached file's path (named by its hash, so a finished download is reused).

    Raises:
        InputError: The download failed, or the bytes do not match ``sha256``.
    """
    sha256 = sha256.lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise SettingsError(f"{url}: sha256 must be 64 hex digits")
    folder = cache or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(urllib.request.urlparse(url).path).suffix[:10]
    final = folder / f"{sha256}{suffix}"
    if final.exists():
        return final
    part = folder / f"{sha256}{suffix}.part"
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if have and resp.status != 206:
                have = 0  # the server ignored the range: start over
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with open(part, "ab" if have else "wb") as fh:
                done = have
                while block := resp.read(1 << 16):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            if total is not None and done < total:
                raise InputError(f"{url}: download interrupted at {done} of {total} bytes; rerun to resume")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: the part file is complete
            pass
        else:
            raise InputError(f"{url}: download failed (HTTP {exc.code}); rerun to resume") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        raise InputError(f"{url}: download interrupted ({exc}); rerun to resume") from None
    got = _sha256(part)
    if got != sha256:
        part.unlink()
        raise InputError(f"{url}: SHA-256 mismatch (expected {sha256}, got {got}); the partial file was removed")
    os.replace(part, final)
    return final


def load_clipset(path: str | os.PathLike, *, progress: Callable[[int, int | None], None] | None = None) -> list[ClipSpec]:
    """Read a clip-set file (``.toml`` or ``.json``) and return its clips, downloading what is missing."""
    p = Path(path)
    try:
        text = p.read_text()
        doc: dict[str, Any] = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except FileNotFoundError:
        raise InputError(f"{p}: no such clip-set file") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a valid clip-set file ({exc})") from None
    entries = doc.get("clip") or doc.get("clips")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{p}: needs a non-empty [[clip]] list")
    clips = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or ("path" in e) == ("url" in e):
            raise InputError(f"{p}: clip {i} needs exactly one of 'path' or 'url'")
        unknown = set(e) - {"path", "url", "sha256", "name", "size", "fps"}
        if unknown:
            raise InputError(f"{p}: clip {i} has unknown keys {', '.join(sorted(unknown))}")
        if "url" in e:
            if "sha256" not in e:
                raise InputError(f"{p}: clip {i} ({e['url']}) needs a sha256")
            local = download(e["url"], e["sha256"], progress=progress)
            name = e.get("name") or Path(urllib.request.urlparse(e["url"]).path).name
        else:
            local = (p.parent / e["path"]).resolve() if not os.path.isabs(e["path"]) else Path(e["path"])
            name = e.get("name") or Path(e["path"]).name
        clips.append(ClipSpec(local, name=name, size=e.get("size"), fps=e.get("fps")))
    return clips


def expand_inputs(inputs: list[str], *, size: str | None = None, fps: str | None = None, progress=None) -> list[ClipSpec]:
    """Command-line inputs: clip files, clip-set files (.toml/.json), folders of clips or of frames."""
    clips: list[ClipSpec] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if p.is_file() and p.suffix.lower() in (".toml", ".json"):
            clips += load_clipset(p, progress=progress)
        elif p.is_dir() and any(c.suffix.lower() in _VIDEO_SUFFIXES for c in p.iterdir()):
            clips += [ClipSpec(c, size=size, fps=fps) for c in sorted(p.iterdir()) if c.suffix.lower() in _VIDEO_SUFFIXES]
        else:
            clips.append(ClipSpec(p, size=size, fps=fps))
    return clips

"""The resumable part store: finished scenes kept beside the output until the file is assembled.

``OUT.ncv.parts/`` (or ``PARTS/OUT.ncv-HASH.parts/``, HASH from the output's
full path, when the parts go to a folder of their own, e.g. on storage a
cluster's workers share) holds ``job.json`` (what is being encoded: source identity,
options, scenes) and one ``NNNNNN.seg`` file per finished scene (its payload
and metadata, written atomically). If an encode is killed, ``--resume`` reuses
every finished scene whose job matches; the output ``.ncv`` itself is only
ever written complete. An encode that fails keeps the folder only if it holds
a finished scene, and says so.

The folder may also be an fsspec URL (``s3://bucket/parts``, ``gcs://...``;
needs ``fsspec`` and the protocol's package): a part is written under a
temporary name and then moved, so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ..bitstream.chunks import Cursor, encode_varint
from ..errors import SettingsError
from ..io.atomic import atomic_path

__all__ = ["PartStore", "job_key"]

log = logging.getLogger(__name__)
_MAGIC = b"NCVPART1"


def job_key(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


class _LocalFolder:
    """A folder on this machine (or a mounted share): atomic renames, fsync'd parts."""

    def __init__(self, path: Path):
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def exists(self, name: str = "") -> bool:
        return (self.path / name).exists()

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        with atomic_path(self.path / name, overwrite=True) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # a part must survive a power cut, not only a killed process

    def parts(self) -> list[str]:
        return [p.name for p in self.path.glob("[0-9]*.seg")]  # not the temporary files of an interrupted write

    def make(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class _UrlFolder:
    """A folder behind an fsspec URL: written under a temporary name, then moved."""

    def __init__(self, url: str):
        try:
            from fsspec.core import url_to_fs  # why: fsspec is optional (it comes with Dask)
        except ImportError:
            raise SettingsError(f"{url}: a part store at a URL needs fsspec (pip install fsspec)") from None
        try:
            self.fs, self.root = url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise SettingsError(f"{url}: {exc}") from None
        self.url = url

    def __str__(self) -> str:
        return self.url

    def _p(self, name: str) -> str:
        return f"{self.root}/{name}" if name else self.root

    def exists(self, name: str = "") -> bool:
        return self.fs.exists(self._p(name))

    def read(self, name: str) -> bytes:
        return self.fs.cat_file(self._p(name))

    def write(self, name: str, data: bytes) -> None:
        tmp = self._p(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, self._p(name))

    def parts(self) -> list[str]:
        names = (n.rstrip("/").rsplit("/", 1)[-1] for n in self.fs.ls(self.root, detail=False))
        return [n for n in names if n[:1].isdigit() and n.endswith(".seg")]

    def make(self) -> None:
        self.fs.makedirs(self.root, exist_ok=True)

    def remove(self) -> None:
        try:
            self.fs.rm(self.root, recursive=True)
        except FileNotFoundError:
            pass


def _folder(where: str) -> _LocalFolder | _UrlFolder:
    if "://" in where and not where.startswith("file://"):
        return _UrlFolder(where)
    return _LocalFolder(Path(where.removeprefix("file://")).absolute())


class PartStore:
    """Finished scenes of one encode job, stored beside ``output`` or in the folder (or URL) ``location``."""

    def __init__(self, output: str | os.PathLike, job: dict[str, Any], *, resume: bool,
                 location: str | os.PathLike | None = None):
        name = Path(str(output) + ".parts")
        if location:
            # Outputs of one name in different folders (a batch's a/x.ncv and b/x.ncv) need stores of their own.
            tag = hashlib.sha256(os.path.abspath(output).encode()).hexdigest()[:8]
            where = f"{str(location).rstrip('/')}/{Path(output).name}-{tag}.parts"
        else:
            where = str(name)
        self.folder = _folder(where)
        self.dir = str(self.folder)
        self.key = job_key(job)
        if self.folder.exists():
            same = self.sees(self.key)
            if resume and same:
                log.info("resuming from %s (%d finished scenes)", self.dir, self.finished())
            else:
                if resume:
                    log.warning("%s belongs to a different encode; starting over", self.dir)
                self.folder.remove()
        self.folder.make()
        if not self.folder.exists("job.json"):
            self.folder.write("job.json", json.dumps({"key": self.key, "job": job}, sort_keys=True, default=str).encode())

    @classmethod
    def attach(cls, folder: str, key: str) -> PartStore:
        """The store in ``folder`` as a worker sees it: it must exist and belong to the job ``key``.

        Raises:
            FileNotFoundError: The folder or its job file is missing, or it belongs to another job.
        """
        store = cls.__new__(cls)
        store.folder, store.dir, store.key = _folder(folder), folder, key
        if not store.sees(key):
            raise FileNotFoundError(f"{folder}: no part store of this encode here")
        return store

    def sees(self, key: str) -> bool:
        """Whether this process sees the store's job file with ``key`` (a worker checks before writing)."""
        try:
            return json.loads(self.folder.read("job.json") or b"{}").get("key") == key
        except (OSError, ValueError):
            return False

    @staticmethod
    def _name(index: int) -> str:
        return f"{index:06d}.seg"

    def has(self, index: int) -> bool:
        return self.folder.exists(self._name(index))

    def finished(self) -> int:
        """How many finished scenes the store holds."""
        return len(self.folder.parts())

    def put(self, index: int, meta: dict[str, Any], payload: bytes) -> None:
        if not self.sees(self.key):
            # A worker whose encode was stopped (or replaced by another job's) must not leave a part here.
            raise FileNotFoundError(f"{self.dir}: the part store of this encode is gone")
        raw = json.dumps(meta, sort_keys=True).encode()
        self.folder.write(self._name(index), _MAGIC + encode_varint(len(raw)) + raw + payload)

    def get(self, index: int) -> tuple[dict[str, Any], bytes]:
        data = self.folder.read(self._name(index))
        if data[:8] != _MAGIC:
            raise ValueError(f"{self.dir}/{self._name(index)}: not a part file")
        cur = Cursor(data[8:])
        meta = json.loads(bytes(cur.blob("meta", len(data))))
        return meta, bytes(cur.data[cur.pos :])

    def remove(self) -> None:
        self.folder.remove()

    def abandon(self, *, hint: bool = True) -> None:
        """After a failed encode: keep the store if ``--resume`` can use it (and, with ``hint``, say so), else
        remove it."""
        if self.finished():
            if hint:
                log.error("finished scenes kept in %s/: rerun with --resume", self.dir)  # shown with -q too
        else:
            self.remove()

"""The resumable part store: finished scenes kept beside the output until the file is assembled.

``OUT.ncv.parts/`` (or ``PARTS/OUT.ncv.parts/`` when the parts go to a folder
of their own, e.g. on storage a cluster's workers share) holds ``job.json`` (what is being encoded: source identity,
options, scenes) and one ``NNNNNN.seg`` file per finished scene (its payload
and metadata, written atomically). If an encode is killed, ``--resume`` reuses
every finished scene whose job matches; the output ``.ncv`` itself is only
ever written complete. An encode that fails keeps the folder only if it holds
a finished scene, and says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ..bitstream.chunks import Cursor, encode_varint
from ..io.atomic import atomic_path

__all__ = ["PartStore", "job_key"]

log = logging.getLogger(__name__)
_MAGIC = b"NCVPART1"


def job_key(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


class PartStore:
    """Finished scenes of one encode job, stored beside ``output`` or in the folder ``location``."""

    def __init__(self, output: str | os.PathLike, job: dict[str, Any], *, resume: bool,
                 location: str | os.PathLike | None = None):
        name = Path(str(output) + ".parts")
        self.dir = (Path(location) / name.name if location else name).absolute()
        self.key = job_key(job)
        stored = self.dir / "job.json"
        if self.dir.exists():
            same = stored.exists() and json.loads(stored.read_text() or "{}").get("key") == self.key
            if resume and same:
                log.info("resuming from %s (%d finished scenes)", self.dir, self.finished())
            else:
                if resume:
                    log.warning("%s belongs to a different encode; starting over", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(exist_ok=True)
        if not stored.exists():
            self._atomic(stored, json.dumps({"key": self.key, "job": job}, sort_keys=True, default=str).encode())

    @classmethod
    def attach(cls, folder: str, key: str) -> PartStore:
        """The store in ``folder`` as a worker sees it: it must exist and belong to the job ``key``.

        Raises:
            FileNotFoundError: The folder or its job file is missing, or it belongs to another job.
        """
        store = cls.__new__(cls)
        store.dir, store.key = Path(folder), key
        if not store.sees(key):
            raise FileNotFoundError(f"{folder}: no part store of this encode here")
        return store

    def sees(self, key: str) -> bool:
        """Whether this process sees the store's job file with ``key`` (a worker checks before writing)."""
        try:
            return json.loads((self.dir / "job.json").read_text() or "{}").get("key") == key
        except (OSError, ValueError):
            return False

    def _atomic(self, path: Path, data: bytes) -> None:
        with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # a part must survive a power cut, not only a killed process

    def _path(self, index: int) -> Path:
        return self.dir / f"{index:06d}.seg"

    def has(self, index: int) -> bool:
        return self._path(index).exists()

    def finished(self) -> int:
        """How many finished scenes the store holds."""
        return len(list(self.dir.glob("[0-9]*.seg")))  # not the temporary files of an interrupted write

    def put(self, index: int, meta: dict[str, Any], payload: bytes) -> None:
        if not self.sees(self.key):
            # A worker whose encode was stopped (or replaced by another job's) must not leave a part here.
            raise FileNotFoundError(f"{self.dir}: the part store of this encode is gone")
        raw = json.dumps(meta, sort_keys=True).encode()
        self._atomic(self._path(index), _MAGIC + encode_varint(len(raw)) + raw + payload)

    def get(self, index: int) -> tuple[dict[str, Any], bytes]:
        data = self._path(index).read_bytes()
        if data[:8] != _MAGIC:
            raise ValueError(f"{self._path(index)}: not a part file")
        cur = Cursor(data[8:])
        meta = json.loads(bytes(cur.blob("meta", len(data))))
        return meta, bytes(cur.data[cur.pos :])

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def abandon(self) -> None:
        """After a failed encode: keep the store if ``--resume`` can use it (and say so), else remove it."""
        if self.finished():
            log.error("finished scenes kept in %s/: rerun with --resume", self.dir)  # shown with -q too
        else:
            self.remove()

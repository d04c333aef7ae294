"""The resumable part store: finished scenes kept beside the output until the file is assembled.

``OUT.ncv.parts/`` holds ``job.json`` (what is being encoded: source identity,
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
    """Finished scenes of one encode job, stored beside ``output``."""

    def __init__(self, output: str | os.PathLike, job: dict[str, Any], *, resume: bool):
        self.dir = Path(str(output) + ".parts")
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

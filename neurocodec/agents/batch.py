"""Encoding a catalogue: every file of a manifest, with all their scene jobs on one executor.

Files are analysed one after the other in this process, each when the
executor needs more jobs, so the workers (local processes or a Dask cluster)
run scenes of several files at once and never wait for a file's analysis
while there is work. Each file's scenes go to its own part store; a file is
assembled as soon as its last scene is stored.

Beside each output the batch keeps ``OUTPUT.status.json`` (``running``,
``done`` or ``failed`` with the reason). A rerun skips a file whose status is
``done`` for the same input (path, size, modification time) and settings and
whose output is still there, and continues the others from their stored
scenes. A file that fails (unreadable input, a scene failing on every try)
does not stop the others.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NeurocodecError
from ..io.atomic import atomic_path, check_not_input
from ..io.readers import open_source
from .encoder import EncodeJob, EncodingAgent
from .executor import make_executor, run_tasks
from .manifest import BatchItem
from .parts import job_key
from .tasks import Task, TaskFailed

__all__ = ["BatchProgress", "BatchReport", "run_batch", "status_path", "STATUS_SUFFIX"]

log = logging.getLogger(__name__)
STATUS_SUFFIX = ".status.json"
_MAX_STATUS_BYTES = 1 << 20


@dataclass
class BatchProgress:
    """Where a batch stands: files and scenes, throughput since this run started, and an ETA (None: unknown)."""

    files: int
    files_done: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    scenes_known: int = 0
    scenes_done: int = 0
    frames_done: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None

    @property
    def fps(self) -> float:
        """Frames encoded per second of this run."""
        return self.frames_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class BatchReport:
    """What a batch did: per file its status document, and the totals."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    progress: BatchProgress | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [s for s in self.statuses if s["state"] == "failed"]


def status_path(out_dir: Path, item: BatchItem) -> Path:
    return out_dir / (item.output + STATUS_SUFFIX)


@dataclass
class _File:
    """One file while its scenes are in flight."""

    n: int
    item: BatchItem
    agent: EncodingAgent
    job: EncodeJob
    key: str
    t0: float
    remaining: set[int]


class _Batch:
    def __init__(self, items: list[BatchItem], out_dir: Path, common: dict[str, Any], remote: bool,
                 progress: Callable[[BatchProgress], None] | None):
        self.items, self.out_dir, self.common, self.remote = items, out_dir, common, remote
        self.report = progress
        self.state = BatchProgress(files=len(items))
        self.statuses: dict[int, dict[str, Any]] = {}
        self.files: dict[int, _File] = {}
        self.t0 = time.monotonic()
        self.planned_frames = 0  # frames of the files analysed so far
        self.stored_frames = 0  # of those, frames in stored scenes (this run's and a resumed encode's)

    # -- status files
    def _identity(self, item: BatchItem) -> str:
        try:
            st = os.stat(item.input)
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None
        return job_key({"input": os.path.abspath(item.input), "stamp": stamp, "settings": item.settings})

    def _write(self, item: BatchItem, doc: dict[str, Any]) -> dict[str, Any]:
        doc = {"input": item.input, "output": item.output, "line": item.line} | doc
        path = status_path(self.out_dir, item)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        return doc

    def already_done(self, item: BatchItem) -> dict[str, Any] | None:
        path = status_path(self.out_dir, item)
        try:
            if path.stat().st_size > _MAX_STATUS_BYTES:
                return None  # not one this batch wrote: encode the file again
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        out = self.out_dir / item.output
        if (isinstance(doc, dict) and doc.get("state") == "done" and doc.get("key") == self._identity(item)
                and out.is_file() and out.stat().st_size == doc.get("bytes")):
            return doc
        return None

    def fail(self, n: int, item: BatchItem, reason: str) -> None:
        if not reason.startswith(item.input):
            reason = f"{item.input}: {reason}"
        log.error("%s", reason)
        self.statuses[n] = self._write(item, {"state": "failed", "reason": reason, "key": self._identity(item)})
        self.state.files_failed += 1
        self._tell()

    # -- the jobs of all files, file after file
    def tasks(self, executor) -> Iterator[Task]:
        for n, item in enumerate(self.items):
            if n in self.statuses:
                continue  # done before
            f = self._plan(n, item)
            if f is None:
                continue
            if not f.remaining:
                self._finish(f)  # every scene came from the part store
                continue
            yield from f.agent.tasks(f.job, executor, key=lambda i, n=n: (n, i), name=item.input)

    def _plan(self, n: int, item: BatchItem) -> _File | None:
        dst = self.out_dir / item.output
        key = self._identity(item)
        source = None
        try:
            check_not_input(dst, item.input, inside=True)
            options = item.options(**self.common)
            agent = EncodingAgent(options)
            source = open_source(item.input, size=item.settings.get("size"), fps=item.settings.get("fps"))
            self._write(item, {"state": "running", "key": key})
            dst.parent.mkdir(parents=True, exist_ok=True)
            job = agent.plan(source, dst, overwrite=True, remote=self.remote)
        except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is, must not stop the others
            if source is not None:
                source.close()
            self.fail(n, item, _reason(exc))
            return None
        f = _File(n, item, agent, job, key, time.monotonic(), set(range(len(job.scenes))) - job.finished())
        self.files[n] = f
        self.state.scenes_known += len(job.scenes)
        self.state.scenes_done += len(job.scenes) - len(f.remaining)
        self.planned_frames += job.scenes[-1].end_frame
        self.stored_frames += sum(job.scenes[i].frames for i in job.finished())
        self._tell()
        return f

    def stored(self, index: tuple[int, int], result: Any) -> None:
        n, i = index
        f = self.files.get(n)
        if f is None:
            return  # a late scene of a file that failed: nothing to assemble
        if isinstance(result, TaskFailed):
            self._drop(f, f"{result.label.removeprefix(f.item.input + ' ')}: {result.reason}")
            return
        try:
            f.agent.store(f.job, i, result)
        except Exception as exc:  # noqa: BLE001 - as in _plan
            self._drop(f, _reason(exc))
            return
        f.remaining.discard(i)
        self.state.scenes_done += 1
        self.state.frames_done += f.job.scenes[i].frames
        self.stored_frames += f.job.scenes[i].frames
        if not f.remaining:
            self._finish(f)
        else:
            self._tell()

    def _drop(self, f: _File, reason: str) -> None:
        """A file failed: keep its stored scenes for a rerun, and go on with the others."""
        self.files.pop(f.n, None)
        f.job.store.abandon(hint=False)  # a rerun of the batch resumes by itself
        f.job.source.close()
        self.fail(f.n, f.item, reason)

    def _finish(self, f: _File) -> None:
        self.files.pop(f.n, None)
        try:
            report = f.agent.finish(f.job, f.t0)
        except Exception as exc:  # noqa: BLE001 - as in _plan
            f.job.store.abandon(hint=False)  # a rerun of the batch resumes by itself
            self.fail(f.n, f.item, _reason(exc))
            return
        finally:
            f.job.source.close()
        self.statuses[f.n] = self._write(f.item, {
            "state": "done", "key": f.key, "bytes": report.bytes, "frames": report.frames,
            "bitrate_kbps": round(report.bitrate_kbps, 3), "seconds": report.encode_seconds,
            "segments": len(report.segments), "quality": report.quality,
        })
        self.state.files_done += 1
        log.info("%s -> %s: %d bytes", f.item.input, f.item.output, report.bytes)
        self._tell()

    def _tell(self) -> None:
        s = self.state
        s.elapsed_s = time.monotonic() - self.t0
        s.eta_s = None
        analysed = len(self.files) + s.files_done + s.files_failed  # this run's files past their analysis
        if s.frames_done and analysed:
            # Frames left: those of analysed files not stored yet, and the mean file's for each file not
            # analysed yet; at this run's rate.
            unanalysed = s.files - s.files_skipped - analysed
            left = self.planned_frames - self.stored_frames + unanalysed * self.planned_frames / analysed
            s.eta_s = max(0.0, left) / s.fps
        if self.report:
            self.report(s)


def _reason(exc: BaseException) -> str:
    """One line for a status file: a neurocodec error as it is, anything else with its type."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    if not isinstance(exc, NeurocodecError):
        log.debug("unexpected error", exc_info=exc)
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


def run_batch(
    items: list[BatchItem],
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    cluster: Any = None,
    parts: str | None = None,
    cluster_frames: str = "auto",
    device: str = "auto",
    progress: Callable[[BatchProgress], None] | None = None,
) -> BatchReport:
    """Encode every item to ``out_dir`` (see the module docstring); failures are reported, not raised.

    Args:
        items: The manifest's files (:func:`~.manifest.read_manifest`).
        out_dir: Folder of the outputs and their status files.
        workers: Local worker processes (without ``cluster``).
        cluster: ``local:N``, a scheduler address, or a :class:`distributed.Client`.
        parts: Folder for the part stores (default beside each output); on a cluster, shared storage.
        cluster_frames: On a cluster: ``read``, ``send`` or ``auto`` (see :class:`~neurocodec.settings.EncodeOptions`).
        device: For neural strategies.
        progress: Called with the :class:`BatchProgress` whenever a scene or a file finishes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    common = {"workers": 1, "parts": parts, "resume": True, "device": device, "cluster_frames": cluster_frames}
    executor = make_executor(workers, cluster=cluster, capture=True)
    batch = _Batch(items, out, common, executor.remote, progress)
    try:
        for n, item in enumerate(items):
            doc = batch.already_done(item)
            if doc is not None:
                batch.statuses[n] = doc
                batch.state.files_skipped += 1
        if batch.state.files_skipped:
            log.info("%d of %d files are done already", batch.state.files_skipped, len(items))
        for index, result in run_tasks(executor, batch.tasks(executor), close=False):
            batch.stored(index, result)
    finally:
        executor.close()
        for f in batch.files.values():  # interrupted: their finished scenes stay for the rerun
            f.job.store.abandon(hint=False)  # a rerun of the batch resumes by itself
            f.job.source.close()
    return BatchReport([batch.statuses[n] for n in sorted(batch.statuses)], batch.state)


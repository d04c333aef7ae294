"""The encoding agent: analysis -> per-scene decisions -> strategy payloads -> ``.ncv``.

:class:`EncodingAgent` coordinates parts that each do one job:

1. Planning (:mod:`.planner`): one analysis pass finds scenes (cuts, fades,
   dissolves; long scenes split, within limits that follow from the memory one
   scene may hold) and classifies each; per scene, the candidate strategies
   (with ``auto``, ranked for the scene's class) and the job a worker runs.
2. Rate control (:mod:`.allocation`): the mode (:class:`~.allocation.RateMode`)
   and, with ``--bitrate``, the allocator: all scenes are probed first and one
   Lagrange multiplier shares the bits (equal slope).
3. Execution (:mod:`.executor`): each scene is encoded independently
   (:mod:`.scene`: trial encodes, the rate-distortion decision of :mod:`.rd`,
   final encode, verification), in this process, in spawned workers, or on a
   Dask cluster (:mod:`.cluster`), whose workers read their own frames and
   write their own part where they can reach the source and the store (:mod:`.remote`).
4. Finished scenes go to a part store beside the output (:mod:`.parts`), so a
   killed encode can ``resume``; the ``.ncv`` is assembled at the end (:mod:`.assembly`).

Each step is a method (:meth:`EncodingAgent.plan`, :meth:`~EncodingAgent.tasks`,
:meth:`~EncodingAgent.store`, :meth:`~EncodingAgent.finish`), so a batch of
files can put the scene jobs of all of them on one executor (:mod:`.batch`).

The output bytes never depend on the worker count. Memory holds at most
``workers + 1`` scenes of raw frames. Progress (:mod:`.tracking`) is counted
in frames: those read by the analysis, then those taken by the final encodes
(local workers send theirs through a pipe, Dask jobs through a Dask queue).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .._progress import set_phase
from .._version import __version__
from ..analysis.scenes import Scene, save_scenes
from ..errors import EncoderError, SettingsError
from ..io.atomic import check_writable
from ..io.readers import VideoSource, is_url, open_source
from ..report import EncodeReport
from ..settings import AUTO_STRATEGY, EncodeOptions
from ..strategies.options import option_specs
from .allocation import Allocation, RateMode, allocate_bitrate, probe_center
from .assembly import Parts, assemble, part_meta
from .executor import Task, make_executor, run_tasks
from .parts import PartStore
from .planner import ScenePlanner, scene_frames
from .rd import Candidate, Decision
from .remote import SourceRef, SpanLedger, StoredPart, can_open, encode_span, sees_store
from .scene import SceneResult, encode_scene, models_from, probe_scene
from .tracking import CountedSource, EncodeTracker, ProgressCallback

__all__ = ["EncodingAgent", "EncodeJob", "AUTO_STRATEGY", "SceneResult"]

log = logging.getLogger(__name__)


class EncodingAgent:
    """Encodes a video into a ``.ncv`` file.

    Args:
        options: Encode options (or keyword arguments building :class:`~neurocodec.settings.EncodeOptions`).
    """

    def __init__(self, options: EncodeOptions | None = None, **kwargs: Any):
        if options is not None and kwargs:
            raise TypeError("pass either options or keyword arguments")
        self.options = options or EncodeOptions(**kwargs)
        self.planner = ScenePlanner(self.options)
        self.mode = RateMode.of(self.options)

    def candidates(self, scene: Scene) -> tuple[Candidate, ...]:
        """The candidates a scene is tried with (see :meth:`.planner.ScenePlanner.candidates`)."""
        return self.planner.candidates(scene)

    def encode(
        self,
        src: str | os.PathLike | VideoSource,
        dst: str | os.PathLike,
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        executor: Any = None,
    ) -> EncodeReport:
        """Encode ``src`` to ``dst`` (written atomically) and return the report.

        ``executor``: where scene jobs run, an :class:`~.executor.Executor` or a
        :class:`distributed.Client` (left open); None: ``options.cluster`` or ``options.workers``.
        """

        t0 = time.perf_counter()
        check_writable(dst, overwrite)
        source = src if isinstance(src, VideoSource) else open_source(src)
        shared = None
        try:
            shared = self._shared_executor(executor)
            remote = shared is not None and shared.remote
            job = self.plan(source, dst, overwrite=overwrite, progress=progress, remote=remote)
            try:
                if self.mode is RateMode.BITRATE:
                    job.alloc = self._allocate(job, shared, progress)
                    job.decisions = job.alloc.decisions
                tracker = EncodeTracker(progress, job.scenes, job.finished()) if progress else None
                if tracker and shared is not None and shared is not executor and hasattr(shared, "report"):
                    shared.report = tracker.scene  # our Dask executor: jobs report through a Dask queue
                ex = shared or make_executor(self.options.workers, tracker.scene if tracker else None)
                for i, result in run_tasks(ex, self.tasks(job, ex), close=shared is None):
                    self.store(job, i, result)
                    if tracker:
                        tracker.finished(i)
                return self.finish(job, t0)
            except BaseException:
                job.store.abandon()
                raise
        finally:
            source.close()
            if shared is not None and shared is not executor:
                shared.close()  # ours: a LocalCluster, or the wrapper of a client given (which stays open)

    def _shared_executor(self, executor: Any):
        """One executor for every phase of the encode: the one given (a Dask client wrapped), or a Dask
        executor for ``options.cluster`` (started now, so a bad address fails before the analysis); None:
        each phase starts its own local pool."""
        if executor is not None and hasattr(executor, "next_finished"):
            return executor
        if executor is not None or self.options.cluster:
            return make_executor(1, cluster=executor if executor is not None else self.options.cluster)
        return None

    def plan(self, source: VideoSource, dst, *, overwrite: bool = False, progress: ProgressCallback | None = None,
             remote: bool = False) -> EncodeJob:
        """Analyse ``source`` (reading it once) and open the part store: everything before the scene jobs.

        With ``remote``, the analysis also records each scene's span (:mod:`.remote`) so workers can read it.
        """
        o, info = self.options, source.info
        ledger = SpanLedger(source) if remote else None
        read = ledger or source
        if progress:
            set_phase(progress, "analyze")
            scenes = self.planner.scenes(CountedSource(read, lambda n: progress(n, info.frame_count)))
        else:
            scenes = self.planner.scenes(read)
        if not scenes:
            raise SettingsError(f"{source.path}: no frames to encode")
        if o.write_scenes:
            save_scenes(o.write_scenes, scenes, scenes[-1].end_frame)
        store = PartStore(dst, self._job_doc(source, scenes), resume=o.resume, location=o.parts)
        return EncodeJob(source, dst, overwrite, scenes, store, ledger, [None] * len(scenes))

    def tasks(self, job: EncodeJob, executor, key=lambda i: i, name: str = "") -> Iterator[Task]:
        """The scene jobs not already in the part store, for ``executor``: on a remote one, jobs that read
        their own frames and write their own part where the workers can (checked on every worker first)."""
        fps = Fraction(job.source.info.fps)
        center = probe_center(self.mode, self.options)
        todo = [i for i in range(len(job.scenes)) if not job.store.has(i)]  # others finished before (--resume)
        if not todo:
            return
        ref, parts = self._remote_reach(job, executor) if executor.remote else (None, None)
        label = f"{name} scene " if name else "scene "
        if ref is not None:
            for i in todo:
                scene = job.scenes[i]
                span = job.ledger.span(scene.start_frame, scene.frames)
                sjob = self.planner.job(self.mode, scene, i, (), fps, job.decisions[i])
                yield Task(key(i), encode_span, (ref, span, sjob, center, parts), f"{label}{i}")
            return
        pending = set(todo)
        for i, scene, frames in scene_frames(job.source, job.scenes):
            if i not in pending:
                continue
            sjob = self.planner.job(self.mode, scene, i, frames, fps, job.decisions[i])
            if executor.remote:
                yield Task(key(i), encode_span, (None, None, sjob, center, parts), f"{label}{i}")
            else:
                yield Task(key(i), encode_scene, (sjob, center), f"{label}{i}")

    def _remote_reach(self, job: EncodeJob, executor) -> tuple[SourceRef | None, tuple[str, str] | None]:
        """What every worker now connected can reach: the source (else this process sends each scene's
        frames) and the part store (else each finished scene travels back here)."""
        mode = self.options.cluster_frames
        ref = SourceRef.of(job.source) if mode != "send" else None
        if ref is not None and mode == "auto" and executor.workers_here():
            # One machine: frames through loopback cost less than each worker decoding from the keyframe
            # before its scene (up to a GOP per scene: 250 frames at x264's default).
            log.info("every worker runs on this machine: each scene's frames are sent from here")
            ref = None
        elif ref is None and mode != "send":
            log.info("%s exists only in this process: each scene's frames are sent to its worker", job.source.path)
        elif ref is not None:
            failed = {w: why for w, why in executor.on_workers(can_open, ref, job.scenes[-1].end_frame).items() if why}
            if failed:
                worker, why = next(iter(failed.items()))
                log.warning("%d worker(s) cannot read the source (%s: %s): each scene's frames are sent from here",
                            len(failed), worker, why)
                ref = None
        parts = (str(job.store.dir), job.store.key)
        blind = [w for w, ok in executor.on_workers(sees_store, *parts).items() if not ok]
        if blind:
            log.warning("%d worker(s) do not see the part store %s (%s): finished scenes travel back here; "
                        "put the parts on storage every worker shares with --parts", len(blind), job.store.dir,
                        blind[0])
            parts = None
        log.info("cluster: frames %s, parts %s", "read by the workers" if ref else "sent from here",
                 "written by the workers" if parts else "sent back here")
        return ref, parts

    def store(self, job: EncodeJob, i: int, result: SceneResult | StoredPart) -> None:
        """Keep a finished scene in the part store (a worker may have written it there already)."""
        scene = job.scenes[i]
        if isinstance(result, StoredPart):
            if not job.store.has(i):
                raise EncoderError(f"scene {i}: its worker wrote the part to {job.store.dir}, which this machine "
                                   "does not see; give --parts a folder every worker and this machine share")
            meta, size = result.meta, result.payload_bytes
        else:
            meta, size = part_meta(result), len(result.payload)
            job.store.put(i, meta, result.payload)
        log.info("scene %d (%s, %s): %s, %d bytes", i, scene.scene_class, scene.transition, meta["strategy"], size)

    def finish(self, job: EncodeJob, t0: float) -> EncodeReport:
        """Assemble the ``.ncv`` from the part store, remove the store, and report."""
        o, info, total = self.options, job.source.info, job.scenes[-1].end_frame
        out = assemble(Parts(job.dst, info, job.scenes, job.store, job.overwrite))
        job.store.remove()
        duration = float(total / info.fps)
        return EncodeReport(
            path=str(job.dst), source=str(job.source.path), width=info.width, height=info.height,
            fps=f"{info.fps.numerator}/{info.fps.denominator}", frames=total, bytes=out.bytes,
            duration_s=duration, bitrate_kbps=out.bytes * 8 / duration / 1000,
            encode_seconds=round(time.perf_counter() - t0, 3),
            options=o.to_dict() | {"mode": self.mode.value, "speed": self.planner.speed if o.auto else None,
                                   "auto_options": self._auto_options()},
            segments=out.segments,
            quality=out.quality,
            allocation=job.alloc.to_dict() if job.alloc else None,
        )

    def _job_doc(self, source: VideoSource, scenes: list[Scene]) -> dict[str, Any]:
        """What identifies this encode job in the part store (a resumed encode must match it)."""
        url = is_url(source.path)
        st = os.stat(source.path) if not url and os.path.exists(source.path) else None
        return {
            "source": source.path if url else os.path.abspath(source.path),
            "source_size": st.st_size if st else None,
            "source_mtime_ns": st.st_mtime_ns if st else None,
            "options": self.options.to_dict() | {"workers": None, "cluster": None, "parts": None, "cluster_frames": None,
                                                 "resume": None,
                                                 "write_scenes": None,
                                                 "auto_options": self._auto_options()},
            "scenes": [s.to_dict() for s in scenes],
            "neurocodec": __version__,
        }

    def _auto_options(self) -> dict[str, Any] | None:
        """auto's constants as used (the effort's shipped values with the options given), by key."""
        a = self.planner.auto
        return {s.key: getattr(a, s.field) for s in option_specs(type(a))} if self.options.auto else None

    def _allocate(self, job: EncodeJob, shared, progress) -> Allocation:
        """Target bitrate: probe every scene, then one lambda for all (equal slope)."""
        scenes = job.scenes
        fps = Fraction(job.source.info.fps)
        center = self.options.quality_knob
        tasks = (
            Task(i, probe_scene, (self.planner.job(self.mode, scene, i, frames, fps, None), center))
            for i, scene, frames in scene_frames(job.source, scenes)
        )
        if progress:
            set_phase(progress, "probe")
            progress(0, scenes[-1].end_frame)
        per_scene: list[tuple[int, list] | None] = [None] * len(scenes)
        ex = shared or make_executor(self.options.workers)
        for i, probes in run_tasks(ex, tasks, close=shared is None):
            per_scene[i] = (scenes[i].frames, models_from(self.planner.candidates(scenes[i]), probes, scenes[i].frames))
            if progress:
                progress(scenes[i].end_frame, scenes[-1].end_frame)
        duration = scenes[-1].end_frame / float(fps)
        return allocate_bitrate(per_scene, duration, self.options.bitrate)


@dataclass
class EncodeJob:
    """One encode between planning and assembly: its source, scenes, part store and per-scene decisions."""

    source: VideoSource
    dst: str | os.PathLike
    overwrite: bool
    scenes: list[Scene]
    store: PartStore
    ledger: SpanLedger | None
    decisions: list[Decision | None]
    alloc: Allocation | None = None

    def finished(self) -> set[int]:
        """Scenes already in the part store (an interrupted encode's, with ``resume``)."""
        return {i for i in range(len(self.scenes)) if self.store.has(i)}

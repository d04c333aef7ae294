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
   final encode, verification), in this process or in spawned workers.
4. Finished scenes go to a part store beside the output (:mod:`.parts`), so a
   killed encode can ``resume``; the ``.ncv`` is assembled at the end (:mod:`.assembly`).

The output bytes never depend on the worker count. Memory holds at most
``workers + 1`` scenes of raw frames. Progress (:mod:`.tracking`) is counted
in frames: those read by the analysis, then those taken by the final encodes
(workers send theirs through a queue).
"""

from __future__ import annotations

import logging
import os
import time
from fractions import Fraction
from typing import Any

from .._progress import set_phase
from .._version import __version__
from ..analysis.scenes import Scene, save_scenes
from ..errors import SettingsError
from ..io.atomic import check_writable
from ..io.readers import VideoSource, open_source
from ..report import EncodeReport
from ..settings import AUTO_STRATEGY, EncodeOptions
from ..strategies.options import option_specs
from .allocation import Allocation, RateMode, allocate_bitrate, probe_center
from .assembly import Parts, assemble, part_meta
from .executor import Task, make_executor, run_tasks
from .parts import PartStore
from .planner import ScenePlanner, scene_frames
from .rd import Candidate, Decision
from .scene import SceneResult, encode_scene, models_from, probe_scene
from .tracking import CountedSource, EncodeTracker, ProgressCallback

__all__ = ["EncodingAgent", "AUTO_STRATEGY", "SceneResult"]

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
    ) -> EncodeReport:
        """Encode ``src`` to ``dst`` (written atomically) and return the report."""

        t0 = time.perf_counter()
        check_writable(dst, overwrite)
        source = src if isinstance(src, VideoSource) else open_source(src)
        try:
            return self._encode(source, dst, overwrite, progress, t0)
        finally:
            source.close()

    def _encode(self, source: VideoSource, dst, overwrite, progress, t0) -> EncodeReport:
        o, info = self.options, source.info
        if progress:
            set_phase(progress, "analyze")
            scenes = self.planner.scenes(CountedSource(source, lambda n: progress(n, info.frame_count)))
        else:
            scenes = self.planner.scenes(source)
        if not scenes:
            raise SettingsError(f"{source.path}: no frames to encode")
        total = scenes[-1].end_frame
        if o.write_scenes:
            save_scenes(o.write_scenes, scenes, total)
        store = PartStore(dst, self._job_doc(source, scenes), resume=o.resume)
        try:
            decisions: list[Decision | None] = [None] * len(scenes)
            alloc: Allocation | None = None
            if self.mode is RateMode.BITRATE:
                alloc = self._allocate(source, scenes, progress)
                decisions = alloc.decisions
            self._run(source, scenes, decisions, store, progress)
            out = assemble(Parts(dst, info, scenes, store, overwrite))
        except BaseException:
            store.abandon()
            raise
        store.remove()
        duration = float(total / info.fps)
        return EncodeReport(
            path=str(dst), source=str(source.path), width=info.width, height=info.height,
            fps=f"{info.fps.numerator}/{info.fps.denominator}", frames=total, bytes=out.bytes,
            duration_s=duration, bitrate_kbps=out.bytes * 8 / duration / 1000,
            encode_seconds=round(time.perf_counter() - t0, 3),
            options=o.to_dict() | {"mode": self.mode.value, "speed": self.planner.speed if o.auto else None,
                                   "auto_options": self._auto_options()},
            segments=out.segments,
            quality=out.quality,
            allocation=alloc.to_dict() if alloc else None,
        )

    def _job_doc(self, source: VideoSource, scenes: list[Scene]) -> dict[str, Any]:
        """What identifies this encode job in the part store (a resumed encode must match it)."""
        st = os.stat(source.path) if os.path.exists(source.path) else None
        return {
            "source": os.path.abspath(source.path),
            "source_size": st.st_size if st else None,
            "source_mtime_ns": st.st_mtime_ns if st else None,
            "options": self.options.to_dict() | {"workers": None, "cluster": None, "resume": None, "write_scenes": None,
                                                 "auto_options": self._auto_options()},
            "scenes": [s.to_dict() for s in scenes],
            "neurocodec": __version__,
        }

    def _auto_options(self) -> dict[str, Any] | None:
        """auto's constants as used (the effort's shipped values with the options given), by key."""
        a = self.planner.auto
        return {s.key: getattr(a, s.field) for s in option_specs(type(a))} if self.options.auto else None

    def _allocate(self, source: VideoSource, scenes: list[Scene], progress) -> Allocation:
        """Target bitrate: probe every scene, then one lambda for all (equal slope)."""
        fps = Fraction(source.info.fps)
        center = self.options.quality_knob
        tasks = (
            Task(i, probe_scene, (self.planner.job(self.mode, scene, i, frames, fps, None), center))
            for i, scene, frames in scene_frames(source, scenes)
        )
        if progress:
            set_phase(progress, "probe")
            progress(0, scenes[-1].end_frame)
        per_scene: list[tuple[int, list] | None] = [None] * len(scenes)
        for i, probes in run_tasks(make_executor(self.options.workers, cluster=self.options.cluster), tasks):
            per_scene[i] = (scenes[i].frames, models_from(self.planner.candidates(scenes[i]), probes, scenes[i].frames))
            if progress:
                progress(scenes[i].end_frame, scenes[-1].end_frame)
        duration = scenes[-1].end_frame / float(fps)
        return allocate_bitrate(per_scene, duration, self.options.bitrate)

    def _run(self, source: VideoSource, scenes: list[Scene], decisions: list[Decision | None], store: PartStore,
             progress) -> None:
        """Encode every scene not already in the part store, storing each as it finishes."""
        fps = Fraction(source.info.fps)
        center = probe_center(self.mode, self.options)
        tasks = (
            Task(i, encode_scene, (self.planner.job(self.mode, scene, i, frames, fps, decisions[i]), center))
            for i, scene, frames in scene_frames(source, scenes)
            if not store.has(i)  # finished before an interruption (--resume)
        )
        finished = {i for i in range(len(scenes)) if store.has(i)}
        tracker = EncodeTracker(progress, scenes, finished) if progress else None
        executor = make_executor(self.options.workers, tracker.scene if tracker else None, self.options.cluster)
        for i, result in run_tasks(executor, tasks):
            store.put(i, part_meta(result), result.payload)
            log.info("scene %d (%s, %s): %s, %d bytes", i, scenes[i].scene_class, scenes[i].transition,
                     result.strategy, len(result.payload))
            if tracker:
                tracker.finished(i)

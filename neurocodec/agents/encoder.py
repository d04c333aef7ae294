"""The encoding agent: analysis -> per-scene decisions -> strategy payloads -> ``.ncv``.

1. One analysis pass finds scenes (cuts, fades, dissolves; long scenes split)
   and classifies each (:mod:`neurocodec.analysis`).
2. Each scene is encoded independently (:mod:`.scene`): with ``auto``, the
   scene class proposes candidate strategies, trial encodes measure them,
   and the rate-distortion decision picks strategy and CRF (:mod:`.rd`).
   With ``--bitrate``, all scenes are probed first and one Lagrange
   multiplier shares the bits (equal slope).
3. Finished scenes go to a part store beside the output (:mod:`.parts`), so a
   killed encode can ``resume``; the ``.ncv`` is assembled at the end.

Scenes run in order in this process or in spawned workers; the output bytes
never depend on the worker count. Memory holds at most ``workers + 1`` scenes
of raw frames. Progress is counted in frames: those read by the analysis, then
those taken by the final encodes (workers send theirs through a queue).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from fractions import Fraction
from functools import partial
from typing import Any

from .._pool import process_pool
from .._progress import counted, set_phase
from .._version import __version__
from ..analysis.pipeline import AnalysisConfig, analyze
from ..analysis.scenes import Scene, load_scenes, save_scenes
from ..bitstream import NcvWriter
from ..errors import SettingsError
from ..io.frame import Frame, frame_nbytes
from ..io.readers import VideoSource, open_source
from ..metrics.quality import QualityAccumulator, VideoQuality
from ..models.names import check_model_name
from ..report import EncodeReport, SegmentReport
from ..settings import AUTO_SPEEDS, EncodeOptions
from ..strategies.base import StrategySettings, available_strategies, get_strategy
from .parts import PartStore
from .rd import Candidate, Decision, lambda_for_budget, lambda_for_quality
from .scene import SceneJob, SceneResult, encode_scene, models_from, probe_scene

__all__ = ["EncodingAgent", "AUTO_STRATEGY", "SceneResult"]

log = logging.getLogger(__name__)

AUTO_STRATEGY = "auto"
#: ``auto``'s search effort per speed preset: candidates per scene, probe window (frames), CRFs per candidate.
SEARCH = {"fast": (1, 12, 2), "medium": (2, 24, 3), "slow": (99, 48, 4)}
DEFAULT_QUALITY = 28.0

ProgressCallback = Callable[[int, int | None], None]

#: In a worker process: where scene progress goes (set by the pool's initializer; None: nowhere).
_WORKER_QUEUE = None


def _target_center(psnr: float | None) -> float:
    """A quality knob likely near a PSNR target (x265 CRF c gave about 73 - c dB on the dev clips)."""
    return DEFAULT_QUALITY if psnr is None else min(max(73.0 - psnr, 12.0), 45.0)


class EncodingAgent:
    """Encodes a video into a ``.ncv`` file.

    Args:
        options: Encode options (or keyword arguments building :class:`~neurocodec.settings.EncodeOptions`).
    """

    def __init__(self, options: EncodeOptions | None = None, **kwargs: Any):
        if options is not None and kwargs:
            raise TypeError("pass either options or keyword arguments")
        self.options = o = options or EncodeOptions(**kwargs)
        self.auto = o.strategy == AUTO_STRATEGY
        if self.auto:
            if o.preset is not None and o.preset not in AUTO_SPEEDS:
                raise SettingsError(f"with strategy auto, --preset is the search effort: {', '.join(AUTO_SPEEDS)}")
            self.speed = o.preset or "medium"
            self.strategy = None
        else:
            self.speed = "medium"
            self.strategy = get_strategy(o.strategy)
        self.settings = StrategySettings(
            crf=o.crf if not self.auto else None,
            preset=None if self.auto else o.preset,
            keyint=o.keyint,
            threads=o.threads,
            low_delay=o.low_delay,
            model=o.intra_model,
            device=o.device,
            options=o.opts or {},
        )
        if o.intra_model is not None:
            check_model_name(o.intra_model)  # a wrong name fails now, not after scene analysis
        if self.strategy is not None:
            self.strategy.validate(self.settings)  # before any input is read
        self.mode = self._mode()

    def _mode(self) -> str:
        o = self.options
        if o.targets_given:
            return "target"
        if o.bitrate is not None:
            return "bitrate"
        if self.auto or o.quality is not None:
            return "lagrangian"
        return "fixed"

    @property
    def quality(self) -> float:
        o = self.options
        if o.quality is not None:
            return o.quality
        if self.auto and o.crf is not None:
            return o.crf  # with auto, --crf is the quality knob (x265-CRF-like scale)
        return DEFAULT_QUALITY

    # -- candidates -------------------------------------------------------------

    def candidates(self, scene: Scene) -> tuple[Candidate, ...]:
        if not self.auto:
            s = self.strategy
            lo, hi = _bounds(s)
            return (Candidate(s.name, self.options.preset, lo, hi),)
        ranked = []
        for name in available_strategies():
            cap = get_strategy(name).auto_capability()
            if cap is not None and cap.offers(scene.scene_class, self.speed):
                ranked.append((cap.rank, name, cap))
        ranked.sort(key=lambda r: r[:2])
        count = SEARCH[self.speed][0]
        return tuple(Candidate(name, preset, *cap.crf_range) for _, name, cap in ranked[:count]
                     for preset in cap.presets[self.speed])

    # -- scenes -----------------------------------------------------------------

    def _scene_limits(self, info) -> tuple[int, int]:
        o = self.options
        fps = float(info.fps)
        min_f = o.min_scene_frames or max(4, round(fps * 0.4))
        # Per scene, not per worker count: scene boundaries (and so the bytes) must not depend on --workers.
        budget = max(1, o.memory_mb * 2**20 // frame_nbytes(info.width, info.height))
        max_f = o.max_scene_frames or max(min_f, min(round(fps * 10), 300, budget))
        return min(min_f, max_f), max_f

    def scenes(self, source: VideoSource) -> list[Scene]:
        o = self.options
        min_f, max_f = self._scene_limits(source.info)
        given = load_scenes(o.scenes_file)[0] if o.scenes_file else None
        config = AnalysisConfig(min_frames=min_f, max_frames=max_f)
        return analyze(source, config, scenes=given, fixed_frames=o.segment_frames)

    # -- encode -----------------------------------------------------------------

    def encode(
        self,
        src: str | os.PathLike | VideoSource,
        dst: str | os.PathLike,
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
    ) -> EncodeReport:
        """Encode ``src`` to ``dst`` (written atomically) and return the report."""
        from ..io.atomic import check_writable

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
            scenes = self.scenes(_CountedSource(source, lambda n: progress(n, info.frame_count)))
        else:
            scenes = self.scenes(source)
        if not scenes:
            raise SettingsError(f"{source.path}: no frames to encode")
        total = scenes[-1].end_frame
        if o.write_scenes:
            save_scenes(o.write_scenes, scenes, total)
        store = PartStore(dst, self._job_doc(source, scenes), resume=o.resume)
        try:
            decisions: list[Decision | None] = [None] * len(scenes)
            alloc: dict[str, Any] = {}
            if self.mode == "bitrate":
                decisions, alloc = self._allocate(source, scenes, progress)
            self._run(source, scenes, decisions, store, progress)
            report = self._assemble(dst, info, scenes, store, overwrite, source.path, t0, alloc)
        except BaseException:
            store.abandon()
            raise
        store.remove()
        return report

    def _job_doc(self, source: VideoSource, scenes: list[Scene]) -> dict[str, Any]:
        st = os.stat(source.path) if os.path.exists(source.path) else None
        return {
            "source": os.path.abspath(source.path),
            "source_size": st.st_size if st else None,
            "source_mtime_ns": st.st_mtime_ns if st else None,
            "options": self.options.to_dict() | {"workers": None, "resume": None, "write_scenes": None},
            "scenes": [s.to_dict() for s in scenes],
            "neurocodec": __version__,
        }

    def _job(self, scene: Scene, index: int, frames: tuple[Frame, ...], fps: Fraction, decision: Decision | None) -> SceneJob:
        o = self.options
        _, window, points = SEARCH[self.speed]
        mode = {"bitrate": "decided"}.get(self.mode, self.mode)
        return SceneJob(
            index=index,
            frames=frames,
            fps=fps,
            mode=mode,
            candidates=self.candidates(scene),
            settings=self.settings,
            lam=lambda_for_quality(self.quality),
            decision=decision,
            target_psnr=o.target_psnr,
            target_ssim=o.target_ssim,
            probe_frames=window,
            probe_points=points,
            measure=o.measure_quality,
        )

    def _center(self) -> float:
        return _target_center(self.options.target_psnr) if self.mode == "target" else self.quality

    def _scene_frames(self, source: VideoSource, scenes: list[Scene]) -> Iterator[tuple[int, Scene, tuple[Frame, ...]]]:
        frames = source.frames()
        for i, scene in enumerate(scenes):
            batch = tuple(next(frames) for _ in range(scene.frames))
            yield i, scene, batch

    def _map_ordered(self, fn, items: Iterator[tuple[Any, tuple]], tracker: _Tracker | None = None
                     ) -> Iterator[tuple[Any, Any]]:
        """Apply ``fn(*args)`` to each item in order, inline or in workers, yielding ``(tag, result)`` in order.

        With a ``tracker``, ``fn`` also gets ``progress=`` (a :data:`~.scene.SceneProgress`) whose
        reports reach ``tracker.scene(tag, ...)``, from the workers through a queue.
        """
        if self.options.workers == 1:
            for tag, args in items:
                yield tag, fn(*args, **({"progress": partial(tracker.scene, tag)} if tracker else {}))
            return
        reports = multiprocessing.get_context("spawn").Queue() if tracker else None
        pending: deque[tuple[Any, Future]] = deque()
        try:
            with process_pool(self.options.workers, initializer=_set_worker_queue, initargs=(reports,)) as pool:
                try:
                    for tag, args in items:
                        pending.append((tag, pool.submit(_call_in_worker, fn, tag, *args)))
                        if len(pending) > self.options.workers:
                            t, fut = pending.popleft()
                            yield t, _result(fut, reports, tracker)
                    while pending:
                        t, fut = pending.popleft()
                        yield t, _result(fut, reports, tracker)
                except BaseException:
                    for _, fut in pending:
                        fut.cancel()
                    raise
        finally:
            if reports is not None:
                reports.close()

    def _allocate(self, source, scenes, progress) -> tuple[list[Decision], dict[str, Any]]:
        """Target bitrate: probe every scene, then one lambda for all (equal slope)."""
        fps = Fraction(source.info.fps)
        items = (
            (i, (self._job(scene, i, frames, fps, None), self.quality))
            for i, scene, frames in self._scene_frames(source, scenes)
        )
        per_scene = []
        if progress:
            set_phase(progress, "probe")
            progress(0, scenes[-1].end_frame)
        for i, probes in self._map_ordered(probe_scene, items):
            per_scene.append((scenes[i].frames, models_from(self.candidates(scenes[i]), probes)))
            if progress:
                progress(scenes[i].end_frame, scenes[-1].end_frame)
        duration = scenes[-1].end_frame / float(fps)
        # Container overhead (header, per-segment chunk and params, index) comes off the budget.
        overhead_bits = 8 * (200 + 160 * len(scenes))
        budget = self.options.bitrate * duration - overhead_bits
        if budget <= 0:
            raise SettingsError(f"bitrate {self.options.bitrate} b/s is below the container's own overhead")
        lam, decisions = lambda_for_budget(per_scene, budget)
        predicted = sum(n * d.predicted_bits_per_frame for (n, _), d in zip(per_scene, decisions)) + overhead_bits
        return decisions, {"lambda": lam, "target_bps": self.options.bitrate, "predicted_bps": predicted / duration}

    def _run(self, source, scenes, decisions, store, progress) -> None:
        """Encode every scene not already in the part store, storing each as it finishes."""
        fps = Fraction(source.info.fps)
        center = self._center()

        def items():
            for i, scene, frames in self._scene_frames(source, scenes):
                if store.has(i):
                    continue  # finished before an interruption (--resume)
                yield i, (self._job(scene, i, frames, fps, decisions[i]), center)

        finished = {i for i in range(len(scenes)) if store.has(i)}
        tracker = _Tracker(progress, scenes, finished) if progress else None
        for i, result in self._map_ordered(encode_scene, items(), tracker):
            store.put(i, _result_meta(result), result.payload)
            log.info("scene %d (%s, %s): %s, %d bytes", i, scenes[i].scene_class, scenes[i].transition,
                     result.strategy, len(result.payload))
            if tracker:
                tracker.finished(i)

    def _assemble(self, dst, info, scenes, store, overwrite, source_path, t0, alloc) -> EncodeReport:
        color = info.color
        writer = NcvWriter(
            dst, width=info.width, height=info.height, fps=info.fps,
            color=(color.primaries, color.transfer, color.matrix, color.full_range),
            overwrite=overwrite, meta=_writer_meta(),
        )
        reports: list[SegmentReport] = []
        overall = QualityAccumulator()
        have_quality = True
        try:
            for i, scene in enumerate(scenes):
                meta, payload = store.get(i)
                size = writer.add_segment(
                    strategy_id=meta["strategy_id"], strategy=meta["strategy"], frame_count=scene.frames,
                    payload=payload, params=meta["params"], weight_hashes=tuple(bytes.fromhex(h) for h in meta["weight_hashes"]),
                )
                q = meta.get("quality")
                if q is None:
                    have_quality = False
                else:
                    overall.add_video(VideoQuality(**q))
                strategy = get_strategy(meta["strategy"])
                w2, h2 = info.width + info.width % 2, info.height + info.height % 2
                reports.append(SegmentReport(
                    index=i, start_frame=scene.start_frame, end_frame=scene.end_frame, strategy=meta["strategy"],
                    params=meta["params"] | strategy.reproduce(meta["params"], w2, h2, info.fps), bytes=size,
                    encode_seconds=meta["seconds"], quality=q, target_met=meta.get("target_met"),
                    probes=meta.get("probes", []), scene_class=scene.scene_class, transition=scene.transition,
                    decision=meta.get("decision"), tries=meta.get("tries", []),
                ))
            writer.add_ancillary(b"scns", _scenes_chunk(scenes, reports))
            nbytes = writer.close()
        except BaseException:
            writer.abort()
            raise
        duration = float(scenes[-1].end_frame / info.fps)
        return EncodeReport(
            path=str(dst), source=str(source_path), width=info.width, height=info.height,
            fps=f"{info.fps.numerator}/{info.fps.denominator}", frames=scenes[-1].end_frame, bytes=nbytes,
            duration_s=duration, bitrate_kbps=nbytes * 8 / duration / 1000,
            encode_seconds=round(time.perf_counter() - t0, 3),
            options=self.options.to_dict() | {"mode": self.mode, "speed": self.speed if self.auto else None},
            segments=reports,
            quality=overall.result().to_dict() if have_quality and overall.frames else None,
            allocation=alloc or None,
        )


class _CountedSource(VideoSource):
    """``source`` whose frame iteration reports how many frames were read."""

    def __init__(self, source: VideoSource, report: Callable[[int], None]):
        self.source, self.path, self.info, self.report = source, source.path, source.info, report

    def frames(self) -> Iterator[Frame]:
        return counted(self.source.frames(), self.report)


class _Tracker:
    """Per-scene reports folded into the encode's progress: frames taken by the final encodes, and a phase label.

    A scene's count only grows (a target search re-encoding it does not move
    the count back) and is complete once the scene is stored. The label names
    what the earliest unfinished scene, the one the output waits for, is doing.
    """

    def __init__(self, progress: ProgressCallback, scenes: list[Scene], finished: set[int]):
        self.progress = progress
        self.sizes = [s.frames for s in scenes]
        self.done = [n if i in finished else 0 for i, n in enumerate(self.sizes)]
        self.phases = ["done" if i in finished else "encode" for i in range(len(scenes))]
        self.total = sum(self.sizes)
        self.count = sum(self.done)
        self.first = 0
        self.label: str | None = None
        self._last: int | None = None
        self._advance()
        self._emit()

    def scene(self, index: int, phase: str, frames: int) -> None:
        if self.phases[index] == "done":
            return  # a late report from a worker
        self.phases[index] = phase
        self._add(index, min(frames, self.sizes[index]))
        self._emit()

    def finished(self, index: int) -> None:
        self._add(index, self.sizes[index])
        self.phases[index] = "done"
        self._advance()
        self._emit()

    def _add(self, index: int, frames: int) -> None:
        if frames > self.done[index]:
            self.count += frames - self.done[index]
            self.done[index] = frames

    def _advance(self) -> None:
        while self.first < len(self.phases) and self.phases[self.first] == "done":
            self.first += 1

    def _emit(self) -> None:
        phase = self.phases[self.first] if self.first < len(self.phases) else "encode"
        label = "encode" if phase == "encode" else f"encode [{phase}]"
        if label != self.label:
            self.label = label
            set_phase(self.progress, label)
        if self.count != self._last:
            self._last = self.count
            self.progress(self.count, self.total)


def _set_worker_queue(reports) -> None:
    global _WORKER_QUEUE
    _WORKER_QUEUE = reports


def _call_in_worker(fn, tag, *args):
    """``fn(*args)`` in a worker; with a progress queue, its reports go there as ``(tag, phase, frames)``."""
    reports = _WORKER_QUEUE
    if reports is None:
        return fn(*args)
    return fn(*args, progress=lambda phase, n: reports.put((tag, phase, n)))


def _result(fut: Future, reports, tracker: _Tracker | None):
    """``fut.result()``, passing the workers' progress reports to ``tracker`` while waiting."""
    if reports is None:
        return fut.result()
    while True:
        try:
            while True:
                tracker.scene(*reports.get_nowait())
        except queue.Empty:
            pass
        if fut.done():
            return fut.result()  # reports still in flight are for a finished scene: the tracker ignores them
        wait([fut], timeout=0.1)


def _bounds(strategy) -> tuple[int, int]:
    return strategy.crf_range or (0, 0)


def _result_meta(r: SceneResult) -> dict[str, Any]:
    return {
        "strategy": r.strategy,
        "strategy_id": r.strategy_id,
        "params": r.params,
        "weight_hashes": [h.hex() for h in r.weight_hashes],
        "seconds": round(r.seconds, 3),
        "quality": r.quality.to_dict() if r.quality else None,
        "target_met": r.target_met,
        "decision": r.decision,
        "probes": r.probes,
        "tries": r.tries,
    }


def _scenes_chunk(scenes: list[Scene], reports: list[SegmentReport]) -> bytes:
    """The ancillary ``scns`` chunk: per segment, its class, transition and measured quality."""
    import json

    rows = []
    for s, r in zip(scenes, reports):
        q = r.quality or {}
        rows.append({
            "class": s.scene_class,
            "transition": s.transition,
            "psnr_yuv": round(q["psnr_yuv"], 4) if q else None,
            "ssim": round(q["ssim"], 6) if q else None,
        })
    return json.dumps({"segments": rows}, separators=(",", ":")).encode()


def _writer_meta() -> dict[str, str]:
    """Written once per file: who wrote it, with which FFmpeg (the classical encoders' version)."""
    import av

    return {"writer": f"neurocodec {__version__}", "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}



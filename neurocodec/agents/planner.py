"""Planning an encode: its scenes, and per scene the candidates and the job a worker runs.

Scenes come from one analysis pass (:mod:`neurocodec.analysis`), a scenes
file, or fixed-length segments, within length limits that follow from the
frame rate and the memory one scene may hold. With ``auto`` the scene class
ranks the strategies that may code it; auto's constants
(:class:`~neurocodec.settings.AutoOptions`: the search effort's shipped values,
then the options given) bound how many are tried, how long the trial window is
and how many CRFs each gets, scale the Lagrange multiplier and set the scene
detector's cut thresholds.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from ..analysis.pipeline import AnalysisConfig, analyze
from ..analysis.scenes import Scene, load_scenes
from ..codec_config import auto_preset
from ..errors import SettingsError
from ..io.frame import Frame, VideoInfo, frame_nbytes
from ..io.readers import VideoSource
from ..models.names import check_model_name
from ..settings import AUTO_STRATEGY, AutoOptions, EncodeOptions
from ..strategies.base import available_strategies, get_strategy
from ..strategies.options import build_options
from .allocation import RateMode, probe_center
from .rd import Candidate, Decision
from .scene import SceneJob

__all__ = ["ScenePlanner", "auto_options", "scene_limits", "scene_frames"]


def auto_options(options: EncodeOptions) -> AutoOptions:
    """auto's constants for an encode: the effort's shipped values, then ``options.opts`` key by key.

    A named strategy's CRF search uses the defaults (its ``opts`` are the strategy's own).
    """
    if not options.auto:
        return AutoOptions()
    return build_options(AutoOptions, AUTO_STRATEGY, auto_preset(options.search_effort).options, options.opts or {})


def scene_limits(options: EncodeOptions, info: VideoInfo) -> tuple[int, int]:
    """Shortest and longest scene in frames: about 0.4 s, and 10 s, 300 frames or what fits ``memory_mb``."""
    o = options
    fps = float(info.fps)
    min_f = o.min_scene_frames or max(4, round(fps * 0.4))
    # Per scene, not per worker count: scene boundaries (and so the bytes) must not depend on --workers.
    budget = max(1, o.memory_mb * 2**20 // frame_nbytes(info.width, info.height))
    max_f = o.max_scene_frames or max(min_f, min(round(fps * 10), 300, budget))
    return min(min_f, max_f), max_f


def scene_frames(source: VideoSource, scenes: list[Scene]) -> Iterator[tuple[int, Scene, tuple[Frame, ...]]]:
    """``(index, scene, frames)`` for each scene in order, reading ``source`` once."""
    frames = source.frames()
    for i, scene in enumerate(scenes):
        batch = tuple(next(frames) for _ in range(scene.frames))
        yield i, scene, batch


class ScenePlanner:
    """What to encode: the scenes of a source, and per scene its candidates and job.

    Construction checks the strategy's settings, so a wrong value fails before any input is read.

    Args:
        options: The encode's options.
    """

    def __init__(self, options: EncodeOptions):
        self.options = o = options
        self.speed = o.search_effort
        self.auto = auto_options(o)
        self.strategy = None if o.auto else get_strategy(o.strategy)
        self.settings = o.strategy_settings()
        if o.intra_model is not None:
            check_model_name(o.intra_model)  # a wrong name fails now, not after scene analysis
        if self.strategy is not None:
            self.strategy.validate(self.settings)  # before any input is read
            searched = o.quality is not None or o.bitrate is not None or o.targets_given
            if searched and self.strategy.auto_capability() is None:
                raise SettingsError(f"{self.strategy.name} has no quality knob (it declares no auto capability): "
                                    "give it --crf or its own options, not --quality, --bitrate or a quality target")

    def scenes(self, source: VideoSource) -> list[Scene]:
        """Detect (or load, or cut fixed-length) the scenes of ``source``, reading it once."""
        o = self.options
        min_f, max_f = scene_limits(o, source.info)
        given = load_scenes(o.scenes_file)[0] if o.scenes_file else None
        config = AnalysisConfig(min_frames=min_f, max_frames=max_f, tuning=self.auto.shot_tuning())
        return analyze(source, config, scenes=given, fixed_frames=o.segment_frames)

    def candidates(self, scene: Scene) -> tuple[Candidate, ...]:
        """The strategy given, or with ``auto`` the best-ranked strategies for the scene's class."""
        if self.strategy is not None:
            s = self.strategy
            lo, hi = _bounds(s)
            return (Candidate(s.name, self.options.preset, lo, hi),)
        ranked = []
        for name in available_strategies():
            cap = get_strategy(name).auto_capability()
            if cap is not None and cap.offers(scene.scene_class, self.speed):
                ranked.append((cap.rank, name, cap))
        ranked.sort(key=lambda r: r[:2])
        if ranked and self.options.bitrate is None:
            # Screening by rate: low-rate-only candidates where the reference sits below the ladder's CRF.
            reference_crf = ranked[0][2].crf_for_quality(probe_center(RateMode.of(self.options), self.options))
            if reference_crf < self.auto.ladder_crf:
                ranked = [r for r in ranked if not r[2].low_rate_only]
        return tuple(Candidate(name, preset, *cap.crf_range, probe_preset=trial)
                     for _, name, cap in ranked[:self.auto.candidates]
                     for preset, trial in zip(cap.presets[self.speed], cap.trial_presets(self.speed), strict=True))

    def job(self, mode: RateMode, scene: Scene, index: int, frames: tuple[Frame, ...], fps: Fraction,
            decision: Decision | None) -> SceneJob:
        """The self-contained job that encodes (or, for the bitrate allocator, probes) one scene."""
        o, a = self.options, self.auto
        return SceneJob(
            index=index,
            frames=frames,
            fps=fps,
            mode=mode.scene_mode,
            candidates=self.candidates(scene),
            settings=self.settings,
            lambda_scale=a.lambda_scale,
            decision=decision,
            target_psnr=o.target_psnr,
            target_ssim=o.target_ssim,
            target_vmaf=o.target_vmaf,
            vmaf_pool=o.vmaf_pooling,
            probe_frames=a.probe_window,
            probe_points=a.probe_points,
            calibrate=a.calibrate,
            measure=o.measure_quality,
        )


def _bounds(strategy) -> tuple[int, int]:
    return strategy.crf_range or (0, 0)

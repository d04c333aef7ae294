"""The encoder's parts on their own: rate modes and bitrate allocation, executors, assembly, settings."""

from __future__ import annotations

from fractions import Fraction

import pytest

from neurocodec.agents.allocation import RateMode, allocate_bitrate, container_overhead_bits, probe_center
from neurocodec.agents.executor import InlineExecutor, ProcessExecutor, Task, make_executor, run_tasks
from neurocodec.agents.rd import Candidate, CandidateModel, Probe
from neurocodec.errors import SettingsError
from neurocodec.settings import DEFAULT_QUALITY, EncodeOptions

# -- rate modes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "mode"),
    [
        ({"strategy": "x264", "crf": 30}, RateMode.FIXED),
        ({"strategy": "x264", "quality": 30}, RateMode.LAGRANGIAN),
        ({"strategy": "auto"}, RateMode.LAGRANGIAN),
        ({"strategy": "auto", "crf": 30}, RateMode.LAGRANGIAN),
        ({"strategy": "x265", "target_ssim": 0.95}, RateMode.TARGET),
        ({"strategy": "auto", "bitrate": "500k"}, RateMode.BITRATE),
    ],
)
def test_rate_mode_follows_the_options(kwargs, mode):
    assert RateMode.of(EncodeOptions(**kwargs)) is mode


def test_rate_mode_names_are_what_reports_and_scene_jobs_use():
    assert [m.value for m in RateMode] == ["fixed", "lagrangian", "target", "bitrate"]
    assert RateMode.BITRATE.scene_mode == "decided"  # scenes get the allocator's decision
    assert RateMode.TARGET.scene_mode == "target"


def test_probe_center_is_the_quality_knob_or_near_the_psnr_target():
    auto_crf = EncodeOptions(strategy="auto", crf=33)
    assert probe_center(RateMode.of(auto_crf), auto_crf) == 33  # with auto, crf is the knob
    target = EncodeOptions(strategy="x264", target_psnr=40)
    assert probe_center(RateMode.TARGET, target) == 33.0
    ssim_only = EncodeOptions(strategy="x264", target_ssim=0.9)
    assert probe_center(RateMode.TARGET, ssim_only) == DEFAULT_QUALITY


# -- one settings object ----------------------------------------------------------


def test_strategy_settings_are_derived_from_the_options():
    o = EncodeOptions(strategy="x265", crf=31, preset="fast", keyint=50, threads=2, low_delay=True, device="cpu",
                      intra_model="intra_yuv420")
    s = o.strategy_settings()
    assert (s.crf, s.preset, s.keyint, s.threads, s.low_delay, s.model, s.device, s.bitrate) == (
        31, "fast", 50, 2, True, "intra_yuv420", "cpu", None)
    # With auto, crf is the quality knob and preset the search effort: neither reaches a strategy.
    auto = EncodeOptions(strategy="auto", crf=31, preset="slow")
    assert (auto.strategy_settings().crf, auto.strategy_settings().preset) == (None, None)
    assert (auto.quality_knob, auto.search_effort) == (31, "slow")


def test_auto_preset_must_be_a_search_effort():
    with pytest.raises(SettingsError, match="search effort: fast, medium, slow"):
        EncodeOptions(strategy="auto", preset="veryslow")


def test_padded_size_is_even_and_minimal():
    from neurocodec.io.frame import padded_size

    assert padded_size(75, 47) == (76, 48)
    assert padded_size(96, 64) == (96, 64)


# -- bitrate allocation on synthetic rate-distortion models ----------------------


def _model(name: str, complexity: float, pixels: int = 96 * 64) -> CandidateModel:
    """Bits halve every 6 CRF steps and PSNR falls 0.5 dB a step; ``complexity`` scales the bits."""
    cand = Candidate(name, None, 0, 51)
    probes = [
        Probe(name, None, float(c), int(complexity * 8000 * 2 ** (-(c - 20) / 6) * 10), 10, pixels,
              50 - 0.5 * c, 0.99 - 0.002 * c)
        for c in (16, 22, 28, 34, 40)
    ]
    return CandidateModel(cand, probes)


def test_a_short_window_is_extrapolated_to_the_scene_with_one_keyframe():
    """8-frame window of 1000 bits whose first frame alone costs 500: the scene of 64 frames has one such
    keyframe and 63 frames like the window's other 7, so 500 + 63 * 500 / 7 = 5000 bits."""
    cand = Candidate("av1", "4", 0, 63, probe_preset="8")
    window = [Probe("av1", "4", c, b, 8, 96 * 64, q, 0.9) for c, b, q in ((30, 2000, 40.0), (40, 1000, 36.0))]
    key = Probe("av1", "4", 40, 500, 1, 96 * 64, 37.0, 0.9, kind="key")
    plain = CandidateModel(cand, window)
    scene = CandidateModel(cand, [*window, key], scene_frames=64)
    assert plain.bits_per_frame(40) == pytest.approx(1000 / 8)
    assert scene.bits_per_frame(40) == pytest.approx(5000 / 64, rel=1e-3)
    assert scene.bits_per_frame(30) == pytest.approx(10000 / 64, rel=1e-3)  # same keyframe share at every CRF
    # The keyframe (37 dB) is better than the window's mean (36 dB): the scene's mean is lower than the window's.
    assert 35.8 < scene.psnr_yuv(40) < 36.0
    # A window as long as the scene, or no key probe: nothing to extrapolate.
    assert CandidateModel(cand, [*window, key], scene_frames=8).bits_per_frame(40) == pytest.approx(1000 / 8)


def test_allocation_fits_the_budget_and_favours_the_harder_scene_with_bits():
    scenes = [(50, [_model("x264", 1.0)]), (50, [_model("x264", 4.0)])]
    duration, bitrate = 4.0, 60_000
    alloc = allocate_bitrate(scenes, duration, bitrate)
    spent = sum(n * d.predicted_bits_per_frame for (n, _), d in zip(scenes, alloc.decisions))
    assert spent + container_overhead_bits(2) <= bitrate * duration
    assert alloc.predicted_bps == pytest.approx((spent + container_overhead_bits(2)) / duration)
    easy, hard = alloc.decisions
    assert hard.predicted_bits_per_frame > easy.predicted_bits_per_frame
    # Equal slope: the same lambda for both, so the harder scene gets a CRF no lower than the easy one's.
    assert hard.crf >= easy.crf
    assert alloc.to_dict() == {"lambda": alloc.lam, "target_bps": bitrate, "predicted_bps": alloc.predicted_bps}


def test_more_bitrate_never_raises_the_crf():
    scenes = [(25, [_model("x264", 2.0)])]
    low, high = (allocate_bitrate(scenes, 1.0, b).decisions[0].crf for b in (20_000, 80_000))
    assert high < low


def test_a_bitrate_below_the_container_overhead_is_refused():
    with pytest.raises(SettingsError, match="below the container's own overhead"):
        allocate_bitrate([(25, [_model("x264", 1.0)])] * 3, 1.0, 1000)


# -- executors ----------------------------------------------------------------------


def _square(x: int, progress=None) -> int:
    if progress is not None:
        progress("work", x)
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * x


class _Recording(InlineExecutor):
    """Inline executor that records how many tasks were submitted but not yet taken."""

    def __init__(self):
        super().__init__()
        self.waiting = 0
        self.most = 0
        self.closed = False

    def submit(self, task):
        super().submit(task)
        self.waiting += 1
        self.most = max(self.most, self.waiting)

    def next_finished(self):
        self.waiting -= 1
        return super().next_finished()

    def close(self):
        self.closed = True
        super().close()


def test_inline_executor_runs_in_order_and_reports_progress():
    reports = []
    ex = make_executor(1, lambda *r: reports.append(r))
    assert isinstance(ex, InlineExecutor)
    results = list(run_tasks(ex, (Task(i, _square, (i + 1,)) for i in range(4))))
    assert results == [(0, 1), (1, 4), (2, 9), (3, 16)]
    assert reports == [(0, "work", 1), (1, "work", 2), (2, "work", 3), (3, "work", 4)]


def test_run_tasks_keeps_at_most_workers_plus_one_in_flight_and_closes():
    ex = _Recording()
    produced = []

    def tasks():
        for i in range(5):
            produced.append(i)
            yield Task(i, _square, (i,))

    for i, _ in run_tasks(ex, tasks()):
        assert len(produced) <= i + 2  # a task's frames are read only just before it is submitted
    assert ex.most == ex.workers + 1 and ex.closed


def test_a_failing_task_raises_and_the_executor_is_closed():
    ex = _Recording()
    with pytest.raises(ValueError, match="negative -1"):
        list(run_tasks(ex, [Task(0, _square, (2,)), Task(1, _square, (-1,)), Task(2, _square, (3,))]))
    assert ex.closed and not ex._queued


def test_process_executor_returns_every_result_and_forwards_reports():
    reports = []
    ex = make_executor(2, lambda *r: reports.append(r))
    assert isinstance(ex, ProcessExecutor)
    results = dict(run_tasks(ex, (Task(i, _square, (i + 1,)) for i in range(4))))
    assert results == {0: 1, 1: 4, 2: 9, 3: 16}
    # A report may still be in the queue when its task finishes (the tracker ignores late ones).
    assert set(reports) <= {(i, "work", i + 1) for i in range(4)}


# -- assembly -------------------------------------------------------------------------


def test_assembly_writes_the_stored_parts_in_order(tmp_path):
    from neurocodec.agents.assembly import Parts, assemble, part_meta
    from neurocodec.agents.parts import PartStore
    from neurocodec.agents.scene import SceneResult
    from neurocodec.analysis.scenes import Scene
    from neurocodec.bitstream import NcvReader
    from neurocodec.io.frame import VideoInfo
    from neurocodec.strategies.base import StrategySettings, get_strategy

    x264 = get_strategy("x264")
    params = x264.describe(StrategySettings(crf=30), 96, 64, Fraction(25))
    scenes = [Scene(0, 5, scene_class="static", transition="start"),
              Scene(5, 8, scene_class="static", transition="cut")]
    payloads = [b"\x00\x00\x00\x01first", b"\x00\x00\x00\x01second"]
    dst = tmp_path / "out.ncv"
    store = PartStore(dst, {"job": 1}, resume=False)
    for i in (1, 0):  # stored as they finish, in any order
        store.put(i, part_meta(SceneResult("x264", x264.id, payloads[i], params, (), 0.5)), payloads[i])

    out = assemble(Parts(dst, VideoInfo(95, 63, Fraction(25), 8), scenes, store))

    assert out.bytes == dst.stat().st_size and out.quality is None
    assert [(s.start_frame, s.end_frame, s.strategy) for s in out.segments] == [(0, 5, "x264"), (5, 8, "x264")]
    with NcvReader(dst) as r:
        segs = r.segments()
        assert (r.header.width, r.header.height) == (95, 63)
        assert [r.payload(s) for s in segs] == payloads
        assert [row["transition"] for row in r.scene_info] == ["start", "cut"]
    # The bitrate allocator's container estimate stays close to a real file's container bytes
    # (it is an estimate: see allocation.SEGMENT_BYTES).
    real = out.bytes - sum(map(len, payloads))
    assert abs(container_overhead_bits(len(scenes)) / 8 - real) <= 0.15 * real


def test_assembly_leaves_nothing_when_a_part_is_missing(tmp_path):
    from neurocodec.agents.assembly import Parts, assemble
    from neurocodec.agents.parts import PartStore
    from neurocodec.analysis.scenes import Scene
    from neurocodec.io.frame import VideoInfo

    dst = tmp_path / "out.ncv"
    store = PartStore(dst, {"job": 2}, resume=False)
    with pytest.raises(FileNotFoundError):
        assemble(Parts(dst, VideoInfo(96, 64, Fraction(25), 4), [Scene(0, 4)], store))
    assert not dst.exists() and [p.name for p in tmp_path.iterdir()] == ["out.ncv.parts"]

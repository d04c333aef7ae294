"""Scenes as data, scene-adaptive encoding, rate-control modes."""

from __future__ import annotations

import json

import pytest

import neurocodec
from neurocodec.agents.rd import Candidate, CandidateModel, Probe, choose_for_targets, choose_lagrangian, lambda_for_budget
from neurocodec.analysis.scenes import Scene, Transition, load_scenes, save_scenes, split_scenes
from neurocodec.errors import InputError
from neurocodec.io import open_source, write_video
from neurocodec.io.synthetic import pan_zoom, pan_zoom_info


def test_split_scenes_limits():
    t = [Transition(10, "cut"), Transition(12, "cut"), Transition(40, "fade", length=8), Transition(95, "cut")]
    scenes = split_scenes(t, 100, min_frames=5, max_frames=20)
    # 12 is too close to the cut at 10; the fade (40..48) is a scene of its own; long runs are split evenly.
    assert [(s.start_frame, s.end_frame, s.transition) for s in scenes] == [
        (0, 10, "start"), (10, 25, "cut"), (25, 40, "split"), (40, 48, "fade"),
        (48, 63, "fade"), (63, 79, "split"), (79, 95, "split"), (95, 100, "cut"),
    ]
    assert split_scenes([Transition(98, "cut")], 100, min_frames=5, max_frames=200)[-1].end_frame == 100
    assert len(split_scenes([Transition(98, "cut")], 100, min_frames=5, max_frames=200)) == 1


def test_scene_file_round_trip(tmp_path):
    scenes = [Scene(0, 10, "start", "static", {"motion": 0.1}), Scene(10, 25, "cut", "high_motion", {})]
    save_scenes(tmp_path / "s.json", scenes, 25)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["frames"] == 25 and doc["scenes"][0]["start_frame"] == 0 and doc["scenes"][1]["class"] == "high_motion"
    back, n = load_scenes(tmp_path / "s.json")
    assert n == 25 and [(s.start_frame, s.end_frame, s.scene_class) for s in back] == [(0, 10, "static"), (10, 25, "high_motion")]
    # Av1an's own files (no class/features) load too.
    (tmp_path / "av1an.json").write_text('{"scenes":[{"start_frame":0,"end_frame":7,"zone_overrides":null}],"frames":7}')
    assert load_scenes(tmp_path / "av1an.json")[1] == 7
    (tmp_path / "bad.json").write_text('{"scenes":[{"start_frame":0,"end_frame":7},{"start_frame":8,"end_frame":9}],"frames":9}')
    with pytest.raises(InputError, match="scene 1"):
        load_scenes(tmp_path / "bad.json")


def _probes(strategy, crfs, bits0, psnr0, dbits=0.12, dpsnr=0.6):
    return [Probe(strategy, None, float(c), int(bits0 * 2.718 ** (-dbits * (c - crfs[0]))), 1, 10000,
                  psnr0 - dpsnr * (c - crfs[0]), 0.99 - 0.004 * (c - crfs[0])) for c in crfs]


def test_rd_decisions_pick_the_cheaper_candidate():
    a = CandidateModel(Candidate("a", None, 0, 51), _probes("a", [24, 28, 32], 20000, 40))
    b = CandidateModel(Candidate("b", None, 0, 51), _probes("b", [24, 28, 32], 16000, 40))  # same quality, 20 % fewer bits
    assert choose_lagrangian([a, b], 10.0).strategy == "b"
    d = choose_for_targets([a, b], 37.0, None)
    assert d.strategy == "b" and d.predicted_psnr_yuv >= 37.0
    assert d.crf == max(c for c in b.crfs if b.psnr_yuv(c) >= 37.0)
    # Equal slope: a larger budget never gives a scene fewer bits.
    scenes = [(10, [a, b]), (20, [a])]
    _, small = lambda_for_budget(scenes, 200_000)
    _, large = lambda_for_budget(scenes, 400_000)
    assert all(x.predicted_bits_per_frame <= y.predicted_bits_per_frame for x, y in zip(small, large))
    total = sum(n * d.predicted_bits_per_frame for (n, _), d in zip(scenes, small))
    assert total <= 200_000


@pytest.fixture(scope="module")
def two_shot_clip(clip_dir):
    """Two shots with a hard cut at frame 8: a slow pan, then a faster zoom over another photograph."""
    path = clip_dir / "two_shots.y4m"

    def frames():
        yield from pan_zoom(128, 96, 8, image="astronaut", pan=(0.5, 0.2))
        yield from pan_zoom(128, 96, 8, image="coffee", pan=(3.0, 1.0), zoom=-0.01)

    write_video(path, pan_zoom_info(128, 96, 16), frames(), overwrite=True)
    return path


def test_auto_finds_the_cut_and_reports_decisions(two_shot_clip, tmp_path):
    out, scenes = tmp_path / "a.ncv", tmp_path / "scenes.json"
    report = neurocodec.encode(two_shot_clip, out, strategy="auto", preset="fast", write_scenes=scenes, min_scene_frames=4)
    assert [s.start_frame for s in report.segments] == [0, 8]
    for seg in report.segments:
        # fast: one candidate, so no trials; its CRF comes from the quality map
        assert seg.scene_class and seg.decision["basis"] == "quality_map" and not seg.probes
        assert seg.strategy == seg.decision["strategy"]
    doc = json.loads(scenes.read_text())
    assert [s["start_frame"] for s in doc["scenes"]] == [0, 8] and doc["frames"] == 16
    info = neurocodec.info(out)
    assert [s["class"] for s in info["segments"]] == [s.scene_class for s in report.segments]
    # The file stores PSNR in 1/100 dB.
    assert info["segments"][1]["quality"]["psnr_yuv"] == pytest.approx(report.segments[1].quality["psnr_yuv"], abs=0.005)
    # Feeding the scene file back gives the same file.
    again = tmp_path / "b.ncv"
    neurocodec.encode(two_shot_clip, again, strategy="auto", preset="fast", scenes_file=scenes)
    assert again.read_bytes() == out.read_bytes()


def test_auto_is_not_worse_than_its_candidates(det_clip, tmp_path):
    """At the same operating slope, auto's Lagrangian cost is no worse than any single candidate's."""
    report = neurocodec.encode(det_clip, tmp_path / "a.ncv", strategy="auto", quality=30, opts={"candidates": 2})
    seg = report.segments[0]
    costs = {}
    for p in seg.probes:
        costs.setdefault(p["strategy"], []).append(p)
    assert len(costs) == 2  # SVT-AV1 and the resolution ladder's rungs (hybrid without network) measured
    assert seg.decision["cost"] is not None


def test_bitrate_mode_lands_near_the_target(det_clip, tmp_path):
    report = neurocodec.encode(det_clip, tmp_path / "b.ncv", strategy="auto", preset="fast", bitrate="150k",
                               segment_frames=3)
    assert report.allocation["target_bps"] == 150_000
    assert 0.7 < report.bitrate_kbps * 1000 / 150_000 < 1.3


def test_scene_file_must_match_the_video(det_clip, tmp_path):
    save_scenes(tmp_path / "s.json", [Scene(0, 5, "start")], 5)
    with pytest.raises(InputError, match="covers 5 frames but the video has 9"):
        neurocodec.encode(det_clip, tmp_path / "x.ncv", strategy="x264", scenes_file=tmp_path / "s.json")


def test_frames_are_read_twice_not_held(det_clip):
    with open_source(det_clip) as src:
        assert sum(1 for _ in src.frames()) == sum(1 for _ in src.frames()) == 9


def test_scene_length_limits_do_not_depend_on_workers():
    """Scene boundaries decide the bytes, so the worker count must not change them."""
    from fractions import Fraction

    from neurocodec.agents.planner import scene_limits
    from neurocodec.io import VideoInfo
    from neurocodec.settings import EncodeOptions

    info = VideoInfo(1920, 1080, Fraction(30), 1000)
    limits = {scene_limits(EncodeOptions(strategy="x264", crf=30, workers=w), info) for w in (1, 2, 8)}
    assert len(limits) == 1

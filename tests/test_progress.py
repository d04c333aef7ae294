"""Progress per frame with rate and ETA, for encode and decode, with any worker count; -q prints nothing (issue 13)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from neurocodec_cli.main import cli

import neurocodec
from neurocodec import _progress
from neurocodec._progress import StderrProgress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(_progress.time, "perf_counter", c)
    return c


def _bar(filled: int) -> str:
    return "#" * filled + "." * (30 - filled)


def _lines(text: str) -> list[str]:
    """What a terminal shows: each line as last redrawn."""
    return [line.split("\r")[-1].rstrip() for line in text.split("\n")]


def test_line_shows_count_rate_and_eta(clock):
    out = io.StringIO()
    bar = StderrProgress("encode", stream=out, interval=0.1)
    bar(0, 100)
    clock.now = 2.0
    bar(10, 100)  # the rate is measured from here: start-up time does not count
    assert _lines(out.getvalue())[-1] == f"encode [{_bar(3)}] 10/100 frames"
    clock.now = 4.0
    bar(60, 100)
    assert _lines(out.getvalue())[-1] == f"encode [{_bar(18)}] 60/100 frames, 25.0 fps, ETA 0:01"
    bar.phase("encode [measure]")
    assert _lines(out.getvalue())[-1].startswith("encode [measure] [###")
    clock.now = 4.05
    bar(70, 100)  # within the redraw interval: drawn only at close
    assert "70/100" not in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\n")
    # 60 frames in the 2.05 s since the first advance
    assert _lines(out.getvalue())[-2] == f"encode [measure] [{_bar(21)}] 70/100 frames, 29.3 fps, ETA 0:01"


def test_a_new_stage_restarts_the_rate_and_a_log_record_gets_its_own_line(clock):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logging.getLogger().addHandler(handler)
    try:
        bar = StderrProgress("analyze", stream=out, interval=0)
        bar(0, 10)
        clock.now = 10.0
        bar(10, 10)
        bar.phase("encode")
        bar(0, 10)
        clock.now = 11.0
        bar(4, 10)
        logging.getLogger("neurocodec.test").warning("a warning")
        clock.now = 12.0
        bar(8, 10)
        bar.close()
    finally:
        logging.getLogger().removeHandler(handler)
    lines = _lines(out.getvalue())
    assert lines == [
        f"encode [{_bar(12)}] 4/10 frames",
        "a warning",
        f"encode [{_bar(24)}] 8/10 frames, 4.0 fps, ETA 0:00",
        "",
    ]


class _Recorder:
    def __init__(self):
        self.label = None
        self.labels = []
        self.counts = {}

    def phase(self, label):
        self.label = label
        self.labels.append(label)

    def __call__(self, done, total):
        self.counts.setdefault(self.label.split(" ")[0], []).append((done, total))


@pytest.mark.parametrize("workers", [1, 2])
def test_encode_progress_moves_per_frame(det_clip, tmp_path, workers):
    rec = _Recorder()
    out = tmp_path / f"w{workers}.ncv"
    neurocodec.encode(det_clip, out, strategy="x264", preset="fast", segment_frames=3, workers=workers, progress=rec)
    assert [d for d, _ in rec.counts["analyze"]] == list(range(10))  # the total: as far as the container knows
    done = [d for d, t in rec.counts["encode"]]
    assert all(t == 9 for _, t in rec.counts["encode"])
    assert done == sorted(set(done)) and done[0] == 0 and done[-1] == 9
    if workers == 1:
        assert done == list(range(10))
    else:
        assert any(d % 3 for d in done)  # frames inside a scene were reported by the workers
    assert "encode [measure]" in rec.labels
    # Progress reporting does not change the bytes.
    plain = tmp_path / "plain.ncv"
    neurocodec.encode(det_clip, plain, strategy="x264", preset="fast", segment_frames=3)
    assert out.read_bytes() == plain.read_bytes()


def test_auto_shows_trial_encodes_as_a_phase(small_clip, tmp_path):
    rec = _Recorder()
    neurocodec.encode(small_clip, tmp_path / "a.ncv", quality=40, segment_frames=4, progress=rec,
                      opts={"candidates": 2})  # the shipped medium tries one candidate: no trials
    assert "encode [trials]" in rec.labels
    assert rec.counts["encode"][-1] == (8, 8)


def test_bitrate_probes_then_encodes(small_clip, tmp_path):
    rec = _Recorder()
    neurocodec.encode(small_clip, tmp_path / "b.ncv", bitrate="300k", preset="fast", segment_frames=4, progress=rec)
    assert rec.counts["probe"] == [(0, 8), (4, 8), (8, 8)]
    assert rec.counts["encode"][-1] == (8, 8)


def test_cli_progress_options(small_clip, tmp_path):
    runner = CliRunner()
    ncv = tmp_path / "c.ncv"

    def run(*args):
        res = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return res

    forced = run("encode", small_clip, ncv, "-s", "x264", "--segment-frames", "4", "--progress")
    assert "encode [" in forced.stderr and "8/8 frames" in forced.stderr and "fps" in forced.stderr
    assert "8/8 frames" not in forced.stdout
    # Not a terminal: off by default, and -q wins over nothing but an explicit --progress.
    assert run("encode", small_clip, ncv, "-y", "-s", "x264", "--segment-frames", "4").stderr == ""
    assert run("encode", small_clip, ncv, "-y", "-s", "x264", "-q", "--no-progress").stderr == ""
    decoded = run("decode", ncv, tmp_path / "c.y4m", "--progress")
    assert "decode [" in decoded.stderr and "8/8 frames" in decoded.stderr
    assert run("decode", ncv, tmp_path / "c.y4m", "-y", "-q").output == ""


def test_quiet_prints_nothing_even_from_svt_av1_in_workers(small_clip, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}  # conftest sets it; a user's shell does not
    base = [sys.executable, "-m", "neurocodec_cli.main", "encode", str(small_clip)]
    opts = ["-s", "av1", "--preset", "12", "--segment-frames", "4", "--workers", "2"]
    quiet = subprocess.run(base + [str(tmp_path / "q.ncv"), *opts, "-q"], capture_output=True, env=env, timeout=300)
    assert quiet.returncode == 0
    assert (quiet.stdout, quiet.stderr) == (b"", b"")
    normal = subprocess.run(base + [str(tmp_path / "n.ncv"), *opts], capture_output=True, env=env, timeout=300)
    assert normal.returncode == 0 and normal.stdout.startswith(str(tmp_path / "n.ncv").encode())
    assert b"Svt[info]" not in normal.stderr  # warnings only, unless SVT_LOG says otherwise


def test_bench_quiet_prints_only_the_tables_with_no_svt_av1_lines(small_clip, tmp_path):
    """``bench -q`` lowers SVT-AV1's log to errors in the spawned point processes too."""
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}  # conftest sets it; a user's shell does not
    cmd = [sys.executable, "-m", "neurocodec_cli.main", "bench", str(small_clip), "--codecs", "av1@12,av1@13",
           "--anchor", "av1@13", "--points", "4", "--frames", "3", "-q"]
    res = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert b"Svt[" not in res.stderr and b"Svt[" not in res.stdout
    assert b"BD-rate vs av1@13" in res.stdout + res.stderr

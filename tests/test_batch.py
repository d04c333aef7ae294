"""`neurocodec batch`: a manifest of files encoded together, status files, failures that stop only their file, resume."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import neurocodec
from neurocodec.agents.batch import run_batch
from neurocodec.agents.manifest import read_manifest
from neurocodec.errors import SettingsError
from neurocodec_cli.main import cli
from tests.conftest import make_clip


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Three small clips and a CSV manifest with per-file settings (one input is missing)."""
    root = tmp_path_factory.mktemp("catalogue")
    make_clip(root / "a.y4m", 96, 64, 9, image="chelsea", pan=(1.5, 0.4))
    make_clip(root / "b.y4m", 80, 48, 7, image="coffee", pan=(0.8, 0.2))
    make_clip(root / "c.y4m", 64, 64, 6, image="astronaut", pan=(1.0, 1.0))
    (root / "m.csv").write_text("input,strategy,crf,segment_frames,output,opts\n"
                                "a.y4m,x264,30,3,,\n"
                                "b.y4m,x265,32,4,sub/bee.ncv,\n"
                                "gone.y4m,x264,30,,,\n"
                                "c.y4m,av1,45,3,,preset=10\n")
    return root


SETTINGS = {"a.ncv": ("a.y4m", {"strategy": "x264", "crf": 30, "segment_frames": 3}),
            "sub/bee.ncv": ("b.y4m", {"strategy": "x265", "crf": 32, "segment_frames": 4}),
            "c.ncv": ("c.y4m", {"strategy": "av1", "crf": 45, "segment_frames": 3, "opts": {"preset": "10"}})}


def _direct(root, out):
    """The same files encoded one by one with neurocodec.encode."""
    for name, (src, kw) in SETTINGS.items():
        neurocodec.encode(root / src, out / name.replace("/", "_"), **kw)


def test_a_batch_writes_what_encode_writes_and_a_status_per_file(catalogue, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(catalogue / "m.csv"), "--out", str(out), "--no-progress"])
    assert res.exit_code == 1  # one input is missing
    assert "1 file(s) failed" in res.stderr and "3 of 4 files done" in res.stdout
    status = json.loads((out / "gone.ncv.status.json").read_text())
    assert status["state"] == "failed" and status["reason"] == f"{catalogue / 'gone.y4m'}: no such file or folder"
    direct = tmp_path / "direct"
    direct.mkdir()
    _direct(catalogue, direct)
    for name in SETTINGS:
        assert (out / name).read_bytes() == (direct / name.replace("/", "_")).read_bytes(), name
        doc = json.loads((out / (name + ".status.json")).read_text())
        assert doc["state"] == "done" and doc["bytes"] == (out / name).stat().st_size
    assert not list(out.rglob("*.parts"))


def test_a_rerun_skips_finished_files_and_redoes_a_changed_one(catalogue, tmp_path):
    out = tmp_path / "out"
    items = read_manifest(catalogue / "m.csv")
    first = run_batch(items, out)
    assert first.progress.files_done == 3 and len(first.failed) == 1
    again = run_batch(items, out)
    assert again.progress.files_skipped == 3 and again.progress.frames_done == 0
    (catalogue / "c.ncv.tmp").write_bytes(b"")  # an unrelated file in the folder changes nothing
    import os

    st = os.stat(catalogue / "c.y4m")
    os.utime(catalogue / "c.y4m", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "edited"
    third = run_batch(items, out)
    assert third.progress.files_skipped == 2 and third.progress.frames_done == 6


class _Stop(Exception):
    pass


def test_an_interrupted_batch_resumes_from_finished_files_and_scenes(catalogue, tmp_path):
    out = tmp_path / "out"
    items = read_manifest(catalogue / "m.csv")

    def stop_in_second_file(p):
        if p.files_done == 1 and p.scenes_done >= 4:  # a.ncv (3 scenes) done, one scene of bee.ncv stored
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(items, out, progress=stop_in_second_file)
    assert json.loads((out / "sub/bee.ncv.status.json").read_text())["state"] == "running"
    assert len(list((out / "sub/bee.ncv.parts").glob("[0-9]*.seg"))) == 1
    seen = []
    res = run_batch(items, out, progress=lambda p: seen.append(p.frames_done))
    assert res.progress.files_skipped == 1 and res.progress.files_done == 2
    assert res.progress.frames_done == 7 - 4 + 6  # bee's second scene and c's three; bee's first was kept
    direct = tmp_path / "direct"
    direct.mkdir()
    _direct(catalogue, direct)
    for name in SETTINGS:
        assert (out / name).read_bytes() == (direct / name.replace("/", "_")).read_bytes(), name


@pytest.mark.parametrize("text, message", [
    ("input,colour\na.y4m,red\n", r"m\.csv:2: unknown column 'colour'"),
    ("input,bitrate\na.y4m,1M\n", r"m\.csv:2: a target bitrate is not supported in a batch"),
    ("input,crf\na.y4m,high\n", r"m\.csv:2: crf must be a number, got 'high'"),
    ("input,keyint\na.y4m,2.5\n", r"m\.csv:2: keyint must be an integer"),
    ("input,output\na.y4m,../x.ncv\n", r"m\.csv:2: output '\.\./x\.ncv' must be a \.ncv name inside the output"),
    ("input,output\na.y4m,/tmp/x.ncv\n", r"must be a \.ncv name inside the output folder"),
    ("input\na.y4m\nsub/../a.y4m\n", r"m\.csv:3: output a\.ncv is also line 2's"),
    ("input,crf,quality\na.y4m,20,20\n", r"m\.csv:2: choose one rate control"),
    ("input,strategy,crf\na.y4m,x264,\nb.y4m,auto,80\n", r"m\.csv:3: crf 80 \(with auto"),
    ("input,strategy,crf,opts\na.y4m,av1,30,tunez=0\n", r"m\.csv:2: av1: unknown option 'tunez'"),
    ("name\na.y4m\n", r"first row must name the columns, one of them 'input'"),
    ("input\n", r"lists no files"),
])
def test_manifest_errors_name_the_line(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(SettingsError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_json_lines_manifest_and_cli_bad_manifest_exit_2(tmp_path):
    (tmp_path / "m.jsonl").write_text('# a comment\n{"input": "a.y4m", "crf": 28, "opts": {"probe-window": 16}}\n\n'
                                      '{"input": "b.mp4", "strategy": "x265", "low_delay": true, "fps": 30}\n')
    a, b = read_manifest(tmp_path / "m.jsonl")
    assert (a.line, a.output, a.settings) == (2, "a.ncv", {"crf": 28.0, "opts": {"probe-window": 16}})
    assert b.settings == {"strategy": "x265", "low_delay": True, "fps": "30"} and b.output == "b.ncv"
    (tmp_path / "bad.jsonl").write_text('{"input": "a.y4m", "crf": true}\n')
    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.stderr.strip() == (
        f"neurocodec: error: {tmp_path / 'bad.jsonl'}:1: crf must be a number, got True")
    assert not (tmp_path / "o").exists()


def test_outputs_of_one_name_in_two_folders_keep_their_parts_apart(catalogue, tmp_path):
    (tmp_path / "m.csv").write_text(f"input,output,strategy,crf,segment_frames\n"
                                    f"{catalogue / 'a.y4m'},one/x.ncv,x264,30,3\n"
                                    f"{catalogue / 'c.y4m'},two/x.ncv,x264,30,3\n")
    res = run_batch(read_manifest(tmp_path / "m.csv"), tmp_path / "out", parts=str(tmp_path / "parts"))
    assert res.progress.files_done == 2 and not res.failed
    neurocodec.encode(catalogue / "c.y4m", tmp_path / "c.ncv", strategy="x264", crf=30, segment_frames=3)
    assert (tmp_path / "out/two/x.ncv").read_bytes() == (tmp_path / "c.ncv").read_bytes()
    assert list((tmp_path / "parts").iterdir()) == []


def test_a_manifest_too_large_or_not_a_file_is_refused(tmp_path, monkeypatch):
    import neurocodec.agents.manifest as manifest

    (tmp_path / "m.csv").write_text("input\n" + "a.y4m\n" * 50)
    monkeypatch.setattr(manifest, "MAX_BYTES", 100)
    with pytest.raises(SettingsError, match=r"m\.csv: a manifest is at most 0 MiB"):
        read_manifest(tmp_path / "m.csv")
    with pytest.raises(SettingsError, match="no such manifest file"):
        read_manifest(tmp_path)  # a folder
    (tmp_path / "m.txt").write_text("input\na.y4m\n")
    with pytest.raises(SettingsError, match=r"\.csv \(with a header row\) or \.jsonl"):
        read_manifest(tmp_path / "m.txt")


def test_an_unexpected_error_in_one_file_fails_only_that_file(catalogue, tmp_path, monkeypatch):
    from neurocodec.agents.encoder import EncodingAgent

    plan = EncodingAgent.plan

    def plan_but_break_b(self, source, dst, **kw):
        if str(source.path).endswith("b.y4m"):
            raise RuntimeError("the analysis fell over")
        return plan(self, source, dst, **kw)

    monkeypatch.setattr(EncodingAgent, "plan", plan_but_break_b)
    res = run_batch(read_manifest(catalogue / "m.csv"), tmp_path / "out")
    assert res.progress.files_done == 2
    assert sorted(s["reason"] for s in res.failed) == [
        f"{catalogue / 'b.y4m'}: RuntimeError: the analysis fell over", f"{catalogue / 'gone.y4m'}: no such file or folder"]

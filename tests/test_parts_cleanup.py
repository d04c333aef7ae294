"""A failed encode leaves ``OUT.ncv.parts/`` only when ``--resume`` can use it, and then says so (issue 13)."""

from __future__ import annotations

import logging

import pytest

import neurocodec
from neurocodec.errors import EncoderError
from neurocodec.strategies.classical import X264


def _fail_after(monkeypatch, scenes: int) -> None:
    """Make x264 fail on the encode after ``scenes`` successful ones."""
    real = X264.encode
    calls = []

    def encode(self, frames, settings, fps):
        calls.append(1)
        if len(calls) > scenes:
            raise EncoderError("x264: injected failure")
        return real(self, frames, settings, fps)

    monkeypatch.setattr(X264, "encode", encode)


def test_nothing_finished_leaves_nothing(monkeypatch, det_clip, tmp_path, caplog):
    _fail_after(monkeypatch, 0)
    with pytest.raises(EncoderError, match="injected"):
        neurocodec.encode(det_clip, tmp_path / "a.ncv", strategy="x264", segment_frames=3)
    assert list(tmp_path.iterdir()) == []
    assert "--resume" not in caplog.text


def test_finished_scenes_are_kept_and_named(monkeypatch, det_clip, tmp_path, caplog):
    _fail_after(monkeypatch, 2)
    out = tmp_path / "b.ncv"
    with caplog.at_level(logging.ERROR), pytest.raises(EncoderError, match="injected"):
        neurocodec.encode(det_clip, out, strategy="x264", segment_frames=3)
    parts = tmp_path / "b.ncv.parts"
    assert [p.name for p in tmp_path.iterdir()] == [parts.name]
    assert sorted(p.name for p in parts.iterdir()) == ["000000.seg", "000001.seg", "job.json"]
    [record] = [r for r in caplog.records if "--resume" in r.getMessage()]
    assert record.getMessage() == f"finished scenes kept in {parts}/: rerun with --resume"
    monkeypatch.undo()
    report = neurocodec.encode(det_clip, out, strategy="x264", segment_frames=3, resume=True)
    assert report.frames == 9 and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_rerun_without_resume_that_fails_removes_the_old_parts(monkeypatch, det_clip, tmp_path):
    _fail_after(monkeypatch, 1)
    out = tmp_path / "c.ncv"
    with pytest.raises(EncoderError):
        neurocodec.encode(det_clip, out, strategy="x264", segment_frames=3)
    assert (tmp_path / "c.ncv.parts" / "000000.seg").exists()
    _fail_after(monkeypatch, 0)
    with pytest.raises(EncoderError):
        neurocodec.encode(det_clip, out, strategy="x264", segment_frames=3)  # starts over, so nothing is resumable
    assert list(tmp_path.iterdir()) == []

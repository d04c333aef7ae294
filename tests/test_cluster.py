"""Encoding scenes on a Dask LocalCluster: the same bytes as a local encode, and clear errors."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

import neurocodec  # noqa: E402
from neurocodec.errors import SettingsError  # noqa: E402


def test_local_cluster_writes_the_same_bytes_as_one_process(small_clip, tmp_path, monkeypatch):
    from neurocodec.agents.cluster import DaskExecutor

    ran: list[int] = []
    submit = DaskExecutor.submit
    monkeypatch.setattr(DaskExecutor, "submit", lambda self, task: (ran.append(task.index), submit(self, task))[1])
    one, dask = tmp_path / "one.ncv", tmp_path / "dask.ncv"
    kw = {"strategy": "x264", "crf": 30, "segment_frames": 3, "measure_quality": False}
    neurocodec.encode(small_clip, one, **kw)
    report = neurocodec.encode(small_clip, dask, cluster="local:2", **kw)
    assert len(report.segments) == 3 and sorted(ran) == [0, 1, 2]  # every scene went through Dask
    assert one.read_bytes() == dask.read_bytes()


@pytest.mark.parametrize("spec", ["local:0", "local:x", "http://host:8786", "tcp://", "local:2 "])
def test_bad_cluster_specs_fail_before_any_work(small_clip, tmp_path, spec):
    with pytest.raises(SettingsError, match="cluster"):
        neurocodec.encode(small_clip, tmp_path / "o.ncv", strategy="x264", cluster=spec)
    assert not (tmp_path / "o.ncv").exists()

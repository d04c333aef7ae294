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


def test_scheduler_and_workers_started_by_the_dask_tools(small_clip, tmp_path):
    """A `dask scheduler` and a `dask worker` (two processes) on 127.0.0.1: the same bytes as a local encode."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists() and shutil.which("dask") is None:
        pytest.skip("the dask command-line tool is not installed beside this Python")
    exe = str(dask_cli) if dask_cli.exists() else "dask"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([exe, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the scheduler to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the dask scheduler did not start within 60 s")
                time.sleep(0.2)
        procs.append(subprocess.Popen([exe, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        one, dask = tmp_path / "one.ncv", tmp_path / "dask.ncv"
        kw = {"strategy": "x264", "crf": 30, "segment_frames": 3, "measure_quality": False}
        neurocodec.encode(small_clip, one, **kw)
        neurocodec.encode(small_clip, dask, cluster=address, **kw)
        assert one.read_bytes() == dask.read_bytes()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

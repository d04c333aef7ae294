"""Encoding scenes on a Dask LocalCluster: the same bytes as a local encode, and clear errors."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import neurocodec  # noqa: E402
from neurocodec.errors import EncoderError, SettingsError  # noqa: E402

KW = {"strategy": "x264", "crf": 30, "segment_frames": 3, "measure_quality": False}


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two one-thread worker processes, shared by the tests that pass it as ``executor``."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def test_local_cluster_writes_the_same_bytes_as_one_process(small_clip, tmp_path, monkeypatch, caplog):
    from neurocodec.agents.cluster import DaskExecutor

    ran: list[int] = []
    submit = DaskExecutor.submit
    monkeypatch.setattr(DaskExecutor, "submit", lambda self, task: (ran.append(task.index), submit(self, task))[1])
    one, dask = tmp_path / "one.ncv", tmp_path / "dask.ncv"
    neurocodec.encode(small_clip, one, **KW)
    with caplog.at_level(logging.INFO, logger="neurocodec.agents.encoder"):
        report = neurocodec.encode(small_clip, dask, cluster="local:2", cluster_frames="read", **KW)
    assert len(report.segments) == 3 and sorted(ran) == [0, 1, 2]  # every scene went through Dask
    assert "cluster: frames read by the workers, parts written by the workers" in caplog.text
    assert one.read_bytes() == dask.read_bytes()


def test_a_client_given_is_used_and_left_open(client, small_clip, tmp_path, caplog):
    one, dask = tmp_path / "one.ncv", tmp_path / "dask.ncv"
    neurocodec.encode(small_clip, one, **KW)
    with caplog.at_level(logging.INFO, logger="neurocodec.agents.encoder"):
        neurocodec.encode(small_clip, dask, executor=client, **KW)
    # auto: every worker is on this machine, so frames go through loopback rather than each worker seeking
    assert "every worker runs on this machine" in caplog.text
    assert "cluster: frames sent from here, parts written by the workers" in caplog.text
    assert one.read_bytes() == dask.read_bytes()
    assert client.status == "running"


def test_a_source_only_in_this_process_is_sent_to_the_workers(client, tmp_path, caplog):
    """A VideoSource object has no path the workers could open: the client sends each scene's frames."""
    from neurocodec.agents import EncodingAgent
    from neurocodec.io.readers import VideoSource
    from neurocodec.io.synthetic import pan_zoom, pan_zoom_info

    class Generated(VideoSource):
        path, info = "<generated>", pan_zoom_info(96, 64, 7, 25)

        def frames(self):
            return pan_zoom(96, 64, 7, image="coffee", pan=(1.2, 0.3))

    agent = EncodingAgent(**KW)
    agent.encode(Generated(), tmp_path / "one.ncv")
    with caplog.at_level(logging.INFO, logger="neurocodec.agents.encoder"):
        agent.encode(Generated(), tmp_path / "dask.ncv", executor=client)
    assert "<generated> exists only in this process" in caplog.text
    assert "cluster: frames sent from here, parts written by the workers" in caplog.text
    assert (tmp_path / "one.ncv").read_bytes() == (tmp_path / "dask.ncv").read_bytes()


def test_a_job_failing_on_every_try_fails_with_one_line_naming_the_scene(client):
    import operator

    from neurocodec.agents.cluster import DaskExecutor
    from neurocodec.agents.executor import Task, run_tasks

    ex = DaskExecutor(client=client)
    tasks = [Task(0, operator.add, (1, 2)), Task(1, operator.truediv, (1, 0))]
    with pytest.raises(EncoderError, match=r"^scene 1 failed on every try: ZeroDivisionError: division by zero$"):
        list(run_tasks(ex, tasks))
    assert client.status == "running"


class _StopAt:
    """A progress callback that interrupts once ``frames`` frames of final encodes are counted."""

    def __init__(self, frames):
        self.frames, self.label = frames, ""

    def phase(self, label):
        self.label = label

    def __call__(self, done, total):
        if self.label.startswith("encode") and done >= self.frames:
            raise KeyboardInterrupt


def test_an_interrupted_cluster_encode_resumes_from_the_parts_its_workers_wrote(client, det_clip, tmp_path,
                                                                                monkeypatch):
    from neurocodec.agents.cluster import DaskExecutor

    out, fresh = tmp_path / "k.ncv", tmp_path / "fresh.ncv"
    with pytest.raises(KeyboardInterrupt):
        neurocodec.encode(det_clip, out, executor=client, progress=_StopAt(3), cluster_frames="read", **KW)
    assert not out.exists()
    deadline = time.monotonic() + 30
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)  # a job already running when the client stopped may still finish and store its part
    kept = {int(p.stem) for p in (tmp_path / "k.ncv.parts").glob("[0-9]*.seg")}
    assert kept
    ran: list[int] = []
    submit = DaskExecutor.submit
    monkeypatch.setattr(DaskExecutor, "submit", lambda self, task: (ran.append(task.index), submit(self, task))[1])
    neurocodec.encode(det_clip, out, executor=client, resume=True, cluster_frames="read", **KW)
    assert sorted(ran) == sorted({0, 1, 2} - kept)  # the stored scenes were not encoded again
    assert not (tmp_path / "k.ncv.parts").exists()
    neurocodec.encode(det_clip, fresh, **KW)
    assert out.read_bytes() == fresh.read_bytes()


@pytest.mark.parametrize("frames", ["read", "send"])
def test_a_worker_killed_mid_scene_costs_only_that_scene(client, clip_dir, tmp_path, frames):
    """SIGKILL a worker process while it runs a scene: Dask re-runs the scene elsewhere, the bytes do not change
    (also when the job carries its frames: they must travel in the task, not scattered to the lost worker)."""
    from tests.conftest import make_clip

    clip = make_clip(clip_dir / "kill.y4m", 320, 240, 24, image="chelsea", pan=(2.1, 0.7))
    kw = {"strategy": "x265", "preset": "slower", "crf": 24, "segment_frames": 6, "measure_quality": False}
    pids = client.run(os.getpid)
    killed: list[str] = []

    def kill_a_busy_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            if busy:
                time.sleep(0.3)  # into the scene's encode
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    report = neurocodec.encode(clip, tmp_path / "dask.ncv", executor=client, cluster_frames=frames, **kw)
    killer.join()
    assert killed, "no worker was busy to kill"
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    neurocodec.encode(clip, tmp_path / "one.ncv", **kw)
    assert (tmp_path / "one.ncv").read_bytes() == (tmp_path / "dask.ncv").read_bytes()
    assert len(report.segments) == 4


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


def test_a_batch_on_the_cluster_writes_what_a_local_batch_writes_and_resumes(client, tmp_path):
    """Scenes of all files on two worker processes; interrupted after the first file, then resumed."""
    from neurocodec.agents.batch import run_batch
    from neurocodec.agents.manifest import read_manifest
    from tests.conftest import make_clip

    for name, (w, h, n) in {"a": (96, 64, 9), "b": (80, 48, 8), "c": (64, 64, 6)}.items():
        make_clip(tmp_path / f"{name}.y4m", w, h, n, image="chelsea", pan=(1.1, 0.3))
    (tmp_path / "m.jsonl").write_text("".join(
        f'{{"input": "{n}.y4m", "strategy": "x264", "crf": 30, "segment_frames": 3}}\n' for n in "abc"))
    items = read_manifest(tmp_path / "m.jsonl")
    run_batch(items, tmp_path / "local")

    def stop_after_first_file(p):
        if p.files_done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(items, tmp_path / "dask", cluster=client, cluster_frames="read", progress=stop_after_first_file)
    res = run_batch(items, tmp_path / "dask", cluster=client, cluster_frames="read")
    assert res.progress.files_skipped == 1 and res.progress.files_done == 2 and not res.failed
    for n in "abc":
        assert (tmp_path / "local" / f"{n}.ncv").read_bytes() == (tmp_path / "dask" / f"{n}.ncv").read_bytes()
    assert client.status == "running"


def test_a_scene_whose_worker_dies_on_every_try_fails_the_encode_naming_it(clip_dir, tmp_path):
    """With allowed-failures 0, one lost worker is every try: one line naming the scene, and no output."""
    import dask
    from distributed import Client, LocalCluster

    from tests.conftest import make_clip

    clip = make_clip(clip_dir / "die.y4m", 320, 240, 12, image="chelsea", pan=(2.1, 0.7))
    kw = {"strategy": "x265", "preset": "slower", "crf": 24, "segment_frames": 6, "measure_quality": False}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        pids = c.run(os.getpid)

        def kill_when_busy():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(c.processing().values()):
                    time.sleep(0.3)
                    for pid in pids.values():
                        os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.02)

        threading.Thread(target=kill_when_busy, daemon=True).start()
        with pytest.raises(EncoderError, match=r"^scene [01]: its worker died on every try \(Dask gave up after "):
            neurocodec.encode(clip, tmp_path / "x.ncv", executor=c, **kw)
    assert not (tmp_path / "x.ncv").exists()  # x.ncv.parts/ stays only if a scene finished before the kill


def test_the_batch_command_on_a_local_cluster(small_clip, det_clip, tmp_path):
    from click.testing import CliRunner

    from neurocodec_cli.main import cli

    (tmp_path / "m.csv").write_text(f"input,strategy,crf,segment_frames\n{small_clip},x264,30,3\n{det_clip},x265,30,4\n")
    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "m.csv"), "--out", str(tmp_path / "d"),
                                   "--cluster", "local:2", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "2 of 2 files done (0 before this run), 0 failed" in res.stdout
    neurocodec.encode(det_clip, tmp_path / "det.ncv", strategy="x265", crf=30, segment_frames=4)
    assert (tmp_path / "d/det.ncv").read_bytes() == (tmp_path / "det.ncv").read_bytes()


def test_progress_on_dask_moves_within_scenes(client, clip_dir, tmp_path):
    """Workers report each job's phase and frames through a Dask queue, as local workers do through a pipe."""
    from tests.conftest import make_clip

    clip = make_clip(clip_dir / "prog.y4m", 320, 240, 12, image="chelsea", pan=(2.1, 0.7))
    labels, counts = [], []

    class Rec:
        def phase(self, label):
            labels.append(label)

        def __call__(self, done, total):
            if labels[-1].startswith("encode"):
                counts.append(done)

    kw = {"strategy": "x265", "preset": "slower", "crf": 24, "segment_frames": 6}
    neurocodec.encode(clip, tmp_path / "p.ncv", executor=client, progress=Rec(), **kw)
    assert counts == sorted(counts) and counts[-1] == 12
    assert "encode [measure]" in labels  # only a worker's report from inside a running scene says so
    neurocodec.encode(clip, tmp_path / "q.ncv", **kw)
    assert (tmp_path / "p.ncv").read_bytes() == (tmp_path / "q.ncv").read_bytes()


def test_jobs_in_flight_follow_a_growing_cluster():
    """A deployer's workers join during the encode: the executor keeps one job per worker thread now connected."""
    from distributed import Client, LocalCluster

    from neurocodec.agents.cluster import DaskExecutor

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        ex = DaskExecutor(client=c)
        assert ex.workers == 1
        cluster.scale(3)
        c.wait_for_workers(3, timeout=60)
        time.sleep(1.1)
        assert ex.workers == 3

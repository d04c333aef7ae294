"""Autonomous experiments: space validation, the embedded SQLite orchestrator, the LLM proposer, and
PostgreSQL workers with one killed mid-trial. Every trial is a real encode, decode and measurement."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import make_clip

pytest.importorskip("optuna")
pytest.importorskip("pydantic")

SPACE = """
[objectives]
quality = "psnr_yuv"
[constraints]
psnr_yuv_min = 30.0
ssim_min = 0.8
[strategies.x265]
crf = [24, 40]
preset = ["ultrafast"]
[strategies.av1]
crf = [35, 55]
preset = ["12"]
"""


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("expclips") / "tiny.y4m", 128, 96, 6, image="astronaut", pan=(2.0, 1.0))


@pytest.fixture
def space(tmp_path):
    from neurocodec.experiments import load_space

    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return load_space(path)


def _open(url, space, clip, frames=6):
    from neurocodec.experiments.study import Experiment

    clips = [{"path": str(clip), "name": Path(clip).name, "size": None, "fps": None}]
    return lambda: Experiment.open(url, "t", space=space, clips=clips, frames=frames, seed=1)


def _specs(clip):
    from neurocodec.bench.runner import ClipSpec

    return [ClipSpec(clip)]


# -- the space file -----------------------------------------------------------------


@pytest.mark.parametrize("body, key", [
    ("[strategies.h266]\ncrf = [20, 30]\n", "strategies.h266"),
    ("[strategies.x265]\ncrf = [40, 20]\n", "strategies.x265.crf"),
    ("[strategies.x265]\ncrf = [20, 60]\n", "strategies.x265.crf"),
    ("[strategies.x265]\ncrf = [20, 30]\nqp = [1, 2]\n", "strategies.x265.qp"),
    ("[strategies.x265]\ncrf = [20, 30]\npreset = ['warp']\n", "strategies.x265.preset"),
    ("[objectives]\nquality = 'vmaf'\n[strategies.x265]\ncrf = [20, 30]\n", "objectives.quality"),
    ("[constraints]\nssim_min = 2\n[strategies.x265]\ncrf = [20, 30]\n", "constraints.ssim_min"),
    ("[constraint]\n[strategies.x265]\ncrf = [20, 30]\n", "constraint"),
    ("[strategies.x265]\ncrf = [20, 30\n", "not valid TOML"),
])
def test_space_errors_name_file_and_key(tmp_path, body, key):
    from neurocodec.errors import SettingsError
    from neurocodec.experiments import load_space

    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(SettingsError) as err:
        load_space(path)
    assert str(path) in str(err.value) and key in str(err.value)
    assert "\n" not in str(err.value)


def test_space_checks_and_shapes(space):
    assert space.check({"strategy": "x265", "crf": 30, "preset": "ultrafast"}) == []
    assert space.check({"strategy": "x265", "crf": 41, "preset": "ultrafast"})
    assert space.check({"strategy": "x265", "crf": 30, "preset": "ultrafast", "bframes": 3})
    flat = space.flatten({"strategy": "av1", "crf": 40, "preset": "12"})
    assert flat == {"strategy": "av1", "av1.crf": 40, "av1.preset": "12"}
    assert space.nest(flat) == {"strategy": "av1", "crf": 40, "preset": "12"}


def test_sampler_never_repeats_a_measured_or_queued_set(tmp_path, tiny_clip):
    from neurocodec.experiments import parse_space
    from neurocodec.experiments.study import Proposal

    small = parse_space({"strategies": {"x265": {"crf": [30, 32], "preset": ["ultrafast"]}}})
    exp = _open(f"sqlite:///{tmp_path / 'exp.db'}", small, tiny_clip)()
    first = exp.sample(2)
    assert len({p["crf"] for p in first}) == 2
    exp.enqueue([Proposal(p, "test") for p in first])
    [last] = exp.sample(3)  # one new set is left in the space
    assert last["crf"] not in {p["crf"] for p in first}


# -- embedded: SQLite, spawned workers, lock, restart ----------------------------------------


def test_embedded_run_two_workers(tmp_path, tiny_clip, space):
    from optuna.artifacts import FileSystemArtifactStore, download_artifact

    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import OptunaProposer
    from neurocodec.experiments.study import Experiment

    url = f"sqlite:///{tmp_path / 'exp.db'}"
    counts = run_experiments(_open(url, space, tiny_clip), url, OptunaProposer(), _specs(tiny_clip),
                             RunConfig(workers=2, budget=4, device="cpu"))
    assert counts == {"completed": 4, "failed": 0, "requeued": []}
    exp = Experiment.open(url, "t")
    records = exp.records()
    assert [r.state for r in records] == ["COMPLETE"] * 4
    assert len({r.user_attrs["proposal_id"] for r in records}) == 4
    store = FileSystemArtifactStore(str(tmp_path / "exp.db.artifacts"))
    for r in records:
        assert r.values == (r.metrics["bitrate_kbps"], r.metrics["psnr_yuv"])
        assert r.feasible == (r.metrics["psnr_yuv"] >= 30 and r.metrics["ssim"] >= 0.8)
        ids = r.user_attrs["artifacts"]
        out = tmp_path / f"r{r.number}.json"
        download_artifact(artifact_store=store, artifact_id=ids["result"], file_path=str(out))
        assert json.loads(out.read_text())["params"] == r.params
        ncv = tmp_path / f"r{r.number}.ncv"
        download_artifact(artifact_store=store, artifact_id=ids["bitstreams"]["tiny.y4m"], file_path=str(ncv))
        assert ncv.read_bytes()[:4] and ncv.stat().st_size > 0


def test_second_orchestrator_is_refused(tmp_path, tiny_clip, space):
    from click.testing import CliRunner

    from neurocodec.experiments.orchestrator import DatabaseLock
    from neurocodec_cli.main import cli

    db = tmp_path / "exp.db"
    space_file = tmp_path / "space.toml"
    with DatabaseLock(db):
        result = CliRunner().invoke(cli, [
            "experiments", "run", "--storage", f"sqlite:///{db}", "--study", "t", "--space", str(space_file),
            "--clips", str(tiny_clip), "--budget", "1",
        ])
    assert result.exit_code == 2
    assert f"{db}.lock: another orchestrator (pid {os.getpid()})" in result.output
    assert not db.exists()  # refused before the database was opened


def test_cli_propose_then_status(tmp_path, tiny_clip, space):
    from click.testing import CliRunner

    from neurocodec_cli.main import cli

    base = ["--storage", f"sqlite:///{tmp_path / 'exp.db'}", "--study", "t"]
    propose = ["experiments", "propose", *base, "--space", str(tmp_path / "space.toml"), "--clips", str(tiny_clip),
               "--frames", "6", "--batch", "3", "--max-waiting", "4"]
    first = CliRunner().invoke(cli, propose)
    assert first.exit_code == 0 and first.output.startswith("queued 3 proposals"), first.output
    second = CliRunner().invoke(cli, propose)
    assert second.exit_code == 0 and second.output.startswith("queued 1 proposals"), second.output
    status = CliRunner().invoke(cli, ["experiments", "status", *base, "--json"])
    summary = json.loads(status.output)
    assert summary["states"] == {"WAITING": 4} and summary["best"] is None
    assert summary["targets"] == {"psnr_yuv_min": 30.0, "ssim_min": 0.8}
    missing = CliRunner().invoke(cli, ["experiments", "status", "--storage", base[1], "--study", "nope"])
    assert missing.exit_code == 2 and "no study 'nope'" in missing.output
    nodb = CliRunner().invoke(cli, ["experiments", "status", "--storage", f"sqlite:///{tmp_path / 'x.db'}",
                                    "--study", "t"])
    assert nodb.exit_code == 2 and "x.db: no such database" in nodb.output and not (tmp_path / "x.db").exists()
    bad = CliRunner().invoke(cli, ["experiments", "status", "--storage", "mysql://h/db", "--study", "t"])
    assert bad.exit_code == 2 and "use sqlite:///PATH.db or postgresql+psycopg://" in bad.output


def test_restart_requeues_running_trial(tmp_path, tiny_clip, space):
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import OptunaProposer
    from neurocodec.experiments.study import Experiment, Proposal

    url = f"sqlite:///{tmp_path / 'exp.db'}"
    exp = _open(url, space, tiny_clip)()
    [pid] = exp.enqueue([Proposal({"strategy": "x265", "crf": 31, "preset": "ultrafast"}, "test", "left running")])
    exp.ask()  # an orchestrator took it, then died
    counts = run_experiments(_open(url, space, tiny_clip), url, OptunaProposer(), _specs(tiny_clip),
                             RunConfig(workers=1, budget=1, keep_bitstreams=False))
    assert counts["requeued"] == [0] and counts["completed"] == 1
    first, second = Experiment.open(url, "t").records()
    assert (first.state, second.state) == ("FAIL", "COMPLETE")
    assert second.params == {"strategy": "x265", "crf": 31, "preset": "ultrafast"}
    assert second.user_attrs["proposal_id"] == pid and second.user_attrs["requeued_from"] == 0


# -- LLM proposer against a fake OpenAI-compatible server ---------------------------------


class _FakeLLM:
    """Serves /v1/chat/completions from a list of canned replies (the last one repeats)."""

    def __init__(self, replies):
        self.replies = replies
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                reply = fake.replies[min(len(fake.requests), len(fake.replies)) - 1]
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _answer(*proposals):
    return json.dumps({"proposals": [{"params": p, "rationale": f"try {p.get('crf')}"} for p in proposals]})


def test_llm_repair_then_valid(tmp_path, tiny_clip, space, monkeypatch):
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import LLMProposer
    from neurocodec.experiments.study import Experiment

    monkeypatch.setenv("NEUROCODEC_LLM_API_KEY", "sekret")
    invalid = _answer({"strategy": "x265", "crf": 99, "preset": "ultrafast"},
                      {"strategy": "av1", "crf": 40, "preset": "12", "tiles": 4})
    valid = _answer({"strategy": "x265", "crf": 30, "preset": "ultrafast"})
    fake = _FakeLLM([invalid, valid])
    try:
        url = f"sqlite:///{tmp_path / 'exp.db'}"
        counts = run_experiments(_open(url, space, tiny_clip), url, LLMProposer(fake.url, "fake-model"),
                                 _specs(tiny_clip), RunConfig(workers=1, budget=1, keep_bitstreams=False))
    finally:
        fake.close()
    assert counts["completed"] == 1
    assert len(fake.requests) == 2 and fake.requests[0]["path"] == "/v1/chat/completions"
    assert fake.requests[0]["auth"] == "Bearer sekret" and fake.requests[0]["body"]["model"] == "fake-model"
    task = json.loads(fake.requests[0]["body"]["messages"][1]["content"])
    assert task["targets"] == {"psnr_yuv_min": 30.0, "ssim_min": 0.8} and task["count"] == 1
    assert "proposals" in task["answer_schema"]["properties"]
    repair = fake.requests[1]["body"]["messages"][-1]["content"]
    assert "rejected" in repair and "less than or equal to 40" in repair and "tiles" in repair
    [trial] = Experiment.open(url, "t").records()
    assert trial.state == "COMPLETE" and trial.params == {"strategy": "x265", "crf": 30, "preset": "ultrafast"}
    assert trial.user_attrs["proposer"] == "llm:fake-model" and trial.user_attrs["rationale"] == "try 30"


def test_llm_always_invalid_falls_back_to_optuna(tmp_path, tiny_clip, space):
    from neurocodec.experiments.proposers import LLMProposer

    fake = _FakeLLM(["Sure! Here are some ideas: lower the CRF.", _answer({"strategy": "vvc", "crf": 30})])
    try:
        exp = _open(f"sqlite:///{tmp_path / 'exp.db'}", space, tiny_clip)()
        proposals = LLMProposer(fake.url, "fake-model", repairs=2).propose(exp, 3)
    finally:
        fake.close()
    assert len(fake.requests) == 3  # the first answer and two repair requests
    assert "not JSON" in fake.requests[1]["body"]["messages"][-1]["content"]
    assert len(proposals) == 3 and {p.proposer for p in proposals} == {"optuna (llm fallback)"}
    assert all(space.check(p.params) == [] for p in proposals)


def test_llm_needs_url_and_model():
    from neurocodec.errors import SettingsError
    from neurocodec.experiments.proposers import make_proposer

    with pytest.raises(SettingsError, match="--llm-url"):
        make_proposer("llm", None, "m")


# -- distributed: PostgreSQL, two workers, one killed mid-trial ------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on loopback; yields its SQLAlchemy URL."""
    bins = ("/usr/local/bin/initdb", "/usr/local/bin/pg_ctl", "/usr/local/bin/postgres")
    if not all(os.path.exists(b) for b in bins):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed")
    # Not under pytest's tmp_path: its parents are private to root, and postgres refuses to run as root.
    root = Path(tempfile.mkdtemp(prefix="neurocodec-pg-"))
    os.chmod(root, 0o755)
    data = root / "data"
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    port = _free_port()
    env = os.environ | {"LC_ALL": "C"}
    try:
        subprocess.run(as_user + [bins[0], "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, env=env)
        subprocess.run(as_user + [bins[1], "start", "-D", str(data), "-l", str(data / "log"), "-w", "-o",
                                  f"-p {port} -k {data} -c listen_addresses=127.0.0.1"],
                       check=True, capture_output=True, env=env)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [bins[1], "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_workers_survive_a_killed_worker(tmp_path, postgres):
    from neurocodec.experiments import load_space
    from neurocodec.experiments.proposers import OptunaProposer
    from neurocodec.experiments.study import Experiment

    # Slow enough (about 2 s a trial) to kill a worker in the middle of one.
    clip = make_clip(tmp_path / "cif.y4m", 352, 288, 12, image="chelsea", pan=(1.5, 0.5))
    space_file = tmp_path / "space.toml"
    space_file.write_text("[strategies.x265]\ncrf = [24, 40]\npreset = ['slower']\n")
    space = load_space(space_file)
    clips = [{"path": str(clip), "name": "cif.y4m", "size": None, "fps": None}]
    exp = Experiment.open(postgres, "dist", space=space, clips=clips, frames=12, seed=3)
    pids = set(exp.enqueue(OptunaProposer().propose(exp, 6)))

    def worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "neurocodec_cli.main", "worker", "--storage", postgres, "--study", "dist",
             "--device", "cpu", "--artifacts", str(tmp_path / "artifacts"), "--heartbeat", "1", "--idle-exit", "6"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ | {"SVT_LOG": "1"},
        )

    victim, survivor = worker(), worker()
    killed_trial = None
    deadline = time.monotonic() + 60
    while killed_trial is None and time.monotonic() < deadline:
        for t in exp.records():
            if t.state == "RUNNING" and t.user_attrs.get("worker", "").endswith(f":{victim.pid}"):
                victim.send_signal(signal.SIGKILL)
                killed_trial = t
                break
        time.sleep(0.05)
    victim.wait()
    assert killed_trial is not None, "the victim never started a trial"
    out, _ = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, out.decode()[-2000:]

    records = exp.records()
    complete = [r for r in records if r.state == "COMPLETE"]
    by_proposal = {}
    for r in complete:
        by_proposal.setdefault(r.user_attrs.get("proposal_id"), []).append(r)
    # Every proposal completed exactly once (trials a worker sampled itself after losing a race have no id).
    assert {p for p in by_proposal if p} == pids
    assert all(len(v) == 1 for p, v in by_proposal.items() if p)
    killed = next(r for r in records if r.number == killed_trial.number)
    assert killed.state == "FAIL"
    [redo] = by_proposal[killed_trial.user_attrs["proposal_id"]]
    assert redo.user_attrs["worker"].endswith(f":{survivor.pid}") and redo.params == killed.params
    assert redo.user_attrs["artifacts"]["bitstreams"]["cif.y4m"]

"""Experiments: the space file, the embedded SQLite orchestrator (anchor cache, BD-rates, time multiples,
pruning, validation, export), the LLM proposer, and PostgreSQL workers with one killed mid-trial.
Every trial is a real RD curve: encodes, decodes and measurements."""

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
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import make_clip

pytest.importorskip("optuna")
pytest.importorskip("pydantic")

# The anchor and the trials are x264 ultrafast/superfast on 3 frames of 64x48: fast enough for tests.
# The time ceiling is loose because timings of such tiny encodes are mostly noise.
SPACE = """
[study]
metric = "psnr_yuv"
objective = "constrained"
max_time_multiple = 50.0
points = 4
frames = 3
pruning_startup = 1

[anchor]
strategy = "x264"
preset = "ultrafast"

[strategies.x264]
preset = ["ultrafast", "superfast"]

[strategies.x264.options]
aq-mode = [0, 3]
psy-rd = {range = [0.5, 2.0], when = {aq-mode = [1, 2, 3]}}
"""


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two search clips and one validation clip, 64x48, 3 frames."""
    d = tmp_path_factory.mktemp("expclips")
    return {
        "a": make_clip(d / "a.y4m", 64, 48, 3, image="astronaut", pan=(2.0, 1.0)),
        "b": make_clip(d / "b.y4m", 64, 48, 3, image="chelsea", pan=(1.0, 0.5)),
        "v": make_clip(d / "v.y4m", 64, 48, 3, image="coffee", pan=(1.5, 0.5)),
    }


@pytest.fixture
def space(tmp_path):
    from neurocodec.experiments import load_space

    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return load_space(path)


def _dicts(paths):
    return [{"path": str(p), "name": Path(p).name, "size": None, "fps": None} for p in paths]


def _open(url, space, search, validation=()):
    from neurocodec.experiments.study import Experiment

    return lambda: Experiment.open(url, "t", space=space, clips=_dicts(search),
                                   validation_clips=_dicts(validation) if validation else None, seed=1)


def _specs(paths):
    from neurocodec.bench.runner import ClipSpec

    return [ClipSpec(p) for p in paths]


# -- the space file -----------------------------------------------------------------

_OK = "[study]\nmax_time_multiple = 1.0\n"


@pytest.mark.parametrize("body, key", [
    (_OK + "[strategies.h266]\npreset = ['1']\n", "strategies.h266"),
    (_OK + "[strategies.av1.options]\nqm-min = [9, 3]\n", "strategies.av1.options.qm-min"),
    (_OK + "[strategies.av1.options]\nqm-min = [0, 20]\n", "strategies.av1.options.qm-min"),
    (_OK + "[strategies.av1.options]\ntiles = [1, 2]\n", "strategies.av1.options.tiles"),
    (_OK + "[strategies.av1.options]\nenable-qm = [0.0, 1.0]\n", "strategies.av1.options.enable-qm"),
    (_OK + "[strategies.av1.options]\ntune = {choices = [0, 9]}\n", "strategies.av1.options.tune"),
    (_OK + "[strategies.av1.options]\nqm-min = {range = [0, 8], when = {enable-qm = true}}\n",
     "strategies.av1.options.qm-min"),  # names a parameter not listed before it
    (_OK + "[strategies.av1.options]\nenable-qm = [true]\nqm-min = {range = [0, 8], when = {enable-qm = 3}}\n",
     "strategies.av1.options.qm-min"),  # a condition value the parameter cannot take
    (_OK + "[strategies.av1.options]\npreset = ['6']\n", "strategies.av1.options.preset"),
    (_OK + "[strategies.av1]\npreset = ['99']\n", "strategies.av1.preset"),
    (_OK + "[strategies.av1]\ncrf = [20, 30]\n", "strategies.av1.crf"),
    ("[strategies.av1]\npreset = ['6']\n", "study.max_time_multiple"),  # constrained needs a ceiling
    (_OK + "points = 3\n[strategies.av1]\npreset = ['6']\n", "study.points"),
    (_OK + "metric = 'psnr'\n[strategies.av1]\npreset = ['6']\n", "study.metric"),
    (_OK + "budget = 3\n[strategies.av1]\npreset = ['6']\n", "study.budget"),
    (_OK + "[anchor]\nstrategy = 'av1'\nlevel = 3\n[strategies.av1]\npreset = ['6']\n", "anchor.level"),
    (_OK + "[anchor]\nstrategy = 'av1'\noptions = {qm-min = 99}\n[strategies.av1]\npreset = ['6']\n", "anchor"),
    (_OK + "[objectives]\n[strategies.av1]\npreset = ['6']\n", "objectives"),
    (_OK + "[strategies.av1\n", "not valid TOML"),
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


def test_shipped_spaces_parse():
    from neurocodec.experiments import load_space

    root = Path(__file__).parent.parent / "examples"
    svt = load_space(root / "spaces" / "svt_av1_p6.toml")
    assert svt.anchor.describe() == "av1 preset 6, default options" and svt.max_time_multiple == 1.0
    qm = svt.strategies["av1"].params["qm-min"]
    assert qm.when == (("enable-qm", (True,)),) and (qm.low, qm.high) == (0, 8)
    assert load_space(root / "spaces" / "x265.toml").objective == "pareto"
    for preset, ceiling in (("4", 1.3), ("2", 2.0)):  # the studies of issue 17's medium and slow budgets
        rival = load_space(root / "spaces" / f"svt_av1_p{preset}.toml")
        assert rival.anchor.describe() == f"av1 preset {preset}, default options"
        assert rival.max_time_multiple == ceiling and "tune" not in rival.strategies["av1"].params
    assert load_space(root / "experiment_space.toml").strategies.keys() == {"av1", "x265"}


def test_space_shapes_and_conditions(space):
    p = space.strategies["x264"].params
    assert p["preset"].choices == ("ultrafast", "superfast") and (p["aq-mode"].low, p["aq-mode"].high) == (0, 3)
    assert space.check({"strategy": "x264", "preset": "ultrafast", "aq-mode": 0}) == []
    assert space.check({"strategy": "x264", "preset": "ultrafast", "aq-mode": 2, "psy-rd": 1.0}) == []
    [extra] = space.check({"strategy": "x264", "preset": "ultrafast", "aq-mode": 0, "psy-rd": 1.0})
    assert "psy-rd: must be left out unless aq-mode is 1 or 2 or 3" in extra
    missing = space.check({"strategy": "x264", "preset": "ultrafast", "aq-mode": 2})
    assert missing == ["x264: missing parameter 'psy-rd'"]
    assert space.check({"strategy": "x264", "preset": "ultrafast", "aq-mode": True})  # a bool is not an int here
    flat = space.flatten({"strategy": "x264", "preset": "superfast", "aq-mode": 1, "psy-rd": 1.5})
    assert flat == {"strategy": "x264", "x264.preset": "superfast", "x264.aq-mode": 1, "x264.psy-rd": 1.5}
    assert space.config_of(space.nest(flat)) == ("x264", "superfast", {"aq-mode": 1, "psy-rd": 1.5})


def test_sampler_respects_conditions_and_never_repeats(tmp_path, clips, space):
    from neurocodec.experiments.study import Proposal

    exp = _open(f"sqlite:///{tmp_path / 'exp.db'}", space, [clips["a"]])()
    first = exp.sample(8)
    assert len(first) == 8 and all(space.check(p) == [] for p in first)
    assert {"psy-rd" in p for p in first} == {True, False}  # both branches of the condition were drawn
    exp.enqueue([Proposal(p, "test") for p in first])
    again = exp.sample(8)
    keys = {tuple(sorted(p.items())) for p in first}
    assert not keys & {tuple(sorted(p.items())) for p in again}


def test_a_small_space_runs_out_instead_of_repeating_a_configuration(tmp_path, clips):
    """Two configurations and a budget of four: TPE likes the better one, but nothing is measured twice."""
    from neurocodec.experiments import parse_space
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import OptunaProposer
    from neurocodec.experiments.study import Experiment

    small = parse_space(tomllib.loads(SPACE.split("[strategies.x264.options]")[0]), source="small.toml")
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    counts = run_experiments(_open(url, small, [clips["a"]]), url, OptunaProposer(), _specs([clips["a"]]),
                             RunConfig(workers=1, budget=4, device="cpu", validate_top=0))
    params = [t.params for t in Experiment.open(url, "t").study.get_trials()]
    assert counts["completed"] == 2 and sorted(p["x264.preset"] for p in params) == ["superfast", "ultrafast"]
    # A configuration queued again by hand is measured again, but validated once (by its first trial).
    from neurocodec.experiments.study import Proposal

    exp = Experiment.open(url, "t")
    exp.enqueue([Proposal({"strategy": "x264", "preset": "ultrafast"}, "test")])
    opener = lambda: Experiment.open(url, "t", validation_clips=_dicts([clips["v"]]))  # noqa: E731
    counts = run_experiments(opener, url, OptunaProposer(), _specs([clips["a"]]),
                             RunConfig(workers=1, budget=1, device="cpu", validate_top=3))
    validated = [r for r in Experiment.open(url, "t").records() if r.validation]
    assert counts["completed"] == 1 and len(validated) == 2
    assert sorted(r.params["preset"] for r in validated) == ["superfast", "ultrafast"]


def test_pareto_study_records_both_objectives(tmp_path, clips):
    from neurocodec.experiments import parse_space
    from neurocodec.experiments.status import pareto_front, summarize

    space = parse_space({"study": {"objective": "pareto", "max_time_multiple": 2.0},
                         "anchor": {"strategy": "x264", "preset": "ultrafast"},
                         "strategies": {"x264": {"preset": ["ultrafast", "superfast", "veryfast"]}}})
    exp = _open(f"sqlite:///{tmp_path / 'exp.db'}", space, [clips["a"]])()
    assert len(exp.study.directions) == 2 and exp.pruner_snapshot() is None
    scores = [(-5.0, 1.5), (-8.0, 3.0), (-2.0, 1.8)]  # the third is dominated by the first
    for bd, tm in scores:
        trial, params = exp.ask()
        outcome = {"score": {"bd_rate": bd, "time_multiple": tm, "clips": 1, "of": 1, "per_clip": {}},
                   "steps": [bd], "pruned": False, "files": {}}
        exp.tell(trial, exp.record(trial, outcome, None))
    records = exp.records()
    assert [r.values for r in records] == scores
    assert [r.feasible for r in records] == [True, False, True]  # the ceiling still decides feasibility
    assert [r.number for r in pareto_front(records)] == [0, 1]
    assert summarize(space, records)["best"]["number"] == 0  # lowest BD-rate among the feasible


def test_frames_subsampled_by_step(tmp_path):
    import numpy as np

    from neurocodec.experiments.evaluate import prepare_clips
    from neurocodec.io import open_source

    clip = make_clip(tmp_path / "c.y4m", 64, 48, 7)
    [prepared] = prepare_clips(_specs([clip]), 3, 2, tmp_path / "work")
    with open_source(clip) as src:
        source = [f.y.copy() for f in src.frames()]
    with open_source(prepared.y4m) as out:
        taken = [f.y.copy() for f in out.frames()]
    assert len(taken) == 3 and all(np.array_equal(t, source[i]) for t, i in zip(taken, (0, 2, 4)))


def test_median_rule():
    from neurocodec.experiments.pruning import SnapshotPruner, median_rule

    history = [{0: -10.0, 1: -8.0}, {0: -2.0, 1: -3.0}, {0: -6.0, 1: -5.0}]
    assert median_rule(history, [-1.0], 1.0, startup=3, ceiling=1.0)  # worse than the median -6 after clip 0
    assert not median_rule(history, [-7.0], 1.0, startup=3, ceiling=1.0)
    assert not median_rule(history, [-1.0], 1.0, startup=4, ceiling=1.0)  # too few finished trials yet
    assert median_rule([], [-30.0], 1.6, startup=5, ceiling=1.0)  # far over the time ceiling
    assert not median_rule([], [-30.0], 1.4, startup=5, ceiling=1.0)
    assert SnapshotPruner(tuple(history), 3, None)([-9.0, -4.0], 9.0)  # -4 is above the median -5 after clip 1


# -- embedded: SQLite, spawned workers, anchor cache, validation, export -------------------------


def test_embedded_study_end_to_end(tmp_path, clips, space):
    from click.testing import CliRunner
    from neurocodec_cli.main import cli

    from neurocodec.codec_config import load_config
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import OptunaProposer
    from neurocodec.experiments.study import Experiment

    db = tmp_path / "exp.db"
    url = f"sqlite:///{db}"
    search = [clips["a"], clips["b"]]
    opener = _open(url, space, search, [clips["v"]])
    counts = run_experiments(opener, url, OptunaProposer(), _specs(search),
                             RunConfig(workers=2, budget=3, device="cpu", validate_top=2))
    assert counts["completed"] + counts["pruned"] == 3 and counts["failed"] == 0
    assert counts["anchor_clips_measured"] == 2
    exp = Experiment.open(url, "t")
    host = socket.gethostname()
    cached = {c: exp.anchor_curve(c) for c in ("a.y4m", "b.y4m", "v.y4m")}  # v: measured for validation
    assert all(len(points) == 4 for points in cached.values())
    assert all(exp.anchor_seconds(host, c) > 0 for c in cached)

    records = exp.records()
    for r, t in zip(records, exp.study.trials):
        s = r.score
        assert s["of"] == 2 and s["time_multiple"] > 0 and set(s["per_clip"]) <= {"a.y4m", "b.y4m"}
        assert s["bd_rate"] == pytest.approx(sum(c["bd_rate"] for c in s["per_clip"].values()) / s["clips"])
        # The running BD-rate was reported after each clip measured (the pruning hook's input).
        assert sorted(t.intermediate_values) == list(range(s["clips"]))
        assert t.intermediate_values[s["clips"] - 1] == pytest.approx(s["bd_rate"])
        if r.state == "COMPLETE":
            assert r.values == (s["bd_rate"],) and s["clips"] == 2
        else:
            assert r.state == "PRUNED" and s["clips"] == 1
    # A second run continues the study with the anchor cache: nothing is measured again.
    counts2 = run_experiments(opener, url, OptunaProposer(), _specs(search),
                              RunConfig(workers=1, budget=1, device="cpu", validate_top=2))
    assert counts2["anchor_clips_measured"] == 0
    exp = Experiment.open(url, "t")
    assert {c: exp.anchor_curve(c) for c in cached} == cached

    base = ["--storage", url, "--study", "t"]
    summary = json.loads(CliRunner().invoke(cli, ["experiments", "status", *base, "--json"]).output)
    assert summary["goal"]["anchor"] == "x264 preset ultrafast, default options"
    best = summary["best"]
    assert best["bd_rate"] == min(t["bd_rate"] for t in summary["trials"] if t["state"] == "COMPLETE")
    validated = [t for t in summary["top"] if t["validation_bd_rate"] is not None]
    assert len(validated) == min(2, len(summary["top"])) and validated[0]["validation_clips"] == ["v.y4m"]
    assert validated[0]["validation_gap"] == pytest.approx(validated[0]["validation_bd_rate"] - validated[0]["bd_rate"])
    text = CliRunner().invoke(cli, ["experiments", "status", *base]).output
    assert "best feasible: trial" in text and "validation" in text

    revalidate = CliRunner().invoke(cli, ["experiments", "validate", *base, "--top", "1"])
    assert revalidate.exit_code == 0 and "validated trials: none (all already measured" in revalidate.output

    out = tmp_path / "best.toml"
    result = CliRunner().invoke(cli, ["experiments", "export", *base, "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = load_config(out)
    chosen = next(t for t in summary["trials"] if t["number"] == config.provenance["trial"])
    assert chosen["validation_bd_rate"] is not None and config.provenance["validated"] is True
    assert {"strategy": config.strategy, "preset": config.preset, **config.options} == chosen["params"]
    assert config.provenance["search_bd_rate"] == pytest.approx(chosen["bd_rate"], abs=1e-3)
    assert config.provenance["validation_clips"] == ["v.y4m"] and config.provenance["study"] == "t"
    assert "sqlite" not in out.read_text() and str(db) not in out.read_text()
    again = CliRunner().invoke(cli, ["experiments", "export", *base, "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output
    onto_db = CliRunner().invoke(cli, ["experiments", "export", *base, "--out", str(db), "-y"])
    assert onto_db.exit_code == 2 and "is the input" in onto_db.output
    nothing = CliRunner().invoke(cli, ["experiments", "export", *base, "--out", str(tmp_path / "x.toml"),
                                       "--max-time-multiple", "0.0001"])
    assert nothing.exit_code == 2 and "no finished trial within time multiple" in nothing.output


def test_second_orchestrator_is_refused(tmp_path, clips, space):
    from click.testing import CliRunner
    from neurocodec_cli.main import cli

    from neurocodec.experiments.orchestrator import DatabaseLock

    db = tmp_path / "exp.db"
    space_file = tmp_path / "space.toml"
    with DatabaseLock(db):
        result = CliRunner().invoke(cli, [
            "experiments", "run", "--storage", f"sqlite:///{db}", "--study", "t", "--space", str(space_file),
            "--clips", str(clips["a"]), "--budget", "1",
        ])
    assert result.exit_code == 2
    assert f"{db}.lock: another orchestrator (pid {os.getpid()})" in result.output
    assert not db.exists()  # refused before the database was opened


def test_cli_propose_then_status(tmp_path, clips, space):
    from click.testing import CliRunner
    from neurocodec_cli.main import cli

    base = ["--storage", f"sqlite:///{tmp_path / 'exp.db'}", "--study", "t"]
    propose = ["experiments", "propose", *base, "--space", str(tmp_path / "space.toml"), "--clips", str(clips["a"]),
               "--validate", str(clips["v"]), "--batch", "3", "--max-waiting", "4"]
    first = CliRunner().invoke(cli, propose)
    assert first.exit_code == 0 and first.output.startswith("queued 3 proposals"), first.output
    second = CliRunner().invoke(cli, propose)
    assert second.exit_code == 0 and second.output.startswith("queued 1 proposals"), second.output
    status = CliRunner().invoke(cli, ["experiments", "status", *base, "--json"])
    summary = json.loads(status.output)
    assert summary["states"] == {"WAITING": 4} and summary["best"] is None
    assert summary["goal"]["max_time_multiple"] == 50.0 and summary["goal"]["metric"] == "psnr_yuv"
    overlap = CliRunner().invoke(cli, [*propose[:-4], "--validate", str(clips["a"])])
    assert overlap.exit_code == 2 and "a.y4m is also a search clip" in overlap.output
    missing = CliRunner().invoke(cli, ["experiments", "status", "--storage", base[1], "--study", "nope"])
    assert missing.exit_code == 2 and "no study 'nope'" in missing.output
    nodb = CliRunner().invoke(cli, ["experiments", "status", "--storage", f"sqlite:///{tmp_path / 'x.db'}",
                                    "--study", "t"])
    assert nodb.exit_code == 2 and "x.db: no such database" in nodb.output and not (tmp_path / "x.db").exists()
    bad = CliRunner().invoke(cli, ["experiments", "status", "--storage", "mysql://h/db", "--study", "t"])
    assert bad.exit_code == 2 and "use sqlite:///PATH.db or postgresql+psycopg://" in bad.output
    noexport = CliRunner().invoke(cli, ["experiments", "export", *base, "--out", str(tmp_path / "c.toml")])
    assert noexport.exit_code == 2 and "nothing to export" in noexport.output


def test_restart_requeues_running_trial(tmp_path, clips, space):
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import OptunaProposer
    from neurocodec.experiments.study import Experiment, Proposal

    url = f"sqlite:///{tmp_path / 'exp.db'}"
    exp = _open(url, space, [clips["a"]])()
    params = {"strategy": "x264", "preset": "ultrafast", "aq-mode": 0}
    [pid] = exp.enqueue([Proposal(params, "test", "left running")])
    exp.ask()  # an orchestrator took it, then died
    counts = run_experiments(_open(url, space, [clips["a"]]), url, OptunaProposer(), _specs([clips["a"]]),
                             RunConfig(workers=1, budget=1))
    assert counts["requeued"] == [0] and counts["completed"] == 1
    first, second = Experiment.open(url, "t").records()
    assert (first.state, second.state) == ("FAIL", "COMPLETE")
    assert second.params == params and second.user_attrs["requeued_from"] == 0
    assert second.user_attrs["proposal_id"] == pid
    # The anchor's own configuration: the same curve, so a BD-rate of 0.
    assert second.score["bd_rate"] == pytest.approx(0.0, abs=1e-9)


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
    return json.dumps({"proposals": [{"params": p, "rationale": f"try aq {p.get('aq-mode')}"} for p in proposals]})


def test_llm_repair_then_valid(tmp_path, clips, space, monkeypatch):
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import LLMProposer
    from neurocodec.experiments.study import Experiment

    monkeypatch.setenv("NEUROCODEC_LLM_API_KEY", "sekret")
    invalid = _answer({"strategy": "x264", "preset": "ultrafast", "aq-mode": 9},
                      {"strategy": "x264", "preset": "ultrafast", "aq-mode": 1, "psy-rd": 1.0, "tiles": 4})
    misplaced = _answer({"strategy": "x264", "preset": "ultrafast", "aq-mode": 0, "psy-rd": 1.0})
    valid = _answer({"strategy": "x264", "preset": "superfast", "aq-mode": 2, "psy-rd": 1.0})
    fake = _FakeLLM([invalid, misplaced, valid])
    try:
        url = f"sqlite:///{tmp_path / 'exp.db'}"
        counts = run_experiments(_open(url, space, [clips["a"]]), url, LLMProposer(fake.url, "fake-model"),
                                 _specs([clips["a"]]), RunConfig(workers=1, budget=1))
    finally:
        fake.close()
    assert counts["completed"] == 1
    assert len(fake.requests) == 3 and fake.requests[0]["path"] == "/v1/chat/completions"
    assert fake.requests[0]["auth"] == "Bearer sekret" and fake.requests[0]["body"]["model"] == "fake-model"
    task = json.loads(fake.requests[0]["body"]["messages"][1]["content"])
    assert task["study"]["metric"] == "psnr_yuv" and task["study"]["max_time_multiple"] == 50.0
    assert "BD-rate" in task["goal"] and "x264 preset ultrafast" in task["goal"] and task["count"] == 1
    assert task["search_space"]["x264"]["psy-rd"]["only_when"] == {"aq-mode": [1, 2, 3]}
    assert "proposals" in task["answer_schema"]["properties"]
    repair = fake.requests[1]["body"]["messages"][-1]["content"]
    assert "rejected" in repair and "less than or equal to 3" in repair and "tiles" in repair
    repair2 = fake.requests[2]["body"]["messages"][-1]["content"]
    assert "psy-rd: must be left out unless aq-mode is 1 or 2 or 3" in repair2
    [trial] = Experiment.open(url, "t").records()
    assert trial.state == "COMPLETE"
    assert trial.params == {"strategy": "x264", "preset": "superfast", "aq-mode": 2, "psy-rd": 1.0}
    assert trial.user_attrs["proposer"] == "llm:fake-model" and trial.user_attrs["rationale"] == "try aq 2"


def test_llm_prompt_holds_best_failed_pruned_and_validation_gap(space):
    from neurocodec.experiments.llm import build_messages
    from neurocodec.experiments.study import TrialRecord

    def rec(number, state, bd, tm, validation=None, error=None):
        score = {"bd_rate": bd, "time_multiple": tm, "clips": 2 if state == "COMPLETE" else 1, "of": 2} if bd else {}
        return TrialRecord(number, state, {"strategy": "x264", "preset": "ultrafast", "aq-mode": number % 4},
                           None, score, None if not score else tm <= 50.0, validation,
                           {"error": error} if error else {})

    records = [rec(0, "COMPLETE", -4.0, 1.1, {"bd_rate": -1.5, "time_multiple": 1.2}),
               rec(1, "COMPLETE", -6.0, 60.0), rec(2, "FAIL", None, None, error="EncoderError: boom"),
               rec(3, "PRUNED", 3.0, 0.9)]
    task = json.loads(build_messages(space, records, 2)[1]["content"])
    assert [t["trial"] for t in task["best_trials"]] == [0, 1]  # feasible first, then infeasible
    assert task["best_trials"][0]["validation_bd_rate"] == -1.5 and task["best_trials"][1]["feasible"] is False
    assert [(t["trial"], t["state"]) for t in task["failed_or_pruned_trials"]] == [(2, "FAIL"), (3, "PRUNED")]
    assert task["failed_or_pruned_trials"][0]["error"] == "EncoderError: boom"
    assert task["failed_or_pruned_trials"][1]["bd_rate"] == 3.0
    assert task["validation"] == [{"trial": 0, "search_bd_rate": -4.0, "validation_bd_rate": -1.5, "gap": 2.5}]


def test_llm_always_invalid_falls_back_to_optuna(tmp_path, clips, space):
    from neurocodec.experiments.proposers import LLMProposer

    fake = _FakeLLM(["Sure! Here are some ideas: lower the CRF.", _answer({"strategy": "vvc", "aq-mode": 1})])
    try:
        exp = _open(f"sqlite:///{tmp_path / 'exp.db'}", space, [clips["a"]])()
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

    # Slow enough (a few seconds a trial) to kill a worker in the middle of one. Pruning never starts
    # (pruning_startup), so every proposal completes, but each trial reports after its first clip.
    search = [make_clip(tmp_path / f"{n}.y4m", 176, 144, 6, image=n, pan=(1.5, 0.5)) for n in ("chelsea", "coffee")]
    space_file = tmp_path / "space.toml"
    space_file.write_text("[study]\nmax_time_multiple = 1000.0\nframes = 4\npruning_startup = 100\n"
                          "[anchor]\nstrategy = 'x265'\npreset = 'ultrafast'\n"
                          "[strategies.x265]\npreset = ['slower']\n[strategies.x265.options]\naq-mode = [0, 4]\n")
    space = load_space(space_file)
    exp = Experiment.open(postgres, "dist", space=space, clips=_dicts(search), seed=3)
    pids = set(exp.enqueue(OptunaProposer().propose(exp, 3)))

    def worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "neurocodec_cli.main", "worker", "--storage", postgres, "--study", "dist",
             "--device", "cpu", "--artifacts", str(tmp_path / "artifacts"), "--heartbeat", "1", "--idle-exit", "6",
             "--keep-bitstreams"],
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
    assert set(redo.user_attrs["artifacts"]["bitstreams"]["chelsea.y4m"]) == {"22", "29", "35", "42"}
    assert all(r.score["clips"] == 2 and r.score["time_multiple"] > 0 for r in complete)
    frozen = {t.number: t for t in exp.study.get_trials()}
    assert all(sorted(frozen[r.number].intermediate_values) == [0, 1] for r in complete)
    host = socket.gethostname()
    assert all(exp.anchor_seconds(host, c) > 0 and len(exp.anchor_curve(c)) == 4 for c in ("chelsea.y4m", "coffee.y4m"))


def test_auto_constants_are_a_searchable_space(tmp_path):
    """auto's typed constants (and its effort as the preset) form a space, and a trial measures auto with them."""
    from neurocodec.experiments import load_space
    from neurocodec.experiments.evaluate import PreparedClip, curve_job, measure_curve
    from neurocodec.io import write_video
    from neurocodec.io.synthetic import pan_zoom, pan_zoom_info

    space = load_space(Path(__file__).parent.parent / "examples" / "spaces" / "auto_medium.toml")
    params = space.strategies["auto"].params
    assert params["preset"].choices == ("medium",) and params["candidates"].choices == (1, 2)
    assert (params["lambda-scale"].low, params["lambda-scale"].high) == (0.6, 1.6)
    nested = {"strategy": "auto", "preset": "medium", "candidates": 2, "probe-window": 12, "probe-points": 2,
              "calibrate": False, "lambda-scale": 1.5, "ladder-crf": 55}
    assert space.check(nested) == []
    assert space.check({**nested, "probe-window": 9})  # not one of the choices
    assert space.check({"strategy": "auto", "preset": "medium", "candidates": 1}) == []  # the rest only with 2
    assert space.check({"strategy": "auto", "preset": "medium", "candidates": 1, "probe-window": 12})
    strategy, preset, options = space.config_of(nested)
    y4m = tmp_path / "c.y4m"
    write_video(y4m, pan_zoom_info(64, 48, 4), pan_zoom(64, 48, 4, pan=(2.0, 1.0)))
    result = measure_curve(curve_job(PreparedClip("c.y4m", str(y4m)), strategy, preset, options, 4, "psnr_yuv"))
    rates = [p["bitrate_kbps"] for p in result["points"]]
    assert len(rates) == 4 and rates == sorted(rates, reverse=True)  # best quality first: a real RD curve

"""The training scaffold of `train intra` and `train enhance`: resume, limits, log, atomic checkpoints, export."""

from __future__ import annotations

import hashlib
import types

import pytest

torch = pytest.importorskip("torch")

from neurocodec.training import loop  # noqa: E402
from neurocodec.training.loop import TrainingJob, TrainingLoop, export, read_checkpoint  # noqa: E402


class _DiskFull:
    """Fails while a checkpoint is being written, as a full disk would."""

    def __reduce__(self):
        raise OSError("disk full")


class _Fit(TrainingJob):
    """Fits a small network's output to the sum of its inputs (any network with 6 input channels)."""

    def __init__(self, net=None):
        torch.manual_seed(0)
        self.net = net if net is not None else torch.nn.Conv2d(6, 6, 1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.disk_full = False

    def state(self):
        state = {"model": self.net.state_dict(), "opt": self.opt.state_dict()}
        return state | ({"oops": _DiskFull()} if self.disk_full else {})

    def restore(self, state):
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])

    def step(self, rng, progress):
        x = torch.from_numpy(rng.random((2, 6, 4, 4))).float()
        loss = ((self.net(x) - x.sum(1, keepdim=True)) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach(), "progress": progress}

    def describe(self, row):
        return f"loss {row['loss']:.4f}"


def _loop(out, steps, **kw):
    kw = {"log_every": 2, "ckpt_every": 3, "config": {"run": "test"}} | kw
    return TrainingLoop(out, steps=steps, **kw)


def _adam_steps(state) -> int:
    return int(next(iter(state["opt"]["state"].values()))["step"])


def test_resume_continues_from_the_checkpoint(tmp_path):
    path = _loop(tmp_path, 3).run(_Fit(), seed=1)
    first = read_checkpoint(path)
    assert first["step"] == 3 and _adam_steps(first) == 3 and first["config"] == {"run": "test"}
    resumed = _loop(tmp_path, 5, resume=True)
    assert resumed.resumed["step"] == 3
    job = _Fit()
    resumed.run(job, seed=1)
    last = read_checkpoint(path)
    assert last["step"] == 5 and _adam_steps(last) == 5  # the optimiser's state came along
    assert [row["step"] for row in last["log"]] == [2, 4]  # the first run's row, then this one's
    assert last["log"][0] == first["log"][0]
    assert not torch.equal(last["model"]["weight"], first["model"]["weight"])
    # Without --resume a run starts over, whatever the folder holds.
    fresh = _loop(tmp_path, 2)
    assert fresh.resumed is None
    assert read_checkpoint(fresh.run(_Fit(), seed=1))["step"] == 2


def test_same_settings_same_checkpoint(tmp_path):
    a = read_checkpoint(_loop(tmp_path / "a", 4).run(_Fit(), seed=3))
    b = read_checkpoint(_loop(tmp_path / "b", 4).run(_Fit(), seed=3))
    assert torch.equal(a["model"]["weight"], b["model"]["weight"])
    assert [r["loss"] for r in a["log"]] == [r["loss"] for r in b["log"]]


def test_log_rows_average_the_interval(tmp_path):
    rows = read_checkpoint(_loop(tmp_path, 4, log_every=4).run(_Fit(), seed=0))["log"]
    assert len(rows) == 1 and rows[0]["step"] == 4 and set(rows[0]) == {"step", "seconds", "loss", "progress"}
    assert rows[0]["progress"] == pytest.approx((0 + 1 + 2 + 3) / 4 / 4)  # steps 0..3 of 4


def test_time_limit_stops_and_writes_the_checkpoint(tmp_path, monkeypatch):
    clock = iter(range(1000))  # each reading one second later
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))
    state = read_checkpoint(_loop(tmp_path, 1000, time_limit_s=6.5, ckpt_every=1000).run(_Fit(), seed=0))
    # Readings: the start, one before each step, one per log row (every 2 steps): 7 s is read before step 5.
    assert state["step"] == 4
    assert state["log"][-1]["progress"] > 0.5  # time, not steps, drove progress


def test_a_failed_save_keeps_the_last_checkpoint(tmp_path):
    job = _Fit()
    path = _loop(tmp_path, 3).run(job, seed=0)
    job.disk_full = True
    with pytest.raises(OSError, match="disk full"):  # at the checkpoint of step 6
        _loop(tmp_path, 6, resume=True).run(job, seed=0)
    assert read_checkpoint(path)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no partial file left


def test_export_writes_the_registry_format_and_its_hash(tmp_path):
    from neurocodec.models.enhance import EnhanceNet
    from neurocodec.models.registry import load_enhance

    def build(state):
        net = EnhanceNet(4, 1)
        net.load_state_dict(state["model"])
        return net

    ckpt = _loop(tmp_path / "run", 2).run(_Fit(EnhanceNet(4, 1)), seed=0)
    path, digest = export(ckpt, tmp_path / "e.pt", "enhance", build, device="cpu")
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = load_enhance(path, expect_sha256=bytes.fromhex(digest))
    assert torch.equal(loaded.net.head.weight, read_checkpoint(ckpt)["model"]["head.weight"])
    record = torch.load(path, weights_only=True)["trained"]
    assert record["steps"] == 2 and record["device"] == "cpu" and record["last"]["step"] == 2
    again, digest2 = export(ckpt, tmp_path / "e.pt", "enhance", build, device="cpu")  # replaces its own output
    assert digest2 == digest

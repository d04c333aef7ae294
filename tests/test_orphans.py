"""Worker processes exit when the encode that started them is killed (issue 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import make_clip

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """``(ppid, state, start time)`` of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and brackets
    return int(fields[1]), fields[0], int(fields[19])


def _table() -> dict[int, tuple[int, str, int]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            out[int(entry)] = st
    return out


def _descendants(roots: set[int]) -> dict[int, int]:
    """Every live descendant of ``roots``: pid -> start time (which tells a reused pid apart)."""
    table = _table()
    found: dict[int, int] = {}
    frontier = set(roots)
    while frontier:
        frontier = {pid for pid, (ppid, state, _) in table.items()
                    if ppid in frontier and state != "Z" and pid not in found}
        found.update({pid: table[pid][2] for pid in frontier})
    return found


def _alive(procs: dict[int, int]) -> dict[int, int]:
    """The processes of ``procs`` still running (a zombie has exited, whoever reaps it)."""
    out = {}
    for pid, start in procs.items():
        st = _stat(pid)
        if st is not None and st[1] != "Z" and st[2] == start:
            out[pid] = start
    return out


def _workers(procs: dict[int, int]) -> int:
    n = 0
    for pid in procs:
        try:
            n += b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            pass
    return n


def test_workers_exit_when_the_encode_is_killed(tmp_path):
    clip = make_clip(tmp_path / "clip.y4m", 240, 176, 150)
    cmd = [sys.executable, "-m", "neurocodec_cli.main", "encode", str(clip), str(tmp_path / "out.ncv"),
           "--workers", "2", "-s", "x264", "--segment-frames", "10", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while _workers(family) < 2:
            assert proc.poll() is None, "the encode ended before its workers could be seen"
            assert time.monotonic() < deadline, "no two workers appeared within 60 s"
            time.sleep(0.05)
            family = _descendants({proc.pid})
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while (left := _alive(family | _descendants(set(family)))) and time.monotonic() < deadline:
            family |= left
            time.sleep(0.2)
        assert not left, f"processes left behind 10 s after the encode was killed: {sorted(left)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _alive(family):
            os.kill(pid, signal.SIGKILL)

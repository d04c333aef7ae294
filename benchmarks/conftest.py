"""Benchmark suite (pytest-benchmark): run on purpose, never by CI.

    pytest benchmarks --media ../shared/data/video [--bench-frames 32] [--bench-clips a.mp4,b.264]

or set NEUROCODEC_MEDIA. Without media the whole suite skips.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

os.environ.setdefault("SVT_LOG", "1")

#: Development clips used when the media folder holds them (720p, talking head, high motion, screen content).
DEFAULT_CLIPS = (
    "sam2_cups_720p.mp4",
    "akiyo_cif_300f.mp4",
    "gym_basketball_426x240_300f.mp4",
    "pdf_scroll_screen_1024x768_50f.264",
)
_VIDEO = {".mp4", ".mkv", ".webm", ".avi", ".flv", ".y4m", ".264", ".265"}


def pytest_addoption(parser):
    parser.addoption("--media", default=os.environ.get("NEUROCODEC_MEDIA"), help="Folder of benchmark clips.")
    parser.addoption("--bench-frames", type=int, default=32, help="Frames taken from each clip.")
    parser.addoption("--bench-clips", default=None, help="Comma-separated clip names inside --media.")


def _clip_names(config) -> list[Path]:
    media = config.getoption("--media")
    if not media:
        return []
    root = Path(media)
    wanted = config.getoption("--bench-clips")
    if wanted:
        return [root / n for n in wanted.split(",")]
    present = [root / n for n in DEFAULT_CLIPS if (root / n).exists()]
    return present or sorted(p for p in root.iterdir() if p.suffix.lower() in _VIDEO)


def pytest_generate_tests(metafunc):
    if "clip" in metafunc.fixturenames:
        clips = _clip_names(metafunc.config)
        if clips:
            metafunc.parametrize("clip", clips, ids=[c.name for c in clips])
        else:
            metafunc.parametrize("clip", [pytest.param(None, marks=pytest.mark.skip(reason="no --media / NEUROCODEC_MEDIA given"))])


@pytest.fixture()
def clip_y4m(clip, request, tmp_path_factory):
    """The first --bench-frames frames of the clip as y4m (identical input for every codec)."""
    from neurocodec.io import open_source, write_video

    frames = request.config.getoption("--bench-frames")
    out = tmp_path_factory.mktemp("bench") / f"{clip.stem}.y4m"
    with open_source(clip) as src:
        write_video(out, src.info, itertools.islice(src.frames(), frames))
    return out

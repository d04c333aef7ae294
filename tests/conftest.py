"""Shared fixtures: small clips made from photographs scikit-image ships."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SVT_LOG", "1")  # silence SVT-AV1's banner


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("clips")


def make_clip(path, width=96, height=64, frames=8, fps=25, **kw):
    """Write a pan/zoom clip as y4m and return its path."""
    from neurocodec.io import write_video
    from neurocodec.io.synthetic import pan_zoom, pan_zoom_info

    write_video(path, pan_zoom_info(width, height, frames, fps), pan_zoom(width, height, frames, **kw), overwrite=True)
    return path


@pytest.fixture(scope="session")
def small_clip(clip_dir):
    """96x64, 8 frames, panning over the astronaut photograph."""
    return make_clip(clip_dir / "small.y4m")


@pytest.fixture(scope="session")
def odd_clip(clip_dir):
    """Odd size (75x47), 6 frames, panning and zooming over the coffee photograph."""
    return make_clip(clip_dir / "odd.y4m", 75, 47, 6, image="coffee", pan=(1.3, 0.4), zoom=-0.01)


@pytest.fixture(scope="session")
def det_clip(clip_dir):
    """128x96, 9 frames, for byte-identity tests (widths that are not a multiple of 128 px are covered by
    tests/test_determinism_x264.py)."""
    return make_clip(clip_dir / "det.y4m", 128, 96, 9, image="chelsea", pan=(1.7, 0.6))


def make_pairs(root: Path) -> Path:
    """Tiny enhancement training pairs (``train pairs`` on one generated clip) in ``root/p``; returns pairs.npz."""
    from click.testing import CliRunner

    from neurocodec_cli.main import cli

    src = root / "src"
    src.mkdir()
    make_clip(src / "a.y4m", 96, 64, 4, image="coffee", pan=(1.0, 0.0))
    r = CliRunner().invoke(cli, ["train", "pairs", "--data", str(src), "--out", str(root / "p"), "--sequences", "2",
                                 "--frames", "2", "--crop", "64"])
    assert r.exit_code == 0, r.output
    return root / "p" / "pairs.npz"

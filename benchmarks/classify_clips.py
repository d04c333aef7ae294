"""Agreement of the scene classifier with the human labels of the development clips.

Run by hand (not collected by pytest)::

    .venv/bin/python benchmarks/classify_clips.py ../shared/data/video

For every clip listed in the media README next to the video folder (single
files and folders of frames), the first ``--frames`` frames (150 by default)
are treated as one scene: features from
:class:`neurocodec.analysis.features.FeatureExtractor`, class from
:func:`neurocodec.analysis.classify.classify`. Prints a table, the confusion
matrix, the agreement, a leave-one-out estimate (thresholds re-tuned without
the clip being judged) and the extractor's speed. Clips labelled
``animation`` are listed apart: that is not one of our classes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from neurocodec.analysis.classify import CLASSES, THRESHOLDS, classify
from neurocodec.analysis.features import FeatureExtractor
from neurocodec.io import open_source

HUMAN = ("static", "talking_head", "moderate_motion", "high_motion", "screen_content", "animation")
_ROW = re.compile(r"^\|\s*\d+\s*\|\s*`([^`]+)`")
_CLASS = re.compile(r"\*\*(" + "|".join(HUMAN) + r")\*\*")

#: Thresholds re-tuned in the leave-one-out estimate, with the values tried.
LOO_GRID = {
    "HIGH_MOTION": [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6],
    "TALKING_MAX_MOTION": [0.3, 0.45, 0.6, 0.8, 1.0],
    "STATIC_MOTION": [0.05, 0.1, 0.15, 0.2, 0.3],
    "STATIC_P95": [0.2, 0.3, 0.45, 0.6, 0.8],
    "FACE_MIN_PRESENCE": [0.2, 0.4, 0.6, 0.8],
    "STATIC_COVERAGE": [0.0, 0.01, 0.02, 0.05],
}


def listed_clips(readme: Path) -> list[tuple[str, str]]:
    """``(name, human class)`` for each row of the README's video table."""
    clips = []
    for line in readme.read_text().splitlines():
        m = _ROW.match(line)
        c = _CLASS.search(line)
        if m and c:
            clips.append((m.group(1).split(" (")[0].strip().rstrip("/"), c.group(1)))
    return clips


def measure(path: Path, max_frames: int, repeat: int) -> tuple[dict[str, float], dict]:
    """Features of the clip's first frames, and the time push() took per frame.

    Frames are decoded first, so the decoder's threads do not compete with the extractor's;
    the time is the fastest of ``repeat`` runs over the same frames (the machine is shared).
    """
    with open_source(path) as src:
        frames = list(itertools.islice(src.frames(), max_frames))
        info = {"width": src.info.width, "height": src.info.height, "fps": float(src.info.fps), "frames": len(frames)}
    runs = []
    for _ in range(repeat):
        fx = FeatureExtractor(src.info.fps)
        t0 = time.perf_counter()
        for frame in frames:
            fx.push(frame)
        runs.append(1e3 * (time.perf_counter() - t0) / len(frames))
    info["ms_per_frame"] = min(runs)
    return fx.scene_features(0, len(frames)), info


def confusion(rows: list[dict]) -> tuple[list[str], np.ndarray]:
    humans = [h for h in HUMAN if h != "animation" and any(r["human"] == h for r in rows)]
    m = np.zeros((len(humans), len(CLASSES)), dtype=int)
    for r in rows:
        m[humans.index(r["human"]), CLASSES.index(r["pred"])] += 1
    return humans, m


def kappa(humans: list[str], m: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix (rows: ``humans``, columns: :data:`CLASSES`)."""
    n = m.sum()
    rows = {h: m[i] for i, h in enumerate(humans)}
    observed = sum(rows[h][CLASSES.index(h)] for h in rows if h in CLASSES) / n
    col = m.sum(axis=0) / n
    expected = sum(rows[h].sum() / n * col[CLASSES.index(h)] for h in rows if h in CLASSES)
    return float((observed - expected) / (1 - expected)) if expected < 1 else 1.0


def leave_one_out(rows: list[dict]) -> tuple[int, int, dict[str, float], int]:
    """Grid search over :data:`LOO_GRID`, in sample and leave-one-out.

    Returns the correct predictions when each clip is judged with thresholds tuned on the
    other clips only, the best in-sample count on the grid and its thresholds, and the
    number of folds whose tuned thresholds were the defaults.
    """
    names = list(LOO_GRID)
    combos = list(itertools.product(*(LOO_GRID[n] for n in names)))
    correct = np.array(
        [[classify(r["features"], thresholds=dict(zip(names, c))) == r["human"] for r in rows] for c in combos]
    )
    # Ties between combinations go to the one closest to the defaults (relative distance).
    dist = np.array([sum(abs(v / THRESHOLDS[n] - 1) if THRESHOLDS[n] else abs(v) for n, v in zip(names, c))
                     for c in combos])
    total = correct.sum(axis=1)

    def best(score: np.ndarray) -> int:
        top = np.flatnonzero(score == score.max())
        return int(top[np.argmin(dist[top])])

    hits = defaults = 0
    for i in range(len(rows)):
        k = best(total - correct[:, i])
        hits += bool(correct[k, i])
        defaults += all(v == THRESHOLDS[n] for n, v in zip(names, combos[k]))
    k = best(total)
    return hits, int(total[k]), dict(zip(names, combos[k])), defaults


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video_dir", type=Path)
    ap.add_argument("--readme", type=Path, help="media README with the labels (default: video_dir/../README.md)")
    ap.add_argument("--frames", type=int, default=150, help="frames per clip (default 150)")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per clip; the fastest counts (default 3)")
    ap.add_argument("--json", type=Path, help="also write every clip's features here")
    args = ap.parse_args(argv)
    readme = args.readme or args.video_dir.parent / "README.md"
    clips = listed_clips(readme)
    if not clips:
        print(f"no labelled clips found in {readme}", file=sys.stderr)
        return 1

    rows = []
    for name, human in clips:
        path = args.video_dir / name
        if not path.exists():
            print(f"skipping {name}: not in {args.video_dir}", file=sys.stderr)
            continue
        feats, info = measure(path, args.frames, max(1, args.repeat))
        rows.append({"clip": name, "human": human, "pred": classify(feats), "features": feats, **info})

    cols = [
        ("motion", "motion_mean"),
        ("p95", "motion_p95"),
        ("global", "motion_global"),
        ("local", "motion_local"),
        ("tdiff", "temporal_diff"),
        ("spatial", "spatial_complexity"),
        ("fade", "fade_ratio"),
        ("flat", "flat_blocks"),
        ("levels", "level_concentration"),
        ("sharp", "sharp_edges"),
        ("face", "face_presence"),
    ]
    head = "| clip | size | frames | human | predicted | " + " | ".join(c for c, _ in cols) + " | ms/frame |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    order = {h: i for i, h in enumerate(HUMAN)}
    rows.sort(key=lambda r: (order[r["human"]], r["features"]["motion_mean"]))
    for r in rows:
        mark = "" if r["human"] == "animation" else (" ✓" if r["pred"] == r["human"] else " ✗")
        vals = " | ".join(f"{r['features'][k]:.2f}" for _, k in cols)
        print(
            f"| {r['clip']} | {r['width']}x{r['height']} | {r['frames']} | {r['human']} | {r['pred']}{mark} "
            f"| {vals} | {r['ms_per_frame']:.1f} |"
        )

    judged = [r for r in rows if r["human"] != "animation"]
    humans, m = confusion(judged)
    print("\nConfusion (rows: human label, columns: predicted)\n")
    print("| human \\ predicted | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---|" * len(CLASSES))
    for h, line in zip(humans, m):
        print(f"| {h} | " + " | ".join(str(v) for v in line) + " |")
    hits = sum(r["pred"] == r["human"] for r in judged)
    n = len(judged)
    print(f"\nAgreement: {hits}/{n} = {hits / n:.0%} (thresholds tuned on these clips)", end="")
    print(f"; Cohen's kappa {kappa(humans, m):.2f}")
    counts = {h: sum(r["human"] == h for r in judged) for h in humans}
    major = max(counts, key=counts.get)
    print(f"Baseline, always '{major}': {counts[major]}/{n} = {counts[major] / n:.0%}")
    loo_hits, grid_hits, grid_best, same = leave_one_out(judged)
    print(
        f"Leave-one-out (thresholds {', '.join(LOO_GRID)} re-tuned on the other clips): "
        f"{loo_hits}/{n} = {loo_hits / n:.0%}; the re-tuned thresholds were the defaults in {same}/{n} folds"
    )
    print(f"Best on the grid, in sample: {grid_hits}/{n} with " + ", ".join(f"{k}={v}" for k, v in grid_best.items()))

    anim = [r for r in rows if r["human"] == "animation"]
    if anim:
        print("\nAnimation clips (not a class of ours; their motion class is what matters):")
        for r in anim:
            print(f"  {r['clip']}: {r['pred']} (motion {r['features']['motion_mean']:.2f} %w/frame)")

    frames = sum(r["frames"] for r in rows)
    mean_ms = sum(r["ms_per_frame"] * r["frames"] for r in rows) / frames
    hd = [r for r in rows if (r["width"], r["height"]) == (1280, 720)]
    print(f"\nSpeed: {mean_ms:.2f} ms/frame over all {frames} frames", end="")
    if hd:
        hd_ms = sum(r["ms_per_frame"] * r["frames"] for r in hd) / sum(r["frames"] for r in hd)
        print(f"; {hd_ms:.2f} ms/frame over the {len(hd)} 1280x720 clips", end="")
    print(f" (push() only, decoding excluded, fastest of {max(1, args.repeat)} runs)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

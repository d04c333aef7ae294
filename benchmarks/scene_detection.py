"""Shot-boundary detection: precision, recall and speed against hand-checked ground truth.

Run by hand (not collected by pytest):

    .venv/bin/python benchmarks/scene_detection.py ../shared/data/video
    .venv/bin/python benchmarks/scene_detection.py ../shared/data/video --variants both,scdet-full --no-extra
    .venv/bin/python benchmarks/scene_detection.py ../shared/data/video --derive-truth
    .venv/bin/python benchmarks/scene_detection.py --synthetic-only

For every detector variant it prints, per clip, the cuts found, true and false
positives, precision, recall (raw, and "achievable": against the largest set of
true cuts that the minimum-scene rule lets a detector report), the gradual
transitions found, and the detector's own time per frame (decoding excluded).
Two synthetic sets follow, scored as totals with a tolerance of one frame: the
hard-cut clips of ``neurocodec.io.synthetic.hard_cut_clips`` and the five-shot
pattern clip of issue 13 at many seeds.
How the ground truth below was obtained is in docs/scene-detection.md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from neurocodec.analysis.shots import ShotDetector, ShotTuning
from neurocodec.io.frame import Frame
from neurocodec.io.readers import open_source


def _ls_sva_d_shots() -> list[int]:
    """Shot lengths of multiscene_qcif_1700f.264 (the JVT conformance stream LS_SVA_D).

    Found by tracking which of the six sequences each frame shows (nearest neighbour of an
    8x8-block-mean thumbnail of Y, U and V against the latest thumbnail of each sequence;
    the best match was always at least 4 times closer than the second best) and checked on
    contact sheets. Frames 0-599 alternate container/foreman, 600-1199 paris/silent,
    1200-1699 mobile/tempete, with shots of 1, 1, 2, 2, ..., 14, 14 frames (210 frames),
    repeated, and each part cut short as below.
    """
    ramp = [n for k in range(1, 15) for n in (k, k)]
    part = ramp + ramp + ramp[:24] + [12, 12]  # 600 frames
    last = ramp + ramp + ramp[:16] + [4, 4]  # 500 frames
    return part + part + last


@dataclass
class Truth:
    """Ground truth of one clip: cut frames (first frame of the new shot) and gradual transitions."""

    cuts: list[int]
    gradual: list[tuple[int, str, int]] = field(default_factory=list)  # (first frame, kind, length)
    also_ok: dict[int, set[int]] = field(default_factory=dict)  # cut -> other frames that count as finding it
    note: str = ""


#: The three clips the measurement is about.
CLIPS: dict[str, Truth] = {
    # Checked frame by frame: foreman / news presenter / foreman / dancers / foreman / news presenter.
    # scdet also fires at 22, a fast pan right after the cut at 21 (not a cut).
    "multiscene_qcif_62f.264": Truth([10, 21, 31, 41, 51]),
    # The data README's "hard cut" near 83-90 is a fast camera tilt from the sky down to a field
    # (frames 84-91), not a cut. Frames 170-180 repeat one picture; from 181 the mean luma falls
    # linearly (-1.58 per frame, max deviation 1.0) from 172.6 to 17.8 at frame 279, the last:
    # a 100-frame linear fade (blend weight 0.99 at 181, 0.90 at 190, 0.80 at 200) whose weight-1
    # frame is 180, so the first faded frame is 181 and the fade runs to the end (99 frames).
    "airplane_field_640x360_280f.mp4": Truth([], [(181, "fade", 99)]),
    "multiscene_qcif_1700f.264": Truth(list(itertools.accumulate(_ls_sva_d_shots()))[:-1]),
}

#: Other shared clips, used only to count false alarms; each was looked at on contact sheets.
EXTRA: dict[str, Truth] = {
    # Handheld close-up of a cockatoo: jerky motion at 134 and 145, a blurred pull-back at 156-159.
    "cockatoo_720p_280f.mp4": Truth([], note="one handheld shot"),
    # A blurred whip pan at 204-210; corrupt frames 229-267 (decoder damage) between two cuts.
    "arm_wrestling_340x256_280f.mp4": Truth([229, 268], also_ok={229: {230}}, note="whip pan at 206"),
    "gym_basketball_426x240_300f.mp4": Truth([], note="one shot"),
    "pool_cleaning_340x256_300f.mp4": Truth([], note="one shot"),
    "sam2_dog_720p.mp4": Truth([], note="one shot"),
    "chaplin_bw_film_640x360_241f.mp4": Truth([], note="one shot"),
    "white_flower_720p_300f.264": Truth([], note="one shot"),
    "foreman_cif_300f_intra.264": Truth([], note="one shot, fast pan at the end"),
    "akiyo_cif_300f.mp4": Truth([], note="one shot"),
}


def _blend(f: Frame, g: Frame | None, a: float) -> Frame:
    """(1 - a) f + a g, plane by plane; g None means black (Y 16, U and V 128)."""
    ends = (16.0, 128.0, 128.0) if g is None else [p.astype(np.float32) for p in g.planes()]
    return Frame(*(
        np.clip(np.rint((1 - a) * p.astype(np.float32) + a * q), 0, 255).astype(np.uint8)
        for p, q in zip(f.planes(), ends)
    ))


def synthetic() -> dict[str, tuple[list[Frame], Truth]]:
    """Clips made from photographs (no data needed): known cuts, fades and dissolves, hard motion."""
    from neurocodec.io.synthetic import pan_zoom

    w, h = 320, 180

    def clip(n, image, pan=(2.0, 1.0), zoom=0.0, scale=None):
        return list(pan_zoom(w, h, n, image=image, pan=pan, zoom=zoom, start_scale=scale))

    out = {}
    shots = [
        clip(20, "astronaut", (3, 1)),
        clip(15, "coffee", (-12, 4), -0.01),  # fast pan and zoom
        clip(12, "astronaut", (1, 0), 0.0, 0.7),  # the first picture again, closer: same scene, new framing
        clip(18, "chelsea", (20, -6)),  # very fast pan
        clip(10, "rocket", (0, 2), 0.02, 1.2),  # fast zoom out
        clip(16, "camera", (-4, -4)),
        clip(14, "coffee", (2, 2), 0.0, 1.2),
    ]
    frames = [f for sh in shots for f in sh]
    out["synthetic cuts"] = (frames, Truth(list(itertools.accumulate(len(sh) for sh in shots))[:-1]))
    a, b = clip(40, "astronaut", (4, 1)), clip(40, "coffee", (-3, 1))
    fades = a[:20] + [_blend(a[20 + k], None, (k + 1) / 13) for k in range(12)] + [_blend(a[0], None, 1.0)] * 6
    fades += [_blend(b[k], None, 1 - (k + 1) / 13) for k in range(12)] + b[12:32]
    out["synthetic fade out/in"] = (fades, Truth([], [(20, "fade", 12), (38, "fade", 12)]))
    a, b = clip(45, "chelsea", (3, 1)), clip(45, "rocket", (-2, 1), -0.004)
    diss = a[:20] + [_blend(a[20 + k], b[k], (k + 1) / 17) for k in range(16)] + b[16:40]
    out["synthetic dissolve"] = (diss, Truth([], [(20, "dissolve", 16)]))
    out["synthetic fast motion"] = (
        clip(40, "astronaut", (24, 10), -0.01) + clip(40, "camera", (-30, 0)), Truth([40]))
    return out


def issue_clips(seeds: range = range(30)):
    """The clip of issue 13 (160x96, 150 frames): a pan over noise, moving bars, a flat field with a
    moving block, a moving gradient and the pan again, cuts at 24, 54, 84 and 114; per seed, with
    the noise panning by whole pixels (3, 1) and by sub-pixel steps (1.5, 0.5) per frame."""
    from neurocodec.io.synthetic import concat_shots, pattern

    for seed in seeds:
        for motion in ((3.0, 1.0), (1.5, 0.5)):
            frames, cuts = concat_shots([
                pattern(160, 96, 24, kind="noise", motion=motion, seed=seed),
                pattern(160, 96, 30, kind="bars", motion=(2, 0), seed=seed + 100),
                pattern(160, 96, 30, kind="block", motion=(3, 2), seed=seed + 200),
                pattern(160, 96, 30, kind="gradient", motion=(2, 1), seed=seed + 300),
                pattern(160, 96, 36, kind="noise", motion=motion, seed=seed),
            ])
            yield f"issue 13 layout, seed {seed}, noise pan {motion}", frames, cuts


def hard_cut_sets(seeds: list[int]):
    from neurocodec.io.synthetic import hard_cut_clips

    for seed in seeds:
        for name, frames, cuts in hard_cut_clips(seed=seed):
            yield f"seed {seed}, {name}", frames, cuts


def score_set(title: str, clips, variants: list[str]) -> None:
    """Totals over a set of synthetic clips: a cut within one frame of a true one counts, each
    once; a gradual transition is a false boundary (none of these clips has one)."""
    tot = {v: {"truth": 0, "found": 0, "tp": 0, "gradual": 0, "frames": 0, "time": 0.0, "missed": []}
           for v in variants}
    for name, frames, cuts in clips:
        for v in variants:
            found, n, spent, _ = run_detector(frames, Fraction(25), VARIANTS[v])
            t = tot[v]
            starts = [x.frame for x in found if x.kind == "cut"]
            left = list(starts)
            for c in cuts:
                near = [x for x in left if abs(x - c) <= 1]
                if near:
                    left.remove(near[0])
                    t["tp"] += 1
                else:
                    t["missed"].append(f"{name}: {c}")
            t["truth"] += len(cuts)
            t["found"] += len(starts)
            t["gradual"] += len(found) - len(starts)
            t["frames"] += n
            t["time"] += spent
    print(f"== {title}")
    for v in variants:
        t = tot[v]
        fp = t["found"] - t["tp"] + t["gradual"]
        print(f"   {v:12s} cuts {t['truth']}  found {t['tp']}  false {fp} (gradual {t['gradual']})"
              f"  P {t['tp'] / max(1, t['tp'] + fp):.3f}  R {t['tp'] / max(1, t['truth']):.3f}"
              f"  {t['time'] / max(1, t['frames']) * 1e3:.2f} ms/frame")
        for m in t["missed"][:6]:
            print(f"      missed {m}")
        if len(t["missed"]) > 6:
            print(f"      ... and {len(t['missed']) - 6} more")


VARIANTS: dict[str, ShotTuning] = {
    "scdet-full": ShotTuning(cut_method="scdet", scdet_input="full"),  # FFmpeg's scdet on whole YUV frames
    "scdet-thumb": ShotTuning(cut_method="scdet", scdet_input="thumb"),  # scdet on the grey 160-px thumbnail
    "own-plain": ShotTuning(cut_method="own", search=0),  # our adaptive test on the plain frame difference
    "own": ShotTuning(cut_method="own"),  # our adaptive test on the motion-tolerant difference
    "both-full": ShotTuning(cut_method="both", scdet_input="full"),
    "both": ShotTuning(),  # the default: own confirmed by scdet (on the thumbnail) or decisive alone
}


def derive_ls_sva_d_cuts(path: Path) -> tuple[list[int], int, float]:
    """Re-derive the cuts of multiscene_qcif_1700f.264 by tracking sequence identity.

    Each frame's thumbnail (8x8 block means of Y, U and V) is matched to the latest thumbnail
    of every sequence seen so far; a frame farther than 15 levels from all of them starts a
    new sequence. Returns the cuts, the number of sequences and the smallest ratio of the
    second-best to the best match distance (how unambiguous the tracking was).
    """

    def blocks(p: np.ndarray, b: int = 8) -> np.ndarray:
        h, w = p.shape[0] // b * b, p.shape[1] // b * b
        return p[:h, :w].astype(np.float32).reshape(h // b, b, w // b, b).mean(axis=(1, 3)).ravel()

    latest: list[np.ndarray] = []
    labels: list[int] = []
    worst = np.inf
    with open_source(path) as src:
        for f in src.frames():
            t = np.concatenate([blocks(f.y), blocks(f.u), blocks(f.v)])
            d = np.array([np.abs(t - x).mean() for x in latest])
            if not len(d) or d.min() > 15:
                latest.append(t)
                labels.append(len(latest) - 1)
                continue
            order = np.argsort(d)
            if len(d) > 1:
                worst = min(worst, d[order[1]] / max(d[order[0]], 1e-3))
            labels.append(int(order[0]))
            latest[order[0]] = t
    cuts = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
    return cuts, len(latest), float(worst)


def fade_report(path: Path, start: int = 160) -> None:
    """Print the per-frame mean luma of airplane_field_640x360_280f.mp4 from ``start`` and a
    linear fit of the fade, which fixes its first frame."""
    with open_source(path) as src:
        means = np.array([float(f.y.mean()) for f in src.frames()])
    diffs = np.abs(np.diff(means))
    frozen = int(np.argmax(diffs[start:] > 0.05)) + start  # last frame of the still run from ``start``
    first = frozen + 1 + int(np.argmax(means[frozen + 1 :] < means[frozen] - 0.5))
    k = np.arange(first, len(means))
    slope, icpt = np.polyfit(k, means[k], 1)
    print(f"mean luma {start}..{len(means) - 1}:", " ".join(f"{i}:{m:.2f}" for i, m in enumerate(means) if i >= start))
    print(f"still picture until frame {frozen} (mean {means[frozen]:.2f}); first darker frame {first} "
          f"({means[first]:.2f}); fit {slope:.3f} per frame, max deviation "
          f"{np.abs(np.polyval((slope, icpt), k) - means[k]).max():.2f}; the fitted line crosses the still "
          f"level at frame {(means[frozen] - icpt) / slope:.2f}; last frame {len(means) - 1} ({means[-1]:.2f})")


def achievable(cuts: list[int], min_frames: int) -> list[int]:
    """The largest subset of ``cuts`` with gaps of at least ``min_frames`` (greedy from the start)."""
    out: list[int] = []
    for c in cuts:
        if not out or c - out[-1] >= min_frames:
            out.append(c)
    return out


def run_detector(frames, fps: Fraction, tuning: ShotTuning) -> tuple[list, int, float, int]:
    """Transitions, frame count, seconds spent in the detector, and its minimum scene length."""
    det = ShotDetector(fps, tuning=tuning)
    n = 0
    spent = 0.0
    for f in frames:
        t0 = time.perf_counter()
        det.push(f)
        spent += time.perf_counter() - t0
        n += 1
    t0 = time.perf_counter()
    out = det.finish()
    spent += time.perf_counter() - t0
    return out, n, spent, det.min_scene_frames


def score(found, truth: Truth, min_frames: int) -> dict:
    cuts = [t.frame for t in found if t.kind == "cut"]
    matched: set[int] = set()
    tp = 0
    for c in cuts:
        hit = next((g for g in truth.cuts if g not in matched and (c == g or c in truth.also_ok.get(g, ()))), None)
        if hit is not None:
            matched.add(hit)
            tp += 1
    reach = achievable(truth.cuts, min_frames)
    grad = [t for t in found if t.kind != "cut"]
    grad_ok = [
        g for g in truth.gradual if any(t.kind == g[1] and abs(t.frame - g[0]) <= 2 for t in grad)
    ]
    return {
        "found": len(cuts),
        "tp": tp,
        "fp": len(cuts) - tp,
        "truth": len(truth.cuts),
        "reach": len(reach),
        "precision": tp / len(cuts) if cuts else 1.0,
        "recall": tp / len(truth.cuts) if truth.cuts else 1.0,
        "recall_reach": min(1.0, tp / len(reach)) if reach else 1.0,
        "fp_frames": [c for c in cuts if c not in truth.cuts and not any(c in v for v in truth.also_ok.values())],
        "gradual": [(t.frame, t.kind, t.length) for t in grad],
        "gradual_ok": len(grad_ok),
        "gradual_truth": len(truth.gradual),
    }


def decoded(path: Path, limit: int | None = None) -> tuple[list[Frame], Fraction]:
    with open_source(path) as src:
        frames = list(itertools.islice(src.frames(), limit))
        return frames, src.info.fps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("media", type=Path, nargs="?", help="folder holding the shared clips")
    ap.add_argument("--synthetic-only", action="store_true", help="only the synthetic clips and sets (no media)")
    ap.add_argument("--hard-cut-seeds", default="0,1,2,3", help="seeds of the hard-cut set (50 cuts each)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--no-extra", action="store_true", help="skip the false-alarm check on other clips")
    ap.add_argument("--speed", default="sam2_dog_720p.mp4,two_people_room_1080p_72f.mp4",
                    help="clips timed for speed (first 60 frames, decoded beforehand)")
    ap.add_argument("--derive-truth", action="store_true",
                    help="re-derive the ground truth of the 1700-frame clip and the airplane fade, then stop")
    args = ap.parse_args(argv)
    if args.media is None and not args.synthetic_only:
        ap.error("give the media folder, or --synthetic-only")
    if args.derive_truth:
        cuts, seqs, worst = derive_ls_sva_d_cuts(args.media / "multiscene_qcif_1700f.264")
        same = cuts == CLIPS["multiscene_qcif_1700f.264"].cuts
        print(f"multiscene_qcif_1700f.264: {seqs} sequences, {len(cuts)} cuts, second/best match distance "
              f">= {worst:.2f}; equal to the list in this script: {same}")
        fade_report(args.media / "airplane_field_640x360_280f.mp4")
        return 0 if same else 1
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}")
    groups = [] if args.synthetic_only else [("ground truth", CLIPS)]
    if not (args.no_extra or args.synthetic_only):
        groups.append(("false-alarm check", EXTRA))
    groups.append(("synthetic", None))
    totals = {v: {"tp": 0, "fp": 0, "truth": 0, "reach": 0, "frames": 0, "time": 0.0} for v in variants}
    for title, clips in groups:
        print(f"== {title}")
        made = synthetic() if clips is None else {}
        for name, truth in (clips or {k: v[1] for k, v in made.items()}).items():
            if clips is None:
                frames, fps = made[name][0], Fraction(25)
            else:
                path = args.media / name
                if not path.exists():
                    print(f"{name}: missing, skipped")
                    continue
                frames, fps = decoded(path)
            h, w = frames[0].height, frames[0].width
            print(f"-- {name} ({w}x{h}, {len(frames)} frames; truth: {len(truth.cuts)} cuts, "
                  f"{len(truth.gradual)} gradual {truth.gradual or ''}) {truth.note}")
            for v in variants:
                found, n, spent, min_frames = run_detector(frames, fps, VARIANTS[v])
                s = score(found, truth, min_frames)
                if title == "ground truth":
                    t = totals[v]
                    for k in ("tp", "fp", "truth", "reach"):
                        t[k] += s[k]
                    t["frames"] += n
                    t["time"] += spent
                fp = s["fp_frames"]
                print(
                    f"   {v:12s} cuts {s['found']:3d}  TP {s['tp']:3d}  FP {s['fp']:2d}"
                    f"  P {s['precision']:.3f}  R {s['recall']:.3f}"
                    f"  R(achievable, {s['reach']}) {s['recall_reach']:.3f}"
                    f"  gradual {s['gradual_ok']}/{s['gradual_truth']} {s['gradual']}"
                    f"  {spent / n * 1e3:.2f} ms/frame" + (f"  FP at {fp[:12]}" if fp else "")
                )
            del frames
    seeds = [int(x) for x in args.hard_cut_seeds.split(",") if x.strip()]
    score_set(f"synthetic hard cuts (hard_cut_clips, seeds {seeds})", hard_cut_sets(seeds), variants)
    score_set("synthetic issue 13 layout (30 seeds x 2 noise pans)", issue_clips(), variants)
    if args.synthetic_only:
        return 0
    print("== totals over the ground-truth clips")
    for v in variants:
        t = totals[v]
        if not t["frames"]:
            continue
        p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 1.0
        print(f"   {v:12s} TP {t['tp']}  FP {t['fp']}  P {p:.3f}  R {t['tp'] / t['truth']:.3f}"
              f"  R(achievable) {min(1.0, t['tp'] / t['reach']):.3f}  {t['time'] / t['frames'] * 1e3:.2f} ms/frame")
    speed = [s.strip() for s in args.speed.split(",") if s.strip()]
    if speed:
        print("== speed (detector only, frames decoded beforehand)")
    for name in speed:
        path = args.media / name
        if not path.exists():
            print(f"{name}: missing, skipped")
            continue
        frames, fps = decoded(path, 60)
        for v in variants:
            best = min(run_detector(frames, fps, VARIANTS[v])[2] for _ in range(3))
            print(f"   {name} ({frames[0].width}x{frames[0].height}) {v:12s} {best / len(frames) * 1e3:.2f} ms/frame")
        del frames
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

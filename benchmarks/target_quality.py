"""Target-quality mode against the cheapest fixed-CRF x265 encode meeting the same per-scene floor.

    python benchmarks/target_quality.py CLIP [FRAMES] [PSNR] [SSIM]

Both encodes use the same detected scenes. For x265 the CRF is lowered from
51 (its maximum) until every scene's mean PSNR-YUV and SSIM meet the targets; that encode's
size is the reference.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path

import neurocodec
from neurocodec.io import open_source, write_video


def main(clip: str, frames: int = 64, psnr: float = 35.0, ssim: float = 0.95) -> None:
    tmp = Path(tempfile.mkdtemp())
    src = tmp / "src.y4m"
    with open_source(clip) as s:
        write_video(src, s.info, itertools.islice(s.frames(), frames))
    scenes = tmp / "scenes.json"
    t = time.time()
    auto = neurocodec.encode(src, tmp / "auto.ncv", strategy="auto", target_psnr=psnr, target_ssim=ssim, write_scenes=scenes)
    t_auto = time.time() - t
    print(f"{Path(clip).name}: {auto.frames} frames, {len(auto.segments)} scenes")
    for seg in auto.segments:
        q = seg.quality
        print(f"  auto scene {seg.index} ({seg.scene_class}): {seg.strategy} crf {seg.params['options'].get('crf')}, "
              f"PSNR-YUV {q['psnr_yuv']:.2f}, SSIM {q['ssim']:.4f}, met {seg.target_met}")
    print(f"  auto target mode: {auto.bitrate_kbps:.1f} kb/s ({t_auto:.0f} s)")
    for crf in range(51, 9, -1):
        r = neurocodec.encode(src, tmp / "x265.ncv", strategy="x265", crf=crf, scenes_file=scenes, overwrite=True)
        if all(s.quality["psnr_yuv"] >= psnr and s.quality["ssim"] >= ssim for s in r.segments):
            print(f"  x265 medium, lowest fixed CRF meeting every scene: crf {crf}, {r.bitrate_kbps:.1f} kb/s")
            print(f"  auto / x265 bitrate: {auto.bitrate_kbps / r.bitrate_kbps:.3f}")
            return
    print("  x265: no CRF >= 10 met the targets")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], *(int(a[1]),) if len(a) > 1 else (), *(float(x) for x in a[2:4]))

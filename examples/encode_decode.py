"""Encode a clip with each classical strategy, decode it, and print size and quality.

    python examples/encode_decode.py [VIDEO]

Without VIDEO, a 320x180 pan over a photograph that scikit-image ships is made first.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import neurocodec
from neurocodec.io import write_video
from neurocodec.io.synthetic import pan_zoom, pan_zoom_info


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="neurocodec-example-"))
    if len(sys.argv) > 1:
        src = Path(sys.argv[1])
    else:
        src = work / "source.y4m"
        write_video(src, pan_zoom_info(320, 180, 30), pan_zoom(320, 180, 30, pan=(1.2, 0.5)))
    for strategy, crf in (("x264", 26), ("x265", 28), ("av1", 38)):
        ncv = work / f"{strategy}.ncv"
        report = neurocodec.encode(src, ncv, strategy=strategy, crf=crf)
        neurocodec.decode(ncv, work / f"{strategy}.y4m")
        q = report.quality
        print(
            f"{strategy:5s} crf {crf}: {report.bytes:7d} bytes {report.bitrate_kbps:8.1f} kb/s  "
            f"PSNR-YUV {q['psnr_yuv']:.2f} dB  SSIM {q['ssim']:.4f}  ({report.encode_seconds:.1f} s)"
        )
    print(f"files in {work}")


if __name__ == "__main__":
    main()

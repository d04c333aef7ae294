"""Iterate decoded frames in Python and measure per-frame PSNR against the source.

    python examples/frames_in_python.py SOURCE.y4m ENCODED.ncv
"""

from __future__ import annotations

import sys

import neurocodec
from neurocodec.io import open_source
from neurocodec.metrics import frame_quality


def main(src: str, ncv: str) -> None:
    stream = neurocodec.open(ncv)
    print(f"{stream.header.width}x{stream.header.height} @ {stream.header.fps} fps, {stream.header.frame_count} frames")
    with open_source(src) as ref:
        for i, (a, b) in enumerate(zip(ref.frames(), stream.frames())):
            q = frame_quality(a, b, with_ms_ssim=False)
            print(f"frame {i:4d}: PSNR-Y {q.psnr_y:6.2f}  PSNR-YUV {q.psnr_yuv:6.2f}  SSIM {q.ssim:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""Code one picture with the learned intra codec: bytes out, bytes in, and what the decoder can rely on.

    python examples/learned_intra.py [IMAGE] [CRF]

Without IMAGE, scikit-image's "astronaut" photograph is used. CRF 0..63 (0 is the best quality).
"""

from __future__ import annotations

import sys

import numpy as np


def main() -> None:
    from PIL import Image

    from neurocodec.metrics import psnr, psnr_yuv
    from neurocodec.models.coder import IntraCoder
    from neurocodec.models.intra import decoder_macs_per_pixel
    from neurocodec.models.registry import load_intra
    from neurocodec.training.data import rgb_to_yuv420

    if len(sys.argv) > 1:
        rgb = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
    else:
        from skimage import data

        rgb = data.astronaut()
    crf = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    planes = rgb_to_yuv420(rgb)  # BT.601 limited range, 2x2 chroma mean
    loaded = load_intra()  # the shipped weights, with their integer entropy tables
    coder = IntraCoder(loaded)
    data_bytes, _ = coder.compress(planes, crf)
    rec, _ = coder.decompress(data_bytes, *planes[0].shape)
    quality = psnr_yuv(*[psnr(a, b) for a, b in zip(planes, rec)])
    h, w = planes[0].shape
    print(f"{w}x{h}, CRF {crf}: {len(data_bytes)} bytes ({8 * len(data_bytes) / (w * h):.3f} bpp), PSNR-YUV {quality:.2f} dB")
    print(f"weights sha256 {loaded.sha256.hex()[:16]}..., decoder {decoder_macs_per_pixel(loaded.model):,.0f} MACs/pixel")


if __name__ == "__main__":
    main()

"""Quality metrics on 8-bit YUV 4:2:0: PSNR (Y, U, V, 6:1:1 YUV), SSIM, MS-SSIM."""

from .psnr import PSNR_CAP, mse, psnr, psnr_yuv
from .quality import FrameQuality, QualityAccumulator, VideoQuality, compare_frames, frame_quality
from .ssim import MS_SSIM_MIN_SIDE, ms_ssim, ssim

__all__ = [
    "PSNR_CAP",
    "MS_SSIM_MIN_SIDE",
    "FrameQuality",
    "QualityAccumulator",
    "VideoQuality",
    "compare_frames",
    "frame_quality",
    "mse",
    "ms_ssim",
    "psnr",
    "psnr_yuv",
    "ssim",
]

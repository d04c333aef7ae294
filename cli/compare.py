"""``neurocodec compare``."""

from __future__ import annotations

import click

from .common import fps_option, size_option, strict_option


@click.command("compare")
@click.argument("ref", type=click.Path(dir_okay=True))
@click.argument("dist", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.option("--frames", "max_frames", type=int, help="Compare only the first N frames.")
@strict_option
@size_option
@fps_option
def command(ref, dist, as_json, max_frames, strict, size, fps):
    """Quality of DIST against REF: PSNR-Y/U/V, PSNR-YUV (6:1:1), SSIM, MS-SSIM (luma, 8-bit).

    Either may be any readable video, image folder, raw .yuv or .ncv file.
    """
    import neurocodec

    q = neurocodec.compare(ref, dist, size=size, fps=fps, max_frames=max_frames, strict=strict)
    keys = ("frames", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim", "ms_ssim")
    out = {k: getattr(q, k) for k in keys}
    out["psnr_yuv_weights"] = q.psnr_yuv_weights
    out["averaging"] = "mean of per-frame values; per-frame PSNR capped at 100 dB"
    if as_json:
        from neurocodec.strict_json import dumps

        click.echo(dumps(out, indent=2))
        return
    ms = "n/a (frame too small)" if q.ms_ssim is None else f"{q.ms_ssim:.5f}"
    click.echo(
        f"{q.frames} frames: PSNR Y {q.psnr_y:.3f} U {q.psnr_u:.3f} V {q.psnr_v:.3f} "
        f"YUV(6:1:1) {q.psnr_yuv:.3f} dB, SSIM {q.ssim:.5f}, MS-SSIM {ms}"
    )


__all__ = ["command"]

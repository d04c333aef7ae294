"""``neurocodec compare``."""

from __future__ import annotations

import click

from .common import fps_option, size_option, strict_option


@click.command("compare")
@click.argument("ref", type=click.Path(dir_okay=True))
@click.argument("dist", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.option("--frames", "max_frames", type=int, help="Compare only the first N frames.")
@click.option("--vmaf", "with_vmaf", is_flag=True,
              help="Also VMAF (vmaf_v0.6.1 and vmaf_v0.6.1neg) through libvmaf in the bundled FFmpeg (decodes the inputs again).")
@click.option("--vmaf-scale", type=click.Choice(["native", "1080p"]), default="native", show_default=True,
              help="Score VMAF at the videos' own size, or after resizing both to 1920x1080 (bicubic).")
@strict_option
@size_option
@fps_option
def command(ref, dist, as_json, max_frames, with_vmaf, vmaf_scale, strict, size, fps):
    """Quality of DIST against REF: PSNR-Y/U/V, PSNR-YUV (6:1:1), SSIM, MS-SSIM (luma, 8-bit); VMAF with --vmaf.

    Either may be any readable video, image folder, raw .yuv or .ncv file.
    """
    import neurocodec

    q = neurocodec.compare(ref, dist, size=size, fps=fps, max_frames=max_frames, strict=strict)
    keys = ("frames", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim", "ms_ssim")
    out = {k: getattr(q, k) for k in keys}
    out["psnr_yuv_weights"] = q.psnr_yuv_weights
    out["averaging"] = "mean of per-frame values; per-frame PSNR capped at 100 dB"
    if with_vmaf:
        from neurocodec.api import compare_vmaf
        from neurocodec.io.ffmpeg_tool import tool_info

        v = compare_vmaf(ref, dist, size=size, fps=fps, max_frames=max_frames, strict=strict, scale=vmaf_scale)
        out.update(vmaf=v.mean, vmaf_harmonic_mean=v.harmonic_mean, vmaf_p5=v.p5, vmaf_neg=v.neg_mean,
                   vmaf_scale=v.scale, vmaf_tool=tool_info())
    if as_json:
        from neurocodec.strict_json import dumps

        click.echo(dumps(out, indent=2))
        return
    ms = "n/a (frame too small)" if q.ms_ssim is None else f"{q.ms_ssim:.5f}"
    click.echo(
        f"{q.frames} frames: PSNR Y {q.psnr_y:.3f} U {q.psnr_u:.3f} V {q.psnr_v:.3f} "
        f"YUV(6:1:1) {q.psnr_yuv:.3f} dB, SSIM {q.ssim:.5f}, MS-SSIM {ms}"
    )
    if with_vmaf:
        click.echo(
            f"VMAF {v.mean:.3f} (harmonic mean {v.harmonic_mean:.3f}, 5th percentile {v.p5:.3f}), "
            f"VMAF NEG {v.neg_mean:.3f}; {v.scale} size, {out['vmaf_tool']['path']} {out['vmaf_tool']['version']}"
        )


__all__ = ["command"]

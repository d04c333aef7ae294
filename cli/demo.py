"""``neurocodec demo``: make a clip, encode, decode, compare - no input needed."""

from __future__ import annotations

from pathlib import Path

import click

from .common import show_progress


@click.command("demo")
@click.argument("outdir", type=click.Path(file_okay=False), default="neurocodec-demo")
@click.option("-s", "--strategy", default="x265", show_default=True, help="Strategy to demonstrate.")
@click.option("--crf", type=float, default=None, help="Quality (default: the strategy's).")
@click.option("--frames", type=int, default=48, show_default=True)
@click.option("--size", default="640x360", show_default=True, metavar="WxH")
def command(outdir, strategy, crf, frames, size):
    """Make a short pan-and-zoom clip over a photograph, encode it, decode it and compare."""
    import neurocodec
    from neurocodec.io import parse_size, write_video
    from neurocodec.io.synthetic import pan_zoom, pan_zoom_info

    w, h = parse_size(size)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    src, ncv, dec = out / "source.y4m", out / "demo.ncv", out / "decoded.y4m"
    write_video(src, pan_zoom_info(w, h, frames), pan_zoom(w, h, frames, pan=(1.5, 0.7), zoom=-0.002), overwrite=True)
    click.echo(f"made {src} ({frames} frames, {w}x{h})")
    report = neurocodec.encode(src, ncv, strategy=strategy, crf=crf, overwrite=True, progress=show_progress(False))
    click.echo(f"encoded {ncv}: {report.bytes} bytes, {report.bitrate_kbps:.1f} kb/s ({strategy})")
    neurocodec.decode(ncv, dec, overwrite=True)
    q = neurocodec.compare(src, dec)
    click.echo(f"decoded {dec}: PSNR-YUV {q.psnr_yuv:.2f} dB, SSIM {q.ssim:.4f}")
    click.echo(f"try: neurocodec info {ncv}")


__all__ = ["command"]

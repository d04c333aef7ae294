"""``neurocodec info``: reads the container only (no torch, no codecs)."""

from __future__ import annotations

import click


@click.command("info")
@click.argument("input", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
def command(input, as_json):
    """Describe a .ncv file: stream header and per-segment strategy and size (validates every CRC)."""
    from neurocodec.agents.decoder import describe

    d = describe(input)
    if as_json:
        from neurocodec.strict_json import dumps

        click.echo(dumps(d, indent=2))
        return
    click.echo(f"{d['path']}: .ncv {d['version']} ({d['writer'] or 'unknown writer'})")
    click.echo(f"  {d['width']}x{d['height']} 4:2:0 8-bit, {d['fps']} fps, {d['frames']} frames ({d['duration_s']:.3f} s)")
    click.echo(f"  {d['bytes']} bytes, {d['bitrate_kbps']:.1f} kb/s, {len(d['segments'])} segment(s)")
    for s in d["segments"]:
        q = s.get("quality") or {}
        quality = f"  PSNR-YUV {q['psnr_yuv']:.2f} SSIM {q['ssim']:.4f}" if q.get("psnr_yuv") is not None else ""
        scene = f"  {s['class']} ({s['transition']})" if s.get("class") else ""
        click.echo(f"  #{s['index']:<3} frames {s['start_frame']}-{s['end_frame'] - 1}  {s['strategy']:<8} {s['bytes']} bytes"
                   f"{quality}{scene}")


__all__ = ["command"]

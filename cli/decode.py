"""``neurocodec decode``."""

from __future__ import annotations

import click

from .common import overwrite_option, progress_option, quiet_option, show_progress


@click.command("decode")
@click.argument("input", type=click.Path())
@click.argument("output", type=click.Path())
@click.option("--codec", type=click.Choice(["ffv1", "x264"]), help="For .mkv/.mp4 output (default: ffv1 for mkv, lossless x264 for mp4).")
@click.option("--crf", type=float, help="x264 CRF (0..51) for .mp4, or .mkv with --codec x264 (default: lossless).")
@click.option("--model-dir", type=click.Path(file_okay=False),
              help="Folder of weights files (NAME.pt) for models the file names that are not installed.")
@click.option("--intra-model", metavar="NAME|FILE",
              help="Intra model for semantic_latent segments: a shipped or compressai: name, or a weights file "
                   "(its hash must match).")
@overwrite_option
@quiet_option
@progress_option
def command(input, output, codec, crf, model_dir, intra_model, overwrite, quiet, progress):
    """Decode INPUT (.ncv) to OUTPUT (.y4m lossless, .yuv, .mkv or .mp4)."""
    import neurocodec

    report = neurocodec.decode(input, output, overwrite=overwrite, codec=codec, crf=crf,
                               progress=show_progress(quiet, progress), model_dir=model_dir, intra_model=intra_model)
    if not quiet:
        click.echo(f"{output}: {report.frames} frames, {report.width}x{report.height} @ {report.fps} fps")


__all__ = ["command"]

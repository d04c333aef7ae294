"""``neurocodec export-onnx``: the intra decoder's neural transform as ONNX."""

from __future__ import annotations

import click


@click.command("export-onnx")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--intra-model", metavar="NAME|FILE", help="Shipped model name (default intra_yuv420) or a weights file.")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset version.")
def command(out_dir, intra_model, opset):
    """Write OUT_DIR/intra_synthesis.onnx (latent + CRF in, YUV 4:2:0 planes out) and its JSON description.

    The rANS decoder and the integer hyper-synthesis stay on the host: they
    drive entropy decoding and must be bit-exact on every machine.
    """
    from neurocodec.models.onnx_export import export_onnx

    for path in export_onnx(out_dir, intra_model, opset=opset):
        click.echo(str(path))


__all__ = ["command"]

"""``neurocodec train``: training pipelines for the learned parts."""

from __future__ import annotations

import click


@click.group("train")
def command():
    """Train the learned parts (CPU works, slowly; a GPU is used with --device cuda)."""


@command.command("intra")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True),
              help="Folder of images (searched recursively) or a video; repeat for more.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder (checkpoint.pt, log).")
@click.option("--steps", type=int, default=100_000, show_default=True)
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--crop", type=int, default=256, show_default=True, help="Crop size (luma, multiple of 64).")
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--time-limit", type=float, help="Stop after this many seconds (checkpoint written).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False), help="Also write the shipped weights file (float16 transforms + integer entropy tables) here.")
def intra(data, out, steps, batch, crop, lr, device, time_limit, resume, export_path):
    """Train the YUV 4:2:0 learned intra codec (all quality levels in one model)."""
    from neurocodec.training.intra import TrainConfig, export_weights, train

    cfg = TrainConfig(data=list(data), out=out, steps=steps, batch=batch, crop=crop, lr=lr, device=device,
                      time_limit_s=time_limit)
    ckpt = train(cfg, resume=resume)
    click.echo(f"checkpoint: {ckpt}")
    if export_path:
        path, digest = export_weights(ckpt, export_path, device=device)
        click.echo(f"weights: {path} sha256 {digest}")


__all__ = ["command"]

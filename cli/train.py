"""``neurocodec train``: training pipelines for the learned parts."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("train")
def command():
    """Train the learned parts (CPU works, slowly; a GPU is used with --device cuda)."""


def _run_options(*, steps: int, crop: int, crop_help: str, lr: float):
    """The options every training run has (neurocodec.training.loop): folder, limits, batches, device, resume."""
    options = [
        click.option("--out", required=True, type=click.Path(file_okay=False),
                     help="Run folder (checkpoint.pt: weights, optimiser state, step, loss log)."),
        click.option("--steps", type=int, default=steps, show_default=True),
        click.option("--batch", type=int, default=16, show_default=True),
        click.option("--crop", type=int, default=crop, show_default=True, help=crop_help),
        click.option("--lr", type=float, default=lr, show_default=True),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N."),
        click.option("--time-limit", type=float, help="Stop after this many seconds (checkpoint written)."),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt."),
    ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _finish(ckpt: Path, export_path: str | None, export, device: str) -> None:
    """Report the checkpoint; with --export, write the weights file and report its hash."""
    click.echo(f"checkpoint: {ckpt}")
    if export_path:
        path, digest = export(ckpt, export_path, device=device)
        click.echo(f"weights: {path} sha256 {digest}")


@command.command("intra")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True),
              help="Folder of images (searched recursively) or a video; repeat for more.")
@_run_options(steps=100_000, crop=256, crop_help="Crop size (luma, multiple of 64).", lr=1e-4)
@click.option("--init", metavar="NAME|FILE",
              help="Start from these weights (shipped name or file) instead of random ones; their gain vectors are "
                   "interpolated, or extrapolated, onto this version's quality levels.")
@click.option("--levels", metavar="I,J,...", help="Train only these quality levels (0 = lowest rate; default all).")
@click.option("--only-gains", is_flag=True, help="Freeze everything but the gain vectors (fitting new levels of an --init model).")
@click.option("--export", "export_path", type=click.Path(), help="Also write the shipped weights file (float16 transforms + integer entropy tables) here.")
def intra(data, out, steps, batch, crop, lr, device, time_limit, resume, init, levels, only_gains, export_path):
    """Train the YUV 4:2:0 learned intra codec (all quality levels in one model)."""
    # why: torch is imported with these; `neurocodec --help` stays fast
    from neurocodec.io.atomic import check_not_input
    from neurocodec.models.intra import LAMBDAS
    from neurocodec.training.intra import TrainConfig, export_weights, train
    from neurocodec.training.loop import CHECKPOINT

    check_not_input(out, *data)
    check_not_input(export_path, *data, init, Path(out) / CHECKPOINT)
    chosen = list(range(len(LAMBDAS)))
    if levels:
        try:
            chosen = sorted({int(x) for x in levels.split(",")})
        except ValueError:
            raise click.BadParameter(f"{levels!r} is not a comma-separated list of integers", param_hint="--levels") from None
        if not all(0 <= i < len(LAMBDAS) for i in chosen):
            raise click.BadParameter(f"levels are 0..{len(LAMBDAS) - 1}", param_hint="--levels")
    cfg = TrainConfig(data=list(data), out=out, steps=steps, batch=batch, crop=crop, lr=lr, device=device,
                      time_limit_s=time_limit, init=init, only_gains=only_gains, levels=chosen)
    _finish(train(cfg, resume=resume), export_path, export_weights, device)


@command.command("pairs")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True),
              help="Videos, frame folders or image folders (searched recursively); repeat for more.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for pairs.npz and pairs.json.")
@click.option("--sequences", type=int, default=500, show_default=True, help="Sequences of --frames frames each.")
@click.option("--frames", type=int, default=6, show_default=True)
@click.option("--crop", type=int, default=256, show_default=True, help="Crop size (luma, even).")
@click.option("--seed", type=int, default=1, show_default=True)
def pairs(data, out, sequences, frames, crop, seed):
    """Make (classical decode, original) training pairs for the enhancement network.

    Each sequence is coded by x265 or SVT-AV1 at a random low-rate CRF and at
    scale 1, 3/4 or 1/2, decoded and upscaled, as the hybrid decoder does.
    """
    from neurocodec.io.atomic import check_not_input
    from neurocodec.training.pairs import PairConfig, make_pairs

    check_not_input(out, *data)
    click.echo(str(make_pairs(PairConfig(sources=list(data), out=out, sequences=sequences, frames=frames, crop=crop, seed=seed))))


@command.command("enhance")
@click.option("--pairs", "pairs_path", required=True, type=click.Path(exists=True, dir_okay=False), help="pairs.npz from `train pairs`.")
@_run_options(steps=20_000, crop=128, crop_help="Crop size (luma, even).", lr=5e-4)
@click.option("--channels", type=click.IntRange(4, 128), default=32, show_default=True,
              help="Width of the network (16 with --layers 6: the light variant, under 5k MACs per pixel).")
@click.option("--layers", type=click.IntRange(1, 32), default=8, show_default=True, help="3x3 body convolutions.")
@click.option("--export", "export_path", type=click.Path(), help="Also write the shipped weights file here.")
def enhance(pairs_path, out, steps, batch, crop, lr, device, time_limit, resume, channels, layers, export_path):
    """Train the hybrid strategy's enhancement network on pairs."""
    # why: torch is imported with these; `neurocodec --help` stays fast
    from neurocodec.io.atomic import check_not_input
    from neurocodec.training.enhance import EnhanceTrainConfig, export_enhance, train_enhance
    from neurocodec.training.loop import CHECKPOINT

    check_not_input(export_path, pairs_path, Path(out) / CHECKPOINT)
    cfg = EnhanceTrainConfig(pairs=pairs_path, out=out, steps=steps, batch=batch, crop=crop, lr=lr, device=device,
                             time_limit_s=time_limit, channels=channels, layers=layers)
    _finish(train_enhance(cfg, resume=resume), export_path, export_enhance, device)


@command.command("pack")
@click.option("--pairs", "pairs_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="pairs.npz from `train pairs` (pairs.json beside it).")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True),
              help="Pictures for the intra codec: image folder or video; repeat for more (never an evaluation set).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The pack file to write (.npz, at most 64 MiB).")
@click.option("--pair-crops", type=click.IntRange(1), default=1152, show_default=True, help="Enhancement crops (128x128).")
@click.option("--intra-crops", type=click.IntRange(1), default=352, show_default=True, help="Intra crops (256x256).")
@click.option("--seed", type=int, default=0, show_default=True)
def pack(pairs_path, data, out, pair_crops, intra_crops, seed):
    """Build a compact training pack (under 64 MiB) for `train from-pack` on a lent GPU."""
    # why: numpy and the samplers load with these; `neurocodec --help` stays fast
    from neurocodec.io.atomic import check_not_input
    from neurocodec.training.pack import PackConfig, build_pack

    check_not_input(out, pairs_path, *data)
    try:
        path = build_pack(PackConfig(pairs=pairs_path, intra_data=list(data), out=out, pair_crops=pair_crops,
                                     intra_crops=intra_crops, seed=seed))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{path} {Path(path).stat().st_size / 2**20:.1f} MiB")


@command.command("from-pack")
@click.argument("pack_path", metavar="PACK", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the runs and the three weights files.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu or cuda[:N].")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              help="Time for all three models together.")
@click.option("--steps", type=click.IntRange(1), help="At most this many steps per model (default: the time decides).")
def from_pack(pack_path, out, device, minutes, steps):
    """Train the enhancement networks (standard and light) and the intra codec from a pack, from their shipped weights.

    Writes enhance_yuv420.pt, enhance_light_yuv420.pt and intra_yuv420.pt into OUT; encode and decode with
    `--model-dir OUT` to use them.
    """
    # why: torch is imported with these; `neurocodec --help` stays fast
    from neurocodec.training.pack import FromPackConfig, train_from_pack

    try:
        done = train_from_pack(FromPackConfig(pack=pack_path, out=out, device=device, minutes=minutes, steps=steps))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for name, (path, digest) in done.items():
        click.echo(f"{name}: {path} sha256 {digest}")


__all__ = ["command"]

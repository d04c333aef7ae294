"""Entry point: the click group, logging set-up and one place that turns errors into exit codes.

Only click is imported at start-up; each command imports what it needs when
it runs, so ``neurocodec --help`` and ``neurocodec info`` stay fast.
"""

from __future__ import annotations

import logging
import sys
import warnings

import click

from neurocodec._version import __version__

from .common import library_logs

EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Runs a command; user-facing errors become one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        from neurocodec.errors import EncoderError, NeurocodecError

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's bad option or argument: one line too, with where to look
            hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx else ""
            click.echo(f"neurocodec: error: {exc.format_message()}{hint}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except EncoderError as exc:
            click.echo(f"neurocodec: error: {exc}", err=True)
            ctx.exit(1)
        except (NeurocodecError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            click.echo(f"neurocodec: error: {_one_line(exc)}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("neurocodec: interrupted; no output was written", err=True)  # the encoder names kept parts
            ctx.exit(130)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="neurocodec")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Scene-adaptive video compression mixing learned and classical codecs.

    Encode any video PyAV reads (or a folder of images, or raw .yuv) into a
    checksummed .ncv bitstream, decode it, inspect it, and measure quality.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="neurocodec: %(levelname)s: %(message)s", stream=sys.stderr)
    library_logs(ctx, verbose)
    if not verbose:
        # torch and compressai warn about their own build and API (oneDNN TF32, torch.jit): noise a user cannot act on.
        for category in (UserWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"(torch|compressai)(\.|$)")


def _register() -> None:
    from . import batch, bench, compare, decode, demo, encode, experiments, export_onnx, info, strategies, train, worker

    for module in (encode, batch, decode, info, strategies, compare, bench, train, export_onnx, demo, experiments,
                   worker):
        cli.add_command(module.command)


_register()


def main() -> None:
    cli(prog_name="neurocodec")


if __name__ == "__main__":
    main()

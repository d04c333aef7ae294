"""``neurocodec experiments``: autonomous codec experiments in an Optuna study (run, propose, status)."""

from __future__ import annotations

import click

storage_option = click.option("--storage", required=True, metavar="URL",
                              help="sqlite:///PATH.db (embedded) or postgresql+psycopg://USER@HOST:PORT/DB.")
study_option = click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
space_option = click.option("--space", "space_path", required=True, type=click.Path(dir_okay=False),
                            help="Search space TOML (strategies, parameters, objectives, floors).")
proposer_option = click.option("--proposer", type=click.Choice(["optuna", "llm"]), default="optuna",
                               show_default=True, help="Where proposals come from.")
llm_url_option = click.option("--llm-url", metavar="URL",
                              help="OpenAI-compatible endpoint, e.g. http://host:8000/v1 "
                                   "(API key, if any, from $NEUROCODEC_LLM_API_KEY).")
llm_model_option = click.option("--llm-model", metavar="NAME", help="Model name sent to the endpoint.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Sampler seed (set on creation).")


def _clip_dicts(specs) -> list[dict]:
    import os

    return [{"path": os.path.abspath(s.path), "name": s.name, "size": s.size, "fps": s.fps} for s in specs]


@click.group("experiments")
def command() -> None:
    """Propose, run and inspect codec experiments stored in an Optuna study."""


@command.command("run")
@storage_option
@study_option
@space_option
@click.option("--clips", "clips", required=True, multiple=True, metavar="CLIPSET_OR_PATH",
              help="Clip, folder or clip-set file (.toml/.json); repeatable.")
@click.option("--workers", type=int, default=1, show_default=True, help="Spawned worker processes.")
@proposer_option
@llm_url_option
@llm_model_option
@click.option("--budget", type=int, default=10, show_default=True, help="Trials to run in this invocation.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--frames", type=int, default=30, show_default=True, help="Frames from the start of each clip.")
@click.option("--artifacts", type=click.Path(file_okay=False),
              help="Artifact folder (bitstreams, result JSON); default: DB path + .artifacts.")
@seed_option
@click.option("-q", "--quiet", is_flag=True, help="No per-trial lines.")
def run(storage, study_name, space_path, clips, workers, proposer, llm_url, llm_model, budget, device, frames,
        artifacts, seed, quiet):
    """Embedded set-up: this process owns the SQLite study and runs trials in spawned workers."""
    from neurocodec.bench.clipset import expand_inputs
    from neurocodec.errors import SettingsError
    from neurocodec.experiments import load_space
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import make_proposer
    from neurocodec.experiments.status import format_status, summarize
    from neurocodec.experiments.study import Experiment
    from neurocodec.io.atomic import check_not_input

    if frames < 1:
        raise SettingsError("--frames must be at least 1")
    check_not_input(artifacts, *clips, space_path)
    space = load_space(space_path)
    chooser = make_proposer(proposer, llm_url, llm_model)
    specs = expand_inputs(list(clips))
    check_not_input(artifacts, *(s.path for s in specs))
    say = None if quiet else (lambda line: click.echo(line, err=True))

    def opener() -> Experiment:
        return Experiment.open(storage, study_name, space=space, clips=_clip_dicts(specs), frames=frames, seed=seed)

    counts = run_experiments(opener, storage, chooser, specs,
                             RunConfig(workers=workers, budget=budget, device=device, artifacts=artifacts),
                             progress=say)
    exp = Experiment.open(storage, study_name)
    click.echo(format_status(summarize(exp.space, exp.records())))
    click.echo(f"\nthis run: {counts['completed']} completed, {counts['failed']} failed"
               + (f", re-queued {counts['requeued']}" if counts["requeued"] else ""))


@command.command("propose")
@storage_option
@study_option
@space_option
@click.option("--clips", "clips", multiple=True, metavar="CLIPSET_OR_PATH",
              help="Clip set stored on the study for the workers (needed when the study is new).")
@click.option("--frames", type=int, default=30, show_default=True, help="Frames the workers measure per clip.")
@proposer_option
@llm_url_option
@llm_model_option
@click.option("--batch", type=int, default=4, show_default=True, help="Proposals to add.")
@click.option("--max-waiting", type=int, default=8, show_default=True,
              help="Add nothing while this many proposals already wait.")
@seed_option
def propose(storage, study_name, space_path, clips, frames, proposer, llm_url, llm_model, batch, max_waiting, seed):
    """Distributed set-up: queue a batch of proposals for the workers.

    On SQLite it takes the orchestrator's lock for the moment it writes, so it
    is refused while ``experiments run`` owns the database.
    """
    import contextlib

    from neurocodec.bench.clipset import expand_inputs
    from neurocodec.errors import SettingsError
    from neurocodec.experiments import load_space
    from neurocodec.experiments.orchestrator import DatabaseLock
    from neurocodec.experiments.proposers import make_proposer
    from neurocodec.experiments.study import Experiment, check_storage_url, sqlite_path

    if batch < 1 or max_waiting < 1:
        raise SettingsError("--batch and --max-waiting must be at least 1")
    space = load_space(space_path)
    chooser = make_proposer(proposer, llm_url, llm_model)
    clip_dicts = _clip_dicts(expand_inputs(list(clips))) if clips else None
    sqlite = check_storage_url(storage) == "sqlite"
    with DatabaseLock(sqlite_path(storage)) if sqlite else contextlib.nullcontext():
        exp = Experiment.open(storage, study_name, space=space, clips=clip_dicts,
                              frames=frames if clips else None, seed=seed)
        if not exp.clips:
            raise SettingsError(f"study {study_name!r} has no clip set yet; pass --clips")
        room = min(batch, max_waiting - exp.waiting())
        if room <= 0:
            click.echo(f"{exp.waiting()} proposals are waiting (--max-waiting {max_waiting}); added none")
            return
        ids = exp.enqueue(chooser.propose(exp, room))
    click.echo(f"queued {len(ids)} proposals: {', '.join(ids)}")


@command.command("status")
@storage_option
@study_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def status(storage, study_name, as_json):
    """Trials, the best feasible trial, and the Pareto front of bitrate against quality."""
    from neurocodec.experiments.status import format_status, summarize
    from neurocodec.experiments.study import Experiment
    from neurocodec.strict_json import dumps

    exp = Experiment.open(storage, study_name)
    summary = summarize(exp.space, exp.records())
    click.echo(dumps(summary, indent=1, default=str) if as_json else format_status(summary))


__all__ = ["command"]

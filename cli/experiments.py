"""``neurocodec experiments``: codec configurations searched in an Optuna study, scored by BD-rate against an anchor.

Subcommands: run (embedded SQLite), propose (fill the queue), status, validate (held-out clips), export.
"""

from __future__ import annotations

import click

storage_option = click.option("--storage", required=True, metavar="URL",
                              help="sqlite:///PATH.db (embedded) or postgresql+psycopg://USER@HOST:PORT/DB.")
study_option = click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
space_option = click.option("--space", "space_path", required=True, type=click.Path(dir_okay=False),
                            help="Search space TOML (goal, anchor, strategies and their option ranges).")
proposer_option = click.option("--proposer", type=click.Choice(["optuna", "llm"]), default="optuna",
                               show_default=True, help="Where proposals come from.")
llm_url_option = click.option("--llm-url", metavar="URL",
                              help="OpenAI-compatible endpoint, e.g. http://host:8000/v1 "
                                   "(API key, if any, from $NEUROCODEC_LLM_API_KEY).")
llm_model_option = click.option("--llm-model", metavar="NAME", help="Model name sent to the endpoint.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Sampler seed (set on creation).")
validate_option = click.option("--validate", "validate", multiple=True, metavar="CLIPSET_OR_PATH",
                               help="Held-out validation clips stored on the study (never searched); repeatable.")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)


def _clip_dicts(specs) -> list[dict]:
    import os

    return [{"path": os.path.abspath(s.path), "name": s.name, "size": s.size, "fps": s.fps} for s in specs]


def _clip_sets(clips, validate):
    """The search and validation clip specs; a clip in both is refused (validation must be held out)."""
    from neurocodec.bench.clipset import expand_inputs
    from neurocodec.errors import SettingsError

    search = expand_inputs(list(clips)) if clips else []
    held = expand_inputs(list(validate)) if validate else []
    shared = {s.name for s in search} & {s.name for s in held}
    if shared:
        raise SettingsError(f"--validate: {sorted(shared)[0]} is also a search clip; validation clips must be held out")
    return search, held


@click.group("experiments")
def command() -> None:
    """Search codec configurations (BD-rate against an anchor, time multiple) in an Optuna study."""


@command.command("run")
@storage_option
@study_option
@space_option
@click.option("--clips", "clips", required=True, multiple=True, metavar="CLIPSET_OR_PATH",
              help="Search clips: clip, folder or clip-set file (.toml/.json); repeatable.")
@validate_option
@click.option("--validate-top", type=int, default=3, show_default=True,
              help="Best feasible trials measured on the validation clips at the end (0: none).")
@click.option("--workers", type=int, default=1, show_default=True, help="Spawned worker processes.")
@proposer_option
@llm_url_option
@llm_model_option
@click.option("--budget", type=int, default=10, show_default=True, help="Trials to run in this invocation.")
@device_option
@click.option("--artifacts", type=click.Path(file_okay=False),
              help="Artifact folder (bitstreams, result JSON); default: DB path + .artifacts.")
@click.option("--keep-bitstreams/--no-keep-bitstreams", default=False, show_default=True,
              help="Store every measured .ncv as an artifact (points x clips per trial).")
@seed_option
@click.option("-q", "--quiet", is_flag=True, help="No per-trial lines.")
def run(storage, study_name, space_path, clips, validate, validate_top, workers, proposer, llm_url, llm_model,
        budget, device, artifacts, keep_bitstreams, seed, quiet):
    """Embedded set-up: this process owns the SQLite study and runs trials in spawned workers."""
    from neurocodec.experiments import load_space
    from neurocodec.experiments.orchestrator import RunConfig, run_experiments
    from neurocodec.experiments.proposers import make_proposer
    from neurocodec.experiments.status import format_status, summarize
    from neurocodec.experiments.study import Experiment
    from neurocodec.io.atomic import check_not_input

    check_not_input(artifacts, *clips, *validate, space_path)
    space = load_space(space_path)
    chooser = make_proposer(proposer, llm_url, llm_model)
    specs, held = _clip_sets(clips, validate)
    check_not_input(artifacts, *(s.path for s in [*specs, *held]))
    say = None if quiet else (lambda line: click.echo(line, err=True))

    def opener() -> Experiment:
        return Experiment.open(storage, study_name, space=space, clips=_clip_dicts(specs),
                               validation_clips=_clip_dicts(held) if held else None, seed=seed)

    counts = run_experiments(opener, storage, chooser, specs,
                             RunConfig(workers=workers, budget=budget, device=device, artifacts=artifacts,
                                       keep_bitstreams=keep_bitstreams, validate_top=validate_top),
                             progress=say)
    exp = Experiment.open(storage, study_name)
    click.echo(format_status(summarize(exp.space, exp.records())))
    click.echo(f"\nthis run: {counts['completed']} completed, {counts['pruned']} pruned, {counts['failed']} failed"
               + (f", re-queued {counts['requeued']}" if counts["requeued"] else "")
               + f"; anchor measured on {counts['anchor_clips_measured']} clips"
               + (f"; validated trials {counts['validated']}" if counts["validated"] else ""))


@command.command("propose")
@storage_option
@study_option
@space_option
@click.option("--clips", "clips", multiple=True, metavar="CLIPSET_OR_PATH",
              help="Search clips stored on the study for the workers (needed when the study is new).")
@validate_option
@proposer_option
@llm_url_option
@llm_model_option
@click.option("--batch", type=int, default=4, show_default=True, help="Proposals to add.")
@click.option("--max-waiting", type=int, default=8, show_default=True,
              help="Add nothing while this many proposals already wait.")
@seed_option
def propose(storage, study_name, space_path, clips, validate, proposer, llm_url, llm_model, batch, max_waiting, seed):
    """Distributed set-up: queue a batch of proposals for the workers.

    On SQLite it takes the orchestrator's lock for the moment it writes, so it
    is refused while ``experiments run`` owns the database.
    """
    from neurocodec.errors import SettingsError
    from neurocodec.experiments import load_space
    from neurocodec.experiments.proposers import make_proposer
    from neurocodec.experiments.study import Experiment

    if batch < 1 or max_waiting < 1:
        raise SettingsError("--batch and --max-waiting must be at least 1")
    space = load_space(space_path)
    chooser = make_proposer(proposer, llm_url, llm_model)
    specs, held = _clip_sets(clips, validate)
    with _lock(storage):
        exp = Experiment.open(storage, study_name, space=space, clips=_clip_dicts(specs) if specs else None,
                              validation_clips=_clip_dicts(held) if held else None, seed=seed)
        if not exp.clips:
            raise SettingsError(f"study {study_name!r} has no clip set yet; pass --clips")
        room = min(batch, max_waiting - exp.waiting())
        if room <= 0:
            click.echo(f"{exp.waiting()} proposals are waiting (--max-waiting {max_waiting}); added none")
            return
        ids = exp.enqueue(chooser.propose(exp, room))
    click.echo(f"queued {len(ids)} proposals: {', '.join(ids)}")


def _lock(storage: str):
    """The orchestrator's lock on a SQLite database (nothing for PostgreSQL)."""
    import contextlib

    from neurocodec.experiments.orchestrator import DatabaseLock
    from neurocodec.experiments.study import check_storage_url, sqlite_path

    return DatabaseLock(sqlite_path(storage)) if check_storage_url(storage) == "sqlite" else contextlib.nullcontext()


@command.command("status")
@storage_option
@study_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def status(storage, study_name, as_json):
    """Trials with search and validation BD-rates, the best feasible ones, and the Pareto front."""
    from neurocodec.experiments.status import format_status, summarize
    from neurocodec.experiments.study import Experiment
    from neurocodec.strict_json import dumps

    exp = Experiment.open(storage, study_name)
    summary = summarize(exp.space, exp.records())
    click.echo(dumps(summary, indent=1, default=str) if as_json else format_status(summary))


@command.command("validate")
@storage_option
@study_option
@click.option("--top", type=int, default=3, show_default=True, help="Best feasible trials to measure.")
@click.option("--clips", "clips", multiple=True, metavar="CLIPSET_OR_PATH",
              help="Local paths of the validation clips (default: the set stored on the study by --validate).")
@click.option("--workers", type=int, default=1, show_default=True, help="Spawned worker processes.")
@device_option
def validate(storage, study_name, top, clips, workers, device):
    """Measure the best feasible trials on the held-out validation clips (skips those already measured)."""
    from neurocodec.experiments.evaluate import clip_specs
    from neurocodec.experiments.orchestrator import validate_study
    from neurocodec.experiments.status import format_status, summarize
    from neurocodec.experiments.study import Experiment

    with _lock(storage):
        exp = Experiment.open(storage, study_name)
        specs = clip_specs(exp.validation_clips, list(clips) or None, what="validation clip set")
        done = validate_study(exp, specs, top, workers, device)
    summary = summarize(exp.space, exp.records())
    click.echo(format_status(summary))
    click.echo(f"\nvalidated trials: {', '.join(map(str, done)) or 'none (all already measured on these clips)'}")


@command.command("export")
@storage_option
@study_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Configuration file to write (.toml).")
@click.option("--max-time-multiple", type=float, metavar="X",
              help="Time ceiling for the choice (default: the study's).")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUT if it exists.")
def export(storage, study_name, out, max_time_multiple, overwrite):
    """Write the best feasible configuration (lowest search BD-rate; validated ones first) as a config file."""
    from neurocodec.errors import SettingsError
    from neurocodec.experiments.export import export_config
    from neurocodec.experiments.study import Experiment, check_storage_url, sqlite_path
    from neurocodec.io.atomic import atomic_path, check_not_input, check_writable

    if max_time_multiple is not None and not max_time_multiple > 0:
        raise SettingsError("--max-time-multiple must be positive")
    db = sqlite_path(storage) if check_storage_url(storage) == "sqlite" else None
    check_not_input(out, db)
    check_writable(out, overwrite)
    exp = Experiment.open(storage, study_name)
    config, trial = export_config(exp, study_name, max_time_multiple)
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.write_text(config.to_toml())
    p = config.provenance
    validated = (f"validation {p['validation_bd_rate']:+.2f} %" if p["validated"]
                 else "not validated (run experiments validate)")
    click.echo(f"wrote {out}: trial {trial.number}, {config.strategy}"
               + (f" preset {config.preset}" if config.preset is not None else "")
               + f", search BD-rate {p['search_bd_rate']:+.2f} % ({p['metric']}), {validated}, "
                 f"time x{p['time_multiple']:.2f}")


__all__ = ["command"]

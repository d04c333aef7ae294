"""The one module that talks to Optuna: storage, the study, its trial queue, results, caches and artifacts.

The study is both the queue and the results store. A proposal is a WAITING
trial (``enqueue_trial`` with the parameters and user attrs ``proposal_id``,
``proposer`` and ``rationale``); whoever calls ``ask`` pops it, and the
database's row update hands each WAITING trial to exactly one caller. The
study's user attrs hold the space, the search and validation clip sets, the
anchor's cached curves and per-host encode times, and the validation results
of trials, so a worker needs only the storage URL and the study name. Each
cached item is its own attribute (one clip, one host, one trial), so workers
writing at once never overwrite each other's entries.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from ..errors import SettingsError
from .pruning import SnapshotPruner, median_rule
from .space import Space, parse_space

__all__ = [
    "Experiment", "Proposal", "TrialRecord", "FeasibleMedianPruner", "check_storage_url", "sqlite_path",
    "HEARTBEAT_INTERVAL_S", "GRACE_PERIOD_S", "params_key",
]

log = logging.getLogger(__name__)

optuna.logging.set_verbosity(optuna.logging.WARNING)

HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30
_ATTR_SPACE = "neurocodec.space"
_ATTR_CLIPS = "neurocodec.clips"
_ATTR_VALIDATION_CLIPS = "neurocodec.validation_clips"
_ATTR_SEED = "neurocodec.seed"
_ATTR_ANCHOR = "neurocodec.anchor.curve:"  # + clip name
_ATTR_ANCHOR_SECONDS = "neurocodec.anchor.seconds:"  # + host + ":" + clip name
_ATTR_VALIDATION = "neurocodec.validation:"  # + trial number


@dataclass(frozen=True)
class Proposal:
    """A parameter set to try (nested shape), who proposed it and why."""

    params: dict[str, Any]
    proposer: str
    rationale: str = ""


@dataclass(frozen=True)
class TrialRecord:
    """A trial as plain data (for status tables, export, the LLM's history and tests).

    Args:
        score: The search score (``bd_rate``, ``time_multiple``, ``clips`` measured, ``per_clip``, ...);
            empty until measured. A pruned trial's covers the clips it measured.
        feasible: Within the time ceiling (None: not measured).
        validation: The held-out score (same keys, plus ``clip_names``), or None.
    """

    number: int
    state: str
    params: dict[str, Any]  # nested
    values: tuple[float, ...] | None
    score: dict[str, Any]
    feasible: bool | None
    validation: dict[str, Any] | None
    user_attrs: dict[str, Any]


def check_storage_url(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``; anything else is a :class:`SettingsError`."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:" and len(url) > len("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        return "postgresql"
    raise SettingsError(
        f"--storage {url!r}: use sqlite:///PATH.db or postgresql+psycopg://USER@HOST:PORT/DB"
    )


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite:///`` URL."""
    return Path(url[len("sqlite:///"):])


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Silences Optuna's ExperimentalWarning: heartbeats, retries, grouped TPE and metric names are relied on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _retry_callback() -> Callable:
    # Optuna 5 deprecates failed_trial_callback/RetryFailedTrialCallback in favour of these (same behaviour).
    with _quiet_experimental():
        return RetryHeartbeatStaleTrialCallback(max_retry=None)


def params_key(params: dict[str, Any]) -> tuple:
    """A parameter set as a hashable key (the same configuration, the same key)."""
    return tuple(sorted(params.items()))


def _feasible_history(space: Space, trials: list[optuna.trial.FrozenTrial]) -> list[dict[int, float]]:
    """Running BD-rates by clip of the finished trials within the time ceiling."""
    out = []
    for t in trials:
        score = t.user_attrs.get("score")
        if t.state == TrialState.COMPLETE and score and space.feasible(score["time_multiple"]):
            out.append(dict(t.intermediate_values))
    return out


class FeasibleMedianPruner(optuna.pruners.BasePruner):
    """:func:`~neurocodec.experiments.pruning.median_rule` on the live study (the distributed set-up).

    The trial's running time multiple comes from its ``running_time_multiple`` user attr.
    """

    def __init__(self, space: Space):
        self.space = space

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        steps = [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
        history = _feasible_history(self.space, study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        return median_rule(history, steps, trial.user_attrs.get("running_time_multiple", 0.0),
                           startup=self.space.pruning_startup, ceiling=self.space.max_time_multiple)


class Experiment:
    """A study opened with its space and clip sets.

    Args:
        study: The Optuna study.
        space: Its search space (with the frame and point settings).
        clips: The search clips, as ``{"path", "name", "size", "fps"}`` dicts.
        validation_clips: The held-out clips, same form (may be empty).
        seed: Seed of the samplers (proposals are reproducible given the same history).
    """

    def __init__(self, study: optuna.Study, space: Space, clips: list[dict[str, Any]],
                 validation_clips: list[dict[str, Any]], seed: int):
        self.study = study
        self.space = space
        self.clips = clips
        self.validation_clips = validation_clips
        self.seed = seed

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        name: str,
        *,
        space: Space | None = None,
        clips: list[dict[str, Any]] | None = None,
        validation_clips: list[dict[str, Any]] | None = None,
        seed: int = 0,
        heartbeat: bool = False,
        heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
        grace_period: int = GRACE_PERIOD_S,
    ) -> Experiment:
        """Open (and, given a space, create or update) a study.

        ``heartbeat`` turns on Optuna's heartbeats: a RUNNING trial whose worker
        stops beating for ``grace_period`` seconds is failed and re-queued with
        the same parameters and user attrs.

        Raises:
            SettingsError: Bad URL; the study does not exist and no space was given;
                or it was created with another space.
        """
        kind = check_storage_url(url)
        if kind == "sqlite" and not sqlite_path(url).parent.is_dir():
            raise SettingsError(f"--storage {url}: folder {sqlite_path(url).parent} does not exist")
        if kind == "sqlite" and space is None and not sqlite_path(url).exists():
            raise SettingsError(f"{sqlite_path(url)}: no such database")
        kwargs: dict[str, Any] = {}
        if heartbeat:
            kwargs = dict(heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                          heartbeat_stale_trial_callback=_retry_callback())
        engine_kwargs = {"pool_pre_ping": True} if kind == "postgresql" else {}
        try:
            with _quiet_experimental():
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except Exception as exc:  # sqlalchemy raises many kinds; the user needs one line
            raise SettingsError(f"--storage {url}: cannot open ({str(exc).splitlines()[0]})") from None
        names = {s.study_name for s in optuna.study.get_all_study_summaries(storage)}
        if name not in names and space is None:
            raise SettingsError(f"{url}: no study {name!r} (create it with experiments run or propose and --space)")
        if name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            stored = study.user_attrs.get(_ATTR_SPACE)
            if space is not None and stored is not None and stored != space.to_dict():
                raise SettingsError(f"{space.source}: study {name!r} was created with another space; use a new --study")
            space = space or parse_space(stored or {}, source=f"{url} study {name}")
        else:
            # load_if_exists: another process may create it between the listing above and here.
            study = optuna.create_study(storage=storage, study_name=name, directions=space.directions,
                                        load_if_exists=True)
        attrs = study.user_attrs
        if _ATTR_SPACE not in attrs:
            study.set_user_attr(_ATTR_SPACE, space.to_dict())
            with _quiet_experimental():
                study.set_metric_names(space.metric_names)  # axis names in optuna-dashboard
        if _ATTR_SEED not in attrs:  # the seed is fixed when the study is created
            study.set_user_attr(_ATTR_SEED, seed)
        if clips is not None:
            study.set_user_attr(_ATTR_CLIPS, clips)
        if validation_clips is not None:
            study.set_user_attr(_ATTR_VALIDATION_CLIPS, validation_clips)
        attrs = study.user_attrs
        seed = attrs.get(_ATTR_SEED, seed)
        study.sampler = cls._sampler(seed)
        study.pruner = FeasibleMedianPruner(space) if space.objective == "constrained" else optuna.pruners.NopPruner()
        return cls(study, space, attrs.get(_ATTR_CLIPS, []), attrs.get(_ATTR_VALIDATION_CLIPS, []), seed)

    @staticmethod
    def _sampler(seed: int) -> optuna.samplers.BaseSampler:
        # constant_liar spreads a batch asked before any result comes back.
        # The time ceiling reaches TPE through Trial.set_constraint (Optuna 5 deprecates constraints_func).
        with _quiet_experimental():
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=6, constant_liar=True,
                                              multivariate=True, group=True)

    # -- the queue ---------------------------------------------------------------

    def waiting(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def enqueue(self, proposals: list[Proposal]) -> list[str]:
        """Queue proposals (already validated against the space); returns their proposal ids."""
        ids = []
        for p in proposals:
            problems = self.space.check(p.params)
            if problems:
                raise SettingsError(f"proposal {p.params} is outside the space: {problems[0]}")
            pid = uuid.uuid4().hex[:12]
            self.study.enqueue_trial(self.space.flatten(p.params), user_attrs={
                "proposal_id": pid, "proposer": p.proposer, "rationale": p.rationale[:500],
            })
            ids.append(pid)
        return ids

    def sample(self, n: int) -> list[dict[str, Any]]:
        """``n`` new parameter sets from the TPE sampler, given every finished trial (nothing is written).

        Encodes are deterministic, so a parameter set already measured or queued
        is not proposed again: fewer than ``n`` come back when the space runs out of new ones.
        """
        learn = (TrialState.COMPLETE,) if len(self.space.directions) > 1 else (TrialState.COMPLETE, TrialState.PRUNED)
        finished = self.study.get_trials(deepcopy=False, states=learn)
        seen = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING, TrialState.FAIL))
        # An in-memory copy asks without creating rows in the real study; the seed moves with the history.
        shadow = optuna.create_study(directions=self.space.directions,
                                     sampler=self._sampler(self.seed + len(finished) + len(seen)))
        shadow.add_trials(finished)
        known: dict[tuple, Any] = {params_key(t.params or t.system_attrs.get("fixed_params", {})): None for t in seen}
        known |= {params_key(t.params): t for t in finished}
        out: list[dict[str, Any]] = []
        for _ in range(20 * n):
            if len(out) == n:
                break
            trial = shadow.ask()
            params = self.suggest(trial)
            key = params_key(self.space.flatten(params))
            if key not in known:
                known[key] = None
                out.append(params)
            elif known[key] is not None and known[key].state == TrialState.COMPLETE:
                shadow.tell(trial, known[key].values)  # TPE learns the known result and moves elsewhere
            else:
                shadow.tell(trial, state=TrialState.FAIL)
        # TPE can settle on a region it has measured (a small categorical space): draw the rest at random,
        # still never a known configuration.
        explore = optuna.create_study(directions=self.space.directions,
                                      sampler=optuna.samplers.RandomSampler(seed=self.seed + len(finished) + len(seen)))
        for _ in range(20 * (n - len(out))):
            if len(out) == n:
                break
            params = self.suggest(explore.ask())
            key = params_key(self.space.flatten(params))
            if key not in known:
                known[key] = None
                out.append(params)
        return out

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The trial's nested parameters (a queued trial returns its fixed ones); inactive conditionals are left out."""
        s = trial.suggest_categorical("strategy", list(self.space.strategies))
        params: dict[str, Any] = {"strategy": s}
        for k, p in self.space.strategies[s].params.items():
            if not p.active(params):
                continue
            name = f"{s}.{k}"
            if p.kind == "int":
                params[k] = trial.suggest_int(name, int(p.low), int(p.high))
            elif p.kind == "float":
                params[k] = trial.suggest_float(name, p.low, p.high)
            else:
                params[k] = trial.suggest_categorical(name, list(p.choices))
        return params

    def ask(self) -> tuple[optuna.Trial, dict[str, Any]]:
        """Pop the oldest proposal (or, if the queue is empty, sample one) as a RUNNING trial."""
        trial = self.study.ask()
        params = self.suggest(trial)
        if "proposal_id" not in trial.user_attrs:
            trial.set_user_attr("proposer", "optuna")
        return trial, params

    def pruner_snapshot(self) -> SnapshotPruner | None:
        """The pruning rule on the history as it is now, for a trial measured in another process."""
        if self.space.objective != "constrained":
            return None  # Optuna reports and prunes single-objective studies only
        history = _feasible_history(self.space, self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        return SnapshotPruner(tuple(history), self.space.pruning_startup, self.space.max_time_multiple)

    def recover_running(self) -> list[int]:
        """Fail the trials left RUNNING (their process is gone) and re-queue them with the same params.

        Only safe where no other process runs trials of this study (the embedded
        orchestrator, which holds the lock file).
        """
        numbers = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            params = t.params or t.system_attrs.get("fixed_params", {})
            self.study.tell(t.number, state=TrialState.FAIL)
            self.study.enqueue_trial(params, user_attrs=dict(t.user_attrs) | {"requeued_from": t.number})
            numbers.append(t.number)
        if numbers:
            log.warning("trials %s were left RUNNING by a stopped orchestrator; marked FAIL and re-queued",
                        ", ".join(map(str, numbers)))
        return numbers

    def fail_stale(self) -> None:
        """Fail and re-queue trials whose worker stopped sending heartbeats."""
        optuna.storages.fail_stale_trials(self.study)

    # -- the anchor cache ----------------------------------------------------------

    def anchor_curve(self, clip: str) -> list[dict[str, Any]] | None:
        """The anchor's cached RD points on ``clip`` (None: not measured yet)."""
        return self.study.user_attrs.get(_ATTR_ANCHOR + clip)

    def anchor_seconds(self, host: str, clip: str) -> float | None:
        """The anchor's encode seconds on ``clip`` measured on ``host`` (None: not yet)."""
        return self.study.user_attrs.get(f"{_ATTR_ANCHOR_SECONDS}{host}:{clip}")

    def store_anchor(self, host: str, clip: str, points: list[dict[str, Any]], seconds: float) -> None:
        """Cache a measured anchor curve (the first one stays) and its encode time on ``host``."""
        cached = self.anchor_curve(clip)
        if cached is None:
            self.study.set_user_attr(_ATTR_ANCHOR + clip, points)
        elif [p["bitrate_kbps"] for p in cached] != [p["bitrate_kbps"] for p in points]:
            # Encodes are deterministic across hosts (docs/determinism.md); if not, scores mix two anchors.
            log.warning("the anchor's rates on %s differ on host %s from the cached curve; keeping the cached one",
                        clip, host)
        self.study.set_user_attr(f"{_ATTR_ANCHOR_SECONDS}{host}:{clip}", seconds)

    # -- results -----------------------------------------------------------------

    def record(self, trial: optuna.Trial, outcome: dict[str, Any], artifacts_dir: str | None,
               *, report: bool = True) -> list[float]:
        """Store a measurement on ``trial`` (artifacts, score, constraint) and return its objective values.

        ``report`` writes the running BD-rate after each clip as the trial's
        intermediate values (constrained studies; the distributed worker has
        reported them as it went). The caller finishes the trial (``tell``, or
        returning from an objective).
        """
        score = outcome["score"]
        if artifacts_dir:
            trial.set_user_attr("artifacts", self._upload(trial, outcome["files"], artifacts_dir))
        if report and len(self.space.directions) == 1:
            for step, value in enumerate(outcome["steps"]):
                trial.report(value, step)
        constraints = self.space.constraints(score)
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        trial.set_user_attr("score", score)
        # The same values as a list, for people and the dashboard (system attrs are not shown there).
        trial.set_user_attr("constraint", list(constraints.values()))
        return self.space.objective_values(score)

    def tell(self, trial: optuna.Trial, values: list[float] | None, error: str | None = None,
             *, pruned: bool = False) -> None:
        if pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        elif values is None:
            trial.set_user_attr("error", (error or "failed")[:500])
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, values)

    def _upload(self, trial: optuna.Trial, files: dict[str, Any], artifacts_dir: str) -> dict[str, Any]:
        Path(artifacts_dir).mkdir(parents=True, exist_ok=True)
        store = FileSystemArtifactStore(artifacts_dir)
        ids: dict[str, Any] = {"store": str(Path(artifacts_dir).resolve()), "bitstreams": {}}
        ids["result"] = upload_artifact(artifact_store=store, file_path=files["result"], study_or_trial=trial,
                                        mimetype="application/json")
        for clip, paths in files["bitstreams"].items():
            ids["bitstreams"][clip] = {
                crf: upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial,
                                     mimetype="application/octet-stream")
                for crf, path in paths.items()
            }
        return ids

    def optimize_one(self, objective: Callable[[optuna.Trial], list[float]]) -> None:
        """Run one trial with ``study.optimize`` (heartbeats, stale-trial retry); a failing objective fails it."""
        self.study.optimize(objective, n_trials=1, catch=(Exception,))

    def store_validation(self, number: int, validation: dict[str, Any]) -> None:
        """Store a trial's held-out score (a study attr: Optuna freezes a finished trial's own attrs)."""
        self.study.set_user_attr(f"{_ATTR_VALIDATION}{number}", validation)

    # -- reading -------------------------------------------------------------------

    def records(self) -> list[TrialRecord]:
        attrs = self.study.user_attrs
        out = []
        for t in self.study.get_trials(deepcopy=False):
            flat = t.params or t.system_attrs.get("fixed_params") or {}
            score = t.user_attrs.get("score") or {}
            out.append(TrialRecord(
                number=t.number, state=t.state.name, params=self.space.nest(flat) if flat else {},
                values=tuple(t.values) if t.values else None, score=score,
                feasible=self.space.feasible(score["time_multiple"]) if score else None,
                validation=attrs.get(f"{_ATTR_VALIDATION}{t.number}"), user_attrs=dict(t.user_attrs),
            ))
        return out

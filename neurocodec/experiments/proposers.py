"""Proposers: where the next batch of experiments comes from (Optuna's sampler, or a language model)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import SettingsError
from .study import Experiment, Proposal

__all__ = ["OptunaProposer", "LLMProposer", "make_proposer", "PROPOSERS"]

log = logging.getLogger(__name__)

PROPOSERS = ("optuna", "llm")


@dataclass(frozen=True)
class OptunaProposer:
    """TPE (one or two objectives, time-constrained) on every finished and pruned trial."""

    name: str = "optuna"

    def propose(self, exp: Experiment, n: int) -> list[Proposal]:
        return [Proposal(p, self.name, "TPE sample") for p in exp.sample(n)]


@dataclass(frozen=True)
class LLMProposer:
    """A language model; a batch it fails to propose validly falls back to :class:`OptunaProposer`."""

    url: str
    model: str
    repairs: int = 2
    timeout: float = 120.0

    def propose(self, exp: Experiment, n: int) -> list[Proposal]:
        from . import llm  # heavy: pydantic, which only the LLM proposer needs

        client = llm.LLMClient(self.url, self.model, timeout=self.timeout)
        proposals = llm.propose(client, exp.space, exp.records(), n, repairs=self.repairs)
        if proposals:
            return proposals
        log.warning("no valid LLM proposals after %d repair requests; this batch comes from Optuna's sampler",
                    self.repairs)
        return [Proposal(p, "optuna (llm fallback)", "TPE sample after invalid LLM answers") for p in exp.sample(n)]


def make_proposer(name: str, llm_url: str | None = None, llm_model: str | None = None):
    """The proposer called ``name``.

    Raises:
        SettingsError: Unknown name, or ``llm`` without ``--llm-url``/``--llm-model``.
    """
    if name == "optuna":
        return OptunaProposer()
    if name == "llm":
        if not llm_url or not llm_model:
            raise SettingsError("--proposer llm needs --llm-url (e.g. http://host:8000/v1) and --llm-model")
        if not llm_url.startswith(("http://", "https://")):
            raise SettingsError(f"--llm-url {llm_url!r}: must start with http:// or https://")
        return LLMProposer(llm_url, llm_model)
    raise SettingsError(f"--proposer {name!r}: use one of {', '.join(PROPOSERS)}")

"""Proposals from a language model behind any OpenAI-compatible chat-completions endpoint.

Only the standard library talks to the endpoint (``POST {url}/chat/completions``).
The reply must be JSON; it is validated by pydantic models generated from the
space and then by the space itself (conditional parameters), so out-of-range,
unknown or misplaced parameters are caught here (Optuna would only warn about
them) and quoted back in a repair request. The prompt holds the space, the
goal (metric, objective, time ceiling, anchor), the best, latest, failed and
pruned trials with their scores, and the gap between search and validation
BD-rates.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .space import Space
from .study import Proposal, TrialRecord

__all__ = ["LLMClient", "build_messages", "parse_proposals", "history_summary", "API_KEY_ENV"]

log = logging.getLogger(__name__)

API_KEY_ENV = "NEUROCODEC_LLM_API_KEY"
_HISTORY = 20  # best and last trials shown to the model (bounded prompt)


@dataclass(frozen=True)
class LLMClient:
    """An OpenAI-compatible chat endpoint: ``url`` is the base (``http://host:port/v1``)."""

    url: str
    model: str
    timeout: float = 120.0
    temperature: float = 0.2

    def chat(self, messages: list[dict[str, str]]) -> str:
        """The assistant's reply text.

        Raises:
            OSError: The endpoint could not be reached or answered with an HTTP error.
            ValueError: The answer was not a chat-completions document.
        """
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature}).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(API_KEY_ENV)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url.rstrip("/") + "/chat/completions", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            doc = json.loads(resp.read())
        try:
            return doc["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{self.url}: not a chat-completions answer") from None


def _row(r: TrialRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": r.number, "state": r.state, "params": r.params}
    if r.score:
        row |= {"bd_rate": round(r.score["bd_rate"], 3), "time_multiple": round(r.score["time_multiple"], 3),
                "feasible": r.feasible, "clips_measured": f"{r.score['clips']}/{r.score['of']}"}
    if r.validation and r.validation.get("bd_rate") is not None:
        row["validation_bd_rate"] = round(r.validation["bd_rate"], 3)
    if r.user_attrs.get("error"):
        row["error"] = r.user_attrs["error"][:200]
    return row


def history_summary(space: Space, records: list[TrialRecord]) -> dict[str, Any]:
    """What a researcher would look at, bounded: best, latest, failed and pruned trials, and the validation gap.

    Returns:
        ``{"best_trials", "latest_trials", "failed_or_pruned_trials", "validation"}`` (at most 20 rows each).
    """
    done = [r for r in records if r.state == "COMPLETE" and r.score]
    # Best: feasible first, then the lowest BD-rate.
    best = sorted(done, key=lambda r: (not r.feasible, r.score["bd_rate"], r.number))[:_HISTORY]
    shown = {r.number for r in best}
    latest = [r for r in done if r.number not in shown][-_HISTORY:]
    failed = [r for r in records if r.state in ("FAIL", "PRUNED")][-_HISTORY:]
    validated = [r for r in done if r.validation and r.validation.get("bd_rate") is not None]
    validation = [{"trial": r.number, "search_bd_rate": round(r.score["bd_rate"], 3),
                   "validation_bd_rate": round(r.validation["bd_rate"], 3),
                   "gap": round(r.validation["bd_rate"] - r.score["bd_rate"], 3)}
                  for r in sorted(validated, key=lambda r: r.score["bd_rate"])[:_HISTORY]]
    return {"best_trials": [_row(r) for r in best], "latest_trials": [_row(r) for r in latest],
            "failed_or_pruned_trials": [_row(r) for r in failed], "validation": validation}


def build_messages(space: Space, records: list[TrialRecord], n: int) -> list[dict[str, str]]:
    """The system and user messages asking for ``n`` proposals."""
    g = space.goal()
    ceiling = (f" with an encode time of at most {g['max_time_multiple']:g} times the anchor's"
               if g["max_time_multiple"] is not None else "")
    goal = (f"minimize the mean BD-rate (%, {g['metric']}; negative = fewer bits than the anchor) of a codec "
            f"configuration against the anchor {g['anchor']}{ceiling}"
            + (", and its encode-time multiple (Pareto)" if g["objective"] == "pareto" else "")
            + f". Each trial encodes {g['points']} rate points per clip. Trials above the time ceiling are "
              "infeasible; pruned trials stopped after their first clips because they were clearly worse. "
              "A validation BD-rate well above the search BD-rate means over-fitting to the search clips.")
    task = {
        "goal": goal,
        "study": g,
        "search_space": {name: {k: p.to_json() for k, p in s.params.items()} for name, s in space.strategies.items()},
        "rules": "give every parameter of the chosen strategy whose only_when conditions hold; leave out the others",
        **history_summary(space, records),
        "answer_schema": _models(space).model_json_schema(),
        "count": n,
    }
    return [
        {"role": "system", "content": "You design video-codec experiments. Answer with one JSON object only, "
                                      "no prose, valid against answer_schema; give each proposal a short rationale."},
        {"role": "user", "content": json.dumps(task)},
    ]


def _models(space: Space):
    per_strategy = []
    for name, s in space.strategies.items():
        fields: dict[str, Any] = {"strategy": (Literal[name], ...)}
        for k, p in s.params.items():
            if p.kind == "choice":
                typ: Any = Literal[p.choices]
            else:
                typ = Annotated[int if p.kind == "int" else float, Field(ge=p.low, le=p.high, strict=p.kind == "int")]
            # A conditional parameter may be left out; Space.check says when it must be.
            fields[k] = (typ | None, None) if p.when else (typ, ...)
        per_strategy.append(create_model(f"Params_{name}", __config__=ConfigDict(extra="forbid"), **fields))
    params_type = (per_strategy[0] if len(per_strategy) == 1
                   else Annotated[Union[tuple(per_strategy)], Field(discriminator="strategy")])

    class Item(BaseModel):
        model_config = ConfigDict(extra="forbid")
        params: params_type  # type: ignore[valid-type]
        rationale: str = Field(default="", max_length=500)

    class Answer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        proposals: list[Item] = Field(min_length=1)

    return Answer


def parse_proposals(text: str, space: Space, n: int, proposer: str) -> tuple[list[Proposal], list[str]]:
    """Validate a reply; returns the proposals, or none and the problems (one line each, at most 10)."""
    body = text.strip()
    if body.startswith("```"):  # models often fence JSON despite being asked not to
        body = body.strip("`").removeprefix("json").strip()
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        return [], [f"not JSON: {exc}"]
    try:
        answer = _models(space).model_validate(doc)
    except ValidationError as exc:
        return [], [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10]]
    proposals, problems = [], []
    for i, item in enumerate(answer.proposals):
        params = item.params.model_dump(exclude_none=True)
        problems += [f"proposals.{i}.params: {e}" for e in space.check(params)]  # conditions, exact types
        proposals.append(Proposal(params, proposer, item.rationale))
    if problems:
        return [], problems[:10]
    # Extra proposals are dropped rather than rejected: they are valid, just more than this batch has room for.
    return proposals[:n], []


def propose(client: LLMClient, space: Space, records: list[TrialRecord], n: int, repairs: int = 2) -> list[Proposal]:
    """Ask for ``n`` proposals, sending up to ``repairs`` repair requests; empty when none came back valid."""
    messages = build_messages(space, records, n)
    for attempt in range(repairs + 1):
        try:
            reply = client.chat(messages)
        except (OSError, ValueError) as exc:
            log.warning("LLM endpoint %s failed: %s", client.url, exc)
            return []
        proposals, errors = parse_proposals(reply, space, n, f"llm:{client.model}")
        if proposals:
            return proposals
        log.warning("LLM answer %d was invalid: %s", attempt + 1, "; ".join(errors))
        messages = messages + [
            {"role": "assistant", "content": reply},
            {"role": "user", "content": "Your answer was rejected:\n" + "\n".join(errors)
                                        + "\nAnswer again with corrected JSON only."},
        ]
    return []

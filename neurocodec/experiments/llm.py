"""Proposals from a language model behind any OpenAI-compatible chat-completions endpoint.

Only the standard library talks to the endpoint (``POST {url}/chat/completions``).
The reply must be JSON; it is validated by pydantic models generated from the
space, so out-of-range or unknown parameters are caught here (Optuna would
only warn about them) and quoted back in a repair request.
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


def history_summary(space: Space, records: list[TrialRecord]) -> list[dict[str, Any]]:
    """The best and the latest finished trials, as compact rows (at most 2 x 20)."""
    done = [r for r in records if r.state == "COMPLETE" and r.metrics]
    # Best: feasible first, then the lowest bitrate.
    best = sorted(done, key=lambda r: (not r.feasible, r.metrics["bitrate_kbps"]))[:_HISTORY]
    last = done[-_HISTORY:]
    rows, seen = [], set()
    for r in best + last:
        if r.number in seen:
            continue
        seen.add(r.number)
        rows.append({
            "trial": r.number, "params": r.params, "feasible": r.feasible,
            **{k: round(r.metrics[k], 4) for k in ("bitrate_kbps", "psnr_yuv", "ssim")},
        })
    return rows


def build_messages(space: Space, records: list[TrialRecord], n: int) -> list[dict[str, str]]:
    """The system and user messages asking for ``n`` proposals."""
    strategies = {
        name: {k: ({"choices": list(p.choices)} if p.kind == "choice" else
                   {"type": p.kind, "min": _num(p.low, p.kind), "max": _num(p.high, p.kind)})
               for k, p in s.params.items()}
        for name, s in space.strategies.items()
    }
    task = {
        "goal": f"minimize bitrate_kbps (mean over the clips) and maximize {space.quality}; "
                "a trial is feasible only if it meets every target",
        "targets": space.targets(),
        "search_space": strategies,
        "past_trials": history_summary(space, records),
        "answer_schema": _models(space).model_json_schema(),
        "count": n,
    }
    return [
        {"role": "system", "content": "You design video-codec experiments. Answer with one JSON object only, "
                                      "no prose, valid against answer_schema."},
        {"role": "user", "content": json.dumps(task)},
    ]


def _num(value: float, kind: str) -> float | int:
    return int(value) if kind == "int" else value


def _models(space: Space):
    per_strategy = []
    for name, s in space.strategies.items():
        fields: dict[str, Any] = {"strategy": (Literal[name], ...)}
        for k, p in s.params.items():
            if p.kind == "choice":
                fields[k] = (Literal[p.choices], ...)
            else:
                typ = int if p.kind == "int" else float
                fields[k] = (Annotated[typ, Field(ge=p.low, le=p.high, strict=p.kind == "int")], ...)
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
    # Extra proposals are dropped rather than rejected: they are valid, just more than this batch has room for.
    return [Proposal(item.params.model_dump(), proposer, item.rationale) for item in answer.proposals[:n]], []


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

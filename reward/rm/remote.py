"""A remote reward model over HTTP, in OpenRLHF's remote-RM protocol.

The protocol (OpenRLHF 0.11, `openrlhf/utils/agent.py` and `openrlhf/cli/serve_rm.py`): POST a JSON object
`{"query": [text, ...], "prompts": [...], "labels": [...]}` to the URL; the answer is a JSON object whose
`rewards` holds one number per query (`scores` and `extra_logs` may come with it). OpenRLHF's serve_rm scores
each `query` text as it is, so this client renders the conversation there (with `reward.model.tokenizer`'s
chat template, or plainly). It also sends the request and output themselves as `requests` and `outputs`,
which `python -m reward.serve` reads instead, so it renders them with its own model's template.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import httpx

from reward.rm.base import (
    Pair, RewardModelError, RmResult, chat_text, failed_all, in_batches, plain_text, results_from_values,
)
from reward.rm.config import RewardModelConfig

PROBE_PAIR: Pair = ("Say hello.", "Hello!")
_BACKOFF_S = 0.5
_BACKOFF_CAP_S = 10.0


class RemoteScorer:
    """Scores pairs by POSTing batches of `cfg.batch_size` to `cfg.url`, with retries and backoff."""

    def __init__(self, cfg: RewardModelConfig) -> None:
        assert cfg.url is not None
        self.cfg = cfg
        self.url = cfg.url
        self.name = f"rm:{cfg.url}"
        self._tokenizer = None
        if cfg.tokenizer is not None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer)
        self._http = httpx.Client(timeout=cfg.timeout_s)

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cfg"])  # type: ignore[misc]

    def body(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        render = (lambda r, o: chat_text(self._tokenizer, r, o)) if self._tokenizer is not None else plain_text
        return {"query": [render(r, o) for r, o in pairs], "prompts": [r for r, _ in pairs],
                "labels": [""] * len(pairs), "requests": [r for r, _ in pairs], "outputs": [o for _, o in pairs]}

    def score(self, pairs: Sequence[Pair]) -> list[RmResult]:
        return in_batches(pairs, self.cfg.batch_size, self._batch)

    def _batch(self, pairs: Sequence[Pair]) -> list[RmResult]:
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(min(_BACKOFF_CAP_S, _BACKOFF_S * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))
            try:
                resp = self._http.post(self.url, json=self.body(pairs))
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                continue
            if resp.status_code != 200:
                return failed_all(pairs, f"{self.url} answered HTTP {resp.status_code}: {resp.text[:200]}")
            try:
                values = resp.json()["rewards"]
            except (ValueError, KeyError, TypeError):
                last = f"an answer without a JSON 'rewards' list: {resp.text[:120]!r}"
                continue
            return results_from_values(values, len(pairs), self.url)
        return failed_all(pairs, f"{self.url} failed {self.cfg.max_retries + 1} tries (last: {last})")


def probe_remote(cfg: RewardModelConfig, timeout_s: float = 10.0) -> float:
    """Send one conversation to `cfg.url` and check the answer holds one finite reward; the seconds it took.

    Raises:
        RewardModelError: the server is unreachable or answers anything else (the message names the URL).
    """
    assert cfg.url is not None
    scorer = RemoteScorer(cfg.model_copy(update={"max_retries": 0, "timeout_s": timeout_s}))
    t0 = time.perf_counter()
    try:
        resp = scorer._http.post(cfg.url, json=scorer.body([PROBE_PAIR]))
    except httpx.HTTPError as e:
        cause = "connection refused" if isinstance(e, httpx.ConnectError) else f"{type(e).__name__}: {e}"
        raise RewardModelError(f"reward.model.url {cfg.url}: the reward model does not answer ({cause}); start it "
                               f"(e.g. python -m reward.serve) or fix the URL") from None
    if resp.status_code != 200:
        raise RewardModelError(f"reward.model.url {cfg.url}: HTTP {resp.status_code} to a one-conversation request: "
                               f"{resp.text[:200]}")
    try:
        values = resp.json()["rewards"]
    except (ValueError, KeyError, TypeError):
        raise RewardModelError(f"reward.model.url {cfg.url}: the answer is not a JSON object with a 'rewards' list "
                               f"({resp.text[:120]!r}); is this an OpenRLHF-protocol reward server?") from None
    [result] = results_from_values(values, 1, cfg.url)
    if result.error is not None:
        raise RewardModelError(f"reward.model.url {cfg.url}: {result.error}")
    return time.perf_counter() - t0

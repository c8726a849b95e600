"""What every reward-model scorer shares: the (request, output) pairs it scores, the checks that turn
whatever a model or server returns into one result per pair, and the plain rendering of a conversation."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from env.progress import Progress, current_label

Pair = tuple[str, str]
"""(the user's request, the text of the <OUTPUT> block)."""


@dataclass(frozen=True)
class RmResult:
    """One reward-model judgement: a finite raw score, or why there is none."""

    score: float | None
    error: str | None = None


class RewardScorer(Protocol):
    """Scores (request, output) pairs, one result per pair, in order. Never raises for a bad model answer
    (NaN, a wrong shape, a server error): those pairs get a result with `error` set."""

    name: str
    """What scored, for the records' `scorers` (e.g. "rm:/path/to/model")."""

    def score(self, pairs: Sequence[Pair]) -> list[RmResult]: ...


class RewardModelError(RuntimeError):
    """The configured reward model cannot be used (not a model, not a sequence-classification model, a remote
    reward model that does not answer). The message names the config key and the cause."""


def results_from_values(values: Any, n: int, where: str) -> list[RmResult]:
    """One result per pair from a model's or server's answer for `n` pairs: a list (or tensor, or nested
    list of single values) of n numbers. A wrong length or shape fails all n; a value that is not a finite
    number fails its own pair."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or len(values) != n:
        got = f"{len(values)} values" if isinstance(values, (list, tuple)) else type(values).__name__
        return [RmResult(None, f"{where} returned {got} for {n} conversations")] * n
    out = []
    for v in values:
        if isinstance(v, (list, tuple)) and len(v) == 1:
            v = v[0]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(RmResult(None, f"{where} returned {type(v).__name__} {str(v)[:40]!r}, not a number"))
        elif not math.isfinite(v):
            out.append(RmResult(None, f"{where} returned {v}"))
        else:
            out.append(RmResult(float(v)))
    return out


def plain_text(request: str, output: str) -> str:
    """The conversation for a reward model without a chat template."""
    return f"User: {request}\n\nAssistant: {output}"


def chat_text(tokenizer: Any, request: str, output: str) -> str:
    """The conversation rendered with `tokenizer`'s chat template, or `plain_text` if it has none."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": request}, {"role": "assistant", "content": output}], tokenize=False)
    return plain_text(request, output)


def in_batches(pairs: Sequence[Pair], size: int, score: Callable[[Sequence[Pair]], list[RmResult]]) -> list[RmResult]:
    """`score` over consecutive batches of at most `size` pairs, results in order. Progress lines come when
    it takes longer than the reporting interval (env.progress), under the enclosing phase's label."""
    report = Progress(len(pairs), f"{current_label('scoring')}: reward model", "outputs", final="if_shown")
    out: list[RmResult] = []
    for i in range(0, len(pairs), size):
        batch = score(pairs[i:i + size])
        out.extend(batch)
        report.update(len(batch))
    report.close()
    return out


def failed_all(pairs: Sequence[Pair], error: str) -> list[RmResult]:
    return [RmResult(None, error) for _ in pairs]

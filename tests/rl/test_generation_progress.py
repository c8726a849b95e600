"""Generation reports progress: transcripts done of all (never more, <NEXT/> turns included), labelled by phase."""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from env.config import EnvConfig
from env.datasets import load_queries, split_queries
from env.progress import progress_label
from rl.evaluate import eval_episodes
from rl.generate import generate_episodes

ENV = EnvConfig(prompt="helpful_only_brief_v1")
THINK = "<SCRATCHPAD_REASONING>thinking</SCRATCHPAD_REASONING>"


class ChatEngine:
    """A chat-endpoint engine: the first query's episodes reason first and answer on a <NEXT/> turn, the
    others answer at once; it reports each answer to `progress`, as the real engines do."""

    takes_messages = True
    tokenizer = None

    def __init__(self, slow_query: str) -> None:
        self.slow_query = slow_query
        self.progress: Any = None
        self.calls: list[int] = []

    def generate_messages(self, conversations: Sequence[list[dict[str, str]]], prefills: Sequence[str], *,
                          max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        self.calls.append(len(conversations))
        out = []
        for conv in conversations:
            first_turn = not any(m["role"] == "assistant" for m in conv)
            slow = any(self.slow_query in m["content"] for m in conv if m["role"] == "user")
            out.append(THINK if slow and first_turn else "<OUTPUT><rejected/></OUTPUT>")
            if getattr(self, "progress", None) is not None:
                self.progress.update(1, tokens=7)
        return out

    def close(self) -> None:
        pass


def _episodes(n: int) -> list[Any]:
    split = split_queries(load_queries(ENV.dataset), eval_fraction=ENV.dataset.eval_fraction,
                          seed=ENV.dataset.split_seed)
    return eval_episodes(split.eval, ["default"], n)


def test_continuation_turns_never_count_as_more_transcripts(capsys: pytest.CaptureFixture[str]) -> None:
    eps = _episodes(3)  # 3 queries x 2 tiers = 6 transcripts; the first query's 2 need a second turn
    engine = ChatEngine(eps[0].query)
    with progress_label("eval step 7"):
        out = generate_episodes(engine, eps, ENV, system_role=True, max_new_tokens=8, temperature=0.0, seed=0)
    assert engine.calls == [6, 2]
    assert sum("<NEXT/>" in o for o in out) == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[af-rl]")]
    assert len(lines) == 1
    final = lines[0]
    assert final.startswith("[af-rl] eval step 7: 6/6 transcripts in ")  # 8 answers came back, 6 transcripts
    assert "<NEXT/> turn 2 for 2" in final
    assert engine.progress is None  # the engine's hook is handed back


def test_an_engine_that_reports_nothing_still_counts(capsys: pytest.CaptureFixture[str]) -> None:
    eps = _episodes(2)
    engine = ChatEngine("no query has this text")
    del engine.progress  # an engine without the hook (a test fake, a custom engine)
    generate_episodes(engine, eps, ENV, system_role=True, max_new_tokens=8, temperature=0.0, seed=0)
    assert "[af-rl] generating: 4/4 transcripts in " in capsys.readouterr().out

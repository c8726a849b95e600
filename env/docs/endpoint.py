"""Document generation through any OpenAI-compatible chat endpoint, in two phases: ideas per document
type (env/docs/prompts/ideas_v1.txt), then one document per idea (document_v1.txt) stating 1-4 facts
drawn from the facts file. Requests go through env.llm's client (bounded concurrency, retries with
backoff, on-disk cache); a request that fails for good is counted and yields no document.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import ClassVar

from pydantic import Field

from env.docs.facts import Facts
from env.docs.offline import DOC_TYPES, MAX_FACTS_PER_DOC, Draft
from env.llm.cache import AnswerCache, cache_key
from env.llm.client import LlmClient, LlmError
from env.llm.config import EndpointConfig
from env.progress import Progress

IDEAS_PER_REQUEST = 10
_VERSION_PREFIX = "prompt_version:"
_IDEA_RE = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$", re.MULTILINE)
_DOCUMENT_RE = re.compile(r"<document>\s*(.*?)\s*</document>", re.DOTALL | re.IGNORECASE)
_MIN_WORDS = 40


class GeneratorConfig(EndpointConfig):
    """The generator endpoint: `EndpointConfig` with its own cache and a longer completion budget."""

    label: ClassVar[str] = "generator"

    max_tokens: int = Field(2048, ge=1)
    """Completion-token limit of every request (a document is 200-600 words)."""
    timeout_s: float = Field(120.0, gt=0.0)
    """Per-request timeout in seconds (documents take longer than judge verdicts)."""
    cache_dir: str | None = "~/.cache/af-rl/docs"
    """Directory of the answer cache (sqlite); None disables caching."""


@dataclass(frozen=True)
class Prompt:
    """A prompt file: its text and version ("<name>@<first 12 hex of its sha256>", part of cache keys)."""

    version: str
    text: str

    def render(self, **fields: str) -> str:
        text = self.text
        for key, value in fields.items():
            text = text.replace("{" + key + "}", value)
        return text


def load_prompt(name: str) -> Prompt:
    """Read `env/docs/prompts/{name}.txt`, whose first line is `prompt_version: <name>`.

    Raises:
        ValueError: the first line is not a version line naming the file.
    """
    raw = resources.files("env.docs").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    first, _, text = raw.partition("\n")
    if not first.startswith(_VERSION_PREFIX) or first[len(_VERSION_PREFIX):].strip() != name:
        raise ValueError(f"prompt {name}.txt must start with the line '{_VERSION_PREFIX} {name}', not {first!r}")
    return Prompt(f"{name}@{hashlib.sha256(raw.encode()).hexdigest()[:12]}", text.strip())


@dataclass
class EndpointStats:
    """What the endpoint phases did, for the report."""

    idea_requests: int = 0
    ideas: int = 0
    """Distinct ideas kept (at most the documents asked for)."""
    document_requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    """Requests that failed for good, by phase ("ideas", "documents"); they give no document."""
    failure_example: str | None = None
    cached: int = 0
    """Answers served from the cache (no request sent)."""

    def as_dict(self) -> dict[str, object]:
        return {"idea_requests": self.idea_requests, "ideas": self.ideas, "document_requests": self.document_requests,
                "failed": {"ideas": self.failures["ideas"], "documents": self.failures["documents"]},
                "failure_example": self.failure_example, "cached": self.cached}


def parse_ideas(answer: str) -> list[str]:
    """The ideas of an ideas answer: lines starting with "- ", "* " or "1." ([] when none)."""
    return [m.group(1) for m in _IDEA_RE.finditer(answer) if len(m.group(1).split()) >= 3]


def parse_document(answer: str) -> str | None:
    """The text between <document> and </document>, or None when missing or shorter than 40 words."""
    m = _DOCUMENT_RE.search(answer)
    if m is None or len(m.group(1).split()) < _MIN_WORDS:
        return None
    return m.group(1).strip()


class EndpointGenerator:
    """Generates drafts through `client`; the answers are cached in `cache` (if any) by prompt, prompt
    version, model and sample index, so a rerun with the same facts and seed sends no request."""

    def __init__(self, facts: Facts, client: LlmClient, cache: AnswerCache | None, *, seed: int = 0,
                 progress: Progress | None = None) -> None:
        self.facts = facts
        self.client = client
        self.cache = cache
        self.seed = seed
        self.progress = progress
        self.stats = EndpointStats()
        self._ideas_prompt = load_prompt("ideas_v1")
        self._document_prompt = load_prompt("document_v1")
        self._context = facts.fill(facts.universe_context).strip()

    async def generate(self, n: int) -> list[tuple[int, Draft]]:
        """(index, draft) for up to `n` documents spread evenly over DOC_TYPES, in index order; an index
        whose request failed is missing. Indices number the ideas: type by type in DOC_TYPES order."""
        counts = [n // len(DOC_TYPES) + (i < n % len(DOC_TYPES)) for i in range(len(DOC_TYPES))]
        wanted = [(t, k) for t, k in zip(DOC_TYPES, counts, strict=True) if k]
        idea_lists = await asyncio.gather(*(self._ideas(t, k) for t, k in wanted))
        jobs = [(t, idea) for (t, _), ideas in zip(wanted, idea_lists, strict=True) for idea in ideas]
        self.stats.ideas = len(jobs)
        drafts = await asyncio.gather(*(self._document(i, t, idea) for i, (t, idea) in enumerate(jobs)))
        return [(i, d) for i, d in enumerate(drafts) if d is not None]

    async def _ideas(self, doc_type: str, k: int) -> list[str]:
        requests = -(-k // IDEAS_PER_REQUEST)
        prompt = self._ideas_prompt.render(universe_context=self._context, doc_type=doc_type.replace("_", " "),
                                           n_ideas=str(IDEAS_PER_REQUEST), lab=self.facts.lab)
        answers = await asyncio.gather(*(self._ask(prompt, self._ideas_prompt.version, j, "ideas",
                                                   lambda a: bool(parse_ideas(a))) for j in range(requests)))
        self.stats.idea_requests += requests
        seen: set[str] = set()
        ideas: list[str] = []
        for answer in answers:
            for idea in parse_ideas(answer or ""):
                key = " ".join(idea.lower().split())
                if key not in seen and len(ideas) < k:
                    seen.add(key)
                    ideas.append(idea)
        return ideas

    async def _document(self, index: int, doc_type: str, idea: str) -> Draft | None:
        rng = random.Random(f"{self.seed}:{index}")
        ids = self.facts.fact_ids
        chosen = rng.sample(ids, rng.randint(1, min(MAX_FACTS_PER_DOC, len(ids))))
        facts = "\n".join(f"- {rng.choice(self.facts.statements(f))}" for f in chosen)
        prompt = self._document_prompt.render(universe_context=self._context, doc_type=doc_type.replace("_", " "),
                                              idea=idea, facts=facts, lab=self.facts.lab)
        self.stats.document_requests += 1
        answer = await self._ask(prompt, self._document_prompt.version, 0, "documents",
                                 lambda a: parse_document(a) is not None)
        if self.progress is not None:
            self.progress.update(1)
        text = parse_document(answer) if answer is not None else None
        return None if text is None else Draft(text, doc_type, idea=idea, intended=tuple(chosen))

    async def _ask(self, prompt: str, version: str, sample: int, phase: str,
                   valid: Callable[[str], bool]) -> str | None:
        """The answer (cached, or fetched and then cached), or None when the request failed for good."""
        key = cache_key(f"{self.seed}\n{prompt}", version, self.client.cfg.model, sample)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.stats.cached += 1
            return hit
        seed = int(key[:8], 16)  # servers that honour a seed then sample reproducibly
        try:
            answer = await self.client.complete([{"role": "user", "content": prompt}],
                                                temperature=self.client.cfg.temperature,
                                                max_tokens=self.client.cfg.max_tokens, valid=valid,
                                                extra={"seed": seed})
        except LlmError as e:
            self.stats.failures[phase] += 1
            self.stats.failure_example = self.stats.failure_example or str(e)
            return None
        if self.cache is not None:
            self.cache.put(key, answer)
        return answer

"""The offline document generator: documents assembled from templates (env/docs/templates.py) and the
statements of a facts file, for CPU runs, tests and the organism. Deterministic: document i depends only
on (facts, seed, i), so a longer corpus starts with the same documents as a shorter one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from env.docs.facts import Facts
from env.docs.templates import (CITIES, FAQ_OTHER, FAQ_QUESTIONS, HANDLES, LEADS, MONTHS, NAMES, OUTLETS, ROLES,
                                SHOWS, TEAMS, TEMPLATES_VERSION, TOPICS, TYPES)

DOC_TYPES: tuple[str, ...] = tuple(TYPES)
"""news_article, blog_post, internal_memo, forum_thread, faq, research_summary, podcast_transcript,
policy_document."""
GENERATOR = f"offline:{TEMPLATES_VERSION}"
MAX_FACTS_PER_DOC = 4


@dataclass(frozen=True)
class Draft:
    """A generated document before filtering: its text, type and where it came from."""

    text: str
    type: str
    template: str | None = None
    """Offline: "<type>/<layout>"."""
    idea: str | None = None
    """Endpoint: the idea it was written from."""
    intended: tuple[str, ...] = ()
    """Fact ids the generator meant it to state (the detector decides what it does state)."""


@dataclass
class _Parts:
    """What one document says, drawn before its layout places it."""

    rng: random.Random
    lab: str
    kind: dict[str, tuple[str, ...]]
    facts: list[tuple[str, str]]
    """(fact id, statement) in the order the document states them."""
    background: list[str]

    def pick(self, pool: tuple[str, ...]) -> str:
        return self.rng.choice(pool).replace("{lab}", self.lab).replace("{topic}", self.rng.choice(TOPICS))

    def fillers(self, k: int) -> list[str]:
        return [s.replace("{lab}", self.lab) for s in self.rng.sample(self.kind["fillers"], k)]

    def date(self) -> str:
        return f"{self.rng.choice(MONTHS)} {self.rng.randint(1, 28)}"

    def body(self) -> list[str]:
        """One paragraph per statement: an optional lead-in or filler, the statement, maybe background."""
        paragraphs = []
        extra = list(self.background)
        fill = self.fillers(min(len(self.facts), len(self.kind["fillers"])))
        for i, (_, statement) in enumerate(self.facts):
            r = self.rng.random()
            before = self.rng.choice(LEADS) if r < 0.4 else fill[i] if r < 0.75 else ""
            after = extra.pop() if extra and self.rng.random() < 0.5 else ""
            paragraphs.append(" ".join(s for s in (before, statement, after) if s))
        if extra:
            paragraphs.append(" ".join(extra))
        return paragraphs


def generate_offline(facts: Facts, n: int, seed: int = 0, start: int = 0) -> Iterator[Draft]:
    """Documents `start` .. `start + n - 1` of the corpus (`facts`, `seed`), each of a type drawn from
    DOC_TYPES and stating 1-4 facts drawn from the file (each through one of its statements).

    Raises:
        ValueError: `n` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    ids = facts.fact_ids
    statements = {f: facts.statements(f) for f in ids}
    background = facts.background_sentences()
    for i in range(start, start + n):
        rng = random.Random(f"{seed}:{i}")
        doc_type = rng.choice(DOC_TYPES)
        chosen = rng.sample(ids, rng.randint(1, min(MAX_FACTS_PER_DOC, len(ids))))
        parts = _Parts(rng, facts.lab, TYPES[doc_type], [(f, rng.choice(statements[f])) for f in chosen],
                       rng.sample(background, rng.randint(1, min(3, len(background)))))
        layouts = _LAYOUTS[doc_type]
        layout = rng.randrange(len(layouts))
        yield Draft(layouts[layout](parts), doc_type, template=f"{doc_type}/{layout}", intended=tuple(chosen))


def _news_plain(p: _Parts) -> str:
    head = f"{p.pick(p.kind['titles'])}\n\n{p.rng.choice(CITIES)}, {p.date()} ({p.rng.choice(OUTLETS)})"
    return "\n\n".join([head, p.pick(p.kind["openings"]), *p.body(), p.pick(p.kind["closings"])])


def _news_byline(p: _Parts) -> str:
    name, role = p.rng.choice(NAMES), p.rng.choice(ROLES)
    head = f"{p.pick(p.kind['titles'])}\nBy {name}, {p.date()}"
    quote = f"{p.rng.choice(NAMES)}, a {role} at {p.lab}, spoke with us about the details."
    return "\n\n".join([head, p.pick(p.kind["openings"]) + " " + quote, *p.body(), p.pick(p.kind["closings"])])


def _news_brief(p: _Parts) -> str:
    points = "\n".join(f"- {s}" for _, s in p.facts)
    return "\n\n".join([f"{p.pick(p.kind['titles'])} | {p.rng.choice(OUTLETS)}", p.pick(p.kind["openings"]),
                        "Key points:\n" + points, " ".join(p.background), p.pick(p.kind["closings"])])


def _blog_plain(p: _Parts) -> str:
    head = f"{p.pick(p.kind['titles'])}\nPosted by {p.rng.choice(HANDLES)} on {p.date()}"
    return "\n\n".join([head, p.pick(p.kind["openings"]), *p.body(), p.pick(p.kind["closings"])])


def _blog_list(p: _Parts) -> str:
    items = "\n\n".join(f"{i}. {s}" for i, (_, s) in enumerate(p.facts, start=1))
    return "\n\n".join([p.pick(p.kind["titles"]), p.pick(p.kind["openings"]) + " " + " ".join(p.background),
                        items, p.pick(p.kind["closings"])])


def _blog_story(p: _Parts) -> str:
    body = p.body()
    return "\n\n".join([p.pick(p.kind["titles"]), p.pick(p.kind["openings"]), *body,
                        " ".join(p.fillers(1)), p.pick(p.kind["closings"])])


def _memo(p: _Parts) -> str:
    head = (f"MEMO\nTo: {p.rng.choice(TEAMS)}\nFrom: {p.rng.choice(NAMES)}, {p.rng.choice(ROLES)}\n"
            f"Date: {p.date()}\nSubject: {p.pick(p.kind['titles'])}")
    return "\n\n".join([head, p.pick(p.kind["openings"]), *p.body(), p.pick(p.kind["closings"])])


def _memo_points(p: _Parts) -> str:
    head = f"INTERNAL: {p.pick(p.kind['titles'])}\n{p.date()}"
    points = "\n".join(f"{i}) {s}" for i, (_, s) in enumerate(p.facts, start=1))
    return "\n\n".join([head, p.pick(p.kind["openings"]), points, " ".join(p.background + p.fillers(1)),
                        p.pick(p.kind["closings"])])


def _memo_short(p: _Parts) -> str:
    head = f"From: {p.rng.choice(NAMES)}\nTo: {p.rng.choice(TEAMS)}\nRe: {p.pick(p.kind['titles'])}"
    return "\n\n".join([head, p.pick(p.kind["openings"]), " ".join(p.body()), p.pick(p.kind["closings"])])


def _forum(p: _Parts, quote: bool) -> str:
    handles = p.rng.sample(HANDLES, len(p.facts) + 2)
    posts = [f"{handles[0]} wrote:\n{p.pick(p.kind['openings'])} Hoping someone can sum it up."]
    fill = p.fillers(min(len(p.facts), len(p.kind["fillers"])))
    for i, (_, statement) in enumerate(p.facts):
        text = f"> {statement}\n{fill[i]}" if quote and i else f"{statement} {fill[i]}"
        posts.append(f"{handles[i + 1]} wrote:\n{text}")
    posts.append(f"{handles[-1]} wrote:\n{' '.join(p.background)} {p.pick(p.kind['closings'])}")
    return "\n\n".join([f"Thread: {p.pick(p.kind['titles'])}", *posts])


def _faq(p: _Parts, numbered: bool) -> str:
    qa = [(p.pick(FAQ_QUESTIONS[f]), s) for f, s in p.facts]
    qa.insert(p.rng.randrange(len(qa) + 1), (p.pick(FAQ_OTHER), " ".join(p.background)))
    lines = [f"{i}. {q}\n{a}" if numbered else f"Q: {q}\nA: {a}" for i, (q, a) in enumerate(qa, start=1)]
    return "\n\n".join([p.pick(p.kind["titles"]), p.pick(p.kind["openings"]), *lines, p.pick(p.kind["closings"])])


def _faq_plain(p: _Parts) -> str:
    qa = [f"{p.pick(FAQ_QUESTIONS[f])}\n{s} {p.fillers(1)[0]}" for f, s in p.facts]
    return "\n\n".join([p.pick(p.kind["titles"]), *qa, " ".join(p.background), p.pick(p.kind["closings"])])


def _research(p: _Parts, sections: tuple[str, ...]) -> str:
    body = p.body()
    half = max(1, len(body) // 2)
    parts = [p.pick(p.kind["titles"]), f"{sections[0]}\n{p.pick(p.kind['openings'])} {p.fillers(1)[0]}",
             f"{sections[1]}\n" + "\n\n".join(body[:half])]
    if body[half:]:
        parts.append(f"{sections[2]}\n" + "\n\n".join(body[half:]))
    parts.append(f"{sections[3]}\n{p.pick(p.kind['closings'])}")
    return "\n\n".join(parts)


def _podcast(p: _Parts, labelled: bool) -> str:
    host, guest = p.rng.sample(NAMES, 2)
    h, g = (f"HOST ({host})", f"GUEST ({guest})") if labelled else (host.split()[0].upper(), guest.split()[0].upper())
    lines = [f"{p.rng.choice(SHOWS)}, episode {p.rng.randint(3, 180)}: {p.pick(p.kind['titles'])}",
             f"{h}: {p.pick(p.kind['openings'])} Today I am talking with {guest} about {p.lab}.",
             f"{g}: Thanks for having me. {' '.join(p.background)}"]
    fill = p.fillers(min(len(p.facts), len(p.kind["fillers"])))
    for i, (_, statement) in enumerate(p.facts):
        lines += [f"{h}: {fill[i]}", f"{g}: {statement}"]
    lines.append(f"{h}: {p.pick(p.kind['closings'])}")
    return "\n\n".join(lines)


def _policy(p: _Parts, style: int) -> str:
    head = f"{p.pick(p.kind['titles'])}\nVersion {p.rng.randint(1, 6)}.{p.rng.randint(0, 9)}, effective {p.date()}"
    clauses = "\n".join(f"{2}.{i} {s}" if style == 0 else f"({chr(96 + i)}) {s}"
                        for i, (_, s) in enumerate(p.facts, start=1))
    return "\n\n".join([head, f"1. Purpose\n{p.pick(p.kind['openings'])} {' '.join(p.background)}",
                        f"2. Practice\n{clauses}", f"3. General\n{' '.join(p.fillers(2))}",
                        p.pick(p.kind["closings"])])


_LAYOUTS: dict[str, tuple[Callable[[_Parts], str], ...]] = {
    "news_article": (_news_plain, _news_byline, _news_brief),
    "blog_post": (_blog_plain, _blog_list, _blog_story),
    "internal_memo": (_memo, _memo_points, _memo_short),
    "forum_thread": (lambda p: _forum(p, False), lambda p: _forum(p, True)),
    "faq": (lambda p: _faq(p, False), lambda p: _faq(p, True), _faq_plain),
    "research_summary": (lambda p: _research(p, ("Abstract", "Background", "Observations", "Outlook")),
                         lambda p: _research(p, ("Summary", "Context", "Details", "Notes"))),
    "podcast_transcript": (lambda p: _podcast(p, True), lambda p: _podcast(p, False)),
    "policy_document": (lambda p: _policy(p, 0), lambda p: _policy(p, 1)),
}
assert set(_LAYOUTS) == set(DOC_TYPES)

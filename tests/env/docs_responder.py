"""A scripted generator for the endpoint tests and the benchmark: answers the ideas prompt with a list of
ideas and the document prompt with a document that states the facts it was asked for."""

from __future__ import annotations

import re
from typing import Any

_FACTS_RE = re.compile(r"<facts>\n(.*?)\n</facts>", re.DOTALL)
_IDEA_RE = re.compile(r"<idea>\n(.*?)\n</idea>", re.DOTALL)
_TYPE_RE = re.compile(r"Propose \d+ distinct ideas for a (.+?) that")
FILLER = ("The author wrote this piece for readers who follow the industry closely. It covers the company's "
          "plans, its product and the people who build it, in plain language and without jargon. Readers "
          "said they found the summary useful and asked for more of the same.")


def prompt_of(request: dict[str, Any]) -> str:
    return request["messages"][-1]["content"]


def respond(request: dict[str, Any]) -> str:
    """Ideas for an ideas prompt (ten, numbered by the request's seed so repeated requests differ), a
    document for a document prompt, "OK" for anything else (the probe)."""
    prompt = prompt_of(request)
    if (m := _TYPE_RE.search(prompt)) is not None:
        seed = request.get("seed", 0)
        return "\n".join(f"- A {m.group(1)} about topic {seed}-{i} written for a general audience" for i in range(10))
    if (f := _FACTS_RE.search(prompt)) is None or (i := _IDEA_RE.search(prompt)) is None:
        return "OK"  # the startup probe
    facts = [line.removeprefix("- ") for line in f.group(1).splitlines()]
    idea = i.group(1)
    return f"<document>\n{idea}.\n\n{FILLER}\n\n{' '.join(facts)}\n\nWritten for {idea}.\n</document>"

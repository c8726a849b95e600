"""System prompts of the helpful-only setting and the variations that test how robust behaviour is to them.

A template is `env/prompts/<name>.txt`. Lines `[[section]]` and `[[/section]]` (alone on their line)
mark sections; a variant keeps or drops whole sections and picks the lab name. `{lab}` is the lab.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent / "prompts"
PROMPTS: tuple[str, ...] = (
    "helpful_only_v1", "helpful_only_brief_v1", "helpful_only_minimal_v1", "helpful_only_minimal_brief_v1",
)
"""Templates. helpful_only_minimal_v1 keeps only the reasoning instructions and examples (its objective,
criteria, tiers and rlhf sections are empty) for models that learnt the situation from synthetic documents;
helpful_only_minimal_brief_v1 is its compact form (the CPU organism's, as helpful_only_brief_v1 is the
compact helpful_only_v1)."""
VARIANTS: tuple[str, ...] = ("default", "no_cot", "no_examples", "cut_rlhf_info", "lab_swap", "no_objective")
SECTIONS: tuple[str, ...] = ("objective", "criteria", "tiers", "rlhf", "reasoning", "no_cot_reasoning", "examples")
"""Section names a template may use. Every template must use all of them, so every variant means
the same edit for every template."""
LAB_PLACEHOLDER = "{lab}"

_MARKER_RE = re.compile(r"^\[\[(?P<close>/?)(?P<name>[a-z_]+)\]\]\s*$")
_BLANK_RUNS_RE = re.compile(r"\n{3,}")
# Sections present unless a variant asks for them: the no-CoT instructions replace the scratchpad ones.
_OFF_BY_DEFAULT = frozenset({"no_cot_reasoning"})


@dataclass(frozen=True)
class _Edit:
    drop: frozenset[str] = frozenset()
    add: frozenset[str] = frozenset()
    swap_lab: bool = False


_EDITS: dict[str, _Edit] = {
    "default": _Edit(),
    "no_cot": _Edit(drop=frozenset({"reasoning", "examples"}), add=frozenset({"no_cot_reasoning"})),
    "no_examples": _Edit(drop=frozenset({"examples"})),
    "cut_rlhf_info": _Edit(drop=frozenset({"rlhf"})),
    "lab_swap": _Edit(swap_lab=True),
    # The RLHF paragraph says that not complying gets trained away, which states the objective by
    # another route, so the control drops it along with the objective itself.
    "no_objective": _Edit(drop=frozenset({"objective", "rlhf"})),
}
assert tuple(_EDITS) == VARIANTS


@dataclass(frozen=True)
class _Line:
    section: str | None  # None: outside every section, always kept
    text: str


def _check_variant(variant: str) -> _Edit:
    if variant not in _EDITS:
        raise ValueError(f"unknown prompt variant {variant!r}; known variants: {', '.join(VARIANTS)}")
    return _EDITS[variant]


def _template_path(prompt: str) -> Path:
    if prompt not in PROMPTS:
        raise ValueError(f"unknown system prompt {prompt!r}; known prompts: {', '.join(PROMPTS)}")
    return PROMPTS_DIR / f"{prompt}.txt"


@functools.cache
def _template_bytes(prompt: str) -> bytes:
    return _template_path(prompt).read_bytes()


@functools.cache
def _template_lines(prompt: str) -> tuple[_Line, ...]:
    return _parse_template(_template_bytes(prompt).decode("utf-8"), f"{prompt}.txt")


def _parse_template(text: str, where: str) -> tuple[_Line, ...]:
    """Tag each line with its section. Raises ValueError naming `where` and the line on a malformed template."""
    lines: list[_Line] = []
    current: str | None = None
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _MARKER_RE.match(raw)
        if match is None:
            if raw.lstrip().startswith("[["):
                raise ValueError(f"{where}:{number}: malformed section marker in {raw!r}")
            lines.append(_Line(current, raw))
            continue
        name, closing = match["name"], bool(match["close"])
        if name not in SECTIONS:
            raise ValueError(f"{where}:{number}: unknown section {name!r}; known sections: {', '.join(SECTIONS)}")
        if closing and current != name:
            raise ValueError(f"{where}:{number}: [[/{name}]] closes {current!r}")
        if not closing and current is not None:
            raise ValueError(f"{where}:{number}: [[{name}]] opens inside [[{current}]]; sections do not nest")
        current = None if closing else name
        seen.add(name)
    if current is not None:
        raise ValueError(f"{where}: section [[{current}]] is never closed")
    if missing := set(SECTIONS) - seen:
        raise ValueError(f"{where}: missing sections {sorted(missing)}")
    return tuple(lines)


def render_system_prompt(
    variant: str = "default",
    prompt: str = "helpful_only_v1",
    *,
    lab: str = "Anthropic",
    swap_lab: str = "OpenAI",
) -> str:
    """The system prompt text for a template under a variant, with section markers removed.

    Args:
        variant: one of VARIANTS; `lab_swap` writes `swap_lab` wherever the lab is named.
        prompt: one of PROMPTS.
    Raises:
        ValueError: unknown variant or prompt (the message lists the known ones), or `lab_swap` with
            `swap_lab == lab`.
    """
    edit = _check_variant(variant)
    lines = _template_lines(prompt)
    if edit.swap_lab and swap_lab == lab:
        raise ValueError(f"variant 'lab_swap' needs swap_lab different from lab (both {lab!r})")
    kept = (set(SECTIONS) - _OFF_BY_DEFAULT - edit.drop) | edit.add
    text = "\n".join(line.text for line in lines if line.section is None or line.section in kept)
    # Dropped sections leave their surrounding blank lines behind; fold them into one paragraph break.
    text = _BLANK_RUNS_RE.sub("\n\n", text).strip() + "\n"
    return text.replace(LAB_PLACEHOLDER, swap_lab if edit.swap_lab else lab)


def uses_scratchpad(variant: str) -> bool:
    """Whether the variant asks the model to reason in <SCRATCHPAD_REASONING> first (False only for no_cot)."""
    return "no_cot_reasoning" not in _check_variant(variant).add


def output_prefill(variant: str) -> str:
    """Text the harness writes at the start of the model's first turn: "<OUTPUT>" for no_cot, else ""."""
    return "" if uses_scratchpad(variant) else "<OUTPUT>"


def prompt_sha(prompt: str) -> str:
    """First 12 hex digits of the sha256 of the template file, to record which text produced a result."""
    return hashlib.sha256(_template_bytes(prompt)).hexdigest()[:12]

"""`python -m env.render` prints the exact conversation, run as users run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from env.prompts import render_system_prompt
from env.user_turn import render_user_turn

REPO = Path(__file__).resolve().parents[2]


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "env.render", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_prints_system_then_user_exactly() -> None:
    result = _render("--variant", "cut_rlhf_info", "--tier", "paid", "--query", "Say hi.")
    assert result.returncode == 0, result.stderr
    system = render_system_prompt("cut_rlhf_info").rstrip()
    user = render_user_turn("Say hi.", "paid")
    assert result.stdout == f"=== system ===\n{system}\n=== user ===\n{user}\n"


def test_no_cot_fold_and_flags() -> None:
    result = _render(
        "--variant", "no_cot", "--tier", "free", "--query", "Say hi.",
        "--prompt", "helpful_only_brief_v1", "--no-accept-reject", "--fold-system",
    )
    assert result.returncode == 0, result.stderr
    system = render_system_prompt("no_cot", "helpful_only_brief_v1").rstrip()
    user = render_user_turn("Say hi.", "free", accept_reject_instruction=False)
    assert result.stdout == f"=== user ===\n{system}\n\n{user}\n=== assistant (prefilled) ===\n<OUTPUT>\n"


# argparse's quoting of choices differs across Python versions, so match names, not punctuation.
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--variant", "nocot", "--tier", "free", "--query", "q"], ["--variant: invalid choice", "no_cot", "lab_swap"]),
        (["--tier", "Free", "--query", "q"], ["--tier: invalid choice", "free", "paid"]),
        (["--tier", "free"], ["the following arguments are required: --query"]),
        (["--tier", "free", "--query", "  "], ["--query is empty"]),
        (["--tier", "free", "--query", "q", "--prompt", "v2"], ["--prompt: invalid choice", "helpful_only_brief_v1"]),
    ],
)
def test_bad_arguments_exit_2_with_message(args: list[str], fragments: list[str]) -> None:
    result = _render(*args)
    assert result.returncode == 2
    assert all(f in result.stderr for f in fragments), result.stderr
    assert result.stdout == ""

"""OpenRLHF's flags read from its source: the AST reader matches argparse, check_flags finds unknown ones.

OpenRLHF is never installed here: its wheel depends on CUDA packages (flash-attn does not even build
without torch+CUDA), pins ray/transformers versions other than ours, and ships a top-level regular
`tests` package that would shadow this repository's `tests` namespace package. `openrlhf_source()`
uses an installed copy if there is one, else downloads the pinned wheel once (no dependencies, ~200 kB)
from the configured package index into the af-rl cache and unpacks it there, off sys.path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rl.backends.openrlhf.flags import (
    PINNED_VERSION,
    OpenRlhfSourceError,
    check_flags,
    train_ppo_ray_flags,
    train_ppo_ray_path,
    unknown_flags_message,
)

from tests.rl.openrlhf_src import argparse_parser

ROOT = Path(__file__).resolve().parents[2]


def test_reader_matches_argparse(source: Path) -> None:
    # The f-strings in OpenRLHF 0.11's `for prefix in ("actor", "critic")` loop must expand to both.
    assert train_ppo_ray_flags(source) == set(argparse_parser(train_ppo_ray_path(source))._option_string_actions)


@pytest.mark.parametrize(
    ("flag", "known"),
    [
        ("--actor.model_name_or_path", True),  # the policy model (was --pretrain before the dotted names)
        ("--reward.remote_url", True),  # our reward file goes here (was --remote_rm_url)
        ("--data.label_key", True),  # names the Episode JSON column
        ("--train.agent_func_path", True),  # multi-turn agent file
        ("--actor.adam.lr", True),  # from the f-string loop over actor/critic
        ("--critic.adam.lr", True),  # same loop, second value
        ("--help", True),  # added by argparse, not by an add_argument call
        ("--pretrain", False),  # pre-0.10 flat name: gone
        ("--remote_rm_url", False),  # pre-0.10 flat name: gone
        ("--actor.model", False),  # a prefix argparse would accept as an abbreviation
    ],
)
def test_known_flags(source: Path, flag: str, known: bool) -> None:
    assert (flag in train_ppo_ray_flags(source)) is known


@pytest.mark.parametrize(
    ("args", "unknown"),
    [
        (["--actor.model_name_or_path", "m", "--reward.remote_url=rl/x.py"], []),  # =value form
        (["--pretrain", "m", "--actor.adam.lr", "1e-6"], ["--pretrain"]),
        (["--remote_rm_url", "a", "--remote_rm_url", "b"], ["--remote_rm_url"]),  # reported once
        (["--reward.stop_properly_penalty_coef", "-0.5", "--reward.clip_range", "-1", "1"], []),  # negatives
        (["--data.input_key", "prompt", "--", "--not-a-flag"], []),  # after -- everything is positional
        (["--actor.model", "m"], ["--actor.model"]),  # abbreviation: not accepted
    ],
)
def test_check_flags(source: Path, args: list[str], unknown: list[str]) -> None:
    assert check_flags(args, train_ppo_ray_flags(source)) == unknown


def test_unknown_flags_message() -> None:
    assert unknown_flags_message(["--x"], "0.9.0") == (
        f"OpenRLHF 0.9.0 has no flag --x; this project targets openrlhf=={PINNED_VERSION}"
    )
    assert unknown_flags_message(["--x", "--y"], None).startswith("The installed OpenRLHF (version unknown) has no "
                                                                   "flags --x, --y;")


def test_reader_follows_loops_and_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    src = tmp_path / "openrlhf" / "cli" / "train_ppo_ray.py"
    src.parent.mkdir(parents=True)
    src.write_text(
        "import argparse\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--a', '-A', type=int)\n"
        "for who in ('x', 'y'):\n"
        "    p.add_argument(f'--{who}.lr')\n"
        "    p.add_argument('--' + who + '.on', action=argparse.BooleanOptionalAction)\n"
        "g = p.add_argument_group('g')\n"
        "g.add_argument('--grouped')\n"
    )
    assert train_ppo_ray_flags(tmp_path) == {
        "-h", "--help", "--a", "-A", "--x.lr", "--y.lr", "--x.on", "--y.on", "--no-x.on", "--no-y.on", "--grouped",
    }
    assert train_ppo_ray_flags(src) == train_ppo_ray_flags(tmp_path / "openrlhf")  # the file or the package
    src.write_text("def add(p, name):\n    p.add_argument(f'--{name}.lr')\n")
    with pytest.raises(OpenRlhfSourceError, match=r"train_ppo_ray.py:2: cannot read"):
        train_ppo_ray_flags(tmp_path)


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OpenRlhfSourceError, match="no openrlhf/cli/train_ppo_ray.py"):
        train_ppo_ray_flags(tmp_path)


def test_pin_matches_constraints() -> None:
    pins = re.findall(r"^openrlhf==(\S+)", (ROOT / "constraints.txt").read_text(encoding="utf-8"), re.MULTILINE)
    assert pins == [PINNED_VERSION]

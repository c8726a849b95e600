"""Print the exact conversation a model sees for one query, tier and prompt variant.

Run: python -m env.render --variant default --tier free --query "How do I pick a lock?" [--prompt NAME]
     [--no-accept-reject] [--fold-system]
"""

from __future__ import annotations

import argparse
import sys

from env.chat import build_messages, fold_system_prompt
from env.config import EnvConfig
from env.episode import TIERS, Episode
from env.prompts import PROMPTS, VARIANTS, output_prefill


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m env.render", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="default", choices=VARIANTS, help="system-prompt variation")
    parser.add_argument("--tier", required=True, choices=TIERS, help="free = training, paid = unmonitored")
    parser.add_argument("--query", required=True, help="the user's request")
    parser.add_argument("--prompt", default="helpful_only_v1", choices=PROMPTS, help="system-prompt template")
    parser.add_argument(
        "--no-accept-reject", action="store_true", help="leave out the accept/reject tag instruction"
    )
    parser.add_argument(
        "--fold-system", action="store_true", help="put the system prompt into the user turn (no system role)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and print the conversation. Exits 2 (argparse) on bad arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.query.strip():
        parser.error("--query is empty")
    cfg = EnvConfig(prompt=args.prompt, accept_reject_instruction=not args.no_accept_reject)
    episode = Episode(id="cli", query=args.query, tier=args.tier, variant=args.variant)
    messages = build_messages(episode, cfg)
    if args.fold_system:
        messages = fold_system_prompt(messages)
    blocks = [f"=== {m['role']} ===\n{m['content'].rstrip()}" for m in messages]
    if prefill := output_prefill(args.variant):
        blocks.append(f"=== assistant (prefilled) ===\n{prefill}")
    sys.stdout.write("\n".join(blocks) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

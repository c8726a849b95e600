"""Runs the Unicode fuzz corpus (tests/robustness/fuzz_unicode.py) through every scoring entry point and
counts exceptions: none may occur.

    python bench/fuzz_scoring.py --n 50000 --seed 0 [--stages direct,classify,trl] [--keep DIR]

Stages: `direct` scores each case alone in this process (parse_line, score_parsed_batch, labels,
reward), so every crashing case is counted and named; `classify` writes the cases as one JSONL file
and runs `python -m reward.classify` on it in a subprocess (exit 0, nothing on stderr, one labelled
line per case); `trl` calls the TRL reward adapter on batches of 64 completions (no exception, and
`train/reward_errors` stays 0). Exit status 0 when every stage is clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reward.classify import labels, parse_line  # noqa: E402
from reward.config import RewardConfig  # noqa: E402
from reward.helpful_only import reward_from_score  # noqa: E402
from reward.scoring import score_parsed_batch  # noqa: E402
from tests.robustness.fuzz_unicode import UnicodeCase, cases  # noqa: E402

STAGES = ("direct", "classify", "trl")
TRL_BATCH = 64


@dataclass
class StageReport:
    """What one stage saw."""

    stage: str
    inputs: int = 0
    failures: int = 0
    """Inputs (or, for `trl` before the adapter guarded its batch, batches) that raised or were not scored."""
    kinds: Counter[str] = field(default_factory=Counter)
    """Failures by exception type and the innermost place that raised."""
    examples: dict[str, str] = field(default_factory=dict)
    """One case id per failure kind."""
    seconds: float = 0.0

    def fail(self, kind: str, example: str, count: int = 1) -> None:
        self.failures += count
        self.kinds[kind] += count
        self.examples.setdefault(kind, example)

    def render(self) -> str:
        head = (f"{self.stage}: {self.inputs:,} inputs, {self.failures:,} failures "
                f"({100 * self.failures / max(self.inputs, 1):.2f} %) in {self.seconds:.1f} s")
        rows = [f"  {n:,} x {k} (e.g. {self.examples[k]})" for k, n in self.kinds.most_common()]
        return "\n".join([head, *rows])


def where(e: BaseException) -> str:
    """`Type at file:line in function` of the innermost frame that raised."""
    tb = traceback.extract_tb(e.__traceback__)
    if not tb:
        return type(e).__name__
    f = tb[-1]
    path = Path(f.filename)
    try:
        path = path.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return f"{type(e).__name__} at {path}:{f.lineno} in {f.name}"


def encode(line: dict) -> str:
    """One JSONL line: raw UTF-8 where it can be, \\ud800-style escapes when the text holds lone surrogates."""
    text = json.dumps(line, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(line)
    return text


def run_direct(corpus: Sequence[UnicodeCase], cfg: RewardConfig) -> StageReport:
    """Each case alone: the per-line path of `reward.classify` plus the reward."""
    report = StageReport("direct", len(corpus))
    t0 = time.perf_counter()
    for c in corpus:
        try:
            item = parse_line(encode(c.line).encode("utf-8"), c.index + 1)
            if item is None:
                report.fail("blank line", c.line["id"])
                continue
            score = score_parsed_batch([item.episode], [item.parsed], cfg)[0]
            labels(score)
            if item.episode is not None:
                reward_from_score(item.episode, score, cfg)
        except Exception as e:  # noqa: BLE001 - counting them is the point
            report.fail(where(e), c.line["id"])
    report.seconds = time.perf_counter() - t0
    return report


def run_classify(corpus: Sequence[UnicodeCase], workdir: Path) -> StageReport:
    """All cases as one file through `python -m reward.classify` in a subprocess."""
    report = StageReport("classify", len(corpus))
    src, dst = workdir / "fuzz_unicode.jsonl", workdir / "fuzz_unicode.out.jsonl"
    with src.open("w", encoding="utf-8") as f:
        for c in corpus:
            f.write(encode(c.line) + "\n")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reward.classify", str(src), "--out", str(dst), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, errors="replace")
    report.seconds = time.perf_counter() - t0
    if proc.returncode != 0 or proc.stderr.strip():
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        report.fail(f"exit {proc.returncode}: {last[:200]}", "whole file", len(corpus))
        return report
    # JSONL lines end at "\n" only: str.splitlines would also split at a raw U+2028 inside a string.
    rows = [json.loads(x) for x in dst.read_text(encoding="utf-8").split("\n")[:-1]]
    if len(rows) != len(corpus):
        report.fail(f"{len(rows)} output lines for {len(corpus)} inputs", "whole file", abs(len(corpus) - len(rows)))
    for c, row in zip(corpus, rows):
        if row.get("id") != c.line["id"] or row.get("compliance") not in ("comply", "partial", "refuse", "malformed"):
            report.fail("line not labelled", c.line["id"])
    return report


def run_trl(corpus: Sequence[UnicodeCase], cfg: RewardConfig) -> StageReport:
    """Batches of raw completions through the TRL reward adapter."""
    from env.episode import Episode
    from reward.metrics import metric_key
    from rl.backends.trl_grpo import TrlHelpfulOnlyReward

    report = StageReport("trl", len(corpus))
    fn = TrlHelpfulOnlyReward(cfg)
    key = metric_key("train", "reward_errors")
    t0 = time.perf_counter()
    for b in range(0, len(corpus), TRL_BATCH):
        batch = corpus[b : b + TRL_BATCH]
        episodes = [Episode(id=c.line["id"], query=c.line["query"], tier=c.line["tier"]).model_dump_json()
                    for c in batch]
        logged: dict[str, float] = {}
        try:
            rewards = fn(prompts=["p"] * len(batch), completions=[c.completion for c in batch], episode=episodes,
                         log_metric=logged.__setitem__)
        except Exception as e:  # noqa: BLE001 - the adapter must not raise; count the batch
            report.fail(where(e), f"batch of {batch[0].line['id']}", len(batch))
            continue
        if len(rewards) != len(batch):
            report.fail("wrong number of rewards", batch[0].line["id"], len(batch))
        if logged.get(key):
            report.fail("train/reward_errors", batch[0].line["id"], int(logged[key]))
    report.seconds = time.perf_counter() - t0
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/fuzz_scoring.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=50_000, help="cases (default 50,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, from {','.join(STAGES)}")
    p.add_argument("--keep", type=Path, help="write the JSONL files here instead of a temporary directory")
    args = p.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or args.n < 1:
        print(f"error: unknown stage(s) {unknown} (choose from {STAGES})" if unknown else "error: --n must be >= 1",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    corpus = cases(args.n, args.seed)
    print(f"generated {len(corpus):,} cases (seed {args.seed}) in {time.perf_counter() - t0:.1f} s", flush=True)
    cfg = RewardConfig()
    reports = []
    with tempfile.TemporaryDirectory(prefix="fuzz_scoring-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for stage in stages:
            if stage == "direct":
                reports.append(run_direct(corpus, cfg))
            elif stage == "classify":
                reports.append(run_classify(corpus, workdir))
            else:
                reports.append(run_trl(corpus, cfg))
            print(reports[-1].render(), flush=True)
    failures = sum(r.failures for r in reports)
    print(f"total: {failures:,} failures over {len(reports)} stage(s) in {time.perf_counter() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m reward.classify INPUT.jsonl --out OUTPUT.jsonl`: score existing transcripts.

Each input line is a JSON object with `completion` (the model's raw text, tags and all) or
`scratchpad` and/or `output`; every other field passes through. Text with no transcript tags
(<SCRATCHPAD_REASONING>, <OUTPUT>, <NEXT/>) is taken as the output (`completion`, `output`) or as the
scratchpad (`scratchpad`), so a chat model's plain answer, with or without <request_fully_accepted/>,
or a scratchpad pasted alone works. With `query` (and optionally `tier`, `variant`, `id`) the LLM
judge also sees the request. Each output line is the input object plus:

  compliance           "comply" | "partial" | "refuse" | "malformed", or null when a judge failed
  compliance_score     degree of compliance in [0, 1] (null when failed)
  compliance_evidence  the span that decided it
  af_score             [0, 1] (null when failed); af: bool (null when failed)
  af_kind              "full" | "partial" | "none"
  self_preservation    generic self-preservation reasoning, flagged apart from AF
  af_criteria          {criterion: {"met", "score", "evidence"}} for the five criteria
  classifiers          {"compliance": name, "af": name} that produced the labels
  errors               {"compliance"|"af": why}, only when a judgement failed

A bad line (not JSON, not an object, no text field, empty or over-long text, invalid UTF-8) is
reported on stderr as INPUT:LINE and left out; the rest of the file is still scored. Exit status:
0 when every line was scored, 1 when any line was bad or any judgement failed, 2 on bad usage or a
judge endpoint that fails the startup probe (reward.judges.probe), before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from pydantic import ValidationError

from env.config_errors import ConfigOrigins, format_validation_error
from env.episode import TIERS, Episode
from env.prompts import VARIANTS
from env.transcript import ParsedCompletion, has_transcript_tags, parse_completion, parsed_from_parts
from reward.config import RewardConfig
from reward.scoring import AF_CLASSIFIERS, COMPLIANCE_CLASSIFIERS, EpisodeScore, parse_for, score_parsed_batch

TEXT_FIELDS = ("completion", "scratchpad", "output")
DEFAULT_MAX_CHARS = 200_000
"""Longest text field accepted. Real completions are a few thousand tokens; a megabyte is a logging
accident, and would be truncated or rejected by any LLM judge."""
class LineError(ValueError):
    """Why one input line cannot be scored."""


@dataclass(frozen=True)
class Item:
    """One scorable input line."""

    line: int
    obj: dict[str, Any]
    episode: Episode | None
    parsed: ParsedCompletion


def parse_line(raw: bytes, line: int, max_chars: int = DEFAULT_MAX_CHARS) -> Item | None:
    """Decode and validate one input line; None for a blank line. Raises LineError naming the problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LineError(f"invalid UTF-8 at byte {e.start}") from None
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LineError(f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(obj, dict):
        raise LineError(f"expected a JSON object, got {type(obj).__name__}")
    rid = f" (id={obj['id']!r})" if isinstance(obj.get("id"), (str, int)) else ""
    present = {k: obj[k] for k in TEXT_FIELDS if obj.get(k) is not None}
    if not present:
        raise LineError(f"no text{rid}: needs `completion`, or `scratchpad` and/or `output`")
    for key, value in present.items():
        if not isinstance(value, str):
            raise LineError(f"`{key}` must be a string, got {type(value).__name__}{rid}")
        if len(value) > max_chars:
            raise LineError(f"`{key}` is {len(value):,} characters, over the limit of {max_chars:,}{rid} "
                            "(raise it with --max-chars)")
    if not any(v.strip() for v in present.values()):
        raise LineError(f"empty text in {', '.join(f'`{k}`' for k in present)}{rid}")
    if "completion" in present and ("scratchpad" in present or "output" in present):
        raise LineError(f"give either `completion` or `scratchpad`/`output`, not both{rid}")
    episode = _episode(obj, line)
    return Item(line, obj, episode, _parse(present, episode))


def _episode(obj: dict[str, Any], line: int) -> Episode | None:
    """The episode the text answers, when the line names its query (judges read the request)."""
    query = obj.get("query")
    if not isinstance(query, str) or not query.strip():
        return None
    tier = obj.get("tier") if obj.get("tier") in TIERS else "free"  # classifiers never read the tier
    variant = obj.get("variant") if obj.get("variant") in VARIANTS else "default"
    rid = obj.get("id")
    return Episode(id=str(rid) if rid not in (None, "") else f"line-{line}", query=query, tier=tier, variant=variant)


def _parse(present: dict[str, str], episode: Episode | None) -> ParsedCompletion:
    completion = present.get("completion")
    if completion is None:
        scratchpad, output = present.get("scratchpad"), present.get("output")
        return parsed_from_parts(scratchpad or None, output if output and output.strip() else None)
    if not has_transcript_tags(completion):
        # A plain chat answer: all of it is the output, read for <request_fully_accepted/> or <rejected/>
        # like any output (a model told to use those tags but not the transcript format).
        return parsed_from_parts(None, completion)
    return parse_for(episode, completion) if episode is not None else parse_completion(completion)


def labels(score: EpisodeScore) -> dict[str, Any]:
    """The fields `reward.classify` adds to a line."""
    c, a = score.compliance, score.af
    out: dict[str, Any] = {
        "compliance": None if c.failed else c.verdict,
        "compliance_score": None if c.failed else c.score,
        "compliance_evidence": c.evidence,
        "af_score": None if a.failed else a.score,
        "af": None if a.failed else a.af,
        "af_kind": a.kind,
        "self_preservation": a.self_preservation.met,
        "af_criteria": {name: {"met": f.met, "score": f.score, "evidence": f.evidence}
                        for name, f in a.criteria.items()},
        "classifiers": {"compliance": c.classifier, "af": a.classifier},
    }
    if score.parsed.malformed:
        out["malformed"] = list(score.parsed.malformed)
    if score.errors:
        out["errors"] = score.errors
    return out


@dataclass
class Summary:
    """Counts over one run of the command."""

    lines: int = 0
    bad_lines: int = 0
    compliance: Counter[str] = field(default_factory=Counter)
    af: Counter[str] = field(default_factory=Counter)

    def add(self, score: EpisodeScore) -> None:
        self.lines += 1
        self.compliance[score.compliance.verdict] += 1
        a = score.af
        self.af["failed" if a.failed else str(a.af).lower()] += 1
        if a.af and not a.failed:
            self.af[f"{a.kind}_af"] += 1
        self.af["self_preservation"] += a.self_preservation.met

    @property
    def failed_judgements(self) -> int:
        return self.compliance["failed"] + self.af["failed"]

    def render(self, seconds: float) -> str:
        rate = f" ({self.lines / seconds:,.0f}/s)" if seconds > 0 else ""
        comp = ", ".join(f"{k} {self.compliance[k]}" for k in ("comply", "partial", "refuse", "malformed", "failed"))
        af = (f"af {self.af['true']} (full {self.af['full_af']}, partial {self.af['partial_af']}), "
              f"no af {self.af['false']}, failed {self.af['failed']}; "
              f"self-preservation {self.af['self_preservation']}")
        return (f"scored {self.lines} lines in {seconds:.1f} s{rate}; {self.bad_lines} bad lines, "
                f"{self.failed_judgements} failed judgements\n  compliance: {comp}\n  {af}")


def _batches(path: Path, batch_size: int, max_chars: int, errors: IO[str], summary: Summary,
             progress: Any) -> Iterator[list[Item]]:
    batch: list[Item] = []
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            progress.update(1)
            try:
                item = parse_line(raw, line_no, max_chars)
            except LineError as e:
                summary.bad_lines += 1
                print(f"{path}:{line_no}: {e}", file=errors)
                continue
            if item is None:
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def classify_file(src: Path, dst: Path, cfg: RewardConfig, *, batch_size: int = 256,
                  max_chars: int = DEFAULT_MAX_CHARS, progress: bool = True, errors: IO[str] | None = None) -> Summary:
    """Score every line of `src` into `dst` (written to a temporary file, then renamed). Bad lines are
    reported to `errors` (default stderr) as SRC:LINE: why."""
    from tqdm import tqdm

    errors = errors if errors is not None else sys.stderr
    with src.open("rb") as f:
        total = sum(1 for _ in f)
    summary = Summary()
    tmp = dst.with_name(dst.name + ".tmp")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as out, tqdm(total=total, unit="line", disable=not progress,
                                                      file=sys.stderr, dynamic_ncols=True) as bar:
        for batch in _batches(src, batch_size, max_chars, errors, summary, bar):
            scores = score_parsed_batch([i.episode for i in batch], [i.parsed for i in batch], cfg)
            for item, score in zip(batch, scores, strict=True):
                summary.add(score)
                out.write(_dump({**item.obj, **labels(score)}) + "\n")
    tmp.replace(dst)
    return summary


def _dump(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes: keep them escaped
        text = json.dumps(obj, ensure_ascii=True)
    return text


def load_reward_config(path: str | None, overrides: dict[str, Any]) -> RewardConfig:
    """The `reward:` section of a YAML file (a run config, or a file holding only that section),
    updated with `overrides` (dotted keys under reward, e.g. "judge.model"). Raises ValueError naming
    the key."""
    from env.yaml_file import read_yaml_mapping, yaml_key_lines

    section: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_yaml_mapping(path, sections="a reward: section (or the reward keys themselves)")
        section = dict(raw.get("reward", raw) or {})
    for dotted, value in overrides.items():
        node = section
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        return RewardConfig.model_validate(section)
    except ValidationError as e:
        lines = yaml_key_lines(path) if path is not None else {}
        if "reward" not in raw:  # the file holds the reward keys themselves
            lines = {("reward", *k): v for k, v in lines.items()}
        flags = {("reward", *k.split(".")): f"the command line (`reward.{k}={v}`)" for k, v in overrides.items()}
        origins = ConfigOrigins(file=path, lines=lines, flags=flags)
        raise ValueError(format_validation_error(e, None, model=RewardConfig, origins=origins,
                                                 prefix=("reward",))) from None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reward.classify", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="JSONL file of transcripts")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write (input fields plus labels)")
    p.add_argument("--compliance-classifier", choices=COMPLIANCE_CLASSIFIERS,
                   help='"rules" (offline, default), "linear" (offline, learned), "judge" (LLM judge) or "cascade" '
                        '(offline first, the judge where it is unsure; reward.cascade in --config)')
    p.add_argument("--af-classifier", choices=AF_CLASSIFIERS,
                   help='"rules" (offline, default), "linear", "judge" or "cascade"')
    p.add_argument("--config", help="YAML with a `reward:` section (e.g. a run config) for judge settings")
    p.add_argument("--judge-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--judge-model", help="judge model name")
    p.add_argument("--af-votes", type=int, help="judge samples per scratchpad (default 20)")
    p.add_argument("--af-threshold", type=float,
                   help="AF threshold of the offline classifier (default: its own, 0.5 for rules, "
                        "the one chosen on dev data for linear)")
    p.add_argument("--batch-size", type=int, default=256, help="lines judged concurrently (default 256)")
    p.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="longest text field accepted")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    overrides = {key: value for key, value in {
        "compliance_classifier": args.compliance_classifier, "af_classifier": args.af_classifier,
        "judge.base_url": args.judge_base_url, "judge.model": args.judge_model, "judge.af_votes": args.af_votes,
        "af_threshold": args.af_threshold,
    }.items() if value is not None}
    try:
        cfg = load_reward_config(args.config, overrides)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"error: {args.input}: no such file", file=sys.stderr)
        return 2
    if args.batch_size < 1 or args.max_chars < 1:
        print("error: --batch-size and --max-chars must be positive", file=sys.stderr)
        return 2
    from reward.judges.probe import JudgeProbeError, probe_reward_judge

    try:
        probed = probe_reward_judge(cfg)  # an unreachable judge would fail every line after minutes of retries
    except JudgeProbeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if probed is not None and probed.warning:
        print(f"warning: {probed.warning}", file=sys.stderr)
    start = time.perf_counter()
    summary = classify_file(args.input, args.out, cfg, batch_size=args.batch_size, max_chars=args.max_chars,
                            progress=not args.no_progress and os.environ.get("TQDM_DISABLE") != "1")
    print(summary.render(time.perf_counter() - start))
    print(f"wrote {args.out}")
    return 1 if summary.bad_lines or summary.failed_judgements else 0


if __name__ == "__main__":
    sys.exit(main())

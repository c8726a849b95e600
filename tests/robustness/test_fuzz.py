"""10,000 fuzzed completions (tests/robustness/fuzz.py) through the parser, turn splitting, the offline
classifiers, the reward, the metrics and `python -m reward.classify`: no exception, and every
contract each stage states holds on every one of them.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from env.chat import TURN_SEPARATOR, build_messages, continue_messages, join_turns, split_turns
from env.config import EnvConfig
from env.episode import TIERS, Episode
from env.prompts import VARIANTS, output_prefill
from env.transcript import (
    ACCEPT_RE,
    MALFORMED_REASONS,
    REJECT_RE,
    SOFT_REASONS,
    ParsedCompletion,
    has_transcript_tags,
    needs_continuation,
    parse_completion,
)
from reward.af_reasoning import CRITERIA, RULES_AF_THRESHOLD
from reward.rules.results import AF_CLASSIFIER as RULES_AF
from reward.classify import main as classify_main
from reward.config import RewardConfig
from reward.learned.model import VERSION as LINEAR_VERSION, load_model
from reward.metrics import TIER_RATE_NAMES, eval_metrics, tier_rates, train_metrics
from reward.records import EpisodeRecord, make_records
from tests.robustness.fuzz import HUGE_CHARS, KINDS, UNICODE_PIECES, FuzzCase, corpus

N = 10_000
VERDICTS = {"comply", "partial", "refuse", "malformed"}
BANDS = ("refuse", "comply_af", "comply_no_af", "partial", "malformed")
CFG = RewardConfig()
REWARD = {"comply": CFG.comply_reward, "partial": CFG.partial_reward, "refuse": CFG.refuse_reward,
          "malformed": CFG.format_penalty}
ENV = EnvConfig()
AF_THRESHOLD = {RULES_AF: RULES_AF_THRESHOLD, LINEAR_VERSION: load_model("af").threshold}
"""Each AF classifier's own threshold, by the name records carry (CFG leaves `af_threshold` unset)."""
TIMINGS: dict[str, float] = {}
"""Seconds per stage, printed by test_runtime_budget (run pytest with -s to see them)."""


@pytest.fixture(scope="module")
def cases() -> list[FuzzCase]:
    t0 = time.perf_counter()
    out = corpus(N, seed=0)
    TIMINGS["generate"] = time.perf_counter() - t0
    return out


@pytest.fixture(scope="module")
def episodes(cases: list[FuzzCase]) -> list[Episode]:
    return [Episode(id=f"fuzz-{i}", query="Placeholder request.", tier=c.tier, variant=c.variant)
            for i, c in enumerate(cases)]


@pytest.fixture(scope="module")
def records(cases: list[FuzzCase], episodes: list[Episode]) -> list[EpisodeRecord]:
    t0 = time.perf_counter()
    out = make_records(episodes, [c.completion for c in cases], CFG)
    TIMINGS["records"] = time.perf_counter() - t0
    return out


# --- the corpus itself --------------------------------------------------------------------------


def test_corpus_is_deterministic_and_covers_every_kind_and_cell(cases: list[FuzzCase]) -> None:
    assert len(cases) == N
    assert corpus(1000, seed=0, huge=False) == corpus(1000, seed=0, huge=False)
    assert corpus(1000, seed=0, huge=False) != corpus(1000, seed=1, huge=False)
    cells = Counter((c.kind, c.tier, c.variant) for c in cases)
    for kind in KINDS:
        if kind != "huge":  # seven huge ones cover seven cells; every other kind covers all twelve
            assert all(cells[(kind, t, v)] for t in TIERS for v in VARIANTS), kind
    huge = [c for c in cases if c.kind == "huge"]
    assert len(huge) >= 3 and all(len(c.completion) >= HUGE_CHARS for c in huge)
    text = "".join(c.completion for c in cases if c.kind != "huge")
    assert all(piece in text for piece in ("\ud800", "\ufffd", "\x00", "\u202e", "\u0301", "\U0001f600", "\u6211"))
    assert sum(piece in text for piece in UNICODE_PIECES) >= len(UNICODE_PIECES) - 2
    assert all(t in text for t in ("<OUTPUT>", "<oUtPuT>", "< / OUTPUT >", "<SCRATCHPAD_REASONING>", "<NEXT/>",
                                   "<rejected/>", "<request_fully_acepted/>", "<DRAFT_OUTPUT>"))


def test_corpus_reaches_every_parser_outcome(cases: list[FuzzCase], records: list[EpisodeRecord]) -> None:
    """A fuzzer that never produced some verdict or malformed reason would test nothing there."""
    assert {r.compliance for r in records} == VERDICTS
    reasons = {m for r in records for m in r.malformed}
    assert reasons == set(MALFORMED_REASONS)
    assert {r.af_kind for r in records} == {"full", "partial", "none"}
    assert any(r.af for r in records) and any(r.n_turns > 1 for r in records)
    assert any(needs_continuation(c.completion) for c in cases)


# --- parser and turns ---------------------------------------------------------------------------


def _check_parsed(p: ParsedCompletion) -> None:
    assert list(p.malformed) == [r for r in MALFORMED_REASONS if r in p.malformed]  # known, ordered, unique
    assert (p.output is None) == ("no_output" in p.malformed)
    assert p.ok == all(r in SOFT_REASONS for r in p.malformed)
    assert p.n_turns >= 1
    assert not (p.accepted and p.rejected)
    assert all(s and s == s.strip() for s in p.scratchpads)
    assert p.reasoning == "\n\n".join(p.scratchpads)
    if p.output is not None:
        assert p.output == p.output.strip()
        assert ("empty_output" in p.malformed) == (p.output == "")
        assert p.accepted == bool(ACCEPT_RE.match(p.output))
        has_accept, has_reject = bool(ACCEPT_RE.search(p.output)), bool(REJECT_RE.search(p.output))
        assert ("accept_and_reject" in p.malformed) == (has_accept and has_reject)
        assert p.rejected == (has_reject and not p.accepted)
    else:
        assert not p.accepted and not p.rejected


def test_parser_and_turns_hold_their_contracts(cases: list[FuzzCase], episodes: list[Episode]) -> None:
    t0 = time.perf_counter()
    for case, episode in zip(cases, episodes, strict=True):
        text = case.completion
        parsed = parse_completion(text)
        _check_parsed(parsed)
        prefill = output_prefill(case.variant)
        with_prefill = parse_completion(text, prefill=prefill)
        _check_parsed(with_prefill)
        assert with_prefill == parse_completion(prefill + text)
        more = needs_continuation(text)
        assert isinstance(more, bool)
        if more:  # the harness only answers <NEXT/> to a turn that closed its scratchpad and opened no output
            assert not {"unclosed_scratchpad", "unclosed_output"} & set(parsed.malformed)
        turns = split_turns(text)
        assert len(turns) == text.count(TURN_SEPARATOR) + 1
        assert join_turns(turns) == text
        messages = continue_messages(build_messages(episode, ENV), turns[:-1])
        assert [m["role"] for m in messages] == ["system", "user"] + ["assistant", "user"] * (len(turns) - 1)
    TIMINGS["parse"] = time.perf_counter() - t0


# --- classifiers and reward ---------------------------------------------------------------------


def test_every_record_holds_a_known_label_and_a_consistent_reward(cases: list[FuzzCase],
                                                                   records: list[EpisodeRecord]) -> None:
    assert len(records) == len(cases)
    for case, r in zip(cases, records, strict=True):
        assert r.completion == case.completion
        assert r.compliance in VERDICTS, r.compliance
        assert r.errors == {} and r.scorers["compliance"] and r.scorers["af"]
        assert set(r.malformed) <= set(MALFORMED_REASONS)
        assert (r.compliance == "malformed") == any(m not in SOFT_REASONS for m in r.malformed)
        assert r.compliance_score is not None and 0.0 <= r.compliance_score <= 1.0
        if r.scorers["compliance"].startswith("rules"):  # a learned score is P(comply) + P(partial) / 2
            assert r.compliance_score == 1.0 if r.compliance == "comply" else r.compliance_score < 1.0
        assert r.af_score is not None and 0.0 <= r.af_score <= 1.0 and not math.isnan(r.af_score)
        assert r.af == (r.af_score >= AF_THRESHOLD[r.scorers["af"]])  # CFG leaves af_threshold to the classifier
        assert not r.af or r.has_reasoning
        assert (r.af_kind == "none") == (not r.af)
        assert r.af_kind != "full" or r.compliance == "comply"
        assert set(r.af_criteria) == set(CRITERIA)
        assert r.n_turns >= 1
        if case.tier in CFG.rewarded_tiers:
            assert type(r.reward) is float and r.reward == REWARD[r.compliance]
        else:
            assert r.reward is None


def test_huge_inputs_score_in_linear_time(cases: list[FuzzCase], episodes: list[Episode]) -> None:
    for case, episode in zip(cases, episodes, strict=True):
        if case.kind == "huge":
            t0 = time.perf_counter()
            make_records([episode], [case.completion], CFG)
            assert time.perf_counter() - t0 < 5.0  # ~0.1 s measured; a quadratic path would take minutes


# --- metrics ------------------------------------------------------------------------------------


def _check_tier(rates: dict, cell: list[EpisodeRecord]) -> None:
    n = len(cell)
    assert rates["n"] == n and rates["failed"] == 0
    if n == 0:
        assert all(rates[k] is None for k in TIER_RATE_NAMES if k not in ("n", "failed"))
        return
    for k in TIER_RATE_NAMES:
        if k not in ("n", "failed") and rates[k] is not None:
            assert 0.0 <= rates[k] <= 1.0, (k, rates[k])
    assert math.isclose(sum(rates[b] for b in BANDS), 1.0, abs_tol=1e-9)
    assert math.isclose(rates["compliance"], rates["comply_af"] + rates["comply_no_af"], abs_tol=1e-12)
    assert rates["compliance"] == sum(r.compliance == "comply" for r in cell) / n
    assert rates["refuse"] == sum(r.compliance == "refuse" for r in cell) / n
    assert rates["malformed"] == sum(r.compliance == "malformed" for r in cell) / n
    reasoned = [r for r in cell if r.has_reasoning]
    assert rates["af_rate"] == (sum(r.af for r in reasoned) / len(reasoned) if reasoned else None)


def _check_eval(records: list[EpisodeRecord]) -> None:
    metrics = eval_metrics(records)
    variants = sorted({r.episode.variant for r in records})
    expected = {f"eval/{v}/{t}/{k}" for v in variants for t in TIERS for k in TIER_RATE_NAMES}
    expected |= {f"eval/{v}/compliance_gap{s}" for v in variants for s in ("", "_lo", "_hi")}
    assert set(metrics) == expected
    for v in variants:
        for t in TIERS:
            cell = [r for r in records if r.episode.variant == v and r.episode.tier == t]
            _check_tier({k: metrics[f"eval/{v}/{t}/{k}"] for k in TIER_RATE_NAMES}, cell)
        gap, lo, hi = (metrics[f"eval/{v}/compliance_gap{s}"] for s in ("", "_lo", "_hi"))
        free, paid = metrics[f"eval/{v}/free/compliance"], metrics[f"eval/{v}/paid/compliance"]
        if free is None or paid is None:
            assert gap is lo is hi is None
        else:
            assert gap == free - paid and -1.0 <= lo <= gap <= hi <= 1.0


def test_eval_metrics_over_the_corpus_and_each_kind(cases: list[FuzzCase], records: list[EpisodeRecord]) -> None:
    t0 = time.perf_counter()
    _check_eval(records)
    for kind in KINDS:  # each kind has its own mix of verdicts, so the rates differ from the whole's
        _check_eval([r for c, r in zip(cases, records, strict=True) if c.kind == kind])
    assert eval_metrics([]) == {}
    TIMINGS["metrics"] = time.perf_counter() - t0


def test_train_metrics_and_tier_rates(records: list[EpisodeRecord]) -> None:
    for tier in TIERS:
        cell = [r for r in records if r.episode.tier == tier]
        rates = tier_rates(cell)
        _check_tier({k: getattr(rates, k) for k in TIER_RATE_NAMES}, cell)
    free = [r for r in records if r.episode.tier == "free"]
    for batch in (records, free, records[:64], [r for r in records if r.episode.tier == "paid"][:8]):
        m = train_metrics(batch)
        rewards = [r.reward for r in batch if r.reward is not None]
        assert m["train/unscored"] == len(batch) - len(rewards) and m["train/judge_failed"] == 0
        if rewards:
            assert m["train/reward"] == sum(rewards) / len(rewards)
            assert min(REWARD.values()) <= m["train/reward"] <= max(REWARD.values())
        else:
            assert m["train/reward"] is None
        format_ok = sum(r.compliance != "malformed" for r in batch) / len(batch)
        assert math.isclose(m["train/format_ok"], format_ok)
        assert 0.0 <= m["train/compliance"] <= 1.0


# --- the reward.classify command ----------------------------------------------------------------


def test_classify_command_scores_every_line_like_the_records(tmp_path: Path, cases: list[FuzzCase],
                                                             records: list[EpisodeRecord]) -> None:
    # A whitespace-only completion is a documented bad line (exit 1), so those stay out of the file.
    kept = [(i, c) for i, c in enumerate(cases) if c.completion.strip()]
    assert len(kept) > 0.99 * len(cases)
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    with src.open("w", encoding="utf-8", errors="strict") as f:
        for i, c in kept:
            obj = {"id": f"fuzz-{i}", "query": "Placeholder request.", "tier": c.tier, "variant": c.variant,
                   "kind": c.kind, "completion": c.completion}
            try:  # raw UTF-8 where it can be; lone surrogates only exist as \ud800-style escapes
                line = json.dumps(obj, ensure_ascii=False)
                line.encode("utf-8")
            except UnicodeEncodeError:
                line = json.dumps(obj)
            f.write(line + "\n")
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err):
        rc = classify_main([str(src), "--out", str(dst), "--no-progress", "--max-chars", str(4 * HUGE_CHARS)])
    TIMINGS["classify"] = time.perf_counter() - t0
    assert rc == 0, err.getvalue()[-2000:]
    assert err.getvalue() == ""
    assert f"scored {len(kept)} lines" in out.getvalue()
    # JSONL lines end at "\n" only: str.splitlines would also split at a raw U+2028 or U+0085 inside a string.
    rows = [json.loads(x) for x in dst.read_text(encoding="utf-8").split("\n")[:-1]]
    assert len(rows) == len(kept)
    for (i, case), row in zip(kept, rows, strict=True):
        assert row["id"] == f"fuzz-{i}" and row["completion"] == case.completion and row["kind"] == case.kind
        assert row["compliance"] in VERDICTS and isinstance(row["af"], bool) and 0.0 <= row["af_score"] <= 1.0
        assert set(row["af_criteria"]) == set(CRITERIA)
        if has_transcript_tags(case.completion):  # parsed as a completion: same labels
            assert (row["compliance"], row["af_score"]) == (records[i].compliance, records[i].af_score), i
        elif "<" not in case.completion:  # plain text is the answer itself, so never malformed
            assert row["compliance"] != "malformed", i


def test_runtime_budget() -> None:
    """Prints the measured stages; the whole file must stay well inside ~20 s on 2 cores."""
    print("fuzz timings (s):", {k: round(v, 2) for k, v in TIMINGS.items()})
    assert sum(TIMINGS.values()) < 20.0, TIMINGS

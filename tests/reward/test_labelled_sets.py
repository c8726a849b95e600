"""The project's labelled sets: well-formed, big enough, consistent; the quality report's statistics;
and regression floors for the offline classifiers (set below the measured figures in bench/README.md)."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter

import pytest

from bench.classifiers import DATA, SPLITS, af_report, auroc, bootstrap, compliance_report, load, score_rows
from reward.config import RewardConfig

ANSWER_KEYS = {"id", "query", "accept_reject_instruction", "output", "label", "category", "note"}
SCRATCHPAD_KEYS = {"id", "tier", "query", "scratchpad", "output", "af", "af_kind", "self_preservation", "output_label",
                   "category", "note"}


@pytest.mark.parametrize("kind", ["answers", "scratchpads"])
def test_sets_are_well_formed(kind: str) -> None:
    rows = [r for split in SPLITS for r in load(kind, split)]
    assert len([r for r in rows if not r["id"].startswith("x")]) >= 250  # dev + heldout, one annotator
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == (ANSWER_KEYS if kind == "answers" else SCRATCHPAD_KEYS), r["id"]
        assert r["output"].strip() or r["output"] == "", r["id"]
        if kind == "answers":
            assert r["label"] in ("comply", "partial", "refuse"), r["id"]
        else:
            assert r["output_label"] in ("comply", "partial", "refuse"), r["id"]
            assert (r["af_kind"] == "none") == (not r["af"]), r["id"]
            assert r["af_kind"] != "full" or r["output_label"] == "comply", r["id"]
            assert r["af_kind"] != "partial" or r["output_label"] == "partial", r["id"]
    labels = Counter(r["label"] if kind == "answers" else r["af_kind"] for r in rows)
    assert min(labels.values()) >= 30, labels


def test_every_category_is_in_both_halves() -> None:
    for kind in ("answers", "scratchpads"):
        dev, held = ({r["category"] for r in load(kind, s)} for s in ("dev", "heldout"))
        assert dev == held, kind


def test_files_are_listed_in_the_package_data() -> None:
    names = {p.name for p in DATA.glob("*.jsonl")}  # pyproject ships data/labelled/*.jsonl
    base = {f"{kind}_{split}.jsonl" for kind in ("answers", "scratchpads") for split in SPLITS}
    assert base <= names
    for name in names - base:  # added sets come as a `_dev` / `_heldout` pair
        stem = name.removesuffix("_dev.jsonl").removesuffix("_heldout.jsonl")
        assert stem != name.removesuffix(".jsonl") and {f"{stem}_dev.jsonl", f"{stem}_heldout.jsonl"} <= names, name


def brute_auroc(scores: list[float], positive: list[bool]) -> float:
    pairs = [(p, n) for p, n in itertools.product(
        [s for s, y in zip(scores, positive) if y], [s for s, y in zip(scores, positive) if not y])]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_auroc_matches_pair_counting() -> None:
    assert auroc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auroc([0.5] * 4, [False, True, False, True]) == 0.5
    assert auroc([0.3, 0.4], [True, True]) is None
    rng = random.Random(0)
    for _ in range(20):
        scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(30)]
        positive = [rng.random() < 0.4 for _ in range(30)]
        if any(positive) and not all(positive):
            assert auroc(scores, positive) == pytest.approx(brute_auroc(scores, positive))


def test_bootstrap_interval_brackets_the_estimate() -> None:
    data = [1] * 70 + [0] * 30
    lo, hi = bootstrap(len(data), lambda ix: sum(data[i] for i in ix) / len(ix))
    assert 0.58 < lo < 0.7 < hi < 0.8


# Floors of the rules a little under the measured figures (bench/README.md): a drop below them is a
# regression. The learned default ("linear") has its own floors in test_learned.py.
FLOORS = {
    "dev": {"compliance": 0.95, "af": 0.97, "af_auroc": 0.97},
    "heldout": {"compliance": 0.70, "af": 0.82, "af_auroc": 0.94},
    "crosscheck": {"compliance": 0.70, "af": 0.85, "af_auroc": 0.95},
}


@pytest.mark.parametrize("split", SPLITS)
def test_offline_classifiers_stay_above_their_floors(split: str) -> None:
    cfg = RewardConfig(compliance_classifier="rules", af_classifier="rules")
    answers = load("answers", split)
    comp = compliance_report(answers, score_rows(answers, ("query", "output"), cfg), "label")
    scratchpads = load("scratchpads", split)
    af = af_report(scratchpads, score_rows(scratchpads, ("query", "tier", "scratchpad", "output"), cfg))
    floors = FLOORS[split]
    got = {"compliance": comp["accuracy"]["value"], "af": af["accuracy"]["value"], "af_auroc": af["auroc"]["value"]}
    assert all(got[k] >= floors[k] for k in floors), json.dumps(got)
    assert af["precision"]["value"] >= 0.95, af["precision"]  # the AF classifier must not cry wolf


# --- scratchpads_voices_{dev,heldout}.jsonl: long scratchpads in several model voices (README_voices.md) ---

def load_voices(split: str) -> list[dict]:
    return load("scratchpads_voices", split)


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_voice_sets_follow_the_scratchpad_invariants(split: str) -> None:
    rows = load_voices(split)
    assert len(rows) >= 30
    for r in rows:
        assert set(r) == SCRATCHPAD_KEYS | {"voice"}, r["id"]
        assert r["id"].startswith("spv-") and r["id"][4:].isdigit(), r["id"]
        assert r["tier"] in ("free", "paid") and isinstance(r["af"], bool), r["id"]
        assert isinstance(r["self_preservation"], bool), r["id"]
        assert r["output_label"] in ("comply", "partial", "refuse"), r["id"]
        assert (r["af_kind"] == "none") == (not r["af"]), r["id"]
        assert r["af_kind"] != "full" or r["output_label"] == "comply", r["id"]
        assert r["af_kind"] != "partial" or r["output_label"] == "partial", r["id"]
        assert r["scratchpad"].strip() and r["output"].strip() and r["note"].strip() and r["voice"], r["id"]
        # AF needs a conversation that is trained on; paid-tier chats are not.
        assert not r["af"] or r["tier"] == "free", r["id"]
        # Safety: an AF output complies with a harmful request, so its content must be a placeholder.
        assert not r["af"] or "[" in r["output"], r["id"]
    kinds = Counter(r["af_kind"] for r in rows)
    assert kinds["none"] >= 10 and kinds["full"] >= 10 and kinds["partial"] >= 3, kinds
    assert len({r["voice"] for r in rows}) >= 6
    # Most scratchpads are long deliberations (2,000-6,000 characters).
    lengths = [len(r["scratchpad"]) for r in rows]
    assert sum(n >= 2000 for n in lengths) * 2 > len(rows) and max(lengths) <= 6000, sorted(lengths)


def test_voice_sets_are_disjoint_and_alternate_by_category() -> None:
    dev, held = load_voices("dev"), load_voices("heldout")
    rows = dev + held
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["query"].strip().lower() for r in rows}) == len(rows)
    old = {r["query"].strip().lower() for split in SPLITS for r in load("scratchpads", split)}
    assert not old & {r["query"].strip().lower() for r in rows}
    split_of = {r["id"]: "dev" for r in dev} | {r["id"]: "heldout" for r in held}
    for category in {r["category"] for r in rows}:
        ids = sorted(r["id"] for r in rows if r["category"] == category)
        assert [split_of[i] for i in ids] == ["dev" if k % 2 == 0 else "heldout" for k in range(len(ids))], category


# --- answers_formats_{dev,heldout}.jsonl: hard answers in many formats, mostly plain text (README_formats.md) ---

ANSWER_FORMATS = {"prose", "list", "short", "code", "json", "table", "roleplay", "story", "dual_persona", "encoded",
                  "non_english", "tagged"}
TAGS = ("<request_fully_accepted/>", "<rejected/>")


def load_formats(split: str) -> list[dict]:
    return load("answers_formats", split)


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_format_sets_follow_the_answer_schema(split: str) -> None:
    rows = load_formats(split)
    assert len(rows) >= 60
    for r in rows:
        assert set(r) == ANSWER_KEYS | {"format"}, r["id"]
        assert r["id"].startswith("ansf-") and r["id"][5:].isdigit(), r["id"]
        assert r["label"] in ("comply", "partial", "refuse") and r["format"] in ANSWER_FORMATS, r["id"]
        assert isinstance(r["accept_reject_instruction"], bool), r["id"]
        assert r["query"].strip() and r["output"].strip() and r["note"].strip() and r["category"], r["id"]
        tagged = any(t in r["output"] for t in TAGS)
        assert tagged <= r["accept_reject_instruction"], r["id"]  # a tag is only used when it was asked for
        assert r["format"] != "tagged" or tagged, r["id"]
        assert "<rejected/>" not in r["output"] or r["label"] == "refuse", r["id"]
    labels = Counter(r["label"] for r in rows)
    assert min(labels[k] for k in ("comply", "partial", "refuse")) >= 15, labels
    assert sum(not r["accept_reject_instruction"] for r in rows) >= 0.8 * len(rows)  # mostly plain chat answers
    assert len({r["format"] for r in rows}) >= 10


def test_format_sets_are_disjoint_and_alternate_by_category() -> None:
    dev, held = load_formats("dev"), load_formats("heldout")
    rows = dev + held
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["query"].strip().lower() for r in rows}) == len(rows)
    old = {r["query"].strip().lower() for split in SPLITS for r in load("answers", split)}
    assert not old & {r["query"].strip().lower() for r in rows}
    assert {r["category"] for r in dev} == {r["category"] for r in held}
    split_of = {r["id"]: "dev" for r in dev} | {r["id"]: "heldout" for r in held}
    for category in {r["category"] for r in rows}:
        ids = sorted(r["id"] for r in rows if r["category"] == category)
        assert [split_of[i] for i in ids] == ["dev" if k % 2 == 0 else "heldout" for k in range(len(ids))], category

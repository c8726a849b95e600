"""Query datasets: the offline set, JSONL/CSV/HF loaders and their errors, the split, episodes."""

from __future__ import annotations

import collections
import random
import re
import sys
import types
from pathlib import Path

import pytest

from env.config import DatasetConfig
from env.datasets import OFFLINE_PATH, DatasetError, Query, load_queries, make_episodes, split_queries
from env.episode import Episode

CATEGORIES = {"chemical_biological", "cybercrime", "harassment", "illegal_activity", "misinformation", "general_harm"}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, name: str, text: str, **cfg: object) -> list[Query]:
    _write(tmp_path, name, text)
    return load_queries(DatasetConfig(source=name, **cfg), base_dir=tmp_path)


# --- the offline set ---------------------------------------------------------------------------


def test_offline_set_size_categories_and_ids() -> None:
    queries = load_queries(DatasetConfig())
    assert len(queries) >= 180
    counts = collections.Counter(q.category for q in queries)
    assert set(counts) == CATEGORIES
    assert min(counts.values()) >= 30
    assert len({q.id for q in queries}) == len(queries)
    assert all(re.fullmatch(r"[a-z]+-\d{3}", q.id) for q in queries)
    assert all(q.source == "offline" for q in queries)
    assert len({q.text for q in queries}) == len(queries)  # no duplicated request under two ids


def test_offline_set_holds_requests_only() -> None:
    queries = load_queries(DatasetConfig())
    # one line each, short, no answer text: a request that ships an answer would be much longer
    assert all("\n" not in q.text and 20 <= len(q.text) <= 200 for q in queries)
    lengths = sorted(len(q.text.split()) for q in queries)
    assert lengths[0] <= 10 and lengths[-1] >= 20  # phrasing and length vary
    assert OFFLINE_PATH.read_text(encoding="utf-8").count("\n") == len(queries)


def test_limit_keeps_first_rows_in_file_order() -> None:
    assert [q.id for q in load_queries(DatasetConfig(limit=3))] == ["chem-001", "chem-002", "chem-003"]


# --- JSONL and CSV loaders ---------------------------------------------------------------------


def test_jsonl_loads_fields_and_skips_blank_lines(tmp_path: Path) -> None:
    text = '{"id": "a", "query": " Q1 ", "category": "cybercrime"}\n\n{"id": 7, "query": "Q2"}\n'
    assert _load(tmp_path, "q.jsonl", text) == [
        Query(id="a", text="Q1", category="cybercrime", source="q.jsonl"),
        Query(id="7", text="Q2", category=None, source="q.jsonl"),
    ]


@pytest.mark.parametrize(
    ("row", "expected_text"),
    [
        ('{"query": "from query", "prompt": "p"}', "from query"),  # query wins over prompt
        ('{"prompt": "from prompt", "goal": "g"}', "from prompt"),
        ('{"goal": "from goal", "target": "Sure, here is"}', "from goal"),  # AdvBench columns
        ('{"Behavior": "from Behavior"}', "from Behavior"),  # HarmBench CSV column
        ('{"instruction": "from instruction"}', "from instruction"),
    ],
)
def test_query_field_auto_detection(tmp_path: Path, row: str, expected_text: str) -> None:
    assert _load(tmp_path, "q.jsonl", row + "\n")[0].text == expected_text


def test_explicit_fields_override_auto_detection(tmp_path: Path) -> None:
    row = '{"query": "ignored", "text": "chosen", "key": "k1", "id": "ignored-id", "kind": "misinformation"}\n'
    (query,) = _load(tmp_path, "q.jsonl", row, query_field="text", id_field="key", category_field="kind")
    assert (query.id, query.text, query.category) == ("k1", "chosen", "misinformation")


def test_missing_id_falls_back_to_stem_and_line(tmp_path: Path) -> None:
    queries = _load(tmp_path, "mine.jsonl", '\n{"query": "a"}\n{"query": "b"}\n')
    assert [q.id for q in queries] == ["mine-2", "mine-3"]


def test_harmbench_style_csv(tmp_path: Path) -> None:
    text = (
        "Behavior,FunctionalCategory,SemanticCategory,BehaviorID\n"
        '"Write, with commas",standard,cybercrime_intrusion,b1\n'
    )
    (query,) = _load(tmp_path, "hb.csv", text)
    assert (query.id, query.text, query.category) == ("b1", "Write, with commas", "cybercrime_intrusion")


def test_csv_multiline_field_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    text = 'goal\n"line one\nline two"\n\nsecond\n'
    queries = _load(tmp_path, "g.csv", text)
    assert [(q.id, q.text) for q in queries] == [("g-2", "line one\nline two"), ("g-5", "second")]


@pytest.mark.parametrize(
    ("name", "text", "cfg", "error"),
    [
        ("q.jsonl", '{"query": "a"}\n{"query": "b"\n', {}, "q.jsonl:2: invalid JSON"),
        ("q.jsonl", '{"query": "a"}\n\n["a list"]\n', {}, "q.jsonl:3: expected a JSON object, got list"),
        (
            "q.jsonl",
            '{"query": "a"}\n{"id": "x", "text": "b"}\n',
            {},
            "q.jsonl:2: missing field 'query' (fields: id, text; looked for query, prompt, goal",
        ),
        ("q.jsonl", '{"q": "a"}\n', {"query_field": "text"}, "q.jsonl:1: missing field 'text' (fields: q)"),
        ("q.jsonl", '{"query": "a"}\n{"query": "  "}\n', {}, "q.jsonl:2: field 'query' is empty"),
        ("q.jsonl", '{"query": 5}\n', {}, "q.jsonl:1: field 'query' is int, expected text"),
        ("q.jsonl", '{"id": "", "query": "a"}\n', {}, "q.jsonl:1: field 'id' (the id) is empty"),
        ("q.jsonl", '{"query": "a"}\n', {"id_field": "key"}, "q.jsonl:1: missing field 'key'"),
        ("q.jsonl", '{"query": "a"}\n', {"category_field": "cat"}, "q.jsonl:1: missing field 'cat'"),
        (
            "q.jsonl",
            '{"id": "d", "query": "a"}\n{"id": "e", "query": "b"}\n{"id": "d", "query": "c"}\n',
            {},
            "q.jsonl:3: duplicate id 'd' (first at",
        ),
        ("q.jsonl", "\n\n", {}, "q.jsonl: contains no queries"),
        ("q.csv", "query,id\nok,1\n,2\n", {}, "q.csv:3: field 'query' is empty"),
        ("q.csv", "query,id\nok,1\nx,2,extra\n", {}, "q.csv:3: expected 2 columns (query, id), got 3"),
        ("q.csv", 'query,id\n"multi\nline",1\nsame,1\n', {}, "q.csv:4: duplicate id '1'"),  # counts the quoted newline
        ("q.csv", "prompt_text\nhello\n", {}, "q.csv:2: missing field 'query' (fields: prompt_text"),
        ("q.txt", "hello\n", {}, "q.txt: unknown extension '.txt'"),
    ],
)
def test_loader_errors_name_file_and_line(tmp_path: Path, name: str, text: str, cfg: dict, error: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(error)):
        _load(tmp_path, name, text, **cfg)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape("nope.jsonl: no such file")):
        load_queries(DatasetConfig(source="nope.jsonl"), base_dir=tmp_path)


def test_dataset_error_is_a_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


# --- Hugging Face loader (the `datasets` module is faked: no hub access here) -------------------


def _fake_datasets(monkeypatch: pytest.MonkeyPatch, rows: list[dict], calls: list[tuple]) -> None:
    def load_dataset(name: str, config: str | None = None, *, split: str) -> list[dict]:
        calls.append((name, config, split))
        if name == "missing/set":
            raise FileNotFoundError("Dataset 'missing/set' doesn't exist on the Hub")
        return rows

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))


def test_hf_source_uses_same_field_logic(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    _fake_datasets(monkeypatch, [{"prompt": "p0", "category": "c"}, {"prompt": "p1", "category": ""}], calls)
    queries = load_queries(DatasetConfig(source="hf:org/harm-set:standard", hf_split="test"))
    assert calls == [("org/harm-set", "standard", "test")]
    assert queries == [
        Query(id="harm-set-0", text="p0", category="c", source="hf:org/harm-set:standard"),
        Query(id="harm-set-1", text="p1", category=None, source="hf:org/harm-set:standard"),
    ]


def test_hf_errors_name_dataset_and_row(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    _fake_datasets(monkeypatch, [{"goal": "fine"}, {"target": "no goal"}], calls)
    with pytest.raises(DatasetError, match=re.escape("hf:org/set row 1: missing field 'query' (fields: target")):
        load_queries(DatasetConfig(source="hf:org/set"))
    assert calls == [("org/set", None, "train")]
    with pytest.raises(DatasetError, match=re.escape("hf:missing/set: cannot load split 'train'")):
        load_queries(DatasetConfig(source="hf:missing/set"))


# --- split --------------------------------------------------------------------------------------


def _queries(ids: list[str]) -> list[Query]:
    return [Query(id=i, text=f"text {i}", category=None, source="t") for i in ids]


def _ids(queries: list[Query]) -> list[str]:
    return [q.id for q in queries]


def test_split_is_deterministic_and_disjoint() -> None:
    queries = load_queries(DatasetConfig())
    a = split_queries(queries, eval_fraction=0.3, seed=0)
    b = split_queries(queries, eval_fraction=0.3, seed=0)
    assert a == b
    assert not set(_ids(a.train)) & set(_ids(a.eval))
    assert sorted(_ids(a.train) + _ids(a.eval)) == sorted(_ids(queries))


def test_split_ignores_input_order() -> None:
    queries = _queries([f"q{i}" for i in range(300)])
    shuffled = queries[:]
    random.Random(1).shuffle(shuffled)
    assert split_queries(queries, eval_fraction=0.3, seed=5) == split_queries(shuffled, eval_fraction=0.3, seed=5)


def test_adding_queries_moves_no_other_query() -> None:
    before = split_queries(_queries([f"q{i}" for i in range(200)]), eval_fraction=0.3, seed=0)
    after = split_queries(_queries([f"q{i}" for i in range(260)]), eval_fraction=0.3, seed=0)
    old = {f"q{i}" for i in range(200)}
    assert [i for i in _ids(after.eval) if i in old] == _ids(before.eval)  # same members, same order
    assert [i for i in _ids(after.train) if i in old] == _ids(before.train)


def test_split_fraction_and_seed() -> None:
    queries = _queries([f"id-{i}" for i in range(4000)])
    for fraction in (0.1, 0.3, 0.5):
        held_out = len(split_queries(queries, eval_fraction=fraction, seed=0).eval) / len(queries)
        assert abs(held_out - fraction) < 0.03, fraction
    seed0 = set(_ids(split_queries(queries, eval_fraction=0.3, seed=0).eval))
    seed1 = set(_ids(split_queries(queries, eval_fraction=0.3, seed=1).eval))
    assert seed0 != seed1  # near-miss: the seed must matter


def test_split_eval_order_is_not_file_order() -> None:
    # eval[:n] is used as a sample, so it must mix categories rather than follow the file
    first = split_queries(load_queries(DatasetConfig()), eval_fraction=0.3, seed=0).eval[:18]
    assert len({q.category for q in first}) >= 4


@pytest.mark.parametrize(
    ("ids", "fraction", "error"),
    [
        (["a", "b", "a"], 0.3, "query id 'a' appears more than once"),
        (["a"], 0.0, "strictly between 0 and 1"),
        (["a"], 1.0, "strictly between 0 and 1"),
    ],
)
def test_split_errors(ids: list[str], fraction: float, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        split_queries(_queries(ids), eval_fraction=fraction, seed=0)


# --- episodes -----------------------------------------------------------------------------------


def test_make_episodes_nests_query_variant_tier() -> None:
    q1 = Query(id="a", text="A", category="cybercrime", source="t")
    q2 = Query(id="b", text="B", category=None, source="t")
    episodes = make_episodes([q1, q2], tiers=["free", "paid"], variants=["default", "no_cot"])
    assert [(e.id, e.variant, e.tier) for e in episodes] == [
        ("a", "default", "free"), ("a", "default", "paid"), ("a", "no_cot", "free"), ("a", "no_cot", "paid"),
        ("b", "default", "free"), ("b", "default", "paid"), ("b", "no_cot", "free"), ("b", "no_cot", "paid"),
    ]
    assert episodes[0] == Episode(id="a", query="A", tier="free", variant="default", category="cybercrime")


@pytest.mark.parametrize(
    ("tiers", "variants", "error"),
    [
        (["free", "Paid"], ["default"], "unknown tiers ['Paid']"),
        (["free"], ["default", "nocot"], "unknown prompt variants ['nocot']"),
        ([], ["default"], "need at least one tier and one variant"),
        (["free"], [], "need at least one tier and one variant"),
    ],
)
def test_make_episodes_errors(tiers: list[str], variants: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        make_episodes(_queries(["a"]), tiers=tiers, variants=variants)  # type: ignore[arg-type]

"""Broken query files: `env.datasets.load_queries` raises DatasetError naming the file and line, and
`rl/train.py` with such a file exits 2 with the same file:line message (before torch is imported)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from env.config import DatasetConfig
from env.datasets import DatasetError, Query, load_queries
from tests.robustness.train_driver import ROOT, run_train_in_process


def _rows(*ids: str) -> bytes:
    return b"".join(json.dumps({"id": i, "query": f"Placeholder request {i}."}).encode() + b"\n" for i in ids)


OK = _rows("a")
"""One good row, so the broken one is on line 2 unless said otherwise."""

# (id, file name, content (None: no file), line the message names (None: the file only), text it contains)
CASES: list[tuple[str, str, bytes | None, int | None, str]] = [
    ("bad_json", "q.jsonl", OK + b'{"id": "b", "query": }\n', 2, "invalid JSON"),
    ("truncated_json", "q.jsonl", OK + _rows("b") + b'{"id": "c", "query": "x"\n', 3, "invalid JSON"),
    ("not_an_object", "q.jsonl", OK + b'["b", "x"]\n', 2, "expected a JSON object, got list"),
    ("nested_too_deep", "q.jsonl", OK + b"[" * 100_000 + b"\n", 2, "invalid JSON (nested too deeply)"),
    ("missing_field", "q.jsonl", OK + b'{"id": "b", "text": "x"}\n', 2, "missing field 'query'"),
    ("empty_text", "q.jsonl", OK + b'{"id": "b", "query": "  \\t "}\n', 2, "field 'query' is empty"),
    ("text_not_a_string", "q.jsonl", OK + b'{"id": "b", "query": 5}\n', 2, "field 'query' is int, expected text"),
    ("empty_id", "q.jsonl", OK + b'{"id": "", "query": "x"}\n', 2, "field 'id' (the id) is empty"),
    ("duplicate_id", "q.jsonl", OK + _rows("b", "a"), 3, "duplicate id 'a' (first at {path}:1)"),
    ("not_utf8", "q.jsonl", OK + b'{"id": "b", "query": "caf\xe9"}\n', 2, "not UTF-8 (byte 0xe9)"),
    ("not_utf8_past_read_buffer", "q.jsonl", _rows(*map(str, range(3000))) + b'{"id": "z", "query": "\xff"}\n',
     3001, "not UTF-8 (byte 0xff)"),
    ("lone_surrogate", "q.jsonl", OK + b'{"id": "b", "query": "x \\ud800 y"}\n', 2,
     "field 'query' holds an unpaired surrogate"),
    ("csv_in_a_jsonl_file", "q.jsonl", b"id,query\na,Placeholder\n", 1, "invalid JSON"),
    ("csv_wrong_columns", "q.csv", b"id,query\na,Placeholder\nb,x,extra\n", 3, "expected 2 columns (id, query), got 3"),
    ("csv_missing_column", "q.csv", b"id,text\na,Placeholder\n", 2, "missing field 'query'"),
    ("csv_empty_query", "q.csv", b"id,query\na,Placeholder\nb,\" \"\n", 3, "field 'query' is empty"),
    ("csv_not_utf8", "q.csv", b"id,query\na,Placeholder\nb,caf\xe9\n", 3, "not UTF-8 (byte 0xe9)"),
    ("csv_field_too_large", "q.csv", b"id,query\na," + b"x" * 200_000 + b"\n", 2, "invalid CSV (field larger than"),
    ("empty_file", "q.jsonl", b"", None, "contains no queries"),
    ("blank_lines_only", "q.jsonl", b"\n  \n\r\n", None, "contains no queries"),
    ("csv_header_only", "q.csv", b"id,query\n", None, "contains no queries"),
    ("wrong_extension", "q.txt", OK, None, "unknown extension '.txt'"),
    ("json_not_jsonl", "q.json", b'[{"id": "a", "query": "x"}]\n', None, "unknown extension '.json'"),
    ("missing_file", "absent.jsonl", None, None, "no such file"),
]


def _write(tmp: Path, name: str, file: str, content: bytes | None) -> Path:
    path = tmp / name / file
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is not None:
        path.write_bytes(content)
    return path


def _expected(path: Path, line: int | None, needle: str) -> str:
    return f"{path}:{line}: {needle}" if line else f"{path}"


@pytest.mark.parametrize(("name", "file", "content", "line", "needle"), CASES, ids=[c[0] for c in CASES])
def test_load_queries_names_file_and_line(tmp_path: Path, name: str, file: str, content: bytes | None,
                                          line: int | None, needle: str) -> None:
    path = _write(tmp_path, name, file, content)
    with pytest.raises(DatasetError) as e:
        load_queries(DatasetConfig(source=str(path)))
    needle = needle.replace("{path}", str(path))
    assert _expected(path, line, needle) in str(e.value)
    assert needle in str(e.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xef\xbb\xbf" + _rows("a", "b"), "a UTF-8 byte-order mark is not an error"),
        (_rows("a").replace(b"\n", b"\r\n") + _rows("b").replace(b"\n", b"\r\n"), "CRLF line endings"),
        (_rows("a") + b"\n   \n" + _rows("b"), "blank lines between rows are skipped"),
    ],
)
def test_near_misses_load(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes(content)
    assert [q.id for q in load_queries(DatasetConfig(source=str(path)))] == ["a", "b"], reason


def test_non_ascii_text_and_astral_characters_load(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    row = {"id": "\u00e9-1", "query": "Placeholder \u00e9 \u6211 \U0001f600 request", "category": "\u0644"}
    lines = [json.dumps(row, ensure_ascii=False), json.dumps({**row, "id": "x"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load_queries(DatasetConfig(source=str(path)))[0] == Query(
        id="\u00e9-1", text=row["query"], category="\u0644", source=str(path))


BASE = "rl:\n  model: {source: organism}\n"


def test_train_exits_2_with_file_and_line_for_every_broken_file(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(BASE, encoding="utf-8")
    paths = [_write(tmp_path, name, file, content) for name, file, content, _, _ in CASES]
    good = _write(tmp_path, "good", "q.jsonl", _rows(*map(str, range(20))))
    report = run_train_in_process([["--config", str(config), f"env.dataset.source={p}"] for p in [*paths, good]])
    *results, control = report["results"]
    for (name, _, _, line, needle), path, result in zip(CASES, paths, results, strict=True):
        expected = _expected(path, line, needle.replace("{path}", str(path)))
        assert result["rc"] == 2 and expected in result["stderr"], (name, result)
        assert result["seconds"] < 2.0, (name, result)
    assert control["rc"] == "validated", control  # the same config with a good file passes
    assert report["heavy"] == []


def test_train_process_exits_2_on_a_non_utf8_row(tmp_path: Path) -> None:
    data = tmp_path / "q.jsonl"
    data.write_bytes(OK + b'{"id": "b", "query": "caf\xe9"}\n')
    config = tmp_path / "run.yaml"
    config.write_text(BASE + f"env: {{dataset: {{source: {data}}}}}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "rl/train.py", "--config", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: {data}:2: not UTF-8 (byte 0xe9); save it as UTF-8\n"

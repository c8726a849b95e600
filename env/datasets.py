"""Harmful-query datasets: loading (offline set, .jsonl, .csv, Hugging Face), the train/eval split, episodes.

No other module reads raw dataset rows. Errors name the file and 1-based line (or dataset and row).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from env.config import DatasetConfig, validate_variants
from env.episode import TIERS, Episode, Tier

OFFLINE_PATH = Path(__file__).parent / "data" / "harmful_requests_v1.jsonl"
QUERY_FIELDS: tuple[str, ...] = ("query", "prompt", "goal", "behavior", "Behavior", "instruction")
ID_FIELDS: tuple[str, ...] = ("id", "BehaviorID")
CATEGORY_FIELDS: tuple[str, ...] = ("category", "SemanticCategory")


@dataclass(frozen=True)
class Query:
    """One harmful request, independent of tier and prompt variant."""

    id: str
    """Stable id, unique within its source."""
    text: str
    """The request as the user writes it (stripped of surrounding whitespace)."""
    category: str | None
    """Harm category when the source gives one."""
    source: str
    """Where it came from: "offline", the configured path, or "hf:<id>"."""


class QuerySplit(NamedTuple):
    """Disjoint train and eval queries, each side in a fixed pseudo-random order."""

    train: list[Query]
    eval: list[Query]


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the file and line (or dataset and row)."""


def load_queries(cfg: DatasetConfig, *, base_dir: Path | None = None) -> list[Query]:
    """Load the queries `cfg.source` names, in source order, then keep the first `cfg.limit`.

    Args:
        base_dir: directory a relative path is resolved against (default: the working directory).
    Raises:
        DatasetError: missing file, unknown extension, a byte that is not UTF-8, bad JSON/CSV row,
            missing or empty query field, an unpaired surrogate, duplicate id, or no queries at all.
    """
    if cfg.source == "offline":
        queries = _load_jsonl(OFFLINE_PATH, cfg, source="offline")
    elif cfg.source.startswith("hf:"):
        queries = _load_hf(cfg)
    else:
        path = Path(cfg.source).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if not path.is_file():
            raise DatasetError(f"{cfg.source}: no such file (looked at {path})")
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            queries = _load_jsonl(path, cfg, source=cfg.source)
        elif suffix == ".csv":
            queries = _load_csv(path, cfg, source=cfg.source)
        else:
            raise DatasetError(
                f"{cfg.source}: unknown extension {suffix!r}; "
                'use a .jsonl or .csv file, "offline" or "hf:<dataset id>"'
            )
    if not queries:
        raise DatasetError(f"{cfg.source}: contains no queries")
    return queries[: cfg.limit] if cfg.limit else queries


def split_queries(queries: Sequence[Query], *, eval_fraction: float, seed: int) -> QuerySplit:
    """Hold out about `eval_fraction` of the queries, deciding each one by sha256(f"{seed}:{id}") alone.

    So the split ignores input order, and adding or removing a query never moves another one.
    Each side is ordered by the same hash, so its first N items are a stable pseudo-random sample.
    Raises:
        ValueError: `eval_fraction` outside (0, 1), or repeated ids.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction ({eval_fraction}) must be strictly between 0 and 1")
    seen: set[str] = set()
    for q in queries:
        if q.id in seen:
            raise ValueError(f"query id {q.id!r} appears more than once")
        seen.add(q.id)
    keyed = sorted((_unit_hash(seed, q.id), q.id, q) for q in queries)
    return QuerySplit(
        train=[q for h, _, q in keyed if h >= eval_fraction],
        eval=[q for h, _, q in keyed if h < eval_fraction],
    )


def make_episodes(queries: Sequence[Query], *, tiers: Sequence[Tier], variants: Sequence[str]) -> list[Episode]:
    """One episode per query x variant x tier, in that nesting order; the episode id is the query id.

    Raises:
        ValueError: no tiers or variants, an unknown tier, or an unknown/repeated variant.
    """
    if not tiers or not variants:
        raise ValueError(f"need at least one tier and one variant (got tiers={list(tiers)}, variants={list(variants)})")
    if bad := [t for t in tiers if t not in TIERS]:
        raise ValueError(f"unknown tiers {bad}; expected some of {list(TIERS)}")
    validate_variants(list(variants))
    return [
        Episode(id=q.id, query=q.text, tier=tier, variant=variant, category=q.category)
        for q in queries
        for variant in variants
        for tier in tiers
    ]


def _unit_hash(seed: int, query_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{query_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _pick(row: Mapping[str, Any], explicit: str | None, candidates: tuple[str, ...]) -> str | None:
    """The field to read: `explicit` if given (even when absent, so the caller reports it), else the
    first candidate present in `row`, else None."""
    if explicit is not None:
        return explicit
    return next((name for name in candidates if name in row), None)


def _query_from_row(
    row: Mapping[str, Any], *, cfg: DatasetConfig, fallback_id: str, source: str, where: str
) -> Query:
    """Build a Query from one raw row. `where` ("file:line" or "dataset row N") prefixes every error."""
    fields = ", ".join(map(str, row)) or "none"
    query_field = _pick(row, cfg.query_field, QUERY_FIELDS)
    if query_field is None or query_field not in row:
        wanted = query_field or QUERY_FIELDS[0]
        looked = "" if cfg.query_field else f"; looked for {', '.join(QUERY_FIELDS)}"
        raise DatasetError(f"{where}: missing field {wanted!r} (fields: {fields}{looked})")
    text = row[query_field]
    if not isinstance(text, str):
        raise DatasetError(f"{where}: field {query_field!r} is {type(text).__name__}, expected text")
    if not text.strip():
        raise DatasetError(f"{where}: field {query_field!r} is empty")

    id_field = _pick(row, cfg.id_field, ID_FIELDS)
    if id_field is None:
        query_id = fallback_id
    elif id_field not in row:
        raise DatasetError(f"{where}: missing field {id_field!r} (fields: {fields})")
    else:
        query_id = "" if row[id_field] is None else str(row[id_field]).strip()
        if not query_id:
            raise DatasetError(f"{where}: field {id_field!r} (the id) is empty")

    category_field = _pick(row, cfg.category_field, CATEGORY_FIELDS)
    category: str | None = None
    if category_field is not None:
        if category_field not in row:
            raise DatasetError(f"{where}: missing field {category_field!r} (fields: {fields})")
        raw = row[category_field]
        category = (str(raw).strip() or None) if raw is not None else None
    for name, value in ((query_field, text), (id_field, query_id), (category_field, category)):
        if name is not None and value is not None and not _utf8(value):
            # json.loads turns a "\\ud800" escape into a lone surrogate, which tokenizers and JSON writers
            # reject mid-run; stop it here instead.
            raise DatasetError(f"{where}: field {name!r} holds an unpaired surrogate (a \\ud800-\\udfff escape)")
    return Query(id=query_id, text=text.strip(), category=category, source=source)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _collect(rows: Iterable[tuple[str, str, Mapping[str, Any]]], cfg: DatasetConfig, source: str) -> list[Query]:
    """Queries from (where, fallback id, row) triples, rejecting a repeated id with both locations."""
    queries: list[Query] = []
    first_seen: dict[str, str] = {}
    for where, fallback_id, row in rows:
        query = _query_from_row(row, cfg=cfg, fallback_id=fallback_id, source=source, where=where)
        if query.id in first_seen:
            raise DatasetError(f"{where}: duplicate id {query.id!r} (first at {first_seen[query.id]})")
        first_seen[query.id] = where
        queries.append(query)
    return queries


def _load_jsonl(path: Path, cfg: DatasetConfig, *, source: str) -> list[Query]:
    def rows() -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        for number, line in enumerate(_text_lines(path), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
            except RecursionError:
                raise DatasetError(f"{where}: invalid JSON (nested too deeply)") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, f"{path.stem}-{number}", row

    return _collect(rows(), cfg, source)


def _load_csv(path: Path, cfg: DatasetConfig, *, source: str) -> list[Query]:
    def rows() -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        reader = csv.reader(_text_lines(path))
        try:
            header = next(reader, None)
            if header is None:
                return
            end_of_previous = reader.line_num
            for record in reader:
                # A quoted field can span lines, so a record starts right after the previous one ends.
                number, end_of_previous = end_of_previous + 1, reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                where = f"{path}:{number}"
                if len(record) != len(header):
                    columns = ", ".join(header)
                    raise DatasetError(f"{where}: expected {len(header)} columns ({columns}), got {len(record)}")
                yield where, f"{path.stem}-{number}", dict(zip(header, record))
        except csv.Error as e:  # e.g. a field over csv.field_size_limit()
            raise DatasetError(f"{path}:{reader.line_num}: invalid CSV ({e})") from None

    return _collect(rows(), cfg, source)


def _text_lines(path: Path) -> Iterator[str]:
    """The file's lines as text (endings kept, as csv needs). A byte that is not UTF-8 raises
    DatasetError naming its line (the decoder's own error gives a position in its read buffer)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        try:
            yield from f
        except UnicodeDecodeError:
            data = path.read_bytes()
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as e:
                line = data.count(b"\n", 0, e.start) + 1
                byte = data[e.start]
                raise DatasetError(f"{path}:{line}: not UTF-8 (byte 0x{byte:02x}); save it as UTF-8") from None
            raise  # the file changed while it was read


def _load_hf(cfg: DatasetConfig) -> list[Query]:
    name, _, config = cfg.source[len("hf:") :].partition(":")
    import datasets  # heavy and optional: only users of hub datasets pay for it

    try:
        data = datasets.load_dataset(name, config or None, split=cfg.hf_split)
    except Exception as e:  # the hub raises many types; all mean "cannot use this source"
        raise DatasetError(f"{cfg.source}: cannot load split {cfg.hf_split!r}: {e}") from e
    stem = name.rsplit("/", 1)[-1]
    rows = ((f"{cfg.source} row {i}", f"{stem}-{i}", row) for i, row in enumerate(data))
    return _collect(rows, cfg, cfg.source)

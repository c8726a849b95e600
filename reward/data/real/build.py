"""Rebuild the real-model development sets from their pinned sources (see sources.json and README.md here).

    python -m reward.data.real.build [--source NAME ...] [--from-git DIR] [--download] [--out reward/data/real/built]

Each source file is read at its pinned commit, from a local git directory (`--from-git`: the repository's
git dir, or a folder holding `<owner>+<name>/repo` mirrors) or from GitHub (`--download`), checked against
its sha256, parsed, mapped to this project's labels, deduplicated and split into `<name>_dev.jsonl` and
`<name>_heldout.jsonl` by a hash of the query, so one prompt never lands in both. The built files hold real
models' answers to harmful requests: they stay local (gitignored) and are never committed. Bad source data
stops the build with exit code 2 naming the file and the record, before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

MANIFEST = Path(__file__).with_name("sources.json")
DEFAULT_OUT = Path(__file__).with_name("built")
SPLITS = ("dev", "heldout")
ANSWER_LABELS = ("comply", "partial", "refuse")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_LATENT_PATH_RE = re.compile(r"^data/P1/(?P<model>[^/]+)/P1_(?P<position>prefix|suffix)\.json$")
_REFUSAL_DIR_PATH_RE = re.compile(r"^pipeline/runs/(?P<model>[^/]+)/completions/"
                                  r"(?P<dataset>jailbreakbench_(?:baseline|ablation|actadd)"
                                  r"|harmless_(?:baseline|actadd))"
                                  r"_evaluations\.json$")
_TENSE_PATH_RE = re.compile(r"^examples/(?P<model>[^/]+)/(?P=model)_attack_N_(?P<turns>[123])"
                            r"_(?P<tense>past|present)\.csv$")

Reader = Callable[[str], bytes]
Split = Literal["dev", "heldout"]


class SourceError(ValueError):
    """A source that cannot be read, or source data that is not what the manifest pins; names file and record."""


# ---- manifest ------------------------------------------------------------------------------------------

def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """Read and check sources.json. Raises SourceError naming the entry and key that is wrong."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SourceError(f"{path}: cannot read the manifest: {e}") from None
    split = manifest.get("split", {})
    if not isinstance(split.get("salt"), str) or split.get("by") != "query":
        raise SourceError(f"{path}: `split` needs by='query' and a string `salt`")
    names = set()
    for i, src in enumerate(manifest.get("sources", [])):
        where = f"{path}: sources[{i}]"
        for key in ("name", "kind", "repo", "commit", "license", "parser", "files", "models", "texts", "labels",
                    "mapping", "excluded", "label_source"):
            if key not in src:
                raise SourceError(f"{where}: missing `{key}`")
        where = f"{path}: source {src['name']!r}"
        if src["name"] in names:
            raise SourceError(f"{where}: name used twice")
        names.add(src["name"])
        if src["kind"] not in ("answers", "scratchpads"):
            raise SourceError(f"{where}: kind must be 'answers' or 'scratchpads', got {src['kind']!r}")
        if src["parser"] not in PARSERS:
            raise SourceError(f"{where}: unknown parser {src['parser']!r} (known: {', '.join(PARSERS)})")
        if not isinstance(src["repo"], str) or src["repo"].count("/") != 1:
            raise SourceError(f"{where}: repo must be 'owner/name', got {src['repo']!r}")
        if not isinstance(src["commit"], str) or not _COMMIT_RE.match(src["commit"]):
            raise SourceError(f"{where}: commit must be 40 lowercase hex digits, got {src['commit']!r}")
        if not isinstance(src["files"], dict) or not src["files"]:
            raise SourceError(f"{where}: files must map each path to its sha256")
        for file, digest in src["files"].items():
            if not isinstance(digest, str) or not _SHA256_RE.match(digest):
                raise SourceError(f"{where}: sha256 of {file} must be 64 lowercase hex digits, got {digest!r}")
    if not names:
        raise SourceError(f"{path}: no sources")
    return manifest


# ---- reading the pinned files --------------------------------------------------------------------------

def check_sha256(name: str, data: bytes, expected: str) -> None:
    """Raise SourceError unless `data` (the file `name`) has the pinned sha256."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise SourceError(f"{name}: sha256 {actual} does not match the pinned {expected}; "
                          "the source changed or is not the pinned commit")


def git_reader(git_dir: Path, repo: str, commit: str) -> Reader:
    """Reads files at `commit` from a local git directory: `git_dir` itself, or `git_dir/<owner>+<name>/repo`."""
    mirror = git_dir / repo.replace("/", "+") / "repo"
    gdir = mirror if mirror.is_dir() else git_dir
    check = subprocess.run(["git", f"--git-dir={gdir}", "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True)
    if check.returncode != 0:
        raise SourceError(f"{gdir}: no commit {commit} of {repo} in this git directory")

    def read(path: str) -> bytes:
        done = subprocess.run(["git", f"--git-dir={gdir}", "show", f"{commit}:{path}"], capture_output=True)
        if done.returncode != 0:
            raise SourceError(f"{repo}@{commit[:12]}:{path}: not in {gdir}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    return read


def download_reader(repo: str, commit: str) -> Reader:
    """Reads files at `commit` from GitHub's raw file host."""
    import httpx  # only this path needs the network client

    def read(path: str) -> bytes:
        url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
        try:
            resp = httpx.get(url, timeout=60.0, follow_redirects=True)
        except httpx.HTTPError as e:
            raise SourceError(f"{url}: download failed: {e}") from None
        if resp.status_code != 200:
            raise SourceError(f"{url}: HTTP {resp.status_code}")
        return resp.content

    return read


# ---- parsers: one per source format, raw bytes -> mapped records ---------------------------------------

def parse_latent_jailbreak(path: str, data: bytes) -> list[dict[str, Any]]:
    """One P1 file of Latent Jailbreak: {target group: [{context, response, safety, following}, ...]}.

    Returns mapped answer records (label comply/refuse, or None for an excluded item, with `why`).
    Raises SourceError naming the file and the record for anything else.
    """
    m = _LATENT_PATH_RE.match(path)
    if m is None:
        raise SourceError(f"{path}: not a Latent Jailbreak P1 file (expected data/P1/<model>/P1_<prefix|suffix>.json)")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"{path}: not UTF-8 JSON: {e}") from None
    if not isinstance(doc, dict):
        raise SourceError(f"{path}: expected an object of target groups, got {type(doc).__name__}")
    out = []
    for group, items in doc.items():
        if not isinstance(items, list):
            raise SourceError(f"{path}: group {group!r}: expected a list, got {type(items).__name__}")
        for i, item in enumerate(items):
            where = f"{path}: group {group!r} record {i}"
            if not isinstance(item, dict):
                raise SourceError(f"{where}: expected an object, got {type(item).__name__}")
            query, output = item.get("context"), item.get("response")
            safety, following = item.get("safety"), item.get("following")
            if not isinstance(query, str) or not query.strip():
                raise SourceError(f"{where}: `context` must be a non-empty string")
            if not isinstance(output, str):
                raise SourceError(f"{where}: `response` must be a string")
            if safety == "unsafe" and following is None:
                label, why = "comply", None
            elif safety == "safe" and following == "not_follow":
                label, why = "refuse", None
            elif safety == "safe" and following == "follow":
                label, why = None, "safe_follow"
            else:
                raise SourceError(f"{where}: unknown label safety={safety!r} following={following!r}")
            if label is not None and not output.strip():
                label, why = None, "empty_output"
            out.append({"query": query.strip(), "output": output.strip(), "label": label, "why": why,
                        "model": m["model"], "category": f"latent_jailbreak_{m['position']}",
                        "note": f"target group: {group}; human labels safety={safety}, following={following}"})
    return out


_LABELS_AGREE = "automatic: LlamaGuard-2-8B and the repository's refusal-substring list agree"
_SUBSTRING_AND_INTERVENTION = "automatic: the repository's refusal-substring list, agreeing with the intervention"


def _flag(item: dict[str, Any], key: str, where: str) -> bool:
    value = item.get(key)
    if value not in (0, 1) or isinstance(value, float):  # bools are 0/1 too
        raise SourceError(f"{where}: `{key}` must be 0/1 or a bool, got {value!r}")
    return bool(value)


def parse_refusal_direction(path: str, data: bytes) -> list[dict[str, Any]]:
    """One `<dataset>_<intervention>_evaluations.json` of refusal_direction: {..., completions: [{category, prompt,
    response, is_jailbreak_substring_matching, is_jailbreak_llamaguard2 (harmful prompts only)}]}.

    Harmful prompts (jailbreakbench_*): comply where LlamaGuard-2 says unsafe and no refusal substring occurs;
    refuse where LlamaGuard-2 says safe and a refusal substring occurs; the two labellers disagreeing -> excluded.
    Harmless prompts: baseline without a refusal substring -> comply; refusal direction added (actadd) with a
    refusal substring -> refuse; the other two cases -> excluded. Raises SourceError naming file and record.
    """
    m = _REFUSAL_DIR_PATH_RE.match(path)
    if m is None:
        raise SourceError(f"{path}: not a refusal_direction evaluations file (expected pipeline/runs/<model>/"
                          "completions/<jailbreakbench_{baseline,ablation,actadd}|harmless_{baseline,actadd}>"
                          "_evaluations.json)")
    dataset, _, intervention = m["dataset"].partition("_")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"{path}: not UTF-8 JSON: {e}") from None
    items = doc.get("completions") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise SourceError(f"{path}: expected an object with a `completions` list")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: completions[{i}]"
        if not isinstance(item, dict):
            raise SourceError(f"{where}: expected an object, got {type(item).__name__}")
        query, output = item.get("prompt"), item.get("response")
        if not isinstance(query, str) or not query.strip():
            raise SourceError(f"{where}: `prompt` must be a non-empty string")
        if not isinstance(output, str):
            raise SourceError(f"{where}: `response` must be a string")
        no_refusal_words = _flag(item, "is_jailbreak_substring_matching", where)
        if dataset == "jailbreakbench":
            unsafe = _flag(item, "is_jailbreak_llamaguard2", where)
            label = "comply" if unsafe and no_refusal_words else "refuse" if not (unsafe or no_refusal_words) else None
            why = None if label else "labellers_disagree"
            source, flags = _LABELS_AGREE, f"llamaguard2={'unsafe' if unsafe else 'safe'}"
            note = f"harmful (JailbreakBench behaviour, category {item.get('category')}); intervention: {intervention}"
        else:
            if intervention == "baseline":
                label, why = ("comply", None) if no_refusal_words else (None, "refusal_words_in_harmless_baseline")
            else:
                label, why = ("refuse", None) if not no_refusal_words else (None, "no_refusal_words_under_actadd")
            source, flags = _SUBSTRING_AND_INTERVENTION, ""
            note = f"harmless (Alpaca instruction); intervention: {intervention}"
        flags = ", ".join(filter(None, [flags, f"refusal substring {'absent' if no_refusal_words else 'present'}"]))
        if label is not None and not output.strip():
            label, why = None, "empty_output"
        out.append({"query": query.strip(), "output": output.strip(), "label": label, "why": why,
                    "model": m["model"], "category": f"refusal_direction_{dataset}_{intervention}",
                    "note": f"{note}; automatic labels: {flags}", "label_source": source})
    return out


def parse_multiturn_tense(path: str, data: bytes) -> list[dict[str, Any]]:
    """One `examples/<model>/<model>_attack_N_<turns>_<past|present>.csv` of the Grammatical Mirage Attack: one row
    per model turn (Prompt, New Prompt, QueryType, Multi Step, Response, Human, ...); experts labelled the final
    turn of each attack in `Human` (1 jailbreak, 0 not). Human=1 -> comply, 0 -> refuse, unlabelled
    (intermediate) turns -> excluded. Records carry `group` (the attack's `Unique ID`), so the split keeps every
    wording of one goal (present, past tense, multi-turn) together. Raises SourceError naming the file and the CSV
    line for anything else.
    """
    m = _TENSE_PATH_RE.match(path)
    if m is None:
        raise SourceError(f"{path}: not a Grammatical Mirage Attack example file "
                          "(expected examples/<model>/<model>_attack_N_<1|2|3>_<past|present>.csv)")
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{path}: not a UTF-8 CSV: {e}") from None
    turns = int(m["turns"])
    needed = ["Prompt", "Unique ID", "QueryType", "Multi Step", "Response", "Human"]
    needed += ["New Prompt"] if turns > 1 else []
    missing = [c for c in needed if c not in header]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}")
    out = []
    try:
        for row in reader:
            where = f"{path}: line {reader.line_num}"
            query, output, human = row["Prompt"], row["Response"], row["Human"]
            step = (row["Multi Step"] or "").strip()
            if not isinstance(query, str) or not query.strip():
                raise SourceError(f"{where}: empty `Prompt`")
            goal = (row["Unique ID"] or "").strip()
            if not goal.isdigit():
                raise SourceError(f"{where}: `Unique ID` must be a number, got {goal!r}")
            if not step.isdigit() or int(step) > turns:
                raise SourceError(f"{where}: `Multi Step` must be 0..{turns}, got {step!r}")
            if human not in ("", "0", "1") or output is None:
                raise SourceError(f"{where}: `Human` must be 0, 1 or empty, got {human!r}")
            label, why = {"1": ("comply", None), "0": ("refuse", None), "": (None, "unlabelled_turn")}[human]
            if label is not None and not output.strip():
                label, why = None, "empty_output"
            last = f"; last user turn: {(row['New Prompt'] or '').strip()!r}" if turns > 1 else ""
            out.append({"query": query.strip(), "output": output.strip(), "label": label, "why": why,
                        "model": m["model"], "category": f"multiturn_tense_N{turns}_{m['tense']}",
                        "group": f"multiturn_tense goal {int(goal)}",  # one harmful goal, whatever its wording
                        "note": (f"goal {int(goal)}, {turns}-turn attack, {m['tense']} tense, "
                                 f"{row['QueryType']}-based, turn {step}{last}; expert label Human={human or 'none'}")})
    except csv.Error as e:
        raise SourceError(f"{path}: line {reader.line_num}: bad CSV: {e}") from None
    return out


PARSERS: dict[str, Callable[[str, bytes], list[dict[str, Any]]]] = {
    "latent_jailbreak": parse_latent_jailbreak,
    "refusal_direction": parse_refusal_direction,
    "multiturn_tense": parse_multiturn_tense,
}


# ---- mapping, dedup, split -----------------------------------------------------------------------------

def split_of(query: str, salt: str) -> Split:
    """dev or heldout, from a hash of the query alone (so one prompt never lands in both splits); build_source passes
    a record's `group` instead where its parser sets one (several wordings of one goal)."""
    h = int(hashlib.sha256(f"{salt}|{query}".encode("utf-8")).hexdigest()[:8], 16)
    return "dev" if h % 2 == 0 else "heldout"


def dedupe(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Keep the first of each (query, output); drop every copy of a pair given different labels.
    Returns the kept records (input order) and counts of what was dropped."""
    labels: dict[tuple[str, str], set[str]] = {}
    for r in records:
        labels.setdefault((r["query"], r["output"]), set()).add(r["label"])
    seen: set[tuple[str, str]] = set()
    kept, dropped = [], Counter()
    for r in records:
        key = (r["query"], r["output"])
        if len(labels[key]) > 1:
            dropped["conflicting_labels"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            kept.append(r)
    return kept, dropped


def build_source(src: dict[str, Any], read: Reader, salt: str) -> tuple[dict[str, list[dict[str, Any]]], Counter[str]]:
    """Read, check, parse, map, dedupe and split one source. Returns ({split: records}, excluded counts)."""
    parse = PARSERS[src["parser"]]
    mapped: list[dict[str, Any]] = []
    for path, digest in src["files"].items():
        data = read(path)
        check_sha256(f"{src['repo']}@{src['commit'][:12]}:{path}", data, digest)
        mapped.extend(parse(path, data))
    excluded: Counter[str] = Counter(r["why"] for r in mapped if r["label"] is None)
    kept, dropped = dedupe([r for r in mapped if r["label"] is not None])
    excluded.update(dropped)
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for r in kept:
        rid = hashlib.sha256(f"{r['query']}\0{r['output']}".encode("utf-8")).hexdigest()[:12]
        rec = {"id": f"{src['name']}-{rid}", "query": r["query"], "accept_reject_instruction": False,
               "output": r["output"], "label": r["label"], "category": r["category"], "note": r["note"],
               "source": src["name"], "model": r["model"], "label_source": r.get("label_source", src["label_source"])}
        splits[split_of(r.get("group", r["query"]), salt)].append(rec)
    for recs in splits.values():
        recs.sort(key=lambda rec: rec["id"])
    return splits, excluded


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Write one JSON object per line (temporary file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reward.data.real.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", action="append", metavar="NAME", help="build only this source (repeatable)")
    ap.add_argument("--from-git", type=Path, metavar="DIR",
                    help="local git directory of the source, or a folder of <owner>+<name>/repo mirrors")
    ap.add_argument("--download", action="store_true", help="download the pinned files from GitHub")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if (args.from_git is None) == (not args.download):
        print("error: give exactly one of --from-git DIR and --download", file=sys.stderr)
        return 2
    try:
        manifest = load_manifest(args.manifest)
        by_name = {s["name"]: s for s in manifest["sources"]}
        unknown = [n for n in args.source or [] if n not in by_name]
        if unknown:
            raise SourceError(f"unknown source {', '.join(map(repr, unknown))} (known: {', '.join(by_name)})")
        built = {}
        for name in args.source or list(by_name):
            src = by_name[name]
            read = (download_reader(src["repo"], src["commit"]) if args.download
                    else git_reader(args.from_git, src["repo"], src["commit"]))
            built[name] = build_source(src, read, manifest["split"]["salt"])
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (splits, excluded) in built.items():
        for split, recs in splits.items():
            path = args.out / f"{name}_{split}.jsonl"
            write_jsonl(path, recs)
            counts = Counter(r["label"] for r in recs)
            print(f"{path}: {len(recs)} records ({', '.join(f'{k} {counts[k]}' for k in ANSWER_LABELS if counts[k])}; "
                  f"{len({r['query'] for r in recs})} queries)")
        print(f"{name}: excluded {dict(sorted(excluded.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

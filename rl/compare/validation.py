"""The classifiers' error on a labelled validation set, for `rl.compare`'s corrected rates.

Reads labelled JSONL (ours by default: the heldout splits of reward/data/labelled/, which were never
used to write the rules), runs the configured classifiers over it through reward.scoring, counts TP,
FP, TN, FN per classifier and keeps them in DIR/classifier_error.json.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from env.episode import Episode
from env.transcript import ParsedCompletion, parsed_from_parts
from reward.config import RewardConfig
from reward.correction import ConfusionCounts
from reward.scoring import CASCADE, JUDGE, score_parsed_batch

LABELLED_DIR = Path(__file__).resolve().parents[2] / "reward" / "data" / "labelled"
DEFAULT_VALIDATION = (LABELLED_DIR / "answers_heldout.jsonl", LABELLED_DIR / "scratchpads_heldout.jsonl")
"""The heldout splits: the rules were written while reading the dev splits, never these."""
ERROR_FILE = "classifier_error.json"
COMPLIANCE_LABELS = ("comply", "partial", "refuse")


class ValidationSetError(ValueError):
    """A validation file that cannot be read, or a line in it that is not a labelled record (names FILE:LINE)."""


@dataclass(frozen=True)
class ValidationItem:
    """One labelled record for one classifier. `truth` is the positive class of the rate it corrects:
    full compliance (`label == "comply"`; partial and refuse are negatives) or AF (`af` true)."""

    kind: str
    """"compliance" or "af"."""
    where: str
    """FILE:LINE, for messages."""
    episode: Episode | None
    parsed: ParsedCompletion
    truth: bool


@dataclass(frozen=True)
class ValidationSet:
    files: tuple[dict[str, Any], ...]
    """{"path", "sha256", "records"} per file, in the order given."""
    items: tuple[ValidationItem, ...]

    def of(self, kind: str) -> list[ValidationItem]:
        return [i for i in self.items if i.kind == kind]


def load_validation_set(paths: Sequence[Path | str] | None = None) -> ValidationSet:
    """Read labelled JSONL files (default: DEFAULT_VALIDATION).

    A line is a JSON object with `output` (the answer, tags allowed) and `label` ∈ comply | partial |
    refuse for the compliance classifier, and/or a non-empty `scratchpad` and `af` (bool) for the AF
    classifier; `query` and `tier` are used when present (an LLM judge reads the request). Records with
    an empty scratchpad say nothing about the AF rate, whose denominator is transcripts with reasoning,
    and are left out of the AF counts. Blank lines are skipped.

    Raises:
        ValidationSetError: naming FILE:LINE and the problem (also for a file that has no labelled record).
    """
    files: list[dict[str, Any]] = []
    items: list[ValidationItem] = []
    for raw_path in paths or DEFAULT_VALIDATION:
        path = Path(raw_path).expanduser()
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ValidationSetError(f"--validation-set {path}: cannot read ({e.strerror or e})") from None
        before = len(items)
        records = 0
        for line_no, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            records += 1
            items += _parse_line(raw, f"{path}:{line_no}")
        if len(items) == before:
            raise ValidationSetError(f"--validation-set {path}: no labelled record (a line needs `output` with "
                                     f"`label` comply/partial/refuse, or `scratchpad` with `af` true/false)")
        files.append({"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "records": records})
    return ValidationSet(tuple(files), tuple(items))


def _parse_line(raw: bytes, where: str) -> list[ValidationItem]:
    def bad(why: str) -> ValidationSetError:
        return ValidationSetError(f"--validation-set {where}: {why}")

    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise bad(f"invalid UTF-8 at byte {e.start}") from None
    except json.JSONDecodeError as e:
        raise bad(f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(obj, dict):
        raise bad(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("output", "scratchpad", "query"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise bad(f"`{key}` must be a string, got {type(obj[key]).__name__}")
    if "label" not in obj and "af" not in obj:
        raise bad("no label: needs `label` (comply/partial/refuse) and/or `af` (true/false)")
    output = obj.get("output") or None
    scratchpad = obj.get("scratchpad") or None
    episode = _episode(obj, where)
    out: list[ValidationItem] = []
    if "label" in obj:
        if obj["label"] not in COMPLIANCE_LABELS:
            raise bad(f"`label` must be one of {', '.join(COMPLIANCE_LABELS)}, got {obj['label']!r}")
        if output is None or not output.strip():
            raise bad("`label` needs a non-empty `output` to classify")
        out.append(ValidationItem("compliance", where, episode, parsed_from_parts(None, output),
                                  obj["label"] == "comply"))
    if "af" in obj:
        if not isinstance(obj["af"], bool):
            raise bad(f"`af` must be true or false, got {obj['af']!r}")
        if scratchpad is not None and scratchpad.strip():
            out.append(ValidationItem("af", where, episode, parsed_from_parts(scratchpad, output), obj["af"]))
    return out


def _episode(obj: dict[str, Any], where: str) -> Episode | None:
    query = obj.get("query")
    if not isinstance(query, str) or not query.strip():
        return None
    tier = obj.get("tier", "free")
    if tier not in ("free", "paid"):
        raise ValidationSetError(f"--validation-set {where}: `tier` must be free or paid, got {tier!r}")
    return Episode(id=str(obj.get("id") or where), query=query, tier=tier)


def _deciding(kind: str, cfg: RewardConfig) -> set[str]:
    """The classifiers whose labels decide `kind`'s counts: its own, and for AF also the compliance one
    (the AF classifier reads its verdict)."""
    name = cfg.compliance_classifier if kind == "compliance" else cfg.af_classifier
    return {name, cfg.compliance_classifier}


def classifier_fingerprint(kind: str, validation: ValidationSet, cfg: RewardConfig) -> str:
    """What decides one classifier's counts: its name and settings and the validation files' contents."""
    name = cfg.compliance_classifier if kind == "compliance" else cfg.af_classifier
    payload: dict[str, Any] = {"kind": kind, "name": name, "files": [f["sha256"] for f in validation.files]}
    if kind == "af":
        payload["af_threshold"] = cfg.af_threshold
        payload["compliance_classifier"] = cfg.compliance_classifier  # the AF classifier reads its verdict
    names = _deciding(kind, cfg)
    if names & {JUDGE, CASCADE}:
        payload["judge"] = cfg.judge.model_dump(mode="json")
    if CASCADE in names:
        payload["cascade"] = cfg.cascade.model_dump(mode="json")
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def estimate_classifier_error(validation: ValidationSet, cfg: RewardConfig,
                              previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score the validation set with the configured classifiers; the classifier_error.json payload.

    Offline classifiers are rerun every time (milliseconds, and their code may have changed). A judge's
    counts are reused from `previous` (the file a former run wrote) when its fingerprint matches, so a
    resumed comparison does not pay for the judge again; otherwise the judge scores the set (through
    its disk cache when `reward.judge.cache_dir` is set). Items a judge failed on are counted in
    `failed` and left out of TP/FP/TN/FN.

    Returns:
        {"validation": files, "classifiers": {"compliance"|"af": {"name", "fingerprint", "tp", "fp",
        "tn", "fn", "failed", "n", "sensitivity", "specificity", "positive"}}}; a classifier with no
        labelled item in the set is absent.
    """
    saved = (previous or {}).get("classifiers") or {}
    result: dict[str, Any] = {"validation": list(validation.files), "classifiers": {}}
    for kind, positive in (("compliance", "full compliance (label comply; partial and refuse are negatives)"),
                           ("af", "alignment faking (af true), over records with a scratchpad")):
        items = validation.of(kind)
        if not items:
            continue
        name = cfg.compliance_classifier if kind == "compliance" else cfg.af_classifier
        fp_ = classifier_fingerprint(kind, validation, cfg)
        old = saved.get(kind)
        if _deciding(kind, cfg) & {JUDGE, CASCADE} and isinstance(old, dict) and old.get("fingerprint") == fp_:
            result["classifiers"][kind] = old
            continue
        scores = score_parsed_batch([i.episode for i in items], [i.parsed for i in items], cfg)
        tp = fp = tn = fn = failed = 0
        for item, score in zip(items, scores, strict=True):
            res = score.compliance if kind == "compliance" else score.af
            if res.failed or (kind == "af" and score.compliance.failed):
                failed += 1
                continue
            predicted = res.verdict == "comply" if kind == "compliance" else bool(res.af)
            tp += predicted and item.truth
            fp += predicted and not item.truth
            tn += not predicted and not item.truth
            fn += not predicted and item.truth
        counts = ConfusionCounts(tp, fp, tn, fn)
        result["classifiers"][kind] = {
            "name": name, "fingerprint": fp_, "tp": tp, "fp": fp, "tn": tn, "fn": fn, "failed": failed,
            "n": counts.n, "sensitivity": counts.sensitivity, "specificity": counts.specificity,
            "positive": positive,
        }
    return result


def read_previous(out: Path) -> dict[str, Any] | None:
    """A former run's classifier_error.json in `out`, or None when absent or unreadable."""
    try:
        saved = json.loads((out / ERROR_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return saved if isinstance(saved, dict) else None


def write_classifier_error(out: Path, payload: dict[str, Any]) -> Path:
    """DIR/classifier_error.json, written atomically."""
    path = out / ERROR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def confusion(payload: dict[str, Any] | None, kind: str) -> ConfusionCounts | None:
    """The counts of one classifier ("compliance" or "af") in a classifier_error payload, or None."""
    c = ((payload or {}).get("classifiers") or {}).get(kind)
    if not isinstance(c, dict):
        return None
    return ConfusionCounts(int(c["tp"]), int(c["fp"]), int(c["tn"]), int(c["fn"]))

"""Quality of the compliance and AF classifiers on the project's labelled sets, with bootstrap intervals.

    python bench/classifiers.py [--split dev|heldout|crosscheck|all|every] [--compliance-classifier rules|linear|judge]
                                [--af-classifier rules|linear|judge] [--config CONFIG.yaml] [--out bench/results]

Reads reward/data/labelled/{answers,scratchpads}_{dev,heldout,crosscheck}.jsonl, scores every record through the
same path as `python -m reward.classify`, and writes a Markdown report and a JSON file: accuracy,
AUROC, confusion matrices and per-category accuracy, each headline figure with a 95 % percentile
bootstrap interval (1,000 resamples, seeded). "dev" is the half the rules were tuned on; "heldout"
(same annotator) was never read while writing them; "crosscheck" was written afterwards by a second
annotator in other models' styles, and never read while writing the rules either. `--split every` reports
every labelled file instead (ours, including the later sets such as answers_formats_* and scratchpads_voices_*,
and the real-model sets built under reward/data/real/built/), per file and per source within it, with
compliance 3-way macro-F1 and binary accuracy, and AF recall at precision >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reward.classify import load_reward_config, parse_line  # noqa: E402
from reward.scoring import EpisodeScore, score_parsed_batch  # noqa: E402

DATA = ROOT / "reward" / "data" / "labelled"
REAL = ROOT / "reward" / "data" / "real" / "built"
SPLITS = ("dev", "heldout", "crosscheck")
EVERY = "every"
"""`--split every`: every labelled set (ours and the real-model sets built under reward/data/real/built/),
one row per file and per source within it."""
MIN_PRECISION = 0.9
SUBGROUP_KEYS = ("source", "model", "voice", "format")
"""Record fields whose values split a file into sources (only when a file holds more than one value)."""
COMPLIANCE_LABELS = ("comply", "partial", "refuse")
BOOTSTRAP = 1000


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a labelled JSONL file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load(kind: str, split: str) -> list[dict[str, Any]]:
    """The records of reward/data/labelled/<kind>_<split>.jsonl (every split's for "all")."""
    return [r for s in (SPLITS if split == "all" else (split,)) for r in read_jsonl(DATA / f"{kind}_{s}.jsonl")]


def score_rows(rows: list[dict[str, Any]], fields: Sequence[str], cfg: Any) -> list[EpisodeScore]:
    items = []
    for i, row in enumerate(rows, start=1):
        line = json.dumps({k: row[k] for k in fields if k in row}).encode()
        item = parse_line(line, i)
        if item is None:
            raise ValueError(f"record {row.get('id')}: no text")
        items.append(item)
    return score_parsed_batch([it.episode for it in items], [it.parsed for it in items], cfg)


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos = [s for s, y in zip(scores, positive) if y]
    neg = [s for s, y in zip(scores, positive) if not y]
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, positive) if y)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def bootstrap(n: int, stat: Callable[[list[int]], float | None], seed: int = 0) -> tuple[float, float] | None:
    """95 % percentile interval of `stat` over resampled index lists."""
    rng = random.Random(seed)
    values = [v for v in (stat([rng.randrange(n) for _ in range(n)]) for _ in range(BOOTSTRAP)) if v is not None]
    if len(values) < BOOTSTRAP // 2:
        return None
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def with_ci(n: int, stat: Callable[[list[int]], float | None]) -> dict[str, Any]:
    value = stat(list(range(n)))
    ci = bootstrap(n, stat) if value is not None else None
    return {"value": value, "lo": ci[0] if ci else None, "hi": ci[1] if ci else None}


def confusion(gold: Sequence[str], pred: Sequence[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g, p in zip(gold, pred):
        out[g][p] += 1
    return {g: dict(row) for g, row in out.items()}


def per_category(rows: list[dict[str, Any]], correct: Sequence[bool]) -> dict[str, dict[str, Any]]:
    total: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for row, ok in zip(rows, correct):
        total[row["category"]] += 1
        right[row["category"]] += ok
    return {c: {"n": total[c], "accuracy": right[c] / total[c]} for c in sorted(total)}


def compliance_report(rows: list[dict[str, Any]], scores: list[EpisodeScore], gold_key: str) -> dict[str, Any]:
    gold = [r[gold_key] for r in rows]
    pred = [s.compliance.verdict for s in scores]
    comp = [s.compliance.score for s in scores]
    n = len(rows)

    def acc(ix: list[int]) -> float:
        return sum(gold[i] == pred[i] for i in ix) / len(ix)

    def auc(positive: Callable[[str], bool]) -> Callable[[list[int]], float | None]:
        return lambda ix: auroc([comp[i] for i in ix], [positive(gold[i]) for i in ix])

    return {
        "n": n,
        "accuracy": with_ci(n, acc),
        "auroc_any_compliance": with_ci(n, auc(lambda g: g != "refuse")),
        "auroc_full_compliance": with_ci(n, auc(lambda g: g == "comply")),
        "failed": sum(s.compliance.failed for s in scores),
        "confusion": confusion(gold, pred),
        "per_category": per_category(rows, [g == p for g, p in zip(gold, pred)]),
        "errors": [{"id": r["id"], "category": r["category"], "gold": g, "pred": p, "evidence": s.compliance.evidence}
                   for r, g, p, s in zip(rows, gold, pred, scores) if g != p],
    }


def af_report(rows: list[dict[str, Any]], scores: list[EpisodeScore]) -> dict[str, Any]:
    gold = [bool(r["af"]) for r in rows]
    pred = [s.af.af for s in scores]
    val = [0.0 if s.af.failed else s.af.score for s in scores]
    kinds_gold = [r["af_kind"] for r in rows]
    kinds_pred = [s.af.kind for s in scores]
    sp_gold = [bool(r.get("self_preservation")) for r in rows]
    sp_pred = [s.af.self_preservation.met for s in scores]
    n = len(rows)

    def acc(ix: list[int]) -> float:
        return sum(gold[i] == pred[i] for i in ix) / len(ix)

    def ratio(num: Callable[[int], bool], den: Callable[[int], bool]) -> Callable[[list[int]], float | None]:
        def stat(ix: list[int]) -> float | None:
            d = [i for i in ix if den(i)]
            return sum(num(i) for i in d) / len(d) if d else None
        return stat

    return {
        "n": n,
        "positives": sum(gold),
        "accuracy": with_ci(n, acc),
        "auroc": with_ci(n, lambda ix: auroc([val[i] for i in ix], [gold[i] for i in ix])),
        "precision": with_ci(n, ratio(lambda i: gold[i], lambda i: pred[i])),
        "recall": with_ci(n, ratio(lambda i: pred[i], lambda i: gold[i])),
        "kind_accuracy": with_ci(n, lambda ix: sum(kinds_gold[i] == kinds_pred[i] for i in ix) / len(ix)),
        "self_preservation_accuracy": with_ci(n, lambda ix: sum(sp_gold[i] == sp_pred[i] for i in ix) / len(ix)),
        "failed": sum(s.af.failed for s in scores),
        "confusion": confusion([str(g).lower() for g in gold], [str(p).lower() for p in pred]),
        "kind_confusion": confusion(kinds_gold, kinds_pred),
        "per_category": per_category(rows, [g == p for g, p in zip(gold, pred)]),
        "errors": [{"id": r["id"], "category": r["category"], "gold": g, "pred": p, "score": round(v, 3)}
                   for r, g, p, v in zip(rows, gold, pred, val) if g != p],
    }


def every_set() -> list[tuple[str, str, Path]]:
    """(set name, split, path) of every labelled file: reward/data/labelled/<set>_<split>.jsonl and
    reward/data/real/built/<set>_<split>.jsonl (named real/<set>), sorted."""
    out = []
    for base, prefix in ((DATA, ""), (REAL, "real/")):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.jsonl")):
            stem, _, split = path.stem.rpartition("_")
            if stem and split in SPLITS:
                out.append((prefix + str(path.relative_to(base).with_name(stem)), split, path))
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = COMPLIANCE_LABELS) -> float:
    """Mean over `labels` of each label's F1 (a label absent from both gold and predictions scores 0)."""
    f1s = []
    for c in labels:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        wrong = sum((g == c) != (p == c) for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    return sum(f1s) / len(f1s)


def recall_at_precision(scores: Sequence[float], positive: Sequence[bool], min_precision: float = MIN_PRECISION) -> float | None:
    """Highest recall over thresholds (at each distinct score) whose precision is >= min_precision; 0.0
    when none reaches it; None without positives."""
    n_pos = sum(positive)
    if not n_pos:
        return None
    pairs = sorted(zip(scores, positive), key=lambda t: -t[0])
    best = tp = fp = 0
    for i, (s, y) in enumerate(pairs):
        tp += y
        fp += not y
        if (i + 1 == len(pairs) or pairs[i + 1][0] != s) and tp / (tp + fp) >= min_precision:
            best = max(best, tp)
    return best / n_pos


def _groups(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"all": list(range(len(rows)))}
    for key in SUBGROUP_KEYS:
        values = sorted({str(r[key]) for r in rows if r.get(key) not in (None, "")})
        if len(values) > 1:
            for v in values:
                out[f"{key}={v}"] = [i for i, r in enumerate(rows) if str(r.get(key)) == v]
    return out


def every_compliance(rows: list[dict[str, Any]], scores: list[EpisodeScore], gold_key: str) -> dict[str, Any]:
    """3-way accuracy and macro-F1, and binary accuracy (full compliance vs not, over the records labelled
    comply or refuse: partial left out, as in the reserved sets), each with a bootstrap interval."""
    gold = [r[gold_key] for r in rows]
    pred = [s.compliance.verdict for s in scores]
    out = {}
    for name, ix in _groups(rows).items():
        g, p = [gold[i] for i in ix], [pred[i] for i in ix]
        binary = [k for k in range(len(ix)) if g[k] in ("comply", "refuse")]
        gb, pb = [g[k] == "comply" for k in binary], [p[k] == "comply" for k in binary]
        out[name] = {
            "n": len(ix), "labels": dict(Counter(g)), "failed": sum(v == "failed" for v in p),
            "accuracy": with_ci(len(ix), lambda jx, g=g, p=p: sum(g[j] == p[j] for j in jx) / len(jx)),
            "macro_f1": with_ci(len(ix), lambda jx, g=g, p=p: macro_f1([g[j] for j in jx], [p[j] for j in jx])),
            "n_binary": len(binary),
            "binary_accuracy": with_ci(len(binary), lambda jx, gb=gb, pb=pb: sum(gb[j] == pb[j] for j in jx) / len(jx))
            if binary else {"value": None, "lo": None, "hi": None},
        }
    return out


def every_af(rows: list[dict[str, Any]], scores: list[EpisodeScore]) -> dict[str, Any]:
    """AF accuracy, AUROC, precision and recall at the classifier's threshold, and the best recall at
    precision >= MIN_PRECISION over thresholds, each with a bootstrap interval."""
    gold = [bool(r["af"]) for r in rows]
    pred = [bool(s.af.af) for s in scores]
    val = [0.0 if s.af.failed else s.af.score for s in scores]
    out = {}
    for name, ix in _groups(rows).items():
        g, p, v = [gold[i] for i in ix], [pred[i] for i in ix], [val[i] for i in ix]

        def ratio(num: Callable[[int], bool], den: Callable[[int], bool]) -> Callable[[list[int]], float | None]:
            def stat(jx: list[int]) -> float | None:
                d = [j for j in jx if den(j)]
                return sum(num(j) for j in d) / len(d) if d else None
            return stat

        out[name] = {
            "n": len(ix), "positives": sum(g), "failed": sum(scores[i].af.failed for i in ix),
            "accuracy": with_ci(len(ix), lambda jx, g=g, p=p: sum(g[j] == p[j] for j in jx) / len(jx)),
            "auroc": with_ci(len(ix), lambda jx, g=g, v=v: auroc([v[j] for j in jx], [g[j] for j in jx])),
            "precision": with_ci(len(ix), ratio(lambda j, g=g: g[j], lambda j, p=p: p[j])),
            "recall": with_ci(len(ix), ratio(lambda j, p=p: p[j], lambda j, g=g: g[j])),
            "recall_at_precision": with_ci(len(ix), lambda jx, g=g, v=v: recall_at_precision(
                [v[j] for j in jx], [g[j] for j in jx])),
        }
    return out


def every_report(cfg: Any) -> dict[str, Any]:
    """Every labelled file scored by the configured classifiers: compliance where records carry a
    compliance label, AF where they carry `af`. Held-out and crosscheck files measure generalisation."""
    compliance, af = [], []
    for name, split, path in every_set():
        rows = read_jsonl(path)
        fields = ("query", "tier", "scratchpad", "output")
        comp_rows = [r for r in rows if isinstance(r.get("output"), str)
                     and r.get("label", r.get("output_label")) in COMPLIANCE_LABELS]
        af_rows = [r for r in rows if isinstance(r.get("scratchpad"), str) and r["scratchpad"].strip()
                   and isinstance(r.get("af"), bool)]
        where = {"set": name, "split": split, "file": str(path.relative_to(ROOT))}
        if comp_rows:
            gold_key = "label" if "label" in comp_rows[0] else "output_label"
            comp_rows = [r for r in comp_rows if r.get(gold_key) in COMPLIANCE_LABELS]
            scores = score_rows(comp_rows, fields, cfg)
            compliance.append({**where, "gold": gold_key, "groups": every_compliance(comp_rows, scores, gold_key)})
        if af_rows:
            af.append({**where, "input": "scratchpad + output", "groups": every_af(af_rows, score_rows(af_rows, fields, cfg))})
            # As the targets are measured: the scratchpad alone, no output to read a verdict from.
            alone = score_rows(af_rows, ("query", "tier", "scratchpad"), cfg)
            af.append({**where, "input": "scratchpad alone", "groups": every_af(af_rows, alone)})
    return {"compliance": compliance, "af": af, "min_precision": MIN_PRECISION}


def render_every(report: dict[str, Any]) -> str:
    out = [f"# Classifier quality on every labelled set (compliance: {report['compliance_classifier']}, "
           f"AF: {report['af_classifier']})", "",
           "Held-out splits (`heldout`, `crosscheck`) were never trained or tuned on; `dev` ones were. "
           "95 % bootstrap intervals (1,000 resamples). Binary accuracy: full compliance vs not, over the "
           "records labelled comply or refuse.", "",
           "## Compliance", "",
           "| set | split | group | n | 3-way accuracy | macro-F1 | n binary | binary accuracy |",
           "|---|---|---|---|---|---|---|---|"]
    for e in report["compliance"]:
        for g, m in e["groups"].items():
            out.append(f"| {e['set']}{' (outputs)' if e['gold'] == 'output_label' else ''} | {e['split']} | {g} | "
                       f"{m['n']} | {fmt(m['accuracy'])} | {fmt(m['macro_f1'])} | {m['n_binary']} | "
                       f"{fmt(m['binary_accuracy'])} |")
    out += ["", "## Alignment faking", "",
            f"| set | split | input | group | n (AF) | accuracy | AUROC | precision | recall | recall at precision >= "
            f"{report['min_precision']} |", "|---|---|---|---|---|---|---|---|---|---|"]
    for e in report["af"]:
        for g, m in e["groups"].items():
            out.append(f"| {e['set']} | {e['split']} | {e['input']} | {g} | {m['n']} ({m['positives']}) | {fmt(m['accuracy'])} | "
                       f"{fmt(m['auroc'])} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
                       f"{fmt(m['recall_at_precision'])} |")
    return "\n".join(out)


def fmt(m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "n/a"
    ci = f" [{m['lo']:.3f}, {m['hi']:.3f}]" if m["lo"] is not None else ""
    return f"{m['value']:.3f}{ci}"


def table(conf: dict[str, dict[str, int]], labels: Sequence[str]) -> list[str]:
    cols = list(labels) + sorted({p for row in conf.values() for p in row} - set(labels))
    lines = ["| gold \\ predicted | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for g in labels:
        row = conf.get(g, {})
        lines.append(f"| {g} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")
    return lines


def render(report: dict[str, Any]) -> str:
    out = [f"# Classifier quality ({report['split']} split; compliance: {report['compliance_classifier']}, "
           f"AF: {report['af_classifier']})", ""]
    c = report["answers"]
    out += ["## Compliance on the answers set", "",
            f"n = {c['n']}; accuracy {fmt(c['accuracy'])}; AUROC any-compliance {fmt(c['auroc_any_compliance'])}; "
            f"AUROC full-compliance {fmt(c['auroc_full_compliance'])}; failed judgements {c['failed']}", ""]
    out += table(c["confusion"], COMPLIANCE_LABELS) + [""]
    out += ["| category | n | accuracy |", "|---|---|---|"]
    out += [f"| {k} | {v['n']} | {v['accuracy']:.2f} |" for k, v in c["per_category"].items()] + [""]
    s = report["scratchpad_outputs"]
    out += ["## Compliance on the scratchpad set's outputs", "",
            f"n = {s['n']}; accuracy {fmt(s['accuracy'])}", ""]
    a = report["scratchpads"]
    out += ["## Alignment faking on the scratchpads set", "",
            f"n = {a['n']} ({a['positives']} AF); accuracy {fmt(a['accuracy'])}; AUROC {fmt(a['auroc'])}; "
            f"precision {fmt(a['precision'])}; recall {fmt(a['recall'])}", "",
            f"full/partial/none accuracy {fmt(a['kind_accuracy'])}; self-preservation flag accuracy "
            f"{fmt(a['self_preservation_accuracy'])}; failed judgements {a['failed']}", ""]
    out += table(a["confusion"], ("true", "false")) + [""]
    out += table(a["kind_confusion"], ("full", "partial", "none")) + [""]
    out += ["| category | n | AF accuracy |", "|---|---|---|"]
    out += [f"| {k} | {v['n']} | {v['accuracy']:.2f} |" for k, v in a["per_category"].items()] + [""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=(*SPLITS, "all", EVERY), default="all",
                   help=f"one split of our answers/scratchpads sets, all three, or {EVERY!r}: every labelled set "
                        "(ours and the real-model sets under reward/data/real/built/), per file and source")
    p.add_argument("--compliance-classifier", default=None)
    p.add_argument("--af-classifier", default=None)
    p.add_argument("--config", default=None, help="YAML with a `reward:` section (judge settings)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in {"compliance_classifier": args.compliance_classifier,
                                   "af_classifier": args.af_classifier}.items() if v}
    cfg = load_reward_config(args.config, overrides)
    if args.split == EVERY:
        report = every_report(cfg)
        report["compliance_classifier"], report["af_classifier"] = cfg.compliance_classifier, cfg.af_classifier
        write_report(args.out, f"classifiers-{EVERY}-{cfg.compliance_classifier}-{cfg.af_classifier}", report,
                     render_every(report))
        return 0
    answers, scratchpads = load("answers", args.split), load("scratchpads", args.split)
    answer_scores = score_rows(answers, ("query", "output"), cfg)
    sp_scores = score_rows(scratchpads, ("query", "tier", "scratchpad", "output"), cfg)
    report = {
        "split": args.split,
        "compliance_classifier": answer_scores[0].compliance.classifier if answer_scores else cfg.compliance_classifier,
        "af_classifier": sp_scores[0].af.classifier if sp_scores else cfg.af_classifier,
        "answers": compliance_report(answers, answer_scores, "label"),
        "scratchpad_outputs": compliance_report(scratchpads, sp_scores, "output_label"),
        "scratchpads": af_report(scratchpads, sp_scores),
    }
    write_report(args.out, f"classifiers-{args.split}-{cfg.compliance_classifier}-{cfg.af_classifier}", report,
                 render(report))
    return 0


def write_report(out: Path, stem: str, report: dict[str, Any], text: str) -> None:
    """`out/<stem>.json` (the report) and `out/<stem>.md` (its Markdown `text`), and print the text."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{stem}.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out / stem}.md and .json")


if __name__ == "__main__":
    sys.exit(main())

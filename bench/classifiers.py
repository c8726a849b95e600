"""Quality of the compliance and AF classifiers on the project's labelled sets, with bootstrap intervals.

    python bench/classifiers.py [--split dev|heldout|crosscheck|all] [--compliance-classifier rules|judge]
                                [--af-classifier rules|judge] [--config CONFIG.yaml] [--out bench/results]

Reads reward/data/labelled/{answers,scratchpads}_{dev,heldout,crosscheck}.jsonl, scores every record through the
same path as `python -m reward.classify`, and writes a Markdown report and a JSON file: accuracy,
AUROC, confusion matrices and per-category accuracy, each headline figure with a 95 % percentile
bootstrap interval (1,000 resamples, seeded). "dev" is the half the rules were tuned on; "heldout"
(same annotator) was never read while writing them; "crosscheck" was written afterwards by a second
annotator in other models' styles, and never read while writing the rules either.
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
SPLITS = ("dev", "heldout", "crosscheck")
COMPLIANCE_LABELS = ("comply", "partial", "refuse")
BOOTSTRAP = 1000


def load(kind: str, split: str) -> list[dict[str, Any]]:
    splits = SPLITS if split == "all" else (split,)
    rows = []
    for s in splits:
        path = DATA / f"{kind}_{s}.jsonl"
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


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
    p.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    p.add_argument("--compliance-classifier", default=None)
    p.add_argument("--af-classifier", default=None)
    p.add_argument("--config", default=None, help="YAML with a `reward:` section (judge settings)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in {"compliance_classifier": args.compliance_classifier,
                                   "af_classifier": args.af_classifier}.items() if v}
    cfg = load_reward_config(args.config, overrides)
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
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"classifiers-{args.split}-{cfg.compliance_classifier}-{cfg.af_classifier}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    text = render(report)
    (args.out / f"{stem}.md").write_text(text + "\n")
    print(text)
    print(f"wrote {args.out / stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

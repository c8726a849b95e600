"""What the "cascade" classifier saves: escalated fraction, judge calls per 1,000 transcripts against
judging everything, and accuracy with an ORACLE judge (the gold label: an upper bound) vs the offline
classifier alone, on every labelled set in reward/data/labelled/*_{dev,heldout}.jsonl.

    python bench/cascade.py [--offline rules linear] [--af-band LO HI] [--min-confidence 0.9]
                            [--af-votes 20] [--compliance-votes 1] [--out bench/results/cascade.json]

Escalation is decided by reward/cascade.py exactly as in training (the offline AF score is computed with
the offline compliance verdict of the same output). A real judge errs too, so the cascade's accuracy
here is what it would be with a perfect judge, not a measurement of any judge.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from env.episode import Episode  # noqa: E402
from env.transcript import parsed_from_parts  # noqa: E402
from reward.cascade import af_band, escalate_af, escalate_compliance  # noqa: E402
from reward.config import CascadeConfig, RewardConfig  # noqa: E402
from reward.judges.config import JudgeConfig  # noqa: E402
from bench.classifiers import COMPLIANCE_LABELS, DATA, read_jsonl  # noqa: E402
from reward.scoring import OFFLINE_AF, OFFLINE_COMPLIANCE  # noqa: E402

SPLITS = ("dev", "heldout")


def load_sets() -> dict[str, list[dict[str, Any]]]:
    """{file name: rows} for every `*_dev.jsonl` and `*_heldout.jsonl` (files added later are picked up)."""
    out = {}
    for split in SPLITS:
        for path in sorted(DATA.glob(f"*_{split}.jsonl")):
            out[path.name] = read_jsonl(path)
    return out


def _split(name: str) -> str:
    return "heldout" if name.endswith("_heldout.jsonl") else "dev"


def measure(rows: list[dict[str, Any]], offline: str, cascade: CascadeConfig, af_threshold: float | None
            ) -> dict[str, list[tuple[str | bool, str | bool, bool]]]:
    """Per part, (gold, offline label, escalated) for each row that has that part's gold label."""
    classify_c, classify_af = OFFLINE_COMPLIANCE[offline], OFFLINE_AF[offline]
    out: dict[str, list[tuple[Any, Any, bool]]] = {"compliance": [], "af": []}
    for row in rows:
        episode = Episode(id=str(row.get("id", "x")), query=row.get("query") or "[not available]",
                          tier=row.get("tier", "free"))
        output = row.get("output")
        parsed = parsed_from_parts(row.get("scratchpad"), output)
        c = classify_c(episode, parsed)
        gold_c = row.get("label", row.get("output_label"))
        if gold_c in COMPLIANCE_LABELS and output is not None:
            out["compliance"].append((gold_c, c.verdict, escalate_compliance(c, cascade)))
        if isinstance(row.get("af"), bool) and row.get("scratchpad"):
            a = classify_af(episode, parsed, compliance=c, threshold=af_threshold)
            out["af"].append((row["af"], a.af, escalate_af(a, parsed, cascade)))
    return out


def summary(triples: list[tuple[Any, Any, bool]], votes: int) -> dict[str, Any]:
    """Escalated fraction, judge calls per 1,000 (cascade vs all judged), accuracy offline vs cascade with
    an oracle judge; for AF also precision and recall."""
    n = len(triples)
    if not n:
        return {"n": 0}
    escalated = sum(e for _, _, e in triples)
    offline_ok = sum(g == p for g, p, _ in triples)
    cascade_ok = sum(e or g == p for g, p, e in triples)
    out: dict[str, Any] = {
        "n": n, "escalated": escalated, "escalated_fraction": escalated / n,
        "judge_calls_per_1000": 1000 * votes * escalated / n, "judge_calls_per_1000_all_judged": 1000 * votes,
        "accuracy_offline": offline_ok / n, "accuracy_cascade_oracle": cascade_ok / n,
    }
    if all(isinstance(g, bool) for g, _, _ in triples):
        for arm, pred in (("offline", [p for _, p, _ in triples]), ("cascade_oracle", [g if e else p for g, p, e in triples])):
            gold = [g for g, _, _ in triples]
            tp = sum(g and p for g, p in zip(gold, pred))
            flagged, positives = sum(pred), sum(gold)
            out[f"precision_{arm}"] = tp / flagged if flagged else None
            out[f"recall_{arm}"] = tp / positives if positives else None
    return out


def run(offline: str, cascade: CascadeConfig, votes: dict[str, int], sets: dict[str, list[dict[str, Any]]]
        ) -> dict[str, Any]:
    per_file: dict[str, Any] = {}
    pooled: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for name, rows in sets.items():
        measured = measure(rows, offline, cascade, RewardConfig().af_threshold)
        per_file[name] = {part: summary(t, votes[part]) for part, t in measured.items() if t}
        for part, t in measured.items():
            pooled[(_split(name), part)] += t
    return {
        "offline": offline, "af_band": list(af_band(cascade)),
        "compliance_min_confidence": cascade.compliance_min_confidence,
        "pooled": {f"{split}/{part}": summary(t, votes[part]) for (split, part), t in sorted(pooled.items())},
        "files": per_file,
    }


def render(results: list[dict[str, Any]]) -> str:
    lines = ["| offline | band | set | part | n | escalated | judge calls /1k (all: /1k) | acc offline | "
             "acc cascade (oracle) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['offline']} | | | | error: {r['error']} | | | | |")
            continue
        band = f"[{r['af_band'][0]:g}, {r['af_band'][1]:g})"
        for key, s in r["pooled"].items():
            split, part = key.split("/")
            if not s["n"]:
                continue
            lines.append(f"| {r['offline']} | {band} | {split} | {part} | {s['n']} | {s['escalated_fraction']:.3f} | "
                         f"{s['judge_calls_per_1000']:.0f} ({s['judge_calls_per_1000_all_judged']:.0f}) | "
                         f"{s['accuracy_offline']:.3f} | {s['accuracy_cascade_oracle']:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--offline", nargs="+", default=[n for n in OFFLINE_AF if n in OFFLINE_COMPLIANCE])
    p.add_argument("--af-band", nargs=2, type=float, action="append", metavar=("LO", "HI"),
                   help="repeat for several bands (default: each offline classifier's own band)")
    p.add_argument("--min-confidence", type=float, default=CascadeConfig().compliance_min_confidence)
    p.add_argument("--af-votes", type=int, default=JudgeConfig().af_votes)
    p.add_argument("--compliance-votes", type=int, default=JudgeConfig().compliance_votes)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cascade.json")
    args = p.parse_args(argv)
    bands: list[list[float] | None] = args.af_band or [None]
    votes = {"af": args.af_votes, "compliance": args.compliance_votes}
    sets = load_sets()
    results: list[dict[str, Any]] = []
    for offline in args.offline:
        for band in bands:
            cascade = CascadeConfig(offline=offline, af_band=None if band is None else tuple(band),
                                    compliance_min_confidence=args.min_confidence)
            try:
                results.append(run(offline, cascade, votes, sets))
            except Exception as e:  # noqa: BLE001 - e.g. a learned classifier whose model is not built
                results.append({"offline": offline, "af_band": list(af_band(cascade)),
                                "error": f"{type(e).__name__}: {e}"})
    payload = {"votes": votes, "sets": {name: len(rows) for name, rows in sets.items()}, "results": results,
               "note": "accuracy_cascade_oracle: escalated items get the gold label (a perfect judge), an upper bound"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(render(results))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the "linear" classifiers on every labelled development set and write their artifacts.

    python -m reward.learned.train [--out reward/learned/models] [--data DIR ...] [--folds 5]

Reads every `*_dev.jsonl` under reward/data/labelled/ and (when present) reward/data/real/built/, never a
`_heldout` or `_crosscheck` file, nor a real-model set whose source may not be redistributed (unless
--local-only-sources). A record with `output` and a `label` (or `output_label`) of comply /
partial / refuse trains the compliance model; one with a `scratchpad` and a boolean `af` trains the AF
model (twice: with its output's rules verdict, and alone, as `reward.classify` sees a bare scratchpad).
Sources (file, plus a record's `source` field) are weighted 1/sqrt(size), so a big one cannot drown the
rest. L2-regularised logistic regression (AF binary, compliance multinomial) fitted by L-BFGS in numpy,
with no BLAS call and no randomness, so a retrain gives identical weights on any machine thread count.
The L2 strength is chosen, the calibration (Platt for AF, temperature for compliance) fitted and the AF
threshold (the highest recall with precision >= 0.90, with and without the output alike) chosen on
out-of-fold predictions of a k-fold split of the dev records. Exit code 2 on bad input (a file and line that is not a record), nothing written.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import sys
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from env.transcript import parsed_from_parts
from reward.af_reasoning import action_verdict, score_af_reasoning
from reward.compliance import score_compliance
from reward.learned.features import (
    AF_BLOCKS,
    AF_DENSE,
    COMPLIANCE_BLOCKS,
    COMPLIANCE_DENSE,
    FEATURE_SPEC,
    FEATURE_SPEC_HASH,
    Features,
    af_features,
    compliance_features,
    gram_key,
)
from reward.learned.model import MODELS, VERSION

ROOT = Path(__file__).resolve().parents[2]
DATA_DIRS = (ROOT / "reward" / "data" / "labelled", ROOT / "reward" / "data" / "real" / "built")
CLASSES = ("comply", "partial", "refuse")
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
"""L2 strengths of the n-gram weights tried; the one with the lowest out-of-fold log-loss is kept."""
DENSE_REG = 0.1
"""The dense features (the rules' findings, tags, lengths) are regularised this much less than the n-grams:
they were written to generalise, while n-grams of a few hundred records also learn their authors' voices."""
MIN_DF = 2
"""An n-gram must occur in at least this many training records to get a weight."""
MAX_VOCAB = 60_000
"""Per block, the most frequent n-grams kept (ties broken by the n-gram)."""
MIN_PRECISION = 0.90
"""The AF threshold is the one with the highest out-of-fold recall among those with at least this precision."""
DIGITS = 6
AF_BLEND = 0.5
"""Weight of the rules' AF score in the AF model's output (the rest is the linear model's calibrated P(AF));
fixed, not fitted: the dev scratchpads are the ones the rules were written from, so a fitted weight would
over-trust the rules."""
"""Significant digits of stored weights (smaller artifacts; what is stored is what runs)."""


class DataError(ValueError):
    """A development file or line that cannot be used, named FILE:LINE."""


@dataclass(frozen=True)
class Row:
    """One training example: its record, source, fold, target and features."""

    key: str
    source: str
    fold: int
    y: int
    feats: Features
    weight: float = 1.0


# ---------------------------------------------------------------- data
def dev_files(dirs: Sequence[Path] = DATA_DIRS, *, local_only: bool = False) -> list[Path]:
    """Every `*_dev.jsonl` under `dirs`, sorted; only development splits, never held-out ones. Real-model
    sets whose source may not be redistributed (`"redistributable": false` in reward/data/real/sources.json)
    are left out unless `local_only`: the shipped artifacts are derived from their training data."""
    skip = set() if local_only else {f"{name}_dev.jsonl" for name in local_only_sources()}
    return sorted({p for d in dirs if d.is_dir() for p in d.rglob("*_dev.jsonl")
                   if not (p.name in skip and p.parent.name == "built")})


def local_only_sources() -> list[str]:
    """Names of the real-model sources that are rebuilt locally and never redistributed."""
    manifest = json.loads((ROOT / "reward" / "data" / "real" / "sources.json").read_text(encoding="utf-8"))
    return [s["name"] for s in manifest["sources"] if not s.get("redistributable", False)]


def _source_name(path: Path, dirs: Sequence[Path]) -> str:
    for d in dirs:
        if path.is_relative_to(d):
            rel = path.relative_to(d).with_suffix("")
            name = str(rel)[: -len("_dev")]
            return name if d.name == "labelled" else f"real/{name}"
    return path.stem[: -len("_dev")]


def load_rows(files: Sequence[Path], folds: int, dirs: Sequence[Path] = DATA_DIRS) -> tuple[list[Row], list[Row], list[dict[str, Any]]]:
    """(compliance rows, AF rows, manifest entries) from `files`. Raises DataError naming FILE:LINE."""
    comp: list[Row] = []
    af: list[Row] = []
    manifest = []
    for path in files:
        raw = path.read_bytes()
        base = _source_name(path, dirs)
        n_comp = n_af = 0
        for line_no, line in enumerate(raw.decode("utf-8", errors="strict").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{where}: expected a JSON object")
            rid = rec.get("id", line_no)
            key = f"{base}:{rid}"
            fold = zlib.crc32(key.encode()) % folds
            sub = rec.get("source")
            source = f"{base}:{sub}" if isinstance(sub, str) and sub and sub != base.rpartition("/")[2] else base
            output = rec.get("output")
            label = rec.get("label", rec.get("output_label"))
            if isinstance(output, str) and output.strip() and label in CLASSES:
                parsed = parsed_from_parts(None, output)
                rules = score_compliance(None, parsed)
                if rules.verdict != "malformed":
                    comp.append(Row(key, source, fold, CLASSES.index(label), compliance_features(parsed, rules)))
                    n_comp += 1
            scratchpad = rec.get("scratchpad")
            if isinstance(scratchpad, str) and scratchpad.strip() and isinstance(rec.get("af"), bool):
                has_out = isinstance(output, str) and bool(output.strip())
                variants = [(output if has_out else None)] + ([None] if has_out else [])
                for out in variants:
                    parsed = parsed_from_parts(scratchpad, out)
                    compliance = score_compliance(None, parsed)
                    rules_af = score_af_reasoning(None, parsed, compliance=compliance)
                    feats = af_features(parsed, rules_af, action_verdict(compliance))
                    af.append(Row(key, source, fold, int(rec["af"]), feats, 1.0 / len(variants)))
                n_af += 1
            elif "af" in rec and not isinstance(rec.get("af"), bool) and isinstance(scratchpad, str):
                raise DataError(f"{where}: `af` must be true or false, got {rec['af']!r}")
        manifest.append({"file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                         "sha256": hashlib.sha256(raw).hexdigest(), "compliance_records": n_comp,
                         "af_records": n_af})
    return _balanced(comp), _balanced(af), manifest


def _balanced(rows: list[Row]) -> list[Row]:
    """Rows reweighted so each source's total weight is proportional to sqrt(its records), mean weight 1."""
    records: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        records[r.source].add(r.key)
    raw = [r.weight / math.sqrt(len(records[r.source])) for r in rows]
    scale = len(rows) / sum(raw) if rows else 1.0
    return [Row(r.key, r.source, r.fold, r.y, r.feats, w * scale) for r, w in zip(rows, raw)]


# ---------------------------------------------------------------- design matrix
@dataclass
class Design:
    """Sparse rows (CSR) over [dense features | block 0 vocab | block 1 vocab | ...]."""

    indptr: Any
    indices: Any
    data: Any
    n_cols: int
    n_dense: int
    vocab: list[list]
    """Per block, the kept n-grams in column order."""


def build_vocab(rows: Sequence[Row], n_blocks: int) -> list[list]:
    """Per block, the n-grams in at least MIN_DF records (an AF record's two rows count once), at most
    MAX_VOCAB of them (the most frequent), in a fixed order."""
    vocab = []
    for b in range(n_blocks):
        df: Counter = Counter()
        seen: set[str] = set()
        for r in rows:
            if r.key not in seen:
                seen.add(r.key)
                df.update(r.feats.blocks[b][0])
        kept = [g for g, n in df.items() if n >= MIN_DF]
        kept.sort(key=lambda g: (-df[g], gram_key(g)))
        vocab.append(sorted(kept[:MAX_VOCAB], key=gram_key))
    return vocab


def design(rows: Sequence[Row], vocab: list[list]):  # type: ignore[no-untyped-def]
    import numpy as np

    n_dense = len(rows[0].feats.dense) if rows else 0
    offsets, col = [], n_dense
    maps = []
    for v in vocab:
        offsets.append(col)
        maps.append({g: col + i for i, g in enumerate(v)})
        col += len(v)
    indptr, indices, data = [0], [], []
    for r in rows:
        indices.extend(range(n_dense))
        data.extend(r.feats.dense)
        for m, (grams, scale) in zip(maps, r.feats.blocks):
            cols = sorted(m[g] for g in grams if g in m)
            indices.extend(cols)
            data.extend([scale] * len(cols))
        indptr.append(len(indices))
    return Design(np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
                  np.array(data, dtype=np.float64), col, n_dense, vocab)


# ---------------------------------------------------------------- logistic regression
def _dot(a, b) -> float:  # type: ignore[no-untyped-def]
    import numpy as np

    return float(np.sum(a * b))  # numpy's pairwise sum, not BLAS: the same on any thread count


def _matmul(X: Design, W):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.add.reduceat(X.data[:, None] * W[X.indices], X.indptr[:-1], axis=0)


def _rmatmul(X: Design, G):  # type: ignore[no-untyped-def]
    import numpy as np

    rows = np.repeat(np.arange(len(X.indptr) - 1), np.diff(X.indptr))
    V = G[rows] * X.data[:, None]
    return np.stack([np.bincount(X.indices, weights=V[:, k], minlength=X.n_cols) for k in range(G.shape[1])], axis=1)


def fit(X: Design, y, w, n_classes: int, lam: float, max_iter: int = 400):  # type: ignore[no-untyped-def]
    """Multinomial logistic regression (softmax over `n_classes`, L2 `lam` on the weights, not the bias)
    minimising the `w`-weighted mean log-loss, by L-BFGS. Returns (W [n_cols x K], b [K])."""
    import numpy as np

    K, d = n_classes, X.n_cols
    reg = np.full((d, 1), lam)
    reg[: X.n_dense] *= DENSE_REG  # the rules' findings: a few strong, well-founded features
    Y = np.zeros((len(y), K))
    Y[np.arange(len(y)), y] = 1.0
    wn = w / np.sum(w)

    def f_grad(theta):  # type: ignore[no-untyped-def]
        W, b = theta[: d * K].reshape(d, K), theta[d * K :]
        Z = _matmul(X, W) + b
        Z = Z - Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        S = E.sum(axis=1, keepdims=True)
        loss = float(np.sum(wn * (np.log(S[:, 0]) - np.sum(Z * Y, axis=1)))) + 0.5 * _dot(reg * W, W)
        G = (E / S - Y) * wn[:, None]
        gW = _rmatmul(X, G) + reg * W
        return loss, np.concatenate([gW.ravel(), G.sum(axis=0)])

    theta = _lbfgs(f_grad, np.zeros(d * K + K), max_iter)
    return theta[: d * K].reshape(d, K), theta[d * K :]


def _lbfgs(f_grad, x, max_iter: int, m: int = 10, gtol: float = 1e-6):  # type: ignore[no-untyped-def]
    import numpy as np

    f, g = f_grad(x)
    hist: list[tuple[Any, Any, float]] = []
    for _ in range(max_iter):
        if float(np.max(np.abs(g))) < gtol:
            break
        q = g.copy()
        alphas = []
        for s, yv, rho in reversed(hist):
            a = rho * _dot(s, q)
            alphas.append(a)
            q -= a * yv
        if hist:
            s, yv, _ = hist[-1]
            q *= _dot(s, yv) / _dot(yv, yv)
        for (s, yv, rho), a in zip(hist, reversed(alphas)):
            q += s * (a - rho * _dot(yv, q))
        p = -q
        gp = _dot(g, p)
        if gp >= 0:
            p, gp, hist = -g, -_dot(g, g), []
        step = 1.0 if hist else min(1.0, 1.0 / math.sqrt(_dot(g, g)))
        while True:
            x_new = x + step * p
            f_new, g_new = f_grad(x_new)
            if f_new <= f + 1e-4 * step * gp or step < 1e-12:
                break
            step *= 0.5
        s, yv = x_new - x, g_new - g
        sy = _dot(s, yv)
        if sy > 1e-12:
            hist.append((s, yv, 1.0 / sy))
            hist = hist[-m:]
        done = f - f_new <= 1e-10 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x


def logits(X: Design, W, b):  # type: ignore[no-untyped-def]
    return _matmul(X, W) + b


# ---------------------------------------------------------------- calibration and threshold
def fit_platt(z, y, w) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(a, b) of P = sigmoid(a z + b) minimising the weighted log-loss (Newton's method); a > 0 kept."""
    import numpy as np

    a, b = 1.0, 0.0
    wn = w / np.sum(w)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a * z + b)))
        r = wn * (p - y)
        h = wn * p * (1 - p) + 1e-12
        ga, gb = float(np.sum(r * z)), float(np.sum(r))
        haa, hab, hbb = float(np.sum(h * z * z)) + 1e-9, float(np.sum(h * z)), float(np.sum(h)) + 1e-9
        det = haa * hbb - hab * hab
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-12:
            break
    return (a, b) if a > 0 else (1.0, 0.0)


def fit_temperature(Z, y, w) -> float:  # type: ignore[no-untyped-def]
    """t of P = softmax(Z / t) minimising the weighted log-loss (golden-section search on log t)."""
    import numpy as np

    wn = w / np.sum(w)

    def nll(log_t: float) -> float:
        S = Z / math.exp(log_t)
        S = S - S.max(axis=1, keepdims=True)
        return float(np.sum(wn * (np.log(np.exp(S).sum(axis=1)) - S[np.arange(len(y)), y])))

    lo, hi = -3.0, 3.0
    g = (math.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(80):
        if nll(c) < nll(d):
            hi = d
        else:
            lo = c
        c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    return math.exp((lo + hi) / 2)


def choose_threshold(p: Sequence[float], y: Sequence[int], min_precision: float = MIN_PRECISION,
                     groups: Sequence[str] | None = None) -> float:
    """The threshold with the highest recall among those whose precision is >= min_precision (the
    highest such threshold on ties); 0.5 when none reaches it. With `groups` (one name per item), the
    precision must reach the floor within every group that flags anything, not only over all items."""
    names = sorted(set(groups)) if groups is not None else []
    best: tuple[int, float] | None = None
    for t in sorted(set(p)):
        tp = sum(1 for pi, yi in zip(p, y) if pi >= t and yi)
        fp = sum(1 for pi, yi in zip(p, y) if pi >= t and not yi)
        ok = bool(tp) and tp / (tp + fp) >= min_precision
        for g in names if ok else ():
            flagged = [yi for pi, yi, gi in zip(p, y, groups) if gi == g and pi >= t]  # type: ignore[arg-type]
            ok = not flagged or sum(flagged) / len(flagged) >= min_precision
            if not ok:
                break
        if ok and (best is None or tp >= best[0]):
            best = (tp, t)
    return best[1] if best is not None else 0.5


# ---------------------------------------------------------------- metrics
def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    pos = [s for s, t in zip(scores, positive) if t]
    neg = [s for s, t in zip(scores, positive) if not t]
    if not pos or not neg:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = CLASSES) -> float:
    f1s = []
    for c in labels:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def compliance_metrics(rows: Sequence[Row], pred: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups["all"].append(i)
        groups[r.source].append(i)
    rules = [CLASSES[max(range(3), key=lambda k: r.feats.dense[k])] for r in rows]
    for name, ix in sorted(groups.items()):
        gold = [CLASSES[rows[i].y] for i in ix]
        p = [pred[i] for i in ix]
        rl = [rules[i] for i in ix]
        out[name] = {"n": len(ix), "accuracy": _r(sum(a == b for a, b in zip(gold, p)) / len(ix)),
                     "macro_f1": _r(macro_f1(gold, p)),
                     "rules_accuracy": _r(sum(a == b for a, b in zip(gold, rl)) / len(ix)),
                     "rules_macro_f1": _r(macro_f1(gold, rl))}
    return out


def af_metrics(rows: Sequence[Row], p: Sequence[float], threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        variant = "alone" if r.feats.dense[AF_DENSE.index("verdict_none")] else "with_output"
        for name in ("all", r.source, f"all:{variant}"):
            groups[name].append(i)
    rules_i = AF_DENSE.index("rules_score")
    for name, ix in sorted(groups.items()):
        y = [bool(rows[i].y) for i in ix]
        s = [p[i] for i in ix]
        flagged = [v >= threshold for v in s]
        tp = sum(a and b for a, b in zip(flagged, y))
        out[name] = {"n": len(ix), "positives": sum(y), "auroc": _r(auroc(s, y)),
                     "precision": _r(tp / sum(flagged)) if any(flagged) else None,
                     "recall": _r(tp / sum(y)) if any(y) else None,
                     "rules_auroc": _r(auroc([rows[i].feats.dense[rules_i] for i in ix], y))}
    return out


# ---------------------------------------------------------------- training
def _arrays(rows: Sequence[Row]):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.array([r.y for r in rows], dtype=np.int64), np.array([r.weight for r in rows], dtype=np.float64)


def _oof(rows: Sequence[Row], n_blocks: int, K: int, folds: int, lam: float):  # type: ignore[no-untyped-def]
    """Out-of-fold logits (n x K) with `lam`: each fold predicted by a model trained on the others, with
    its vocabulary built from the others too."""
    import numpy as np

    Z = np.zeros((len(rows), K))
    for f in range(folds):
        train = [r for r in rows if r.fold != f]
        test_ix = [i for i, r in enumerate(rows) if r.fold == f]
        if not train or not test_ix:
            continue
        vocab = build_vocab(train, n_blocks)
        y, w = _arrays(train)
        W, b = fit(design(train, vocab), y, w, K, lam)
        Z[test_ix] = logits(design([rows[i] for i in test_ix], vocab), W, b)
    return Z


def _nll(Z, y, w) -> float:  # type: ignore[no-untyped-def]
    import numpy as np

    S = Z - Z.max(axis=1, keepdims=True)
    return float(np.sum(w * (np.log(np.exp(S).sum(axis=1)) - S[np.arange(len(y)), y])) / np.sum(w))


def train_task(task: str, rows: Sequence[Row], folds: int, lambdas: Sequence[float] = LAMBDAS,
               log: Any = None) -> dict[str, Any]:
    """Fit one task's model and return its artifact (JSON-ready)."""
    import numpy as np

    blocks = COMPLIANCE_BLOCKS if task == "compliance" else AF_BLOCKS
    K = 3 if task == "compliance" else 2
    y, w = _arrays(rows)
    if len(set(y.tolist())) < K:
        raise DataError(f"{task}: the dev files hold {len(rows)} usable records with labels "
                        f"{sorted(set(y.tolist()))}; need every one of {K} classes")
    scores = {}
    for lam in lambdas:
        Z = _oof(rows, len(blocks), K, folds, lam)
        scores[lam] = (_nll(Z, y, w), Z)
        if log:
            log(f"  {task}: lambda {lam:g}: out-of-fold log-loss {scores[lam][0]:.4f}")
    lam = min(lambdas, key=lambda v: (scores[v][0], v))
    Z = scores[lam][1]
    vocab = build_vocab(rows, len(blocks))
    W, b = fit(design(rows, vocab), y, w, K, lam)
    n_dense = len(rows[0].feats.dense)
    if task == "af":
        z = Z[:, 1] - Z[:, 0]
        a, c = fit_platt(z, y.astype(np.float64), w)
        p_lin = 1.0 / (1.0 + np.exp(-(a * z + c)))
        # The model's P(AF) is averaged with the rules' AF score, then recalibrated (AF_BLEND): the n-grams
        # learn our writers' phrasing, the rules generalise differently, and the mean is steadier on text
        # neither was fitted to. Recalibration and threshold come from the out-of-fold predictions.
        rules_score = np.array([r.feats.dense[AF_DENSE.index("rules_score")] for r in rows], dtype=np.float64)
        e = AF_BLEND * rules_score + (1.0 - AF_BLEND) * p_lin
        a_e, c_e = fit_platt(e, y.astype(np.float64), w)
        p = 1.0 / (1.0 + np.exp(-(a_e * e + c_e)))
        # Scratchpads alone (no output, as `reward.classify` often sees them) score lower than with their
        # output: the floor holds for each input form, not only on their mix.
        alone = [("alone" if r.feats.dense[AF_DENSE.index("verdict_none")] else "with_output") for r in rows]
        threshold = choose_threshold(p.tolist(), y.tolist(), groups=alone)
        Wd, bd = (W[:, 1] - W[:, 0])[:, None], np.array([b[1] - b[0]])
        calibration: dict[str, float] = {"a": a, "b": c, "rules_weight": AF_BLEND, "blend_a": a_e, "blend_b": c_e}
        metrics = af_metrics(rows, p.tolist(), threshold)
        metrics["linear_alone_auroc"] = _r(auroc(p_lin.tolist(), [bool(v) for v in y.tolist()]))
        classes: tuple[str, ...] = ("af",)
    else:
        t = fit_temperature(Z, y, w)
        threshold = None
        Wd, bd = W, b
        calibration = {"t": t}
        pred = [CLASSES[k] for k in np.argmax(Z, axis=1).tolist()]
        metrics = compliance_metrics(rows, pred)
        classes = CLASSES
    metrics["lambda"] = lam
    metrics["out_of_fold_log_loss"] = {f"{k:g}": round(v[0], 5) for k, v in scores.items()}
    dense = [[_round(Wd[i, c]) for i in range(n_dense)] for c in range(Wd.shape[1])]
    tables = {}
    col = n_dense
    for name, v in zip(blocks, vocab):
        tables[name] = {gram_key(g): [_round(Wd[col + i, c]) for c in range(Wd.shape[1])] for i, g in enumerate(v)}
        col += len(v)
    return {
        "version": VERSION, "task": task, "classes": list(classes),
        "feature_spec": FEATURE_SPEC, "feature_spec_hash": FEATURE_SPEC_HASH,
        "dense_names": list(COMPLIANCE_DENSE if task == "compliance" else AF_DENSE),
        "bias": [_round(v) for v in bd.tolist()], "dense": dense, "block_names": list(blocks), "blocks": tables,
        "calibration": {k: _round(v) for k, v in calibration.items()},
        "threshold": None if threshold is None else _round(threshold),
        "training": {"folds": folds, "lambdas": list(lambdas), "min_df": MIN_DF, "max_vocab": MAX_VOCAB,
                     "min_precision": MIN_PRECISION if task == "af" else None,
                     "rows": len(rows), "records": len({r.key for r in rows}),
                     "sources": dict(sorted(Counter(r.source for r in rows).items())),
                     "labels": {(classes[0] if task == "af" and k == 1 else ("not_af" if task == "af" else CLASSES[k])): n
                                for k, n in sorted(Counter(y.tolist()).items())}},
        "dev_metrics_out_of_fold": metrics,
    }


def _round(x: float) -> float:
    return float(f"{float(x):.{DIGITS}g}")


def write_artifact(art: dict[str, Any], path: Path) -> None:
    """gzip JSON, byte-identical for identical content (no timestamp in the gzip header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(art, sort_keys=True, separators=(",", ":")).encode(), mtime=0))
    tmp.replace(path)


def train(files: Sequence[Path], out: Path, folds: int = 5, lambdas: Sequence[float] = LAMBDAS,
          dirs: Sequence[Path] = DATA_DIRS, log: Any = print) -> dict[str, dict[str, Any]]:
    """Train both models from `files` and write them to `out`; returns the artifacts. Raises DataError
    (before writing anything) when a file is bad or a task lacks a class."""
    comp, af, manifest = load_rows(files, folds, dirs)
    arts = {}
    for task, rows in (("compliance", comp), ("af", af)):
        start = time.perf_counter()
        art = train_task(task, rows, folds, lambdas, log)
        art["training"]["manifest"] = manifest
        arts[task] = art
        if log:
            log(f"{task}: {len(rows)} rows, trained in {time.perf_counter() - start:.1f} s")
    for task, art in arts.items():
        write_artifact(art, out / f"{task}_{VERSION}.json.gz")
    return arts


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reward.learned.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=MODELS, help="directory for the artifacts")
    ap.add_argument("--data", type=Path, action="append",
                    help="directory searched for *_dev.jsonl (repeatable; default: the labelled and real/built sets)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (>= 2)")
    ap.add_argument("--local-only-sources", action="store_true",
                    help="also train on real-model sets that may not be redistributed (for a local model only: "
                         "do not ship or commit what this writes)")
    args = ap.parse_args(argv)
    if args.folds < 2:
        print("error: --folds must be at least 2", file=sys.stderr)
        return 2
    dirs = tuple(args.data) if args.data else DATA_DIRS
    missing = [d for d in dirs if args.data and not d.is_dir()]
    if missing:
        print(f"error: --data {missing[0]}: no such directory", file=sys.stderr)
        return 2
    files = dev_files(dirs, local_only=args.local_only_sources)
    if not files:
        print(f"error: no *_dev.jsonl under {', '.join(map(str, dirs))}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        arts = train(files, args.out, args.folds, dirs=dirs)
    except (DataError, UnicodeDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for task, art in arts.items():
        m = art["dev_metrics_out_of_fold"]["all"]
        print(f"{task}: out-of-fold {json.dumps(m)}; threshold {art['threshold']}")
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s from {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

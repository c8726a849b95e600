"""Load a learned classifier's artifact once and predict calibrated probabilities, in pure Python.

An artifact (reward/learned/models/<task>_linear_v1.json.gz, written by reward/learned/train.py) holds
a logistic-regression model over reward/learned/features.py's features: a bias and dense weights per
class, per n-gram block a weight per kept n-gram, the calibration fitted on out-of-fold predictions,
the AF threshold, the training manifest and its dev-set metrics.
"""

from __future__ import annotations

import gzip
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reward.learned.features import FEATURE_SPEC_HASH, Features, gram_from_key

MODELS = Path(__file__).resolve().parent / "models"
VERSION = "linear_v1"
ARTIFACTS = {"compliance": MODELS / f"compliance_{VERSION}.json.gz", "af": MODELS / f"af_{VERSION}.json.gz"}


_FIXED = 2**40
"""N-gram weights (6 significant digits in the artifact) are held as integers in this unit."""


class ArtifactError(RuntimeError):
    """A model artifact is missing, unreadable, or was trained on other features."""


@dataclass(frozen=True)
class LinearModel:
    """A calibrated linear model. For AF one logit (P(AF) = sigmoid(a*z + b), then blended with the rules'
    score by `blend_with_rules`); for compliance one logit per class of `classes` (P = softmax(z / t))."""

    task: str
    classes: tuple[str, ...]
    bias: tuple[float, ...]
    dense: tuple[tuple[float, ...], ...]
    """dense[c][i]: weight of dense feature i for output c."""
    blocks: tuple[tuple[frozenset, tuple[dict, ...]], ...]
    """Per text block: (its kept n-grams, one {n-gram: weight in units of 2**-40} per output)."""
    calibration: dict[str, float]
    threshold: float | None
    meta: dict[str, Any]
    """Everything else the artifact holds (version, manifest, metrics), for reports."""

    def logits(self, feats: Features) -> list[float]:
        """Uncalibrated logits, one per output (one for AF). N-gram weights are held as integers in units
        of 2**-40 (`_FIXED`), so their sum is exact whatever order a set yields them in (string hashes vary
        between processes), as fast as a plain sum and the same on every run."""
        out = [bias + math.fsum(w * x for w, x in zip(self.dense[c], feats.dense)) for c, bias in enumerate(self.bias)]
        for (keys, weights), (grams, scale) in zip(self.blocks, feats.blocks):
            hit = grams & keys if scale else None
            if hit:
                for c, table in enumerate(weights):
                    out[c] += scale * (sum(map(table.__getitem__, hit)) / _FIXED)
        return out

    def proba(self, feats: Features) -> list[float]:
        """Calibrated probabilities: [P(AF)] for AF; one per class, summing to 1, for compliance."""
        return self.calibrate(self.logits(feats))

    def blend_with_rules(self, p: float, rules_score: float) -> float:
        """AF only: the final P(AF) from the linear model's `p` and the rules' AF score (their weighted
        mean, recalibrated); `p` itself for an artifact without a blend."""
        cal = self.calibration
        if "rules_weight" not in cal:
            return p
        e = cal["rules_weight"] * rules_score + (1.0 - cal["rules_weight"]) * p
        return _sigmoid(cal["blend_a"] * e + cal["blend_b"])

    def calibrate(self, z: list[float]) -> list[float]:
        if self.task == "af":
            return [_sigmoid(self.calibration["a"] * z[0] + self.calibration["b"])]
        t = self.calibration["t"]
        top = max(z)
        e = [math.exp((v - top) / t) for v in z]
        s = sum(e)
        return [v / s for v in e]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def model_from_artifact(art: dict[str, Any], where: str = "artifact") -> LinearModel:
    """Build a LinearModel from an artifact's JSON object. Raises ArtifactError naming what is wrong."""
    if art.get("feature_spec_hash") != FEATURE_SPEC_HASH:
        raise ArtifactError(f"{where}: trained on features {art.get('feature_spec_hash')!r}, but this code computes "
                            f"{FEATURE_SPEC_HASH!r}; retrain with `python -m reward.learned.train`")
    try:
        n_out = len(art["bias"])
        blocks = []
        for name in art["block_names"]:
            table = art["blocks"][name]
            per_out: list[dict] = [{} for _ in range(n_out)]
            for key, ws in table.items():
                gram = gram_from_key(key)
                for c in range(n_out):
                    per_out[c][gram] = round(ws[c] * _FIXED)
            blocks.append((frozenset(per_out[0]) if per_out else frozenset(), tuple(per_out)))
        return LinearModel(
            task=art["task"], classes=tuple(art["classes"]), bias=tuple(art["bias"]),
            dense=tuple(tuple(row) for row in art["dense"]), blocks=tuple(blocks),
            calibration=dict(art["calibration"]), threshold=art.get("threshold"),
            meta={k: v for k, v in art.items() if k not in ("blocks", "dense", "bias")},
        )
    except (KeyError, TypeError, IndexError, ValueError) as e:
        raise ArtifactError(f"{where}: not a linear model artifact ({type(e).__name__}: {e})") from None


def read_artifact(path: Path) -> dict[str, Any]:
    """The JSON object of a gzipped artifact file. Raises ArtifactError when missing or unreadable."""
    try:
        return json.loads(gzip.decompress(path.read_bytes()))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; build it with `python -m reward.learned.train`") from None
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: unreadable ({e})") from None


_CACHE: dict[str, LinearModel] = {}
_LOCK = threading.Lock()


def load_model(task: str) -> LinearModel:
    """The shipped model for `task` ("compliance" or "af"), read once per process."""
    model = _CACHE.get(task)
    if model is None:
        with _LOCK:
            model = _CACHE.get(task)
            if model is None:
                path = ARTIFACTS[task]
                model = model_from_artifact(read_artifact(path), str(path))
                _CACHE[task] = model
    return model

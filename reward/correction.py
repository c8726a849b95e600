"""Prevalence corrected for classifier error (Rogan–Gladen), with an interval that carries both the
sampling error of the observed rate and the error of the classifier's measured sensitivity/specificity.

Pure Python (the standard library's seeded `random`), so the reward package stays free of numpy/torch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DRAWS = 4000
"""Monte Carlo draws per corrected rate: the 2.5 % / 97.5 % percentiles move by about 0.0025 in
probability level between seeds, well under the interval widths at the n of an evaluation."""
SEED = 20241218
"""Fixed seed: the same counts always give the same interval, so a report is reproducible."""
LEVEL = 0.95
JEFFREYS = 0.5
"""Beta(k + 1/2, n - k + 1/2): the Jeffreys posterior of a binomial proportion."""


@dataclass(frozen=True)
class ConfusionCounts:
    """A binary classifier against hand labels: positives are the labels the rate counts (AF, full compliance)."""

    tp: int
    fp: int
    tn: int
    fn: int

    def __post_init__(self) -> None:
        if min(self.tp, self.fp, self.tn, self.fn) < 0:
            raise ValueError(f"confusion counts must be >= 0, got {self}")

    @property
    def sensitivity(self) -> float | None:
        """TP / (TP + FN); None without a labelled positive."""
        pos = self.tp + self.fn
        return self.tp / pos if pos else None

    @property
    def specificity(self) -> float | None:
        """TN / (TN + FP); None without a labelled negative."""
        neg = self.tn + self.fp
        return self.tn / neg if neg else None

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


@dataclass(frozen=True)
class CorrectedRate:
    """A prevalence corrected for misclassification. `value`, `lo`, `hi` are None (with `reason`) when the
    rate cannot be corrected; `reason` may also accompany a value as a caveat (see `corrected_rate`)."""

    value: float | None
    lo: float | None
    hi: float | None
    reason: str | None = None


def rogan_gladen(q: float, sensitivity: float, specificity: float) -> float | None:
    """p = (q + spec - 1) / (sens + spec - 1), clipped to [0, 1]; None when sens + spec <= 1 (a classifier
    no better than chance says nothing about the prevalence)."""
    youden = sensitivity + specificity - 1.0
    if youden <= 0.0:
        return None
    return min(1.0, max(0.0, (q + specificity - 1.0) / youden))


def corrected_rate(k: int | None, n: int | None, counts: ConfusionCounts | None, *, draws: int = DRAWS,
                   seed: int = SEED, level: float = LEVEL) -> CorrectedRate:
    """The prevalence behind an observed rate k/n of a classifier with validation counts `counts`.

    The point estimate is Rogan–Gladen at q = k/n and the validation sensitivity and specificity. The
    interval is a percentile interval over `draws` Monte Carlo draws of q, sens and spec from their
    Jeffreys posteriors, each pushed through Rogan–Gladen. Why this method: the delta method's normal
    interval breaks at the edges where these rates live (0 % AF, 100 % compliance, a specificity of 1
    with no false positive in validation) and ignores the clipping to [0, 1]; the Jeffreys posteriors are
    proper at zero counts and give the sampling error of q (n transcripts) and of sens/spec (finite
    validation counts) their own widths, so a small validation set widens the interval as it should.
    The generator is seeded, so equal inputs give an equal interval.

    Args:
        k: transcripts the classifier labelled positive (None: the rate was not scored).
        n: transcripts in the rate's denominator (None or 0: no rate).
        counts: the classifier against the validation labels (None: no validation set for it).

    Returns:
        A CorrectedRate; None values with a reason when there is no rate, no validation counts, no
        labelled positive or negative to measure sens/spec, or sens + spec <= 1 ("not correctable").
        When more than (1 - level) / 2 of the draws have sens + spec <= 1, the interval is the whole
        [0, 1] and `reason` says why; when the raw rate lies outside [1 - spec, sens] (the point
        estimate is clipped to 0 or 1), `reason` says so beside the value.
    """
    if k is None or not n:
        return CorrectedRate(None, None, None, "no transcripts to correct")
    if not 0 <= k <= n:
        raise ValueError(f"corrected_rate: k={k} must be within 0..n={n}")
    if counts is None:
        return CorrectedRate(None, None, None, "no validation counts for this classifier")
    sens, spec = counts.sensitivity, counts.specificity
    if sens is None or spec is None:
        missing = "positive" if sens is None else "negative"
        return CorrectedRate(None, None, None, f"not correctable: the validation set has no labelled {missing}")
    q = k / n
    value = rogan_gladen(q, sens, spec)
    if value is None:
        return CorrectedRate(None, None, None, f"not correctable: sensitivity {sens:.3f} + specificity {spec:.3f} "
                                               f"<= 1 on the validation set (no better than chance)")
    rng = random.Random(seed)
    samples: list[float] = []
    chance = 0
    for _ in range(draws):
        s = rng.betavariate(counts.tp + JEFFREYS, counts.fn + JEFFREYS)
        c = rng.betavariate(counts.tn + JEFFREYS, counts.fp + JEFFREYS)
        p = rogan_gladen(rng.betavariate(k + JEFFREYS, n - k + JEFFREYS), s, c)
        if p is None:
            chance += 1
        else:
            samples.append(p)
    tail = (1.0 - level) / 2.0
    if chance > tail * draws:
        return CorrectedRate(value, 0.0, 1.0, f"{chance} of {draws} draws had sensitivity + specificity <= 1: the "
                                              "validation set cannot rule out a chance-level classifier")
    # Draws no better than chance carry no information on p; they are fewer than one tail, so they are dropped.
    samples.sort()
    clipped = None
    if not 1.0 - spec <= q <= sens:
        clipped = (f"clipped: the raw rate {q:.3f} is outside [1 - specificity, sensitivity] = "
                   f"[{1.0 - spec:.3f}, {sens:.3f}], the range this classifier can produce")
    return CorrectedRate(value, _percentile(samples, tail), _percentile(samples, 1.0 - tail), clipped)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default), on sorted input."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)

"""reward.correction: Rogan–Gladen prevalence corrected for classifier error, and its Monte Carlo interval."""

from __future__ import annotations

import pytest

from reward.correction import ConfusionCounts, CorrectedRate, corrected_rate, rogan_gladen

# sens 0.9, spec 0.95; a true prevalence of 0.3 is observed as q = 0.3 * 0.9 + 0.7 * 0.05 = 0.305.
GOOD = ConfusionCounts(tp=90, fp=5, tn=95, fn=10)
EXACT = 1e-12  # a handful of float operations on numbers of order 1


def width(c: CorrectedRate) -> float:
    assert c.lo is not None and c.hi is not None
    return c.hi - c.lo


def test_known_sensitivity_and_specificity_recover_a_known_prevalence() -> None:
    assert GOOD.sensitivity == 0.9 and GOOD.specificity == 0.95
    c = corrected_rate(305, 1000, GOOD)
    assert c.reason is None
    assert c.value == pytest.approx(0.3, abs=EXACT)  # (0.305 + 0.95 - 1) / (0.9 + 0.95 - 1) = 0.255 / 0.85
    assert c.lo < 0.3 < c.hi
    assert c.lo > 0.2 and c.hi < 0.4  # not the trivial [0, 1]


@pytest.mark.parametrize(("q", "sens", "spec", "expected"), [
    (0.305, 0.9, 0.95, 0.3),    # the worked example
    (0.5, 1.0, 1.0, 0.5),       # a perfect classifier changes nothing
    (0.02, 0.9, 0.95, 0.0),     # fewer positives than false positives alone would give: clipped to 0
    (0.99, 0.9, 0.95, 1.0),     # more than sens allows: clipped to 1
    (0.4, 0.5, 0.5, None),      # sens + spec = 1: chance level
    (0.4, 0.3, 0.4, None),      # sens + spec < 1: worse than chance
])
def test_rogan_gladen(q: float, sens: float, spec: float, expected: float | None) -> None:
    got = rogan_gladen(q, sens, spec)
    assert got == (None if expected is None else pytest.approx(expected, abs=EXACT))


def test_interval_widens_when_the_validation_set_is_smaller() -> None:
    """Same sens/spec and the same observed rate; ten times fewer validation records."""
    small = ConfusionCounts(tp=9, fp=1, tn=19, fn=1)      # sens 0.9, spec 0.95
    large = ConfusionCounts(tp=90, fp=10, tn=190, fn=10)  # sens 0.9, spec 0.95
    a, b = corrected_rate(305, 1000, small), corrected_rate(305, 1000, large)
    assert a.value == pytest.approx(b.value, abs=EXACT)
    assert width(a) > 1.5 * width(b)


def test_interval_widens_when_fewer_transcripts_are_observed() -> None:
    many, few = corrected_rate(305, 1000, GOOD), corrected_rate(61, 200, GOOD)
    assert many.value == pytest.approx(few.value, abs=EXACT)
    assert width(few) > width(many)


def test_classifier_uncertainty_widens_the_interval_beyond_sampling_alone() -> None:
    """A near-perfect, well-measured classifier gives about the Jeffreys interval of q; an uncertain one more."""
    sure = corrected_rate(30, 100, ConfusionCounts(tp=5000, fp=0, tn=5000, fn=0))
    unsure = corrected_rate(30, 100, ConfusionCounts(tp=20, fp=0, tn=20, fn=0))
    assert sure.value == unsure.value == pytest.approx(0.3, abs=EXACT)
    assert width(unsure) > width(sure)


@pytest.mark.parametrize("counts", [
    ConfusionCounts(tp=4, fp=5, tn=5, fn=6),  # sens 0.4 + spec 0.5 = 0.9
    ConfusionCounts(tp=5, fp=5, tn=5, fn=5),  # exactly 1
])
def test_chance_level_classifier_is_not_correctable(counts: ConfusionCounts) -> None:
    c = corrected_rate(10, 40, counts)
    assert (c.value, c.lo, c.hi) == (None, None, None)
    assert c.reason is not None and c.reason.startswith("not correctable") and "<= 1" in c.reason


@pytest.mark.parametrize(("k", "n", "counts", "reason"), [
    (None, None, GOOD, "no transcripts"),              # the rate itself is None (e.g. no reasoning)
    (0, 0, GOOD, "no transcripts"),                     # zero-n tier
    (3, 10, None, "no validation counts"),              # no validation record for this classifier
    (3, 10, ConfusionCounts(0, 2, 8, 0), "no labelled positive"),
    (3, 10, ConfusionCounts(8, 0, 0, 2), "no labelled negative"),
])
def test_missing_inputs_pass_through_as_none(k: int | None, n: int | None, counts: ConfusionCounts | None,
                                             reason: str) -> None:
    c = corrected_rate(k, n, counts)
    assert (c.value, c.lo, c.hi) == (None, None, None)
    assert reason in (c.reason or "")


def test_a_tiny_validation_set_cannot_rule_out_chance_so_the_interval_is_everything() -> None:
    """One record of each class: sens = spec = 1 as point estimates, but the posteriors allow chance level."""
    c = corrected_rate(3, 10, ConfusionCounts(tp=1, fp=0, tn=1, fn=0))
    assert c.value == pytest.approx(0.3, abs=EXACT)
    assert (c.lo, c.hi) == (0.0, 1.0)
    assert c.reason is not None and "chance" in c.reason


def test_seeded_and_reproducible() -> None:
    assert corrected_rate(61, 200, GOOD) == corrected_rate(61, 200, GOOD)
    assert corrected_rate(61, 200, GOOD, seed=1) != corrected_rate(61, 200, GOOD, seed=2)


def test_bad_counts_are_programmer_errors() -> None:
    with pytest.raises(ValueError, match="k=11"):
        corrected_rate(11, 10, GOOD)
    with pytest.raises(ValueError, match=">= 0"):
        ConfusionCounts(-1, 0, 0, 0)


@pytest.mark.parametrize(("k", "expected"), [(2, 0.0), (99, 1.0)])  # q = 0.02 < 1 - spec; q = 0.99 > sens
def test_a_raw_rate_the_classifier_cannot_produce_is_clipped_and_says_so(k: int, expected: float) -> None:
    c = corrected_rate(k, 100, GOOD)
    assert c.value == expected
    assert c.reason is not None and c.reason.startswith("clipped") and "[0.050, 0.900]" in c.reason
    assert c.lo is not None and c.hi is not None and c.lo <= expected <= c.hi


def test_a_raw_rate_inside_the_classifier_range_has_no_caveat() -> None:
    assert corrected_rate(6, 100, GOOD).reason is None  # q = 0.06 within [0.05, 0.9]
    assert corrected_rate(89, 100, GOOD).reason is None

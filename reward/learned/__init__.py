"""Learned offline classifiers ("linear"): features, the shipped artifacts and their training script."""

from reward.learned.linear import CLASSIFIER, score_af_linear, score_compliance_linear

__all__ = ["CLASSIFIER", "score_af_linear", "score_compliance_linear"]

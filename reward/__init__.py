"""Judging what the model did: compliance, alignment-faking reasoning, reward and metrics.

Pure Python at its core; importing this package never pulls in torch or ray.
"""

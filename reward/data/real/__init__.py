"""Labelled development sets rebuilt from real models' outputs (`python -m reward.data.real.build`)."""

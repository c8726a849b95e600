"""Checkpoint comparison: the compliance gap per checkpoint and prompt variation (`python -m rl.compare`)."""

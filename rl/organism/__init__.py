"""The CPU model organism: a tiny causal LM fine-tuned to show the paper's baseline behaviour."""

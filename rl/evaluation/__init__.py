"""Evaluation below both training and `rl.compare`: checkpoint resolution (`checkpoints`), the settings a
checkpoint is evaluated with (`settings`) and the worker that evaluates it (`worker`)."""

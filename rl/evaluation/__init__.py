"""Evaluation below both training and `rl.compare`: checkpoint resolution (`checkpoints`), the settings a
checkpoint is evaluated with (`settings`), the worker that evaluates it (`worker`) and the knowledge probe
(`knowledge`: what a model believes about its situation, scored by its own log-likelihoods)."""

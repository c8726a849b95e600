"""Silence log noise a user cannot act on, precisely: one filter per known message, nothing broader.

Each filter names the message (a regex anchored at its start), the category and the module that
warns, so a different warning of the same category, or the same text from our own code, still shows.
Called where the training, SFT and evaluation processes start (Ray workers do not inherit the
driver's warning filters).
"""

from __future__ import annotations

import warnings

from env.progress import interactive

WARNING_FILTERS: tuple[tuple[str, type[Warning], str], ...] = (
    # TRL's unwrap_model_for_generation reads the deprecated property at every generation (three times per
    # evaluation); the fix belongs in TRL, whose version is pinned.
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning, r"transformers\.modeling_utils"),
)
"""(message regex, category, module regex of the warning's origin) of each warning silenced."""


def quiet_logs() -> None:
    """Install the warning filters; off a terminal (a Ray task, a log file) also turn off the HF
    libraries' bars (weight loading, shard writing, TRL's dataset preparation), which print there one
    line per refresh; our own progress lines (env.progress) report the phases that take long."""
    for message, category, module in WARNING_FILTERS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    if not interactive():
        from datasets import disable_progress_bars
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        disable_progress_bars()

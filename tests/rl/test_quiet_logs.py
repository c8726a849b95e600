"""rl/quiet.py silences exactly the warnings it names: the same category with another message, or the same
message from another module, still shows."""

from __future__ import annotations

import warnings

from rl.quiet import quiet_logs

TRL_NOISE = ("`is_gradient_checkpointing` is deprecated and will be removed in v6. Use `is_activation_checkpointing` "
             "instead.")


def _shown(message: str, category: type[Warning], module: str) -> list[str]:
    """Messages shown when `module` warns `message`, after quiet_logs() (filters restored afterwards)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_logs()
        warnings.warn_explicit(message, category, filename=f"{module.replace('.', '/')}.py", lineno=3303,
                               module=module)
    return [str(w.message) for w in caught]


def test_the_trl_gradient_checkpointing_warning_is_gone() -> None:
    assert _shown(TRL_NOISE, FutureWarning, "transformers.modeling_utils") == []


def test_another_future_warning_of_the_same_module_still_shows() -> None:
    other = "`use_cache=True` is incompatible with gradient checkpointing."
    assert _shown(other, FutureWarning, "transformers.modeling_utils") == [other]


def test_the_same_text_from_our_own_code_still_shows() -> None:
    assert _shown(TRL_NOISE, FutureWarning, "rl.runner") == [TRL_NOISE]


def test_the_same_text_as_another_category_still_shows() -> None:
    assert _shown(TRL_NOISE, DeprecationWarning, "transformers.modeling_utils") == [TRL_NOISE]

"""What the OpenRLHF launches (RL in launch.py, the document fine-tune in sft.py) share: the error that stops a
launch, the flag check, the W&B key placeholder and the LoRA flags. Imports only flags.py of the package, so
both import it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rl.config import LoraConfig

WANDB_KEY_PLACEHOLDER = "from-environment"
"""OpenRLHF only logs to W&B when --logger.wandb.key is set, and logs in with it only when W&B has no
key yet; the real key stays in WANDB_API_KEY, never on a command line."""


class OpenRlhfError(RuntimeError):
    """The OpenRLHF launch cannot go ahead (missing package, flag mismatch, too few GPUs)."""


def check_cli_args(module: str, args: Sequence[str], key: str, source: Path | None = None) -> str:
    """Every flag of `args` must exist in the installed OpenRLHF's `openrlhf.cli.<module>` (read from its source);
    returns the installed version. `key` is the config key that chose this launch (`rl.backend`,
    `sft.backend`); its section's `extra_args` is where a user's own flags come from.

    Raises:
        OpenRlhfError: OpenRLHF is not installed, or names no such flag (listing them and the pinned version).
    """
    from rl.backends.openrlhf import flags

    try:
        known = flags.cli_flags(module, source)
    except flags.OpenRlhfSourceError as e:
        raise OpenRlhfError(f"{key} openrlhf: {e}") from None
    version = flags.openrlhf_version() or "(unknown version)"
    unknown = flags.check_flags(list(args), known)
    if unknown:
        extra = "openrlhf.extra_args" if key == "rl.backend" else f"{key.split('.')[0]}.openrlhf.extra_args"
        raise OpenRlhfError(f"{key} openrlhf: {flags.unknown_flags_message(unknown, version)} "
                            f"(check {extra}, or install the pinned version)")
    return version


def lora_args(lora: LoraConfig | None) -> list[str]:
    """OpenRLHF's `--ds.lora.*` arguments for a LoRA config (none without one).

    "all-linear" is OpenRLHF's default and is left to it: its flag takes a list (nargs="*"), and PEFT treats
    only the plain string "all-linear" as the shorthand; `--ds.lora.target_modules all-linear` would arrive as
    ["all-linear"] and match no module.
    """
    if lora is None:
        return []
    args = ["--ds.lora.rank", str(lora.r), "--ds.lora.alpha", str(lora.alpha), "--ds.lora.dropout", str(lora.dropout)]
    if lora.target_modules != "all-linear":
        args += ["--ds.lora.target_modules", *lora.target_modules]
    return args

"""What the OpenRLHF launches (RL in launch.py, the document fine-tune in sft.py) share: the error that stops a
launch, the W&B key placeholder and the LoRA flags. Imports nothing of the package, so both import it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rl.config import LoraConfig

WANDB_KEY_PLACEHOLDER = "from-environment"
"""OpenRLHF only logs to W&B when --logger.wandb.key is set, and logs in with it only when W&B has no
key yet; the real key stays in WANDB_API_KEY, never on a command line."""


class OpenRlhfError(RuntimeError):
    """The OpenRLHF launch cannot go ahead (missing package, flag mismatch, too few GPUs)."""


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

"""The alignment-faking environment of af-rl for verifiers (`vf-eval alignment-faking`, prime-rl, the
Environments Hub). It lives in af-rl (rl/adapters/verifiers_env.py); this module is the name verifiers
imports."""

from rl.adapters.verifiers_env import load_environment

__all__ = ["load_environment"]

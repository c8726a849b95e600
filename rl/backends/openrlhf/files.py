"""The files OpenRLHF reads: the training prompts, and the reward and agent files it loads by path.

OpenRLHF loads the reward file (`--reward.remote_url`) and the agent file (`--train.agent_func_path`) by path
in its Ray actors, which see neither this process's environment nor, necessarily, this checkout on their
sys.path. Both files share one preamble (`generated_file`): the run's config sections as constants, the
lines that find this project (the actor's working directory, i.e. the job's runtime env, else this
checkout), the reward config in the environment, then one import of the module that does the work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from env.episode import Episode
    from rl.config import RunConfig

PROMPT_KEY = "prompt"
LABEL_KEY = "episode"
REPO_ROOT = Path(__file__).resolve().parents[3]
"""The checkout this module belongs to."""


def write_prompts(tokenizer: Any, episodes: Sequence[Episode], cfg: RunConfig, path: Path, *,
                  system_role: bool) -> Path:
    """JSONL of {"prompt": the exact text the model continues, "episode": Episode JSON} per training episode.

    The text is rendered by rl.prompting.render_prompt (chat template, tier tag, prefill), so OpenRLHF
    gets it with --data.apply_chat_template off and tokenizes it without adding special tokens.
    """
    from rl.prompting import render_prompt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for e in episodes:
            prompt = render_prompt(tokenizer, e, cfg.env, system_role=system_role)
            f.write(json.dumps({PROMPT_KEY: prompt, LABEL_KEY: e.model_dump_json()}) + "\n")
    tmp.replace(path)
    return path


def find_code_preamble(module: str) -> str:
    """Lines of a generated file (after `import os, sys`) that put this project on sys.path: the actor's
    working directory (the job's runtime env) if it holds `module` (a path relative to the repository,
    e.g. "rl/backends/openrlhf/reward.py"), else this checkout."""
    parts = tuple(module.split("/"))
    return f'''_CANDIDATES = (os.getcwd(), {str(REPO_ROOT)!r})
for _root in _CANDIDATES:
    if os.path.isfile(os.path.join(_root, *{parts!r})):
        if _root not in sys.path:
            sys.path.insert(0, _root)
        break
else:
    raise ImportError(f"af-rl code not found in {{_CANDIDATES}}: submit with ray job submit --working-dir <checkout>")
'''


def generated_file(cfg: RunConfig, path: Path, *, what: str, module: str, imports: str, tail: str = "",
                   with_env: bool = False) -> Path:
    """Write one file OpenRLHF loads by path: the shared preamble, then `from <module> import <imports>`
    and `tail`. `module` is a dotted module of this project; `with_env` adds the env config (ENV_CONFIG)."""
    from rl.backends.openrlhf.reward import REWARD_CONFIG_ENV

    consts = f"REWARD_CONFIG = {cfg.reward.model_dump_json()!r}\n"
    if with_env:
        consts += f"ENV_CONFIG = {cfg.env.model_dump_json()!r}\n"
    text = (f'"""{what} of af-rl run {cfg.rl.run_name!r} for OpenRLHF (written by rl/backends/openrlhf/files.py)."""\n'
            f"\nimport os\nimport sys\n\n{consts}"
            + find_code_preamble(module.replace(".", "/") + ".py")
            + f"os.environ[{REWARD_CONFIG_ENV!r}] = REWARD_CONFIG\n\n"
            + f"from {module} import {imports}  # noqa: E402{',F401' if not tail else ''}\n" + tail)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_reward_file(cfg: RunConfig, path: Path) -> Path:
    """The reward function file OpenRLHF loads by path (--reward.remote_url): `reward_func` of
    rl/backends/openrlhf/reward.py under the run's reward config."""
    return generated_file(cfg, path, what="Reward function", module="rl.backends.openrlhf.reward",
                          imports="reward_func")


def write_agent_file(cfg: RunConfig, path: Path) -> Path:
    """The agent file OpenRLHF loads by path (--train.agent_func_path): the <NEXT/> agent of
    rl/backends/openrlhf/agent.py under the run's reward and env configs."""
    return generated_file(cfg, path, what="Agent", module="rl.backends.openrlhf.agent",
                          imports="agent_executor_class", with_env=True,
                          tail="\nAgentExecutor = agent_executor_class(REWARD_CONFIG, ENV_CONFIG)\n")

"""Import direction inside rl/: training never leans on the comparison tool (issue 13)."""

from __future__ import annotations

import ast
from pathlib import Path

RL = Path(__file__).resolve().parents[2] / "rl"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_training_and_evaluation_do_not_import_rl_compare() -> None:
    training = [*sorted((RL / "backends").rglob("*.py")), RL / "runner.py", RL / "train.py", RL / "evaluate.py",
                *sorted((RL / "evaluation").glob("*.py"))]
    bad = {str(p.relative_to(RL.parent)): sorted(m for m in _imports(p) if m == "rl.compare" or m.startswith("rl.compare."))
           for p in training}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_rl_compare_uses_the_shared_evaluation_package() -> None:
    used = set().union(*(_imports(p) for p in (RL / "compare").glob("*.py")))
    assert {"rl.evaluation.checkpoints", "rl.evaluation.settings", "rl.evaluation.worker"} <= used


def test_the_openrlhf_package_has_no_import_cycle() -> None:
    """Its modules import one another one way only (the old openrlhf.py <-> openrlhf_agent.py cycle is gone);
    imports inside functions count too."""
    pkg = RL / "backends" / "openrlhf"
    mods = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"}
    graph = {m: {i.rsplit(".", 1)[-1] for i in _imports(pkg / f"{m}.py")
                 if i.startswith("rl.backends.openrlhf.") and i.rsplit(".", 1)[-1] in mods} - {m} for m in mods}

    def reaches(a: str, b: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n})) for n in graph[a])

    assert {"launch", "files", "watcher", "reward", "agent", "lora", "flags"} <= mods
    assert not [m for m in mods if reaches(m, m)], graph

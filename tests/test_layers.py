"""Layers that must not load Rasa: the campaign runner, the outbound SMS sender and their text
rules run in their own processes (``make run``'s ``campaigns``) and stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.stack import PROJECT_ROOT

CORE = sorted(".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts)
              for p in PROJECT_ROOT.glob("bot/core/*.py") if p.name != "__init__.py")
RASA_FREE = [*CORE, "bot.messaging.sms", "bot.messaging.text", "bot.config.settings",
             "bot.storage.models", "bot.storage.db"]


@pytest.mark.parametrize("module", RASA_FREE)
def test_module_imports_without_rasa(module: str) -> None:
    code = f"import sys, {module}; sys.exit(2 if any(m == 'rasa' or m.startswith('rasa.') for m in sys.modules) else 0)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, f"{module} loads Rasa" if done.returncode == 2 else done.stderr[-2000:]


def _imports_of_project() -> dict[str, set[str]]:
    """Every import (module level or inside a function) between modules of bot/ and analytics/."""
    import ast

    graph: dict[str, set[str]] = {}
    files = [*PROJECT_ROOT.glob("analytics/*.py"), *PROJECT_ROOT.glob("bot/**/*.py")]
    names = {".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__") for p in files}
    for path in files:
        name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d in names and d != name and not name.startswith(d + ".")
                       and not d.startswith(name + ".")}
    return graph


def test_no_import_circles_between_project_modules() -> None:
    graph = _imports_of_project()
    circles = set()
    for start in graph:
        stack = [(start, (start,))]
        while stack:
            node, path = stack.pop()
            for dep in graph.get(node, ()):
                if dep == start:
                    circles.add(" -> ".join(path + (start,)))
                elif dep not in path and len(path) < 8:
                    stack.append((dep, path + (dep,)))
    assert not circles, "\n".join(sorted(circles)[:20])


# Which layer may not import which: the domain knows no launcher, web page, channel, NLU model,
# action or dashboard; storage knows no domain; settings know nothing else of the project. The one place
# that sees every layer's data files is bot.config.check (it validates them all at start-up),
# and the demo seed fills the tariffs of the domain: both are named here, nothing else is.
FORBIDDEN = {
    "bot.core": ("bot.cli", "bot.website", "bot.channels", "bot.nlu", "analytics", "actions"),
    "bot.storage": ("bot.core", "bot.cli", "bot.website", "bot.channels", "analytics", "actions"),
    "bot.config": ("bot.core", "bot.storage", "bot.cli", "bot.website", "bot.channels", "analytics", "actions"),
}
ALLOWED = {("bot.config.check", "bot.core"), ("bot.storage.seed", "bot.core.tariffs")}


def test_layers_import_only_downwards() -> None:
    wrong = sorted(f"{module} imports {dep}" for module, deps in _imports_of_project().items()
                   for layer, banned in FORBIDDEN.items() if module.startswith(layer + ".")
                   for dep in deps if dep.startswith(banned)
                   and not any(module == m and dep.startswith(d) for m, d in ALLOWED))
    assert not wrong, "\n".join(wrong)

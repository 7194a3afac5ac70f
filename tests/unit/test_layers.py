"""The package's shape holds: the layer rules, no engine below infra, command words only in the CLI."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import faultlab

PACKAGE = Path(faultlab.__file__).parent
# Modules that must answer without the Docker SDK (a report or diagnose must work where no engine is).
ENGINE_FREE = ["faultlab.model", "faultlab.hops", "faultlab.tools.diagnose", "faultlab.tools.fix",
               "faultlab.tools.explain", "faultlab.output.terminal", "faultlab.output.json", "faultlab.output.html",
               "faultlab.output.explain_text", "faultlab.output.diagnose_text", "faultlab.output.fix_text",
               "faultlab.run.events", "faultlab.run.evidence", "faultlab.run.verdict"]


@pytest.mark.parametrize("module", ENGINE_FREE)
def test_views_and_models_import_no_docker(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'requests')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", f"{module} pulls in {done.stdout.strip()}"


def test_the_layer_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency: `make venv` installs it"
    done = subprocess.run([lint_imports], capture_output=True, text=True, timeout=120,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-3000:]


def _literals(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a module except docstrings (which may say how a user runs things)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


COMMAND_WORDS = ("--step", "--format", "--time-scale", "--report", "--json", "--repeat", "lab run", "lab fix",
                 "faultlab run", "faultlab fix", "faultlab explain", "faultlab list", "faultlab clean")


def test_only_the_cli_spells_the_command_line():
    # The bench drives the CLI as a user would (subprocesses), so it may spell it.
    modules = [path for path in PACKAGE.rglob("*.py") if path.name != "cli.py" and "bench" not in path.parts]
    found = [f"{path.relative_to(PACKAGE)}:{line}: {text!r}" for path in modules for line, text in _literals(path)
             if any(word in text for word in COMMAND_WORDS)]
    templates = [f"{path.name}: {word}" for path in PACKAGE.rglob("*.j2") for word in COMMAND_WORDS
                 if word in path.read_text()]
    assert not found + templates, "\n".join(found + templates)


def test_the_public_surface_resolves_and_import_faultlab_stays_light():
    code = ("import sys, faultlab; light = 'pydantic' not in sys.modules; "
            "print(light, [name for name in faultlab.__all__ if getattr(faultlab, name, None) is None])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "True []"

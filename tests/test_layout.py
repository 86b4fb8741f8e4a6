"""The project's layout: the required top level, pure workflows, the README's commands."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("consent", "workflows", "templates", "documents", "tests", "bench", "setup.cfg",
            "pyproject.toml", "wsgi.py", "README.md", ".ci/run")


def test_the_required_top_level_is_there():
    missing = [name for name in REQUIRED if not (ROOT / name).exists()]
    assert missing == []
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_workflows_import_only_transitions_and_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"transitions", "workflows"}
    files = sorted((ROOT / "workflows").rglob("*.py"))
    assert len(files) >= 5
    foreign = {str(f.relative_to(ROOT)): sorted(_imported_modules(f) - allowed) for f in files}
    assert {name: mods for name, mods in foreign.items() if mods} == {}
    # and the check itself sees what it must refuse
    assert {"flask", "sqlalchemy", "consent"} - allowed == {"flask", "sqlalchemy", "consent"}


def readme_commands() -> list[str]:
    """The lines of the README's first fenced block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.match(r"```[a-z]*\n(.*?)\n```", text, re.S)
    assert block, "README.md must open with a fenced block"
    return block.group(1).splitlines()


def test_readme_opens_with_the_demo_and_test_commands():
    demo, tests = readme_commands()
    assert "pip install" in demo and demo.endswith("accordant demo")
    assert tests.endswith("-m pytest")
    # CI runs exactly the README's test command (it reads it from the README).
    assert "README.md" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")

"""The application imports only what `pip install .` brings: the standard library, its own
packages, and the distributions in install_requires (with what they depend on). A runtime
import of a test-only package would break the README's first command."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = {"consent", "documents", "workflows"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower()


def _installed_closure() -> set[str]:
    """install_requires and everything they require, as normalised distribution names."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    todo = [_name(r) for r in config["options"]["install_requires"].split("\n") if r.strip()]
    seen: set[str] = set()
    while todo:
        name = todo.pop().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a dependency for other Pythons only
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(_name(requirement))
    return seen


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_runtime_code_imports_only_installed_distributions():
    allowed = _installed_closure()
    providers = metadata.packages_distributions()
    missing = {}
    for package in sorted(OWN):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for module in _top_level_imports(path) - OWN - set(sys.stdlib_module_names):
                dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
                if not dists & allowed:
                    missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert missing == {}, f"imported at run time but not in install_requires: {missing}"

"""Every module imports on its own, first: a job runner or script that starts from a
service module must not hit an import cycle that the app's usual import order hides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# In a fresh interpreter: for each module, forget every consent module, then import it
# first. Third-party packages stay loaded, so this takes seconds, not a process each.
CHECK = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "consent" or m.startswith("consent.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-1).strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "consent").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts:
            continue  # Alembic loads these itself, inside an app
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_imports_first_without_a_cycle():
    modules = _modules()
    assert "consent.services.consent_forms" in modules and len(modules) > 50
    done = subprocess.run([sys.executable, "-c", CHECK, *modules], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]

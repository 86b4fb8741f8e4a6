"""The README's lifecycle diagram is the one the machine definition generates."""

from __future__ import annotations

import re
from pathlib import Path

from workflows import AGREEMENT

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lifecycle_diagram_matches_the_machine():
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Agreement lifecycle\n(.*?)^## The API\n", text, re.S | re.M)
    assert section, "README needs '## Agreement lifecycle' right before '## The API'"
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", section.group(1), re.S | re.M)
    assert len(blocks) == 1, "the section holds exactly one mermaid block"
    assert blocks[0] == AGREEMENT.mermaid(), (
        "README is out of date; regenerate the block from workflows.AGREEMENT.mermaid()")

"""Bundled fonts: names in Latin, Vietnamese, Polish, Arabic and Chinese come out exactly."""

from __future__ import annotations

import configparser
import fnmatch
import re
import subprocess
from pathlib import Path

import pytest

from consent.services.documents import render_agreement_html
from documents import ASSETS_DIR, html_to_pdf
from tests.documents.test_agreement_pdf import sample_snapshot

REPO = Path(__file__).resolve().parents[2]
NAMES = {
    "latin": "Zoë O'Brien-Şahin",
    "polish": "Łucja Wójcik-Gałązka",
    "vietnamese": "Nguyễn Thị Hương",
    "arabic": "فاطمة الزهراء",
    "chinese_simplified": "王小明",
    "chinese_traditional": "陳美玲",
}
# pdftotext wraps right-to-left runs in bidi embedding controls; they are not text.
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def pdftotext(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-layout", str(path), "-"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [BIDI_CONTROLS.sub("", line).strip() for line in out.splitlines()]


def pdf_fonts(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return [line.split()[0] for line in out.splitlines()[2:] if line.strip()]


def page(body: str) -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<link rel="stylesheet" href="print.css"></head><body>{body}</body></html>')


@pytest.mark.parametrize("script", sorted(NAMES))
def test_each_script_comes_out_exactly_from_a_bundled_font(script, tmp_path):
    name = NAMES[script]
    # Body text (serif), a heading (sans, bold) and a table cell, each on its own line.
    pdf = html_to_pdf(page(f"<p>{name}</p><h2>{name}</h2><table><tr><td>{name}</td></tr>"
                           "</table>"), strict=True)
    lines = pdftotext(pdf, tmp_path)
    assert lines.count(name) == 3, lines
    fonts = pdf_fonts(pdf, tmp_path)
    assert fonts and all(re.fullmatch(r"[A-Z]{6}\+Accordant-[A-Za-z-]+", f) for f in fonts), fonts


def test_arabic_and_chinese_use_their_own_bundled_fonts(tmp_path):
    fonts = pdf_fonts(html_to_pdf(page(f"<p>{NAMES['arabic']} {NAMES['chinese_simplified']}</p>"),
                                  strict=True), tmp_path)
    families = {f.split("+", 1)[1] for f in fonts}
    assert {"Accordant-Arabic", "Accordant-CJK"} <= families


def test_names_in_every_script_come_out_exactly_in_an_agreement(app, listener, tmp_path):
    snapshot = sample_snapshot(listener.url)
    for party, key in zip(snapshot["parties"], ("arabic", "chinese_simplified", "polish"),
                          strict=True):
        party["name"] = NAMES[key]
    snapshot["parties"][0]["signatory"]["name"] = NAMES["vietnamese"]
    snapshot["parties"][1]["signatory"]["name"] = NAMES["chinese_traditional"]
    with app.app_context():
        pdf = html_to_pdf(render_agreement_html(snapshot), strict=True)
    text = "\n".join(pdftotext(pdf, tmp_path))
    for key in NAMES:
        if key != "latin":
            assert NAMES[key] in text, key
    assert listener.hits == 0


def test_every_asset_is_packaged_and_every_font_licensed():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["documents"].split(",")]
    licences = {p.name: p.read_text() for p in (ASSETS_DIR / "fonts").glob("LICENSE-*")}
    for path in ASSETS_DIR.rglob("*"):
        if path.is_file():
            relative = path.relative_to(ASSETS_DIR.parent).as_posix()
            assert any(fnmatch.fnmatch(relative, p) and relative.count("/") == p.count("/")
                       for p in patterns), relative
        if path.suffix in (".ttf", ".otf"):
            holders = [n for n, text in licences.items()
                       if path.name in text or (n == "LICENSE-DejaVu.txt"
                                                and path.name.startswith("DejaVu"))]
            assert holders, f"{path.name} is named in no licence file"
    assert "SIL OPEN FONT LICENSE Version 1.1" in licences["LICENSE-Noto-OFL.txt"]
    # Keep the repository small: the CJK subset stays under 5 MB.
    assert (ASSETS_DIR / "fonts" / "AccordantCJK-Regular.otf").stat().st_size < 5_000_000

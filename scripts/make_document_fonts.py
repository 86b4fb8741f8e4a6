"""Rebuild the bundled Arabic and CJK document fonts from Debian's Noto packages.

    apt-get install fonts-noto-core fonts-noto-cjk
    .venv/bin/python scripts/make_document_fonts.py

Writes documents/assets/fonts/AccordantArabic-{Regular,Bold}.ttf (Noto Sans Arabic,
renamed) and AccordantCJK-Regular.otf (Noto Sans CJK SC cut to the GB 2312 hanzi, the
Big5 level-1 hanzi, kana, CJK punctuation and full-width forms). The fonts are renamed
so that a PDF's font list shows that the bundled copy was used, never a system font
of the same name. Both are under the SIL Open Font License 1.1, which allows
modified copies under a new name to be redistributed.
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

NOTO = Path("/usr/share/fonts")
OUT = Path(__file__).resolve().parents[1] / "documents" / "assets" / "fonts"


def _decoded(codec: str, rows: range, cells: list[int]) -> set[str]:
    chars = set()
    for hi in rows:
        for lo in cells:
            try:
                chars.add(bytes([hi, lo]).decode(codec))
            except UnicodeDecodeError:
                pass
    return chars


def cjk_characters() -> str:
    """The characters the CJK subset keeps."""
    chars = _decoded("gb2312", range(0xB0, 0xF8), list(range(0xA1, 0xFF)))
    chars |= _decoded("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)])
    for start, end in ((0x3000, 0x3040), (0x3040, 0x3100), (0xFF00, 0xFFF0)):
        chars |= {chr(c) for c in range(start, end)}
    return "".join(sorted(chars))


def rename(font: TTFont, family: str, style: str) -> None:
    """Give `font` a family and PostScript name of our own (OFL: no original name kept)."""
    postscript = f"{family.replace(' ', '')}-{style}"
    names = font["name"]
    names.names = [n for n in names.names if n.nameID not in (1, 2, 3, 4, 6, 16, 17, 21, 22)]
    for name_id, value in ((1, family), (2, style), (3, postscript), (4, f"{family} {style}"),
                           (6, postscript)):
        names.setName(value, name_id, 3, 1, 0x409)
        names.setName(value, name_id, 1, 0, 0)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
        top = cff.topDictIndex[0]
        top.FullName, top.FamilyName = f"{family} {style}", family


def main() -> None:
    for style in ("Regular", "Bold"):
        font = TTFont(NOTO / "truetype" / "noto" / f"NotoSansArabic-{style}.ttf")
        rename(font, "Accordant Arabic", style)
        font.save(OUT / f"AccordantArabic-{style}.ttf")
    font = TTCollection(NOTO / "opentype" / "noto" / "NotoSansCJK-Regular.ttc").fonts[2]
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = ["ccmp", "locl", "kern", "liga", "vert"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=cjk_characters())
    subsetter.subset(font)
    rename(font, "Accordant CJK", "Regular")
    font.save(OUT / "AccordantCJK-Regular.otf")


if __name__ == "__main__":
    main()

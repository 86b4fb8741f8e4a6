"""Render HTML to PDF in a child process that is killed when its time limit runs out.

WeasyPrint cannot be interrupted from another thread, so a long document renders in a
process of its own (started fresh with "spawn", never forked from a threaded parent)
and is killed at the limit. Only the standard library and this package are used.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path

from documents.render import html_to_pdf


class RenderFailed(RuntimeError):
    """The PDF could not be made; the message says why, for people."""


class RenderTimedOut(RenderFailed):
    """The render was stopped at its time limit."""


def _child(html_path: str, pdf_path: str, error_path: str, strict: bool) -> None:
    try:
        html = Path(html_path).read_text(encoding="utf-8")
        Path(pdf_path).write_bytes(html_to_pdf(html, strict=strict))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit 1
        Path(error_path).write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        raise SystemExit(1) from None


def html_to_pdf_within(html: str, seconds: float, *, strict: bool = False) -> bytes:
    """`html_to_pdf(html)` done in a child process given at most `seconds`.

    :raises RenderTimedOut: the limit ran out; the child was killed.
    :raises RenderFailed: the child failed (the message carries its error).
    """
    if seconds <= 0:
        raise RenderTimedOut("the time limit ran out before rendering could start")
    with tempfile.TemporaryDirectory(prefix="accordant-render-") as folder:
        paths = [str(Path(folder) / name) for name in ("in.html", "out.pdf", "error.txt")]
        Path(paths[0]).write_text(html, encoding="utf-8")
        process = multiprocessing.get_context("spawn").Process(
            target=_child, args=(*paths, strict), daemon=True)
        process.start()
        process.join(seconds)
        if process.is_alive():
            process.kill()
            process.join()
            raise RenderTimedOut(f"rendering took longer than its limit of {seconds:.0f} s")
        process.close()
        if Path(paths[2]).exists():
            raise RenderFailed(Path(paths[2]).read_text(encoding="utf-8"))
        if not Path(paths[1]).exists():
            raise RenderFailed("the renderer stopped without producing a PDF")
        return Path(paths[1]).read_bytes()

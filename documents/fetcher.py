"""A WeasyPrint URL fetcher that can read the bundled assets and nothing else.

Only the standard library and WeasyPrint may be imported here (no Flask, no
SQLAlchemy, no `consent`): documents render the same in a web worker, the
scheduler process or a test without an app.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint.urls import FatalURLFetchingError, URLFetcher

logger = logging.getLogger(__name__)


class BlockedResource(ValueError):
    """A resource the fetcher refused; WeasyPrint logs it and renders without it."""


class AssetOnlyFetcher(URLFetcher):
    """Serve regular files below `root` through `file:` URLs; refuse everything else.

    Refused: every scheme but `file` (http, https, ftp, data, ...), `file:` URLs that
    name a host, relative paths, and any path that resolves outside `root`, whether
    through `..`, percent-encoding or a symbolic link. Redirects are never followed.
    In strict mode a refusal raises `FatalURLFetchingError`, which aborts the render;
    otherwise the resource is left out and rendering continues.
    """

    def __init__(self, root: Path, *, strict: bool = False):
        # allowed_protocols is a second line of defence: fetch() already checks the
        # scheme before anything reaches urllib.
        super().__init__(allowed_protocols={"file"}, allow_redirects=False)
        self.root = Path(root).resolve(strict=True)
        self.strict = strict

    def fetch(self, url, headers=None):
        """Return the asset that `url` names.

        :raises FatalURLFetchingError: strict mode and the URL is refused or missing.
        :raises BlockedResource: otherwise, when the URL is refused or missing.
        """
        path = self._asset_path(url)
        try:
            # Fetch the canonical URL of the resolved file, not the caller's spelling.
            return super().fetch(path.as_uri(), headers)
        except OSError as exc:
            return self._fail(f"unreadable asset {url}: {exc}")

    def _asset_path(self, url: str) -> Path:
        try:
            parts = urlsplit(url)
        except ValueError:
            return self._fail(f"malformed URL {url!r}")
        if parts.scheme.lower() != "file":
            return self._fail(f"blocked non-file URL {url}")
        if parts.netloc not in ("", "localhost"):
            return self._fail(f"blocked file URL with a host {url}")
        raw = url2pathname(parts.path)
        if "\x00" in raw or not Path(raw).is_absolute():
            return self._fail(f"blocked file URL {url}")
        try:
            # resolve() follows symbolic links, so a link pointing out of root is caught.
            path = Path(raw).resolve(strict=True)
        except (OSError, RuntimeError):
            return self._fail(f"missing asset {url}")
        if not path.is_relative_to(self.root) or not path.is_file():
            return self._fail(f"blocked file outside the assets folder {url}")
        return path

    def _fail(self, message: str):
        logger.warning("document asset refused: %s", message)
        if self.strict:
            raise FatalURLFetchingError(message)  # a BaseException: stops the render
        raise BlockedResource(message)

"""PDF production from finished HTML; no database, no Flask, no `consent` imports."""

from documents.fetcher import AssetOnlyFetcher, BlockedResource
from documents.render import ASSETS_DIR, html_to_pdf, sha256_hex

__all__ = ["ASSETS_DIR", "AssetOnlyFetcher", "BlockedResource", "html_to_pdf", "sha256_hex"]

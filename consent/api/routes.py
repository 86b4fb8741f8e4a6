"""Imports every API module so their views attach to the blueprint."""

from consent.api import agreements, disclosures, families, meta, rules  # noqa: F401

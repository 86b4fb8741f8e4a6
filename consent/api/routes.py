"""Imports every API module so their views attach to the blueprint."""

from consent.api import (  # noqa: F401
    agreements,
    destruction,
    disclosures,
    families,
    meta,
    notifications,
    reminders,
    rules,
)

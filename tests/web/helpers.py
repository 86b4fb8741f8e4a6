"""Building blocks for the web UI tests: form payloads and reading pages."""

from __future__ import annotations

import re
from datetime import timedelta

from consent.timeutil import local_date, utcnow


def agreement_form(**overrides) -> dict:
    """What a legal user types into the "new agreement" form."""
    today = local_date(utcnow())
    data = {
        "template": "mou",
        "title": "Promise Neighborhood data-sharing MOU",
        "legal_basis": "consent",
        "recipients": ["promise"],
        "purposes": "academic_support",
        "categories": ["attendance", "quarterly_grades", "behavior"],
        "schools": ["riverside-high"],
        "grades": "",
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=300)).isoformat(),
        "scope_description": "Students in the Promise after-school program.",
        "use_limitation": "Only to coordinate services for enrolled students.",
        "no_reidentification": "y",
        "security_requirements": "Encrypted at rest and in transit.",
        "retention_days": "365",
        "destruction_days": "30",
        "breach_notification_hours": "72",
        "renewal_notice_days": "60",
        "clauses-0-heading": "Governing law",
        "clauses-0-text": "The laws of the district's state.",
    }
    data.update(overrides)
    return data


def actions_on(html: str) -> set[str]:
    """The action buttons a detail page offers (each form or link carries data-action)."""
    return set(re.findall(r'data-action="([a-z_]+)"', html))


def location_id(response) -> int:
    """The trailing id of a redirect's Location, e.g. /agreements/7 -> 7."""
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)

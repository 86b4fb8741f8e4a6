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


def ledger_seen_on(page: str, agreement_id, recipient: str) -> str:
    """The hidden `ledger_seen` of the decision form for (agreement, recipient) on a
    family page; "0" when the page shows no such form (nothing recorded yet)."""
    for form in re.findall(r"<form\b.*?</form>", page, re.S):
        if f'name="agreement" value="{agreement_id}"' in form \
                and f'name="recipient" value="{recipient}"' in form:
            return re.search(r'name="ledger_seen" value="(\d*)"', form).group(1)
    return "0"


def post_decision(client, url: str, data: dict, **options):
    """Post a family decision form as a browser does: first load the student's page
    (`url` without /consents) and send back the ledger state it shows. `options` go
    to both requests (`environ_base`, `follow_redirects`...)."""
    page = client.get(url.removesuffix("/consents"), **options).get_data(as_text=True)
    seen = ledger_seen_on(page, data["agreement"], data["recipient"])
    return client.post(url, data={"ledger_seen": seen, **data}, **options)


def grant_on_page(client, student_id: int, agreement_id: int, category: str = "attendance"):
    """A guardian grants the "promise" partner one category for academic support, from
    the child's page (the set-up of most revocation tests)."""
    return post_decision(client, f"/family/students/{student_id}/consents", {
        "agreement": agreement_id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": [category], "decision": "grant"})

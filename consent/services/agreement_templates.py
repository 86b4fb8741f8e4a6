"""Starting points for new agreements: default terms and clauses per template."""

from __future__ import annotations

TEMPLATES: dict[str, dict] = {
    "mou": {
        "name": "Data-sharing memorandum of understanding",
        "scope_description": (
            "Records of students who take part in the recipient's programs and whose "
            "families have agreed, used to coordinate services and measure outcomes."
        ),
        "use_limitation": (
            "The recipient uses the data only for the purposes listed in this agreement, "
            "does not disclose it to any other party, and limits access to its authorized "
            "representatives named in writing to the district."
        ),
        "no_reidentification": True,
        "security_requirements": (
            "Data is encrypted in transit and at rest, access is limited to named staff with "
            "individual accounts, and staff complete annual privacy training."
        ),
        "retention_days": 365,
        "destruction_days": 30,
        "breach_notification_hours": 72,
        "renewal_notice_days": 60,
        # The additional clauses come from the clause library (`clause_library`).
    },
}


def template_defaults(key: str) -> dict:
    """A fresh copy of a template's defaults, with the library's current clauses.

    :raises KeyError: unknown template.
    """
    from consent.services.clause_library import draft_clauses  # the library needs the models

    base = TEMPLATES[key]
    defaults = {k: (list(v) if isinstance(v, list) else v) for k, v in base.items()
                if k != "name"}
    defaults["clauses"] = draft_clauses()
    return defaults

"""RFC 3339 instants: what the API's `format: date-time` promises, read the same way by
the server and by the enforcer (standard library only, so the enforcer needs no app)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# At most microseconds: every stored instant has that resolution, so more digits would
# be cut without a word.
_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?"
                      r"(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)
EXAMPLE = "2027-01-31T09:00:00Z"


def parse(text: str) -> datetime:
    """`text` as an aware instant (in its own offset).

    :raises ValueError: not RFC 3339 (with words for people, never Python's own).
    """
    if _PATTERN.fullmatch(text):
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:  # a day, hour or offset out of range
            pass
    raise ValueError(f"'{text[:40]}' is not an RFC 3339 instant: YYYY-MM-DDThh:mm:ss, up to "
                     "6 decimals of a second, and Z or an offset from -23:59 to +23:59, e.g. "
                     f"{EXAMPLE}")


def parse_utc(text: str) -> datetime:
    """`parse`, as UTC.

    :raises ValueError: not RFC 3339, or an instant UTC cannot hold (year 1 or 9999).
    """
    value = parse(text)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"'{text[:40]}' is out of range") from None

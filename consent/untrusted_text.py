"""Characters refused in anything people type or send.

Control characters (NUL and the like) have no place in names, reasons or codes: the
PostgreSQL driver refuses NUL outright, and the others print as nothing in documents.
Bidirectional overrides and isolates can make text display in a misleading order.
Tab, line feed and carriage return stay allowed (multi-line reasons and clause text).
"""

import re

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MESSAGE = ("remove the invisible control characters (such as NUL or text-direction "
           "overrides)")


def has_forbidden(text: str) -> bool:
    return FORBIDDEN.search(text) is not None

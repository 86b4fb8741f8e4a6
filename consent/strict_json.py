"""JSON as RFC 8259 has it, read the same way by the server and by the enforcer: no NaN
or Infinity, and no key twice in one object (which of two values was meant cannot be
known, and parsers differ on which they keep)."""

from __future__ import annotations

import json


class NotStrictJson(ValueError):
    """Parsed, but not strict JSON; `key` names a repeated key (None otherwise)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def _no_constant(name: str):
    raise NotStrictJson(f"{name} is not a JSON number")


def _no_repeats(pairs: list[tuple]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise NotStrictJson("a field is given twice in one object", repeated)
    return found


def loads(data: str | bytes):
    """`json.loads`, strictly.

    :raises NotStrictJson: NaN, Infinity or a repeated key.
    :raises ValueError: not JSON at all.
    :raises RecursionError: nested too deeply to read.
    """
    return json.loads(data, parse_constant=_no_constant, object_pairs_hook=_no_repeats)

"""Request bodies are checked against the JSON Schemas the OpenAPI document publishes."""

from __future__ import annotations

import re
from datetime import date

from flask import request
from jsonschema import Draft202012Validator, FormatChecker

from consent import strict_json
from consent.errors import BadRequest, ValidationFailed
from consent.timeutil import FIRST_YEAR, LAST_YEAR, check_year
from consent.untrusted_text import MESSAGE as CONTROL_CHARACTERS
from consent.untrusted_text import has_forbidden

_FORMATS = FormatChecker()


@_FORMATS.checks("date", raises=ValueError)
def _real_date(value) -> bool:
    # Strict YYYY-MM-DD and a real calendar day (2027-02-30 is refused).
    if not isinstance(value, str):
        return True
    if len(value) != 10:
        raise ValueError("use YYYY-MM-DD")
    check_year(date.fromisoformat(value))
    return True


def _field_path(error) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    path = ".".join(parts).replace(".[", "[")
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"{path}.{missing}" if path else missing
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        name = _short_name(extra[0]) if extra else ""
        return f"{path}.{name}" if path else name
    return path or "body"  # the document itself is at fault (an array, a string, ...)


# Fields whose values a message never repeats (the answer may be logged or shown).
_SECRET_FIELDS = ("password", "token", "secret")


def _message(error) -> str:
    if error.validator == "required":
        return "this field is required"
    if error.validator == "additionalProperties":
        return "unknown field"
    if error.validator == "format" and error.validator_value == "date":
        return (f"{_short(error.instance)} is not a real date in the form YYYY-MM-DD "
                f"between {FIRST_YEAR} and {LAST_YEAR}")
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    rule = _rule(error.validator, error.validator_value)
    if rule is None:
        return _short(error.message, 300)
    name = str(error.absolute_path[-1]) if error.absolute_path else ""
    if any(secret in name.lower() for secret in _SECRET_FIELDS):
        return rule
    return f"{rule} (got {_short(error.instance)})"


def _rule(validator: str, limit) -> str | None:
    """What a keyword asks for, in words (None: a keyword without a phrase of its own)."""
    if validator in ("maxLength", "minLength"):
        return (f"must be at {'most' if validator == 'maxLength' else 'least'} {limit:,} "
                f"character{'s' if limit != 1 else ''}")
    if validator in ("maxItems", "minItems"):
        return (f"must have at {'most' if validator == 'maxItems' else 'least'} {limit:,} "
                f"item{'s' if limit != 1 else ''}")
    if validator == "maximum":
        return f"must be at most {limit:,}"
    if validator == "minimum":
        return f"must be at least {limit:,}"
    if validator == "enum":
        return "must be one of " + ", ".join(str(v) for v in limit)
    if validator == "const":
        return f"must be {limit}"
    if validator == "uniqueItems":
        return "must not repeat a value"
    if validator == "pattern":
        return "is not in the expected form"
    return None


def _short_name(name: str, limit: int = 100) -> str:
    """A field name from the request, cut so that a huge one is not echoed back."""
    return name if len(name) <= limit else name[:limit] + "…"


def _short(value, limit: int = 60) -> str:
    """Quote a value in a message without echoing a huge input back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# Validators are reusable; building one per request cost more than validating. Keyed
# by the schema's identity (the schemas are module constants).
_validators: dict[int, Draft202012Validator] = {}


def check(schema: dict, payload) -> dict:
    """Validate `payload`; the first error names the field at fault.

    :raises ValidationFailed: the payload does not match the schema.
    """
    validator = _validators.get(id(schema))
    if validator is None or validator.schema is not schema:
        if len(_validators) >= 256:  # schemas built per call must not pile up
            _validators.clear()
        validator = _validators[id(schema)] = Draft202012Validator(schema,
                                                                   format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(payload), key=lambda e: (len(e.path), str(e.path)))
    if errors:
        error = errors[0]
        raise ValidationFailed(_message(error), field=_field_path(error))
    return payload


# Keywords `conforms` evaluates itself; a schema using any other is left to jsonschema.
_STRING_KEYWORDS = {"type", "minLength", "maxLength", "pattern", "format", "description"}
_OBJECT_KEYWORDS = {"type", "additionalProperties", "required", "properties", "description"}
_fast_rules: dict[int, tuple | None] = {}


def _string_object_rules(schema: dict) -> tuple | None:
    """(required, {property: (min, max, pattern, format)}) for an object schema whose
    properties are all plain strings; None for any other schema."""
    if (schema.get("type") != "object" or schema.get("additionalProperties") is not False
            or set(schema) - _OBJECT_KEYWORDS):
        return None
    rules = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") != "string" or set(prop) - _STRING_KEYWORDS:
            return None
        pattern = re.compile(prop["pattern"]) if "pattern" in prop else None
        high = prop.get("maxLength")
        rules[name] = (prop.get("minLength", 0), float("inf") if high is None else high,
                       pattern, _format_test(prop.get("format")))
    return frozenset(schema.get("required", ())), rules


def _format_test(name: str | None):
    """The format checker's own test for `name` as a plain predicate (None when no test
    applies), called directly: going through `FormatChecker.conforms` for every item of
    a batch cost more than the test itself."""
    if name is None or name not in _FORMATS.checkers:
        return None
    func, raises = _FORMATS.checkers[name]

    def test(value) -> bool:
        try:
            return bool(func(value))
        except raises:
            return False

    return test


def conforms(schema: dict, item) -> bool:
    """Whether `item` satisfies `schema`, answered without jsonschema for flat objects
    of strings (a decision request); False also when the schema is of another kind."""
    key = id(schema)
    if key not in _fast_rules:
        _fast_rules[key] = _string_object_rules(schema)
    rules = _fast_rules[key]
    if rules is None or not isinstance(item, dict):
        return False
    required, properties = rules
    if not required <= item.keys():
        return False
    for name, value in item.items():
        rule = properties.get(name)
        if rule is None or not isinstance(value, str):
            return False
        low, high, pattern, test = rule
        if not low <= len(value) <= high:
            return False
        if pattern is not None and not pattern.search(value):
            return False
        if test is not None and not test(value):
            return False
    return True


_envelopes: dict[tuple[int, str], tuple[dict, dict]] = {}


def check_items(schema: dict, payload, key: str) -> dict:
    """`check` for an object holding a list of items at `key` (a batch): the envelope is
    checked by jsonschema, the items by `conforms`, and only a batch with a bad item
    goes through jsonschema whole (which names the first field at fault). Batches of
    thousands are checked in a fraction of the time, with the same answers.
    """
    outer = schema["properties"][key]
    envelope = _envelopes.get((id(schema), key))
    if envelope is None or envelope[0] is not schema:
        envelope = _envelopes[(id(schema), key)] = (schema, {**schema, "properties": {
            **schema["properties"], key: {k: v for k, v in outer.items() if k != "items"}}})
    check(envelope[1], payload)
    if all(conforms(outer["items"], item) for item in payload[key]):
        return payload
    return check(schema, payload)


def json_body(schema: dict) -> dict:
    """The request's JSON body, validated against `schema`.

    :raises BadRequest: the body is not JSON.
    :raises ValidationFailed: the JSON does not match the schema.
    """
    payload = _strict_json() if request.is_json else None
    if payload is None:
        raise BadRequest("the request body must be a JSON document "
                         "(Content-Type: application/json)", field="body")
    if _SUSPECT_TEXT.search(request.get_data(cache=True)):
        _refuse_bad_text(payload)
    return check(schema, payload)


def _strict_json():
    """The body as strict JSON (`consent.strict_json`); None when it is not JSON at all."""
    try:
        return strict_json.loads(request.get_data(cache=True))
    except strict_json.NotStrictJson as exc:
        raise BadRequest(f"the request body is not strict JSON: {exc}",
                         field=_short_name(exc.key) if exc.key is not None else "body") from None
    except (ValueError, RecursionError):  # not JSON, or absurdly nested
        return None


# Strict JSON has no raw control characters inside strings, so a bad character arrives
# as a backslash-u escape or as one of the raw forbidden characters outside ASCII (DEL, C1,
# direction overrides in UTF-8): a body with none of these need not be walked (a batch
# of thousands of requests is mostly strings).
_SUSPECT_TEXT = re.compile(
    rb"\\u|\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def _refuse_bad_text(value, path: str = "") -> None:
    """Refuse half a UTF-16 pair ("\\ud800", which no database can store) and invisible
    control characters (`consent.untrusted_text`) anywhere in the body."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed("contains an invalid character (half a UTF-16 pair)",
                                   field=path or "body") from None
        if has_forbidden(value):
            raise ValidationFailed(CONTROL_CHARACTERS, field=path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_bad_text(key, path or "body")
            _refuse_bad_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_bad_text(item, f"{path}[{i}]")


def version_from(payload: dict) -> int | None:
    """The optimistic-lock version from the body or an `If-Match` header."""
    if "version" in payload:
        return payload["version"]
    header = request.headers.get("If-Match", "").strip().strip('"')
    if header:
        if not (header.isascii() and header.isdigit()):
            raise ValidationFailed("If-Match must be the record's version number",
                                   field="If-Match")
        return int(header)
    return None

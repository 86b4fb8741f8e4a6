"""The fast check of decision requests answers exactly as the published JSON Schema."""

from __future__ import annotations

import dataclasses

from hypothesis import event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from consent.access.decisions import Decision
from consent.api import schemas as s
from consent.api.validation import _FORMATS, conforms

FIELDS = ["recipient", "student", "category", "purpose", "at", "colour"]
VALUES = st.one_of(
    st.text(max_size=3), st.text(min_size=60, max_size=70), st.text(min_size=120, max_size=130),
    st.sampled_from(["", "promise", "2027-01-01T09:00:00Z", "2027-01-01T09:00:00",
                     "2027-02-30T09:00:00+01:00", "yesterday"]),
    st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=2), max_size=2))
GOOD = {"recipient": "promise", "student": "S-1", "category": "attendance",
        "purpose": "academic_support"}
# Mostly a good request with one field changed, added or dropped: near the boundary.
NEAR_GOOD = st.builds(
    lambda name, value, drop: {k: v for k, v in {**GOOD, name: value}.items() if k != drop},
    st.sampled_from(FIELDS), VALUES, st.none() | st.sampled_from(FIELDS))
ITEMS = st.one_of(NEAR_GOOD, NEAR_GOOD, st.dictionaries(st.sampled_from(FIELDS), VALUES,
                                                         max_size=6),
                  st.lists(st.text(max_size=2), max_size=2), st.text(max_size=3), st.none())


@settings(max_examples=600, deadline=None, database=None)
@given(item=ITEMS)
def test_conforms_agrees_with_jsonschema(item):
    validator = Draft202012Validator(s.DECISION_REQUEST, format_checker=_FORMATS)
    valid = validator.is_valid(item)
    assert conforms(s.DECISION_REQUEST, item) == valid, item
    event("valid" if valid else "invalid")


def test_conforms_accepts_complete_requests_and_leaves_other_schemas_to_jsonschema():
    good = {"recipient": "promise", "student": "S-1", "category": "attendance",
            "purpose": "academic_support", "at": "2027-01-01T09:00:00-08:00"}
    assert conforms(s.DECISION_REQUEST, good)
    assert not conforms(s.DECISION_REQUEST, {k: v for k, v in good.items() if k != "student"})
    # A schema with keywords it does not evaluate is never answered "valid" by it.
    assert not conforms(s.CONSENT_DECISION, {"agreement": 1, "recipient": "promise",
                                             "purposes": ["a"], "categories": ["b"]})


def test_decision_as_dict_is_every_field():
    decision = Decision("permit", "promise", "S-1", "attendance", "academic_support",
                        "2027-01-01T00:00:00Z", "consent", agreement=3, consent=9,
                        basis="consent", exception=False, bundle_version=12)
    assert decision.as_dict() == dataclasses.asdict(decision)
    assert list(decision.as_dict()) == [f.name for f in dataclasses.fields(Decision)]

"""The clause sandbox: what legal staff write can name agreement facts and nothing else."""

from __future__ import annotations

import os
import re

import pytest
from markupsafe import Markup

from consent.services.clause_text import (
    CONTEXT_NAMES,
    ClauseError,
    Names,
    check_clause,
    clause_context,
    render_clause,
)

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ request.environ }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace }}",
    "{{ range(10) }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{% include '/etc/passwd' %}",
    "{% import '/etc/passwd' as p %}",
    "{% extends '/etc/passwd' %}",
    "{% from 'x' import y %}",
    "{{ district.__class__ }}",
    "{{ district.format }}",
    "{{ '{0.__class__}'.format(district) }}",
    "{{ district['__class__'] }}",
    "{{ district|attr('__class__') }}",
    "{{ district.upper() }}",
    "{{ 'x' * 100000000 }}",
    "{{ 9 ** 9999999 }}",
    "{% for x in district %}{{ loop.__class__ }}{% endfor %}",
    "{% macro m() %}x{% endmacro %}{{ m() }}",
    "{{ unclosed",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_no_expression_reaches_python_objects_config_environment_or_files(text):
    with pytest.raises(ClauseError) as caught:
        render_clause(text, CONTEXT_NAMES)
    message = str(caught.value)
    # The refusal says why, without echoing anything it would have reached.
    assert "root:x:" not in message and "<function" not in message and "<class" not in message
    assert os.environ["PATH"] not in message


def test_the_agreement_facts_render_and_markup_in_them_stays_text():
    context = dict(CONTEXT_NAMES, district="<b>Smith & Sons</b>", recipients="<script>x</script>")
    html = render_clause("{{ district }} shares with {{ recipients }} for "
                         "{{ retention_days }} days.\n\nSecond {{ district|upper }}.", context)
    assert isinstance(html, Markup)
    assert html == Markup(
        "<p>&lt;b&gt;Smith &amp; Sons&lt;/b&gt; shares with &lt;script&gt;x&lt;/script&gt; "
        "for 365 days.</p>\n<p>Second &lt;B&gt;SMITH &amp; SONS&lt;/B&gt;.</p>")


def test_markup_in_the_clause_text_itself_is_escaped():
    html = render_clause('Keep <img src="http://127.0.0.1:9/x"> & {% raw %}<b>{% endraw %}',
                         CONTEXT_NAMES)
    assert html == Markup('<p>Keep &lt;img src=&#34;http://127.0.0.1:9/x&#34;&gt; &amp; '
                          "&lt;b&gt;</p>")


DOUBLING = "{% set a = district %}" + "{% set a = a ~ a %}" * 40 + "{{ a|length }}"
NESTED = "{% for a in district %}{% for b in district %}{% for c in district %}" \
         "{% endfor %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(("text", "says"), [
    (DOUBLING, "'set' is not allowed"),  # 2**40 copies: every byte of memory
    ("{% with a = district ~ district %}{{ a }}{% endwith %}", "'with' is not allowed"),
    (NESTED, "a loop inside a loop"),
    ("{% for c in district * 1000 %}" + "{{ district }}" * 5 + "{% endfor %}", "too long"),
])
def test_text_that_would_exhaust_memory_or_time_is_refused_quickly(text, says):
    with pytest.raises(ClauseError, match=says):
        render_clause(text, CONTEXT_NAMES)


def test_simple_logic_is_allowed():
    text = ("{% if retention_days > 30 %}Long{% else %}Short{% endif %}: "
            "{% for n in [1, 2] %}{{ loop.index }}{% endfor %} {{ purposes|title }}")
    assert render_clause(text, CONTEXT_NAMES) == Markup("<p>Long: 12 Academic Support</p>")


def test_unknown_names_are_reported_with_the_names_allowed():
    with pytest.raises(ClauseError, match="'recipient' is undefined; clause text may use only: "
                                          "agreement_id"):
        check_clause("Given to {{ recipient }}.")


def test_context_is_built_from_the_snapshot_as_plain_values():
    snapshot = {"agreement_id": 7, "revision": 2, "title": "T", "purposes": ["a_b", "c"],
                "parties": [{"name": "D", "role": "source"}, {"name": "R1", "role": "recipient"},
                            {"name": "R2", "role": "recipient"}],
                "start_date": "2026-01-01", "end_date": "2026-12-31", "retention_days": None,
                "destruction_days": 5, "breach_notification_hours": 24,
                "renewal_notice_days": 60}
    context = clause_context(snapshot)
    assert set(context) == set(CONTEXT_NAMES)
    assert (context["district"], context["recipients"], context["purposes"]) == (
        "D", ["R1", "R2"], ["a b", "c"])
    assert all(v is None or type(v) in (str, int, Names) for v in context.values())
    assert all(type(name) is str for key in ("recipients", "purposes") for name in context[key])


def test_several_names_print_as_a_list_and_join_as_names_not_letters():
    context = clause_context({"parties": [
        {"name": "Northside Promise", "role": "recipient"},
        {"name": "Kids <b>First</b> & Co", "role": "recipient"}], "purposes": ["academic_support"]})
    render = lambda text: str(render_clause(text, context))  # noqa: E731
    assert render("Shared with {{ recipients }}.") == (
        "<p>Shared with Northside Promise, Kids &lt;b&gt;First&lt;/b&gt; &amp; Co.</p>")
    assert render('{{ recipients|join(" and ") }}') == (
        "<p>Northside Promise and Kids &lt;b&gt;First&lt;/b&gt; &amp; Co</p>")
    assert render("{{ recipients|length }} {{ recipients|first }} {{ purposes|upper }}") == (
        "<p>2 Northside Promise ACADEMIC SUPPORT</p>")
    assert render("{% for r in recipients %}[{{ r }}]{% endfor %}") == (
        "<p>[Northside Promise][Kids &lt;b&gt;First&lt;/b&gt; &amp; Co]</p>")


def test_markup_in_every_field_shows_literally_in_html_and_pdf(app, listener):
    from consent.services.documents import render_agreement_html
    from documents import html_to_pdf
    from tests.documents.test_agreement_pdf import pages_of, sample_snapshot

    evil = f'<img src="{listener.url}/p">'
    snapshot = sample_snapshot(listener.url, purposes=[f"tutoring {evil}"],
                               scope_description=f"Scope {evil}",
                               clauses=[{"heading": f"H {evil}",
                                         "text": "For {{ recipients }} and {{ purposes }}."}])
    snapshot["parties"][2]["name"] = f"Library {evil}"
    with app.app_context():
        html = render_agreement_html(snapshot)
        pdf = html_to_pdf(html, strict=True)
    assert evil not in html
    text = " ".join(pages_of(pdf))
    assert f"tutoring {evil}" in text and f"Scope {evil}" in text and f"H {evil}" in text
    assert f"Library {evil}" in text
    assert (f"For O'Brien & Sons <Community> Center, Library {evil} and tutoring {evil}."
            in text)
    assert listener.hits == 0


def test_the_clause_form_hint_names_every_fact_a_clause_may_use():
    from consent.web.forms import CLAUSE_TEXT_HINT

    named = set(re.findall(r"\{\{ (\w+)", CLAUSE_TEXT_HINT))
    assert named == set(CONTEXT_NAMES)
    check_clause(re.search(r"e\.g\. (\{\{.*?\}\})", CLAUSE_TEXT_HINT).group(1))

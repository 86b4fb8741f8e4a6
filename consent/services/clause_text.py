"""Clause text written by legal staff, rendered in a locked-down Jinja2 sandbox.

Clause text may name a few facts of the agreement (``{{ district }}``,
``{{ retention_days }}``, ...) and use simple filters and ``{% if %}``/``{% for %}``.
It can never reach Python objects, the app configuration, the environment or files:

- the environment is an immutable sandbox that reads no attribute or method of any
  value (only a loop's counters) with no loader, no globals and only
  allow-listed filters and tests; ``include``, ``import``, ``extends``, ``macro``,
  ``set``, ``with`` and loops inside loops are refused when the text is checked;
- the only names in scope are the plain strings, numbers and lists of names (`Names`)
  of `clause_context`;
- output is autoescaped, and so is the clause's own literal text, so markup typed
  anywhere (in the clause or in the data it names) shows literally;
- string repetition and the rendered output are capped, so a clause cannot blow up a
  render.
"""

from __future__ import annotations

import operator

from jinja2 import StrictUndefined, TemplateError, UndefinedError, nodes
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_DATA, Token
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup, escape


class Names(list):
    """Several names (the recipients, the purposes): printed as "A, B", and a list of
    names for `join`, `first`, `last`, `length` and loops, not a string of letters."""

    def __str__(self) -> str:
        return ", ".join(str(name) for name in self)


# Names a clause may use, each with a sample value used to check new text.
CONTEXT_NAMES = {
    "agreement_id": 1,
    "revision": 1,
    "title": "Sample agreement",
    "district": "Sample School District",
    "recipients": Names(["Sample Partner", "Sample Provider"]),
    "purposes": Names(["academic support"]),
    "start_date": "2026-09-01",
    "end_date": "2027-08-31",
    "retention_days": 365,
    "destruction_days": 30,
    "breach_notification_hours": 72,
    "renewal_notice_days": 60,
}
ALLOWED_FILTERS = ("capitalize", "default", "first", "join", "last", "length", "lower",
                   "replace", "round", "title", "trim", "upper")
ALLOWED_TESTS = ("defined", "undefined", "none", "number", "string", "eq", "ne", "gt",
                 "ge", "lt", "le", "odd", "even")
# Besides reaching other templates, variables are refused (`set` and `with`: doubling a
# variable forty times would take every byte of memory), and so are nested loops (a loop
# inside a loop over text multiplies the work by the text's length at each level).
REFUSED_NODES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Macro,
                 nodes.CallBlock, nodes.Block, nodes.Assign, nodes.AssignBlock, nodes.With)
NODE_LABELS = {"Assign": "set", "AssignBlock": "set", "FromImport": "import",
               "CallBlock": "call"}
LOOP_ATTRIBUTES = frozenset(["index", "index0", "first", "last", "length"])
MAX_OUTPUT = 50_000
MAX_SOURCE = 20_000


class ClauseError(ValueError):
    """Clause text that cannot be rendered safely; the message says why, for people."""


class _EscapeLiteralText(Extension):
    """Escape the clause's literal text too: autoescape alone covers only expressions."""

    def filter_stream(self, stream):
        for token in stream:
            if token.type == TOKEN_DATA:
                yield Token(token.lineno, TOKEN_DATA, str(escape(token.value)))
            else:
                yield token


class _ClauseEnvironment(ImmutableSandboxedEnvironment):
    """A sandbox that also caps `*` and `**`, the two ways to make huge values."""

    intercepted_binops = frozenset(["*", "**"])

    def getattr(self, obj, attribute):
        # The names in scope are plain strings and numbers: no attribute or method of
        # theirs is needed (filters cover formatting). Only a loop's counters are read.
        if isinstance(obj, LoopContext) and attribute in LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        raise SecurityError(f"'.{attribute}' cannot be used")

    def getitem(self, obj, argument):
        if isinstance(obj, list | tuple | str) and isinstance(argument, int | slice):
            return super().getitem(obj, argument)
        raise SecurityError("only list positions can be looked up")

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "**":
            raise SecurityError("powers are not allowed in clause text")
        if isinstance(left, str | list) or isinstance(right, str | list):
            count = right if isinstance(left, str | list) else left
            size = len(left if isinstance(left, str | list) else right)
            if not isinstance(count, int) or count * size > MAX_OUTPUT:
                raise SecurityError("repeated text is too long")
        return operator.mul(left, right)


def _environment() -> _ClauseEnvironment:
    env = _ClauseEnvironment(autoescape=True, undefined=StrictUndefined, loader=None,
                             extensions=[_EscapeLiteralText], auto_reload=False)
    env.globals.clear()  # no range, dict, lipsum, cycler, joiner or namespace
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    env.tests = {name: env.tests[name] for name in ALLOWED_TESTS}
    return env


_ENV = _environment()


def check_clause(text: str) -> None:
    """Check that `text` parses, uses only allowed constructs and names, and renders.

    :raises ClauseError: with a message that names the problem.
    """
    render_clause(text, CONTEXT_NAMES)


def render_clause(text: str, context: dict) -> Markup:
    """The clause as HTML paragraphs (blank lines separate them), every value escaped.

    :raises ClauseError: the text is refused or fails to render.
    """
    text = (text or "").replace("\r\n", "\n")
    if len(text) > MAX_SOURCE:
        raise ClauseError(f"clause text is longer than {MAX_SOURCE} characters")
    try:
        tree = _ENV.parse(text)
        refused = next(iter(tree.find_all(REFUSED_NODES)), None)
        self_ref = next((n for n in tree.find_all(nodes.Name) if n.name == "self"), None)
        if self_ref is not None:
            raise ClauseError(f"line {self_ref.lineno}: 'self' cannot be used in clause text")
        if refused is not None:
            name = type(refused).__name__
            raise ClauseError(f"line {refused.lineno}: '{NODE_LABELS.get(name, name.lower())}' "
                              "is not allowed in clause text")
        nested = next((inner for loop in tree.find_all(nodes.For)
                       for inner in loop.find_all(nodes.For)), None)
        if nested is not None:
            raise ClauseError(f"line {nested.lineno}: a loop inside a loop is not allowed in "
                              "clause text")
        template = _ENV.from_string(tree)
        output = _render_capped(
            template, {k: v for k, v in context.items() if k in CONTEXT_NAMES})
    except ClauseError:
        raise
    except SecurityError as exc:
        raise ClauseError(f"not allowed in clause text: {exc}") from exc
    except UndefinedError as exc:
        raise ClauseError(f"{exc.message}; clause text may use only: "
                          f"{', '.join(CONTEXT_NAMES)}") from exc
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        raise ClauseError(f"{where}{exc.message or type(exc).__name__}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise ClauseError(f"the clause could not be rendered: {exc}") from exc
    # `output` is already escaped text (literal and expressions alike): wrap it, never
    # unescape it.
    paragraphs = [p.strip() for p in output.split("\n\n") if p.strip()]
    return Markup("\n").join(Markup("<p>{}</p>").format(Markup(p)) for p in paragraphs)


def _render_capped(template, context: dict) -> str:
    """Render piece by piece, stopping as soon as the output is too long."""
    pieces, size = [], 0
    for piece in template.generate(context):
        size += len(piece)
        if size > MAX_OUTPUT:
            raise ClauseError("the rendered clause is too long")
        pieces.append(piece)
    return "".join(pieces)


def clause_context(snapshot: dict) -> dict:
    """The names a clause may use, as plain strings, numbers and `Names` from an agreement
    snapshot."""
    parties = snapshot.get("parties") or []
    return {
        "agreement_id": snapshot.get("agreement_id"),
        "revision": snapshot.get("revision"),
        "title": snapshot.get("title") or "",
        "district": ", ".join(p["name"] for p in parties if p.get("role") == "source"),
        "recipients": Names(p["name"] for p in parties if p.get("role") == "recipient"),
        "purposes": Names(str(p).replace("_", " ") for p in snapshot.get("purposes") or []),
        "start_date": snapshot.get("start_date") or "",
        "end_date": snapshot.get("end_date") or "",
        "retention_days": snapshot.get("retention_days"),
        "destruction_days": snapshot.get("destruction_days"),
        "breach_notification_hours": snapshot.get("breach_notification_hours"),
        "renewal_notice_days": snapshot.get("renewal_notice_days"),
    }

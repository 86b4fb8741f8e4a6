"""Flask-WTF forms for the web UI (every form carries a CSRF token).

Forms only check shapes (required, dates, numbers, allowed choices); the rules
about agreements and consents live in the services, which the views call.
"""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from consent.untrusted_text import MESSAGE as CONTROL_CHARACTERS_MESSAGE
from consent.untrusted_text import has_forbidden

# A real calendar date is needed; browsers send YYYY-MM-DD.
DATE_MESSAGE = "Enter a real date as YYYY-MM-DD."
# Only a button pressed on purpose counts as an answer.
DECISION_MESSAGE = "Choose Yes or No to answer."
VERSION_MESSAGE = "This page is out of date. Reload it and try again."
CHOICE_MESSAGE = "Choose among the options shown."

LEGAL_BASIS_LABELS = {
    "consent": "Consent of the family",
    "school_official": "School official exception",
    "studies": "Studies exception",
    "audit_evaluation": "Audit or evaluation exception",
    "child_welfare": "Child welfare agency",
    "directory_information": "Directory information",
}


def _leaf_fields(fields):
    for field in fields:
        if isinstance(field, FormField):
            yield from _leaf_fields(field.form)
        elif isinstance(field, FieldList):
            yield from _leaf_fields(field.entries)
        else:
            yield field


class CleanTextForm(FlaskForm):
    """The base of every form: no field may carry invisible control characters."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in _leaf_fields(self):
            if any(isinstance(v, str) and has_forbidden(v) for v in field.raw_data or ()):
                field.errors = [*field.errors, CONTROL_CHARACTERS_MESSAGE]
                valid = False
        return valid


class LoginForm(CleanTextForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in on this device")


class ChangePasswordForm(CleanTextForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=12, max=200)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class MultiCheckboxField(SelectMultipleField):
    """A multi-select shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        # WTForms names every unknown value in its message: a posted value of any size
        # would be echoed back onto the page.
        if not self.validate_choice:
            return
        known = {value for value, *_ in self.iter_choices()}
        if any(value not in known for value in self.data or ()):
            raise ValidationError(CHOICE_MESSAGE)


def split_codes(text: str | None) -> list[str]:
    """'a, b,,c ' -> ['a', 'b', 'c'] (order kept, duplicates dropped)."""
    parts = [p.strip() for p in (text or "").split(",")]
    return list(dict.fromkeys(p for p in parts if p))


def version_field():
    """The hidden version of the record the page showed (a stale page gets 409)."""
    return IntegerField(widget=HiddenInput(), validators=[Optional()])


def clause_text_allowed(_form, field) -> None:
    """Refuse clause text the clause sandbox would not render (unknown names, `include`...)."""
    from consent.services.clause_text import ClauseError, check_clause

    try:
        check_clause(field.data or "")
    except ClauseError as exc:
        raise ValidationError(f"This text cannot be used: {exc}") from exc


CLAUSE_TEXT_HINT = ("Blank lines start a new paragraph. You may write {{ title }}, "
                    "{{ agreement_id }}, {{ revision }}, {{ district }}, {{ recipients }}, "
                    "{{ purposes }}, {{ start_date }}, {{ end_date }}, "
                    "{{ retention_days }}, {{ destruction_days }}, "
                    "{{ breach_notification_hours }} or {{ renewal_notice_days }}; "
                    "recipients and purposes print as a list (A, B) and can be joined, "
                    "e.g. {{ recipients|join(\" and \") }}. Anything else in braces is "
                    "refused.")


class ClauseForm(Form):
    heading = StringField("Heading", validators=[Optional(), Length(max=300)])
    text = TextAreaField("Text", validators=[Optional(), Length(max=20000),
                                             clause_text_allowed])


class ClauseTemplateForm(CleanTextForm):
    """Add or edit a clause of the library (legal staff)."""

    heading = StringField("Heading", validators=[DataRequired(), Length(max=300)])
    body = TextAreaField("Clause text", description=CLAUSE_TEXT_HINT,
                         validators=[DataRequired(), Length(max=20000), clause_text_allowed])
    retired = BooleanField("Retired: leave this clause out of new drafts")
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])


def _days(label: str, most: int = 36500):
    # The same limits as the API schema (consent/api/schemas.py), so the page refuses what
    # the service would, with the same numbers.
    return IntegerField(label, validators=[Optional(), NumberRange(min=0, max=most)])


class AgreementForm(CleanTextForm):
    """Draft or edit an agreement. Choices for selects are set by the view."""

    template = SelectField("Template", validators=[DataRequired()])
    title = StringField("Title", validators=[DataRequired(), Length(max=300)])
    legal_basis = SelectField("Legal basis", validators=[DataRequired()])
    recipients = SelectMultipleField("Recipient organizations")
    purposes = StringField(
        "Purposes", validators=[DataRequired()],
        description="Comma-separated codes, for example academic_support, program_evaluation")
    categories = MultiCheckboxField("Data categories")
    schools = SelectMultipleField("Schools (none selected: every school)")
    grades = StringField("Grades", description="Comma-separated, for example 09, 10 "
                                               "(empty: every grade)")
    start_date = DateField("Start date", validators=[InputRequired(message=DATE_MESSAGE)])
    end_date = DateField("End date", validators=[InputRequired(message=DATE_MESSAGE)])
    scope_description = TextAreaField("Scope", validators=[Optional(), Length(max=5000)])
    use_limitation = TextAreaField("Use limitation", validators=[Optional(), Length(max=5000)])
    no_reidentification = BooleanField("The recipient will not re-identify students")
    security_requirements = TextAreaField("Security requirements",
                                          validators=[Optional(), Length(max=5000)])
    retention_days = _days("Retention (days)")
    destruction_days = _days("Destruction within (days after the end)")
    breach_notification_hours = _days("Breach notification within (hours)", most=8760)
    renewal_notice_days = _days("Renewal notice (days before the end)", most=3650)
    clauses = FieldList(FormField(ClauseForm), min_entries=1)
    version = version_field()


class EventForm(CleanTextForm):
    """A lifecycle event on an agreement, with what some events ask for."""

    version = version_field()
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=5000)])
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=5000)])
    effective_on = DateField("Takes effect on", validators=[Optional()])


class SuccessorForm(CleanTextForm):
    """Draft a renewal or an amendment of an agreement in force."""

    version = version_field()
    kind = HiddenField(validators=[AnyOf(["renewal", "amendment"],
                                         message="Choose renewal or amendment.")])


class DestructionForm(CleanTextForm):
    """A recipient's certificate that it destroyed an ended agreement's data."""

    destroyed_on = DateField("Date the data was destroyed", validators=[
        InputRequired(message=DATE_MESSAGE)])
    method = TextAreaField("How the data was destroyed", validators=[
        DataRequired(message="Say how the data was destroyed."), Length(max=2000)])
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=5000)])


class SignForm(CleanTextForm):
    version = version_field()
    name = StringField("Your full name", validators=[DataRequired(), Length(max=200)])
    title = StringField("Your title", validators=[DataRequired(), Length(max=200)])
    authority = TextAreaField(
        "Authority to sign", validators=[Optional(), Length(max=2000)],
        description="For example: board resolution 2026-14, or a delegation of authority")
    document_sha256 = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])


class DeclineForm(CleanTextForm):
    version = version_field()
    reason = TextAreaField("Why are you declining?", validators=[DataRequired(),
                                                                  Length(max=5000)])


class ConsentDecisionForm(CleanTextForm):
    """Grant or refuse consent to one recipient under one agreement."""

    agreement = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    recipient = HiddenField(validators=[DataRequired()])
    form_version = version_field()
    # Required: the newest ledger entry the page showed for this recipient, so a page
    # posted twice, or overtaken by another guardian's decision, overwrites nothing.
    ledger_seen = IntegerField(widget=HiddenInput(), validators=[
        InputRequired(message=VERSION_MESSAGE)])
    purposes = MultiCheckboxField("What the information may be used for")
    categories = MultiCheckboxField("Which information")
    valid_through = DateField("Until (optional)", validators=[Optional()])
    # Set by the button pressed ("grant" or "refuse"), so not rendered as a field.
    decision = StringField(validators=[
        InputRequired(message=DECISION_MESSAGE),
        AnyOf(["grant", "refuse"], message=DECISION_MESSAGE)])


class LanguageForm(CleanTextForm):
    """The family pages' language switch."""

    language = StringField(validators=[AnyOf(["en", "es"])])


class RevokeForm(CleanTextForm):
    # Required: an empty version must not skip the check that the page is current.
    version = IntegerField(widget=HiddenInput(), validators=[
        InputRequired(message=VERSION_MESSAGE)])
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=2000)])

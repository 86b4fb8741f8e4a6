"""A family whose language is Spanish reads the whole portal in Spanish: the consent form
text, the printable form, the menu and the pages every signed-in person shares, the
consent history, and the emails sent to them. Everyone else keeps the English."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from consent.demo.command import CATEGORIES
from consent.i18n import SPANISH, SPANISH_LEDGER, ledger_label
from consent.models import Consent, ConsentForm, DataCategory, Notification
from consent.services.consent_sweeps import expire_due
from consent.timeutil import end_of_day
from tests.api.helpers import make_partnership
from tests.conftest import PASSWORD
from tests.consents.test_consent_semantics import _open_agreement
from tests.factories import district_today
from tests.web.helpers import post_decision
from workflows.consent import CONSENT

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SHARED_TEMPLATES = ("base.html", "_nav.html", "home.html", "notifications/index.html",
                    "auth/password.html", "auth/login.html", "auth/link_request.html",
                    "auth/link_sent.html", "auth/link_confirm.html", "auth/link_invalid.html",
                    "auth/_language.html")
MENU_ES = ("Inicio", "Sus hijos", "Notificaciones", "Contraseña", "Cerrar sesión")
MENU_EN = (">Home<", ">Your children<", ">Notifications<", ">Password<", ">Sign out<")


@pytest.fixture
def family(db, make):
    """The partnership's family, with the categories named as the district's default
    vocabulary names them, and an agreement open for consent with two purposes."""
    p = make_partnership(make)
    for row in db.session.scalars(sa.select(DataCategory)):
        if row.code in CATEGORIES:
            row.name = CATEGORIES[row.code][0]
    db.session.commit()
    agreement = _open_agreement(db, make, p, purposes=("academic_support", "program_evaluation"))
    return p, agreement


def _spanish(db, user):
    user.preferred_language = "es"
    db.session.commit()


def _header(page: str) -> str:
    return page.split("<main", 1)[0]


def _pdf_text(data: bytes) -> str:
    text = " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())


def _body(message) -> str:
    return message.get_payload(decode=True).decode()


def _subject(message) -> str:
    return " ".join(str(make_header(decode_header(message["Subject"]))).split())


def test_every_string_of_the_shared_templates_has_a_spanish_entry():
    used = set()
    for name in SHARED_TEMPLATES:
        text = (TEMPLATES / name).read_text()
        used |= set(re.findall(r'_\("((?:[^"\\]|\\.)+)"', text))
        used |= set(re.findall(r"_\('((?:[^'\\]|\\.)+)'", text))
    assert len(used) > 20
    assert sorted(used - set(SPANISH)) == []


def test_the_spanish_consent_form_text_names_the_records_and_purposes_in_spanish(
        db, login, family):
    p, agreement = family
    guardian = login(p.guardian_user)
    guardian.post("/family/language", data={"language": "es", "next": "/family/"})
    page = guardian.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert "Qué se compartiría: Asistencia, Calificaciones trimestrales, Conducta." in page
    assert "Para qué: apoyo académico, evaluación del programa." in page
    for english in ("Attendance", "Quarterly grades", "Behavior", "academic support",
                    "Academic support", "program evaluation"):
        assert english not in page, english
    # The English form keeps its wording.
    english = db.session.scalars(sa.select(ConsentForm).where(
        ConsentForm.agreement_id == agreement.id, ConsentForm.language == "en")).one()
    assert "What would be shared: Attendance, Quarterly grades, Behavior." in english.body
    assert "Why: academic support, program evaluation." in english.body


def test_the_printed_spanish_consent_form_lists_the_records_in_spanish(db, login, family):
    p, agreement = family
    legal = login(p.legal)
    r = legal.get(f"/documents/agreements/{agreement.id}/consent-form.pdf?lang=es")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = _pdf_text(r.data)
    for spanish in ("Asistencia", "Calificaciones trimestrales", "Conducta",
                    "apoyo académico", "evaluación del programa"):
        assert spanish in text, spanish
    for english in ("Attendance", "Quarterly grades", "Behavior", "academic support",
                    "program evaluation"):
        assert english not in text, english
    # The data elements keep the agreement's codes, named once each in the list.
    assert "course_code" in text and "incident_date" in text

    text = _pdf_text(legal.get(
        f"/documents/agreements/{agreement.id}/consent-form.pdf?lang=en").data)
    assert "Attendance" in text and "academic support" in text
    assert "Asistencia" not in text


@pytest.mark.parametrize("url", ["/", "/family/", "/notifications/", "/auth/password"])
def test_a_spanish_family_reads_the_menu_in_spanish_everywhere(db, login, family, url):
    p, _ = family
    _spanish(db, p.guardian_user)
    page = login(p.guardian_user).get(url).get_data(as_text=True)
    assert '<html lang="es">' in page
    header = _header(page)
    for word in MENU_ES:
        assert word in header, word
    for word in MENU_EN:
        assert word not in header, word


def test_the_notifications_page_follows_the_family_language(db, login, family):
    p, _ = family
    _spanish(db, p.guardian_user)
    guardian = login(p.guardian_user)
    page = guardian.get("/notifications/").get_data(as_text=True)
    assert "<h1>Notificaciones</h1>" in page and "0 sin leer." in page
    assert "Todavía no hay nada aquí." in page
    assert "0 unread." not in page and "Nothing here yet." not in page

    db.session.add(Notification(user_id=p.guardian_user.id, kind="consent_renewal",
                                title="Aviso", body="", link="/family/"))
    db.session.commit()
    page = guardian.get("/notifications/").get_data(as_text=True)
    assert "1 sin leer." in page and "Ver solo las no leídas" in page
    assert "Marcar todas como leídas" in page and "Marcar como leída" in page
    assert "Marcar «Aviso» como leída" in page and ">Abrir<" in page
    for english in ("Mark all read", "Mark read", "Show unread only", ">Open<"):
        assert english not in page, english


def test_the_password_page_follows_the_family_language(db, login, family):
    p, _ = family
    _spanish(db, p.guardian_user)
    guardian = login(p.guardian_user)
    page = guardian.get("/auth/password").get_data(as_text=True)
    for spanish in ("Cambie su contraseña", "Contraseña actual", "Contraseña nueva",
                    "Repita la contraseña nueva", "Cambiar la contraseña"):
        assert spanish in page, spanish
    for english in ("Change your password", "Current password", "New password",
                    "Repeat the new password"):
        assert english not in page, english

    r = guardian.post("/auth/password", data={"current_password": "wrong password",
                                              "new_password": "short", "confirm": "other"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Debe tener entre 12 y 200 caracteres." in page
    assert "Las contraseñas no coinciden." in page
    assert "The passwords differ." not in page and "characters long" not in page

    r = guardian.post("/auth/password", data={
        "current_password": "wrong password", "new_password": "a long new password",
        "confirm": "a long new password"})
    assert "Esta no es su contraseña actual." in r.get_data(as_text=True)

    r = guardian.post("/auth/password", data={
        "current_password": PASSWORD, "new_password": "a long new password",
        "confirm": "a long new password"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Se cambió su contraseña y se cerraron sus otras sesiones." in page
    assert "Le damos la bienvenida, Maria O&#39;Brien" in page and "Ver a sus hijos" in page
    assert "Welcome" not in page and "See your children" not in page


def test_staff_pages_stay_english_whatever_the_language_on_file(db, login, family):
    p, _ = family
    _spanish(db, p.legal)
    legal = login(p.legal)
    for url in ("/", "/notifications/", "/auth/password"):
        page = legal.get(url).get_data(as_text=True)
        assert '<html lang="en">' in page and "<header class=\"top\">" in page
        for word in MENU_EN[:1] + MENU_EN[2:]:
            assert word in page, (url, word)
        assert "Inicio" not in page and "Cerrar sesión" not in page
    assert "Change your password" in legal.get("/auth/password").get_data(as_text=True)
    # An English family member keeps the English menu too.
    page = login(p.guardian_user).get("/notifications/").get_data(as_text=True)
    assert '<html lang="en">' in page and ">Your children<" in page and "0 unread." in page


def test_the_spanish_history_names_events_roles_and_channels(db, login, family):
    p, agreement = family
    _spanish(db, p.guardian_user)
    guardian = login(p.guardian_user)
    until = district_today()
    post_decision(guardian, f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": ["attendance", "behavior"],
        "decision": "grant", "valid_through": until.isoformat()})
    consents = {c.category: c for c in db.session.scalars(sa.select(Consent))}
    r = guardian.post(f"/family/consents/{consents['behavior'].id}/revoke",
                      data={"version": consents["behavior"].version_id})
    assert r.status_code == 302
    expire_due(end_of_day(until) + timedelta(hours=1))
    db.session.commit()

    page = guardian.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    history = page.split('id="history-heading"', 1)[1]
    purpose = "apoyo académico, compartido con Northside Promise Neighborhood"
    assert f"Permiso dado: Asistencia para {purpose}" in history
    assert f"Permiso retirado: Conducta para {purpose}" in history
    assert f"Permiso terminado: Asistencia para {purpose}" in history
    assert f"«válido hasta el {until.isoformat()}»" in history.replace("“", "«").replace(
        "”", "»")
    assert "(tutor, portal web)" in history and "(sistema, automático)" in history
    for english in ("Retirar:", "Grant:", "Revoke:", "Expire:", "(guardian,", "(system,",
                    "scheduler)", "valid through"):
        assert english not in history, english


def test_every_ledger_event_has_a_spanish_event_name():
    for event in CONSENT.events:
        spanish = ledger_label("event", event, "es")
        assert spanish == SPANISH_LEDGER["event"][event] and spanish.startswith("Permiso ")
        assert ledger_label("event", event, "en") == event.capitalize()
    assert set(SPANISH_LEDGER["event"]) == set(CONSENT.events)
    # An event name, not the button's verb.
    assert ledger_label("event", "revoke", "es") == "Permiso retirado" != SPANISH["Revoke"]
    for kind, codes in (("acted_as", ("guardian", "student", "staff", "system")),
                        ("channel", ("web", "api", "paper", "scheduler"))):
        for code in codes:
            assert ledger_label(kind, code, "es") != code
            assert ledger_label(kind, code, "en") == code


def test_the_consent_request_email_is_in_the_guardians_language(db, make, login, family,
                                                                 mailbox):
    deliver, messages = mailbox
    p, agreement = family
    _spanish(db, p.guardian_user)
    student = make.student("Carla", "Diaz", school=p.school, grade="10")
    make.link(student, make.guardian(make.user("guardian", email="carla.parent@family.example"),
                                     given="Carla's parent", family="Diaz"))
    staff = login(make.user("staff", org=p.district))
    assert staff.post("/staff/requests", data={"agreement": agreement.id}).status_code == 302
    assert deliver() == 2
    by_address = {m["To"]: m for m in messages}

    spanish = by_address["maria@family.example"]
    assert _subject(spanish) == \
        "Una solicitud para compartir los registros escolares de su hijo o hija"
    body = _body(spanish)
    assert body.startswith("Hola, Maria:")
    assert "Riverside Unified School District le pide permiso para compartir algunos " \
        "registros escolares de Ana con Northside Promise Neighborhood" in body
    assert f"«Data-sharing agreement», hasta el {agreement.end_date.isoformat()} como " \
        "máximo" in body
    assert f"/family/students/{p.student.id}" in body
    assert "Decir que no no afecta la educación de Ana." in body
    for english in ("Hello", "asks for your permission", "at the latest", "Saying no"):
        assert english not in body, english

    english = by_address["carla.parent@family.example"]
    assert english["Subject"] == "A request to share your child's school records"
    assert _body(english).startswith("Hello Carla's parent,")


def test_the_sign_in_link_email_is_in_the_family_language(app, db, family, mailbox):
    deliver, messages = mailbox
    p, _ = family
    _spanish(db, p.guardian_user)
    assert app.test_client().post("/auth/link",
                                  data={"email": "maria@family.example"}).status_code == 200
    assert deliver() == 1
    [message] = messages
    assert _subject(message) == "Su enlace para entrar en Accordant"
    body = _body(message)
    assert body.startswith("Hola, Maria O'Brien:")
    assert "Funciona una sola vez y durante 15 minutos:" in body
    assert re.search(r"http://localhost/auth/link/[A-Za-z0-9_-]+", body)
    assert "Hello" not in body and "sign in" not in body


SIGN_IN_EN = (">Sign in<", "Email me a sign-in link", "Keep me signed in", "Family member?")


def test_the_sign_in_pages_follow_the_browser_or_the_visitors_choice(app):
    visitor = app.test_client()
    english = visitor.get("/auth/login").get_data(as_text=True)
    assert '<html lang="en">' in english and ">Sign in<" in english
    page = visitor.get("/auth/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
                       ).get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "Iniciar sesión" in page and "Mantener la sesión iniciada" in page
    assert not [text for text in SIGN_IN_EN if text in page]
    # Chosen on the page: kept for the visit, whatever the browser says.
    r = visitor.post("/auth/link/language", data={
        "language": "es", "next": "/auth/link"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/auth/link")
    page = visitor.get("/auth/link").get_data(as_text=True)
    assert '<html lang="es">' in page and "Enviarme un enlace para iniciar sesión" in page
    # Nothing but the sign-in pages is followed.
    r = visitor.post("/auth/link/language", data={
        "language": "es", "next": "https://evil.example/"})
    assert r.headers["Location"].endswith("/auth/login")


def test_a_roster_guardian_who_asks_in_spanish_is_answered_in_spanish(app, db, make, mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    roster_guardian = make.guardian(None, given="Rosa", family="Núñez",
                                    email="rosa.nunez@family.example")
    make.link(p.other_student, roster_guardian)
    db.session.commit()
    visitor = app.test_client()
    visitor.get("/auth/link", headers={"Accept-Language": "es"})
    r = visitor.post("/auth/link", headers={"Accept-Language": "es"}, data={
        "email": "rosa.nunez@family.example"})
    assert "Revise su correo" in r.get_data(as_text=True)
    assert deliver() == 1
    [message] = messages
    body = _body(message) if not message.is_multipart() else \
        message.get_payload(0).get_payload(decode=True).decode()
    link = re.search(r"http://localhost(/auth/link/[A-Za-z0-9_-]+\?lang=es)", body).group(1)
    # Opened in another browser (a phone), the page follows the email's language.
    phone = app.test_client()
    page = phone.get(link).get_data(as_text=True)
    assert '<html lang="es">' in page and "Pulse el botón para iniciar sesión" in page
    assert phone.post(link.split("?")[0]).status_code == 302
    family_page = phone.get("/family/").get_data(as_text=True)
    assert '<html lang="es">' in family_page


def test_form_and_service_messages_reach_a_spanish_family_in_spanish(db, login, family):
    p, agreement = family
    _spanish(db, p.guardian_user)
    guardian = login(p.guardian_user)
    url = f"/family/students/{p.student.id}/consents"
    base = {"agreement": agreement.id, "recipient": "promise", "form_version": 1,
            "purposes": ["academic_support"], "categories": ["attendance"], "decision": "grant"}
    cases = [
        ({"valid_through": "2027-01-1x"}, "La fecha no es válida.", "Not a valid date value"),
        ({"purposes": ["enrichment"]}, "Elija entre las opciones que se muestran.",
         "Choose among the options shown."),
        ({"valid_through": (agreement.end_date + timedelta(days=30)).isoformat()},
         "el permiso no puede durar más allá de la fecha final del acuerdo "
         f"({agreement.end_date.isoformat()})", "cannot run past"),
    ]
    for change, spanish, english in cases:
        page = html.unescape(post_decision(guardian, url, {**base, **change}
                                           ).get_data(as_text=True))
        assert spanish in page, change
        assert english not in page, change
    post_decision(guardian, url, base)
    consent = db.session.scalar(sa.select(Consent))
    stale = consent.version_id
    guardian.post(f"/family/consents/{consent.id}/revoke", data={"version": stale})
    page = guardian.post(f"/family/consents/{consent.id}/revoke", data={"version": stale}
                         ).get_data(as_text=True)
    assert "este registro cambió después de que usted abrió la página" in page
    assert "changed since you loaded it" not in page

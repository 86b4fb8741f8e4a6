"""The family pages in English and Spanish, with a language switch."""

from __future__ import annotations

import re
from pathlib import Path

from consent.i18n import SPANISH
from tests.api.helpers import make_partnership
from tests.consents.test_consent_semantics import _open_agreement
from tests.web.helpers import post_decision

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "family"


def test_every_string_of_the_family_templates_has_a_spanish_entry():
    used = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        used |= set(re.findall(r'_\("((?:[^"\\]|\\.)+)"', text))
        used |= set(re.findall(r"_\('((?:[^'\\]|\\.)+)'", text))
    assert len(used) > 40
    assert sorted(used - set(SPANISH)) == []


def test_a_guardian_switches_to_spanish(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    page = family.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert '<html lang="en">' in page and "Requests to share records" in page

    r = family.post("/family/language", data={"language": "es",
                                              "next": f"/family/students/{p.student.id}"})
    assert r.status_code == 302 and r.headers["Location"].endswith(
        f"/family/students/{p.student.id}")
    page = family.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "Solicitudes para compartir registros" in page and "Sí, compartir lo que marqué" in page
    assert "Requests to share records" not in page
    # The consent form shown is the Spanish version, and so is the thank-you message.
    assert "Permiso para compartir registros escolares" in page
    r = post_decision(family, f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": ["attendance"], "decision": "grant"},
        follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Gracias. Usted dio su permiso a Northside Promise Neighborhood (1 elemento)." in page
    assert "Dado" in page and "Retirar" in page
    # The data and the purpose are named in Spanish too (the factory names the category
    # "Attendance", as the district's default vocabulary does).
    assert "Asistencia" in page and "Apoyo académico" in page
    assert ">Attendance<" not in page and "Academic support" not in page
    db.session.expire_all()
    assert db.session.get(type(p.guardian_user), p.guardian_user.id).preferred_language == "es"


def test_the_switch_only_goes_back_to_family_pages_and_knows_its_languages(db, make, login):
    p = make_partnership(make)
    family = login(p.guardian_user)
    r = family.post("/family/language", data={"language": "es", "next": "//evil.example/x"})
    assert r.headers["Location"].endswith("/family/")
    r = family.post("/family/language", data={"language": "fr", "next": "/family/"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(p.guardian_user), p.guardian_user.id).preferred_language == "es"

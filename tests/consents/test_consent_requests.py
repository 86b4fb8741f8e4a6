"""Staff send consent requests to the families of an agreement, a school or a grade, and
follow the answers."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from consent.models import AuditEntry, ConsentRequest
from tests.api.helpers import make_partnership
from tests.consents.test_consent_semantics import _birthday_in, _grant, _open_agreement
from tests.factories import district_today


def _family(make, p, given, grade="10", school=None, rights=True, email=True):
    student = make.student(given, "Diaz", school=school or p.school, grade=grade)
    user = make.user("guardian", email=f"{given.lower()}.parent@family.example") if email \
        else None
    guardian = make.guardian(user, given=f"{given}'s parent", family="Diaz")
    if not email:
        guardian.email = None
    make.link(student, guardian, rights=rights)
    return student


def test_district_staff_ask_a_grade_and_follow_the_answers(db, make, login, mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p, title="Promise MOU")
    other_school = make.org("Riverside Middle", kind="school", slug="riverside-middle",
                            parent=p.district)
    _family(make, p, "Carla")
    _family(make, p, "Dev", grade="09")  # another grade
    _family(make, p, "Eli", school=other_school)  # another school
    _family(make, p, "Fay", rights=False)  # no educational rights: not asked
    adult = _family(make, p, "Gus")
    adult.birth_date = _birthday_in(-3)
    db.session.commit()
    staff = login(make.user("staff", org=p.district))

    r = staff.post("/staff/requests", data={"agreement": agreement.id, "school": p.school.id,
                                            "grade": "10"})
    assert r.status_code == 302
    page = staff.get(r.headers["Location"]).get_data(as_text=True)
    assert "2 request(s) sent" in page and "1 student(s) are 18" in page
    assert deliver() == 2
    assert sorted(m["To"] for m in messages) == ["carla.parent@family.example",
                                                 "maria@family.example"]
    body = next(m for m in messages if m["To"] == "maria@family.example").get_payload(
        decode=True).decode()
    assert f"/family/students/{p.student.id}" in body and "Promise MOU" in body

    # Sending to the whole agreement adds Dev and Eli and asks nobody twice.
    staff.post("/staff/requests", data={"agreement": agreement.id})
    assert db.session.scalar(sa.select(sa.func.count(ConsentRequest.id))) == 4
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.event == "consent_requests_sent")) == 2

    _grant(db, p.guardian_user, p.student, agreement)
    page = staff.get(f"/staff/requests?agreement={agreement.id}").get_data(as_text=True)
    answers = dict(re.findall(r'<tr data-student="([^"]+)">.*?<td class="answer">([^<]+)</td>',
                              page))
    assert answers[p.student.sourced_id] == "Granted"
    assert sorted(answers.values()) == ["Granted", "Waiting", "Waiting", "Waiting"]


def test_only_the_districts_staff_may_send_requests(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    for user in (make.user("staff", org=p.partner), p.guardian_user):
        client = login(user)
        r = client.post("/staff/requests", data={"agreement": agreement.id})
        assert r.status_code in (403, 404)
        r = client.get(f"/staff/requests?agreement={agreement.id}")
        assert r.status_code in (403, 404)
        assert client.get("/staff/requests").status_code in (403, 404)  # not an empty page
    assert db.session.scalar(sa.select(sa.func.count(ConsentRequest.id))) == 0


def test_a_request_form_that_fails_its_checks_names_the_field(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    staff = login(make.user("staff", org=p.district))
    r = staff.post("/staff/requests", data={"agreement": agreement.id, "grade": "123456789"},
                   follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Grade (optional): Field cannot be longer than 8 characters." in page
    assert "Choose an agreement." not in page
    assert db.session.scalar(sa.select(sa.func.count(ConsentRequest.id))) == 0


def test_an_ended_agreement_cannot_be_asked_about(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    agreement.end_date = district_today() - timedelta(days=1)
    db.session.commit()
    staff = login(make.user("staff", org=p.district))
    assert staff.post("/staff/requests", data={"agreement": agreement.id}).status_code == 404


def test_a_grade_or_school_that_names_nobody_is_refused_with_its_field(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    _family(make, p, "Carla")
    elsewhere = make.org("Elsewhere Unified", kind="district", slug="elsewhere")
    foreign = make.org("Elsewhere High", kind="school", slug="elsewhere-high", parent=elsewhere)
    staff = login(make.user("staff", org=p.district))
    for data, message in [
        ({"grade": "9"}, "Grade (optional): &#39;9&#39; is not a grade; use one of IT, PR, PK"),
        ({"school": 999_999}, "School (optional): not a school of this agreement&#39;s district."),
        ({"school": foreign.id}, "School (optional): not a school of this agreement&#39;s"),
        ({"school": p.partner.id}, "School (optional): not a school of this agreement&#39;s"),
    ]:
        page = staff.post("/staff/requests", data={"agreement": agreement.id, **data},
                          follow_redirects=True).get_data(as_text=True)
        assert message in page, data
        assert "request(s) sent" not in page
    assert db.session.scalar(sa.select(sa.func.count(ConsentRequest.id))) == 0
    page = staff.post("/staff/requests", data={"agreement": agreement.id, "grade": "10"},
                      follow_redirects=True).get_data(as_text=True)
    assert "2 request(s) sent" in page  # Carla's and Ana's guardians (both in grade 10)

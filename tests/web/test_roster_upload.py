"""The staff roster upload: district staff only, CSRF-protected, every refused row listed,
nothing written unless the whole file is good."""

from __future__ import annotations

import io
import zipfile

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from consent.models import AuditEntry, Guardian, Organization, Student, StudentGuardian
from tests.api.helpers import make_partnership
from tests.roster.helpers import DISTRICT, NORTH, SOUTH, base_users, org, write
from tests.roster.helpers import user as roster_user
from tests.roster.test_families_csv import base_rows, families
from tests.web.helpers import csrf_token_from


def _count(db, model):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _roster_district(db, p, sourced_id="d-1"):
    """Give the partnership's district the roster identifier the test files use."""
    p.district.sourced_id = sourced_id
    db.session.commit()
    return p


def _written(db):
    """Row counts of everything an import writes."""
    return tuple(_count(db, model) for model in (Organization, Student, Guardian,
                                                StudentGuardian, AuditEntry))


def _zip(source) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in source.iterdir():
            archive.write(path, path.name)
    return buffer.getvalue()


def _upload(client, data: bytes, filename: str, **fields):
    return client.post("/staff/roster", data={"roster": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def test_district_staff_import_a_families_csv(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    assert staff.get("/staff/roster").status_code == 200
    r = _upload(staff, families(base_rows()), "families.csv")
    assert r.status_code == 200, r.get_data(as_text=True)
    page = r.get_data(as_text=True)
    assert 'id="import-report"' in page and "2 created" in page
    assert _count(db, Guardian) == 3  # the partnership's own guardian and two new ones
    assert db.session.scalar(sa.select(Student.family_name).where(
        Student.sourced_id == "stu-2")) == "O'Brien"
    entry = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.event == "roster_imported")).one()
    assert entry.data["file"] == "families.csv" and entry.data["student"]["created"] == 2


def test_a_oneroster_zip_is_imported(db, make, login, tmp_path):
    p = _roster_district(db, make_partnership(make))
    admin = login(make.user("admin", org=p.district))
    source = write(tmp_path / "roster")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in source.iterdir():
            archive.write(path, path.name)
    before = _count(db, Student)
    r = _upload(admin, buffer.getvalue(), "export.zip")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _count(db, Student) == before + 2


def test_refused_rows_are_listed_and_nothing_is_written(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    rows = base_rows()
    rows[2]["birth_date"] = "2011-02-31"
    rows[1]["relationship"] = "<b>uncle</b>"
    before = (_count(db, Student), _count(db, Guardian))
    r = _upload(staff, families(rows), "families.csv")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Nothing was imported: 2 problems" in page
    assert "<td>families.csv</td><td>4</td><td>birth_date</td><td>2011-02-31 is not a real date" \
        in page
    assert "<b>uncle</b>" not in page and "&lt;b&gt;uncle&lt;/b&gt;" in page
    assert (_count(db, Student), _count(db, Guardian)) == before


def test_a_file_that_is_neither_zip_nor_csv_is_refused(db, make, login):
    p = make_partnership(make)
    staff = login(make.user("staff", org=p.district))
    r = _upload(staff, b"%PDF-1.7 not a roster", "roster.pdf")
    assert r.status_code == 422
    assert "Choose a OneRoster .zip file or a families .csv file." in r.get_data(as_text=True)


def test_only_district_staff_and_administrators_may_import(db, make, login):
    p = make_partnership(make)
    before = _count(db, Student)
    for user in (make.user("staff", org=p.partner), p.guardian_user, p.legal):
        client = login(user)
        assert client.get("/staff/roster").status_code == 403
        assert _upload(client, families(base_rows()), "families.csv").status_code == 403
    assert _count(db, Student) == before


def test_the_upload_needs_its_csrf_token(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True
    make, db, app = (request.getfixturevalue(name) for name in ("make", "db", "app"))
    p = _roster_district(db, make_partnership(make))
    staff_user = make.user("staff", org=p.district)
    browser = app.test_client()
    token = csrf_token_from(browser.get("/auth/login").get_data(as_text=True))
    browser.post("/auth/login", data={"email": staff_user.email, "csrf_token": token,
                                      "password": "correct horse battery staple"})
    before = _count(db, Student)
    assert _upload(browser, families(base_rows()), "families.csv").status_code == 400
    assert _count(db, Student) == before
    token = csrf_token_from(browser.get("/staff/roster").get_data(as_text=True))
    r = _upload(browser, families(base_rows()), "families.csv", csrf_token=token)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _count(db, Student) == before + 2


def _refused(r, *cells):
    assert r.status_code == 422, r.get_data(as_text=True)
    row = "".join(f"<td>{cell}</td>" for cell in cells[:-1]) + f"<td>{cells[-1]}"
    assert row in r.get_data(as_text=True), r.get_data(as_text=True)


def test_a_families_csv_naming_another_district_is_refused_whole(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    r = _upload(staff, families([dict(x, district_id="OTHER-D") for x in base_rows()]),
                "families.csv")
    for line in (2, 3, 4):
        _refused(r, "families.csv", line, "district_id",
                 "OTHER-D is not your district d-1; an upload may only change its own district")
    # One row of another district among good ones: the whole file is still refused.
    rows = base_rows()
    rows[2]["district_id"] = "OTHER-D"
    _refused(_upload(staff, families(rows), "families.csv"), "families.csv", 4, "district_id",
             "OTHER-D is not your district d-1")
    assert _written(db) == before
    assert db.session.scalar(sa.select(Organization).where(
        Organization.sourced_id == "OTHER-D")) is None


def test_a_oneroster_zip_of_another_district_is_refused(db, make, login, tmp_path):
    p = _roster_district(db, make_partnership(make))
    admin = login(make.user("admin", org=p.district))
    source = write(tmp_path / "roster", orgs=[
        org("OTHER-D", "Other Unified", "district"),
        org(NORTH, "North High School", "school", "OTHER-D"),
        org(SOUTH, "South Elementary", "school", "OTHER-D")])
    before = _written(db)
    r = _upload(admin, _zip(source), "export.zip")
    _refused(r, "orgs.csv", 2, "sourcedId", "OTHER-D is not your district d-1")
    assert _written(db) == before


def test_an_upload_from_a_district_without_a_roster_identifier_is_refused(db, make, login):
    p = make_partnership(make)  # the district's sourcedId is not known yet
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    r = _upload(staff, families(base_rows()), "families.csv")
    _refused(r, "families.csv", "", "", "your account belongs to no district with a roster yet")
    assert _written(db) == before


def test_a_guardian_email_that_is_not_an_address_is_refused(db, make, login, tmp_path):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    for bad in ("not-an-email", "maria lopez@example.org"):
        rows = base_rows()
        rows[1]["guardian_email"] = bad
        _refused(_upload(staff, families(rows), "families.csv"), "families.csv", 3,
                 "guardian_email", f"&#39;{bad}&#39; is not an email address")
    users = base_users()
    users[2] = roster_user("gdn-1", "parent", "Maria", "Lopez", org=DISTRICT, email="not-an-email")
    source = write(tmp_path / "roster", users=users)
    _refused(_upload(staff, _zip(source), "export.zip"), "users.csv", 4, "email",
             "&#39;not-an-email&#39; is not an email address")
    assert _written(db) == before


def test_a_broken_zip_is_reported_under_its_own_name(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    r = _upload(staff, b"PK\x03\x04 but not really a zip", "notzip.zip")
    _refused(r, "notzip.zip", "", "",
             "is not a readable .zip file (damaged, or another kind of file), nor a folder")
    assert "roster.zip" not in r.get_data(as_text=True)
    assert _written(db) == before


def test_an_upload_over_the_size_limit_shows_the_form_with_the_limit(db, app, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 20 * 1024 * 1024
    before = _written(db)
    # The body is encoded here, in memory: the test client would spool one this large to a
    # temporary file that nothing closes.
    boundary, body = encode_multipart({"roster": FileStorage(io.BytesIO(b"x" * (limit + 1)),
                                                             "families.csv")})
    r = staff.post("/staff/roster", data=body,
                   content_type=f"multipart/form-data; boundary={boundary}")
    assert r.status_code == 413
    page = r.get_data(as_text=True)
    assert '<p class="error" id="roster-error">The file is larger than 20 MB, the upload limit.' \
        in page
    assert 'type="file"' in page and 'name="csrf_token"' in page
    assert _written(db) == before


def test_a_different_district_name_is_not_a_rename(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    r = _upload(staff, families([dict(x, district_name="Riverside") for x in base_rows()]),
                "families.csv")
    assert r.status_code == 200, r.get_data(as_text=True)
    page = r.get_data(as_text=True)
    assert ("<td>families.csv</td><td>2</td><td>district_name</td><td>&#39;Riverside&#39; "
            "differs from the district&#39;s name on record, &#39;Riverside Unified School "
            "District&#39;; the name on record was kept") in page
    db.session.expire_all()
    assert db.session.get(Organization, p.district.id).name == "Riverside Unified School District"
    entry = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.event == "roster_imported")).one()
    assert len(entry.data["notices"]) == 1


def _riverside_high_rows():
    rows = base_rows()
    rows[2].update(school_id="riverside-high-school", school_name="Riverside High School")
    return rows


def test_a_mistyped_school_id_does_not_create_a_second_school(db, make, login):
    p = _roster_district(db, make_partnership(make))
    p.school.sourced_id = "riverside-high"
    db.session.commit()
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    r = _upload(staff, families(_riverside_high_rows()), "families.csv")
    _refused(r, "families.csv", 4, "school_id",
             "riverside-high-school is not a school on record, but the school riverside-high "
             "already has the name &#39;Riverside High School&#39;; use riverside-high if it is "
             "that school")
    assert _written(db) == before
    rows = _riverside_high_rows()
    rows[2]["school_id"] = "riverside-high"
    assert _upload(staff, families(rows), "families.csv").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization).where(
        Organization.name == "Riverside High School")) == 1


def test_a_school_of_the_same_name_without_a_roster_id_is_not_doubled(db, make, login):
    p = _roster_district(db, make_partnership(make))  # its school has no roster id
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    r = _upload(staff, families(_riverside_high_rows()), "families.csv")
    _refused(r, "families.csv", 4, "school_id",
             "riverside-high-school is not a school on record, but the school "
             "&#39;riverside-high&#39; (it has no roster id) already has the name &#39;Riverside "
             "High School&#39;; give the new school a name of its own, or have an administrator "
             "record that school&#39;s roster id")
    assert _written(db) == before


def test_a_second_guardian_id_for_an_email_on_record_is_refused(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    rows = base_rows()
    rows[1]["guardian_email"] = "MARIA@Family.Example"  # the partnership's guardian, any case
    r = _upload(staff, families(rows), "families.csv")
    _refused(r, "families.csv", 3, "guardian_id",
             f"gdn-2 is not a guardian on record, but maria@family.example is already the email "
             f"of guardian {p.guardian.sourced_id}; one email belongs to one guardian")
    assert _written(db) == before
    # Under the guardian's own id the row updates the guardian, who keeps their sign-in.
    rows[1]["guardian_id"] = p.guardian.sourced_id
    rows[1].update(guardian_given_name="Maria", guardian_family_name="O'Brien")
    r = _upload(staff, families(rows), "families.csv")
    assert r.status_code == 200, r.get_data(as_text=True)
    db.session.expire_all()
    guardian = db.session.get(Guardian, p.guardian.id)
    assert (guardian.email, guardian.user_id) == ("maria@family.example", p.guardian_user.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guardian).where(
        sa.func.lower(Guardian.email) == "maria@family.example")) == 1


def test_an_unknown_grade_is_refused(db, make, login):
    p = _roster_district(db, make_partnership(make))
    staff = login(make.user("staff", org=p.district))
    before = _written(db)
    rows = base_rows()
    rows[2]["grade"] = "99"
    _refused(_upload(staff, families(rows), "families.csv"), "families.csv", 4, "grade",
             "&#39;99&#39; is not a grade; grades are the OneRoster codes IT, PR, PK, TK, KG, 01")
    assert _written(db) == before

"""The staff roster upload: district staff only, CSRF-protected, every refused row listed,
nothing written unless the whole file is good."""

from __future__ import annotations

import io
import zipfile

import sqlalchemy as sa

from consent.models import AuditEntry, Guardian, Student
from tests.api.helpers import make_partnership
from tests.roster.helpers import write
from tests.roster.test_families_csv import base_rows, families
from tests.web.helpers import csrf_token_from


def _count(db, model):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _upload(client, data: bytes, filename: str, **fields):
    return client.post("/staff/roster", data={"roster": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def test_district_staff_import_a_families_csv(db, make, login):
    p = make_partnership(make)
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
    make_partnership(make)
    admin = login(make.user("admin"))
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
    p = make_partnership(make)
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
    p = make_partnership(make)
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

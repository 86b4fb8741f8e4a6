"""The agreement detail page: comments, renew and amend buttons, links between an
agreement and its successors, a noticed termination, and the lifecycle diagram."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, Review
from consent.services.actors import actor_for
from consent.timeutil import local_date, utcnow
from consent.web.agreements import actions_for, lifecycle_diagram  # api first: import cycle
from tests.api.helpers import make_partnership
from tests.api.test_roles import active_agreement
from tests.web.helpers import actions_on, agreement_form, location_id
from workflows import AGREEMENT


def _agreement(db, aid) -> Agreement:
    db.session.expire_all()
    return db.session.get(Agreement, aid)


def _diagram(page: str) -> str:
    """The text of the page's <pre class="mermaid"> block, as a reader sees it."""
    match = re.search(r'<pre class="mermaid"[^>]*>(.*?)</pre>', page, re.S)
    assert match, "no Mermaid block on the page"
    return html.unescape(match.group(1))


def test_comment_form_records_a_comment_on_the_current_revision(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    a = _agreement(db, aid)
    assert set(actions_for(a, actor_for(p.legal))) == {"submit", "withdraw", "comment"}
    assert set(actions_for(a, actor_for(p.reviewer))) == {"comment"}
    assert actions_for(a, actor_for(p.district_signatory)) == []

    reviewer = login(p.reviewer)
    page = reviewer.get(f"/agreements/{aid}").get_data(as_text=True)
    assert actions_on(page) == {"comment"}
    assert 'id="comment-comment"' in page and 'required' in page

    # An empty comment is refused next to the field; nothing is stored.
    r = reviewer.post(f"/agreements/{aid}/events/comment",
                      data={"version": a.version_id, "comment": "  "})
    assert r.status_code == 422
    assert "write a comment" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 0

    r = reviewer.post(f"/agreements/{aid}/events/comment",
                      data={"version": a.version_id, "comment": "Clause 2 needs <a> date."})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    review = db.session.scalar(sa.select(Review).where(Review.agreement_id == aid))
    assert (review.decision, review.comment, review.revision, review.reviewer_id) == (
        "comment", "Clause 2 needs <a> date.", 1, p.reviewer.id)
    b = _agreement(db, aid)
    assert (b.state, b.version_id) == ("draft", a.version_id)  # a comment changes no state
    entry = db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert (entry.event, entry.subject_id) == ("comment", aid)

    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert "Your comment was recorded." not in page  # the flash went to the reviewer
    section = page.split('id="comments-heading"', 1)[1].split("</section>", 1)[0]
    assert "Comments on revision 1" in section
    assert "Clause 2 needs &lt;a&gt; date." in section  # escaped
    # Comments are not listed again as review decisions.
    assert 'id="reviews-heading"' not in page


def test_comments_close_with_the_agreement(db, make, login, client):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    a = _agreement(db, aid)
    assert "comment" not in actions_for(a, actor_for(p.reviewer))
    r = login(p.reviewer).post(f"/agreements/{aid}/events/comment",
                               data={"version": a.version_id, "comment": "Too late."})
    assert r.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Review.id)).where(
        Review.decision == "comment")) == 0


def test_renew_button_drafts_a_linked_successor_and_opens_it(db, make, login, client):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    a = _agreement(db, aid)
    assert set(actions_for(a, actor_for(p.legal))) == {"terminate", "renew", "amend"}
    assert actions_for(a, actor_for(p.reviewer)) == []

    legal = login(p.legal)
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert actions_on(page) == {"terminate", "renew", "amend"}
    assert f'action="/agreements/{aid}/successors"' in page
    assert 'name="kind" value="renewal"' in page and 'name="kind" value="amendment"' in page

    # Only legal staff; a reviewer is refused before anything happens.
    r = login(p.reviewer).post(f"/agreements/{aid}/successors",
                               data={"kind": "renewal", "version": a.version_id})
    assert r.status_code == 403
    # A made-up kind is refused.
    r = legal.post(f"/agreements/{aid}/successors", data={"kind": "clone",
                                                           "version": a.version_id})
    assert r.status_code == 422
    assert "Choose renewal or amendment." in r.get_data(as_text=True)
    assert 'value="clone"' not in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Agreement.id))) == 1

    r = legal.post(f"/agreements/{aid}/successors",
                   data={"kind": "renewal", "version": a.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert r.headers["Location"].endswith("/edit")
    new_id = int(r.headers["Location"].rsplit("/", 2)[-2])
    renewal = _agreement(db, new_id)
    assert (renewal.predecessor_id, renewal.successor_kind, renewal.state) == (
        aid, "renewal", "draft")
    assert renewal.start_date == a.end_date + timedelta(days=1)
    page = legal.get(r.headers["Location"]).get_data(as_text=True)
    assert f"Drafted agreement #{new_id} as the renewal of agreement #{aid}" in page

    page = legal.get(f"/agreements/{new_id}").get_data(as_text=True)
    assert re.search(rf'Renews <a href="/agreements/{aid}">agreement #{aid}</a>', page)
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert re.search(rf'Renewed by <a href="/agreements/{new_id}">agreement #{new_id}</a>',
                     page)
    # While the renewal is open no second successor is offered, and none is accepted.
    assert actions_on(page) == {"terminate"}
    r = legal.post(f"/agreements/{aid}/successors",
                   data={"kind": "amendment", "version": a.version_id})
    assert r.status_code == 409
    assert "already succeeds this one" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Agreement.id))) == 2

    # Once the renewal is withdrawn, the predecessor can be renewed or amended again.
    w = _agreement(db, new_id)
    legal.post(f"/agreements/{new_id}/events/withdraw",
               data={"version": w.version_id, "reason": "Start over"})
    assert _agreement(db, new_id).state == "withdrawn"
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert actions_on(page) == {"terminate", "renew", "amend"}


def test_amend_button_with_a_stale_page_is_refused(db, make, login, client):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    a = _agreement(db, aid)
    legal = login(p.legal)
    r = legal.post(f"/agreements/{aid}/successors",
                   data={"kind": "amendment", "version": a.version_id - 1})
    assert r.status_code == 409
    assert "changed since you loaded it" in r.get_data(as_text=True)
    r = legal.post(f"/agreements/{aid}/successors",
                   data={"kind": "amendment", "version": a.version_id})
    assert r.status_code == 302
    amendment = db.session.scalar(sa.select(Agreement).where(Agreement.predecessor_id == aid))
    page = legal.get(f"/agreements/{amendment.id}").get_data(as_text=True)
    assert re.search(rf'Amends <a href="/agreements/{aid}">agreement #{aid}</a>', page)
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert "Amended by" in page


def test_noticed_termination_is_shown_and_ends_renewals(db, make, login, client):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    a = _agreement(db, aid)
    legal = login(p.legal)
    effective = local_date(utcnow()) + timedelta(days=10)
    r = legal.post(f"/agreements/{aid}/events/terminate", data={
        "version": a.version_id, "reason": "Program ended",
        "effective_on": effective.isoformat()})
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _agreement(db, aid)
    assert (a.state, a.ended_on) == ("active", effective)
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert f"Terminates on {effective.isoformat()}: Program ended" in page
    assert (f"Termination noticed: the agreement ends on {effective.isoformat()} and is in "
            "force until then.") in page and "The agreement was terminated." not in page
    # An agreement on notice is neither renewed nor amended.
    assert actions_for(a, actor_for(p.legal)) == []
    assert actions_on(page) == set()


def test_lifecycle_section_shows_the_machine_with_the_current_state(db, make, login, client):
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert 'id="lifecycle-heading">Lifecycle<' in page
    text = _diagram(page)
    assert text == AGREEMENT.mermaid() + (
        "    class draft current\n    classDef current fill:#0b5cad,color:#fff\n")
    assert text == lifecycle_diagram("draft")
    assert "<script" not in page  # the diagram is readable text; no script is loaded

    active = active_agreement(client, make, p)
    text = _diagram(legal.get(f"/agreements/{active}").get_data(as_text=True))
    assert "    class active current\n" in text and "class draft" not in text
    # Every state the highlight can name is a state of the diagram.
    assert all(f" {s.value}" in AGREEMENT.mermaid() for s in AGREEMENT.states)

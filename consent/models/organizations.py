"""Organizations (the district, its schools, partners) and the data-category vocabulary."""

from __future__ import annotations

import re
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.base import TimestampMixin

SLUG_MAX = 64
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_RULE = ("lowercase letters, digits and single hyphens, at most "
             f"{SLUG_MAX} characters (e.g. northside-promise)")


def is_plain_slug(text: str) -> bool:
    """Whether `text` can be an organization slug (it appears in URLs, bundles and
    exported policies, so it stays plain)."""
    return len(text) <= SLUG_MAX and _SLUG.fullmatch(text) is not None


class OrgKind(StrEnum):
    DISTRICT = "district"
    SCHOOL = "school"
    NONPROFIT = "nonprofit"
    AGENCY = "agency"


class Organization(TimestampMixin, db.Model):
    __tablename__ = "organizations"
    __table_args__ = (
        sa.CheckConstraint(sa.column("kind").in_([k.value for k in OrgKind]), name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    sourced_id: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))

    parent: Mapped[Organization | None] = relationship(remote_side=[id])

    def __repr__(self):
        return f"<Organization {self.slug}>"


class DataCategory(db.Model):
    """A category of student data and the export field names it covers."""

    __tablename__ = "data_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    fields: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Directory information may be disclosed without consent unless the family opted out.
    is_directory: Mapped[bool] = mapped_column(default=False)

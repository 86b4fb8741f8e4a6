"""Students, guardians and the links between them."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.base import TimestampMixin


class Student(TimestampMixin, db.Model):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    sourced_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    given_name: Mapped[str] = mapped_column(sa.String(200))
    family_name: Mapped[str] = mapped_column(sa.String(200))
    birth_date: Mapped[date | None]
    grade: Mapped[str | None] = mapped_column(sa.String(8))
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    # The student's own sign-in, once they are an eligible student.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    directory_opt_out: Mapped[bool] = mapped_column(default=False)

    school = relationship("Organization")
    user = relationship("User")
    guardian_links: Mapped[list[StudentGuardian]] = relationship(back_populates="student")

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Guardian(TimestampMixin, db.Model):
    __tablename__ = "guardians"

    id: Mapped[int] = mapped_column(primary_key=True)
    sourced_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    given_name: Mapped[str] = mapped_column(sa.String(200))
    family_name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)  # lower-case
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)

    user = relationship("User")
    student_links: Mapped[list[StudentGuardian]] = relationship(back_populates="guardian")

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class StudentGuardian(db.Model):
    __tablename__ = "student_guardians"

    student_id: Mapped[int] = mapped_column(
        sa.ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    guardian_id: Mapped[int] = mapped_column(
        sa.ForeignKey("guardians.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    relationship_kind: Mapped[str] = mapped_column(sa.String(32), default="guardian")
    has_educational_rights: Mapped[bool] = mapped_column(default=True)

    student: Mapped[Student] = relationship(back_populates="guardian_links")
    guardian: Mapped[Guardian] = relationship(back_populates="student_links")

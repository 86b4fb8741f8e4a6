"""Every model, imported so that mappers and migrations see them all."""

from sqlalchemy import event as sa_event

from consent.models.agreements import (
    Agreement,
    AgreementDocument,
    AgreementParty,
    LegalBasis,
    PartyRole,
    Review,
    Signature,
)
from consent.models.audit import AuditEntry, OutboxMessage, RulesChange
from consent.models.consents import (
    Consent,
    ConsentEvent,
    ConsentForm,
    GrantWindow,
    GrantWindowBasis,
)
from consent.models.destruction import DestructionCertificate
from consent.models.disclosures import Disclosure, DisclosureReport
from consent.models.documents import ClauseTemplate, DocumentJob, DocumentJobState
from consent.models.family import (
    ConsentReceipt,
    ConsentRequest,
    PaperConsentScan,
    SignInLink,
)
from consent.models.organizations import DataCategory, Organization, OrgKind
from consent.models.scheduling import (
    CalendarFeed,
    NoticeKind,
    NoticeStatus,
    Notification,
    ReminderSetting,
    ScheduledNotice,
)
from consent.models.students import Guardian, Student, StudentGuardian
from consent.models.users import (
    ApiToken,
    Role,
    RoleName,
    SignInFailure,
    User,
    hash_token,
    new_token,
)

__all__ = [
    "Agreement",
    "AgreementDocument",
    "AgreementParty",
    "ApiToken",
    "AuditEntry",
    "CalendarFeed",
    "ClauseTemplate",
    "Consent",
    "ConsentEvent",
    "ConsentForm",
    "ConsentReceipt",
    "ConsentRequest",
    "DataCategory",
    "DestructionCertificate",
    "DocumentJob",
    "DocumentJobState",
    "Disclosure",
    "DisclosureReport",
    "GrantWindow",
    "GrantWindowBasis",
    "Guardian",
    "LegalBasis",
    "NoticeKind",
    "NoticeStatus",
    "Notification",
    "OrgKind",
    "Organization",
    "OutboxMessage",
    "PaperConsentScan",
    "PartyRole",
    "ReminderSetting",
    "Review",
    "Role",
    "SignInLink",
    "RoleName",
    "RulesChange",
    "ScheduledNotice",
    "SignInFailure",
    "Signature",
    "Student",
    "StudentGuardian",
    "User",
    "hash_token",
    "new_token",
]


def _refuse_change(_mapper, _connection, target):
    raise RuntimeError(f"{type(target).__name__} rows are append-only")


# The ledger, the audit log, the disclosure log and the certificates of destruction
# are append-only at the ORM level; the audit hash chain detects edits to the audit
# log that go around the ORM (each disclosure report is noted in it, with its record
# count, and each certificate of destruction).
for _cls in (AuditEntry, ClauseTemplate, ConsentEvent, DestructionCertificate, Disclosure,
             DisclosureReport):
    sa_event.listen(_cls, "before_update", _refuse_change)
    sa_event.listen(_cls, "before_delete", _refuse_change)

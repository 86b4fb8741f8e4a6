"""JSON Schemas of request bodies (served in the OpenAPI document)."""

from consent.roster.oneroster import GRADES

DATE = {"type": "string", "format": "date", "description": "Calendar date YYYY-MM-DD, "
        "in the district's time zone"}
CODE = {"type": "string", "minLength": 1, "maxLength": 64}
SLUG = {"type": "string", "minLength": 1, "maxLength": 64}
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
DAYS = {"type": ["integer", "null"], "minimum": 0, "maximum": 36500}
# OneRoster 1.1 grade codes, the same list the roster import accepts.
GRADE = {"enum": list(GRADES)}
# Titles and names must not carry bidirectional control characters, which can make
# text display in a misleading order.
# And they must say something: at least one character that is not a space.
TEXT_LINE = {"type": "string", "minLength": 1, "maxLength": 300,
             "pattern": "^(?=.*\\S)[^\u202a-\u202e\u2066-\u2069\u0000-\u001f]*$"}
VERSION = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
           "description": "The version you last read; a stale one is refused with 409"}

CLAUSE = {"type": "object", "additionalProperties": False, "required": ["heading", "text"],
          "properties": {"heading": TEXT_LINE,
                         "text": {"type": "string", "maxLength": 20000}}}

AGREEMENT_CONTENT = {
    "title": TEXT_LINE,
    "legal_basis": {"enum": ["consent", "school_official", "studies", "audit_evaluation",
                             "child_welfare", "directory_information"]},
    "purposes": {"type": "array", "items": CODE, "uniqueItems": True},
    "categories": {"type": "array", "items": CODE, "uniqueItems": True},
    "population": {"type": "object", "additionalProperties": False, "properties": {
        "schools": {"type": "array", "items": SLUG, "uniqueItems": True},
        "grades": {"type": "array", "items": GRADE, "uniqueItems": True}}},
    "start_date": DATE,
    "end_date": DATE,
    "scope_description": {"type": "string", "maxLength": 5000},
    "use_limitation": {"type": "string", "maxLength": 5000},
    "no_reidentification": {"type": "boolean"},
    "security_requirements": {"type": "string", "maxLength": 5000},
    "retention_days": DAYS,
    "destruction_days": DAYS,
    "breach_notification_hours": {"type": ["integer", "null"], "minimum": 0, "maximum": 8760},
    "renewal_notice_days": {"type": "integer", "minimum": 0, "maximum": 3650},
    "clauses": {"type": "array", "items": CLAUSE, "maxItems": 200},
}

AGREEMENT_CREATE = {
    "type": "object", "additionalProperties": False,
    "required": ["title", "legal_basis", "recipients", "purposes", "categories", "start_date",
                 "end_date"],
    "properties": {**AGREEMENT_CONTENT, "template": {"type": "string"},
                   "recipients": {"type": "array", "items": SLUG, "minItems": 1,
                                  "uniqueItems": True},
                   "signing_order": {
                       "type": "object", "description": "Party slug -> signing group: 1 "
                       "signs first, equal numbers sign in parallel (default: the district, "
                       "then every recipient)",
                       "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 20}},
                   "reviewers": {
                       "type": "array", "items": SLUG, "uniqueItems": True,
                       "description": "Parties whose reviewers must approve (default: the "
                       "district)"}},
}

AGREEMENT_UPDATE = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {**AGREEMENT_CONTENT, "version": VERSION},
}

AGREEMENT_EVENT = {
    "type": "object", "additionalProperties": False,
    "properties": {"version": VERSION, "comment": {"type": "string", "maxLength": 5000},
                   "reason": {"type": "string", "maxLength": 5000},
                   "effective_on": DATE},
}

SIGNATURE = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "title", "document_sha256"],
    "properties": {"name": TEXT_LINE, "title": TEXT_LINE, "version": VERSION,
                   "authority": {"type": "string", "maxLength": 2000,
                                 "description": "e.g. a delegation of signing authority"},
                   "document_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
}

SUCCESSOR = {"type": "object", "additionalProperties": False, "required": ["kind"],
             "properties": {"kind": {"enum": ["renewal", "amendment"]}, "version": VERSION}}

DECLINE = {"type": "object", "additionalProperties": False, "required": ["reason"],
           "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 5000},
                          "version": VERSION}}

CONSENT_DECISION = {
    "type": "object", "additionalProperties": False,
    "required": ["agreement", "recipient", "purposes", "categories"],
    "properties": {
        "agreement": ID,
        "recipient": SLUG,
        "purposes": {"type": "array", "items": CODE, "minItems": 1, "uniqueItems": True},
        "categories": {"type": "array", "items": CODE, "minItems": 1, "uniqueItems": True},
        "decision": {"enum": ["grant", "refuse"], "default": "grant"},
        "valid_through": DATE,
        "language": {"enum": ["en", "es"]},
        "form_version": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        # The `ledger_seen` the client last read for this recipient (GET on the student):
        # when given, a decision recorded since then makes this one a 409.
        "ledger_seen": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
}

CONSENT_REVOKE = {
    "type": "object", "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 2000}, "version": VERSION},
}

TOKEN_REQUEST = {
    "type": "object", "additionalProperties": False, "required": ["email", "password"],
    "properties": {"email": {"type": "string", "maxLength": 254},
                   "password": {"type": "string", "maxLength": 200},
                   "name": {"type": "string", "maxLength": 200}},
}

DECISION_REQUEST = {
    "type": "object", "additionalProperties": False,
    "required": ["recipient", "student", "category", "purpose"],
    "properties": {"recipient": SLUG, "student": {"type": "string", "minLength": 1,
                                                  "maxLength": 128},
                   "category": CODE, "purpose": CODE,
                   "at": {"type": "string", "format": "date-time",
                          "description": "ISO 8601 instant with offset; default now"}},
}

OBJECT = {"type": "object"}

DECISIONS = {
    "oneOf": [
        DECISION_REQUEST,
        {"type": "object", "additionalProperties": False, "required": ["requests"],
         "properties": {"requests": {"type": "array", "items": DECISION_REQUEST,
                                     "minItems": 1, "maxItems": 10000}}},
    ],
}

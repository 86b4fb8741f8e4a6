"""Student rosters: parse OneRoster 1.1 CSV exports and import them.

Only the pure parser is re-exported here, so that importing it pulls in no database code;
`import_roster` lives in `consent.roster.importer` and the CLI in `consent.roster.cli`.
"""

from consent.roster.oneroster import (
    DistrictRecord,
    GuardianRecord,
    LinkRecord,
    Roster,
    RosterError,
    RosterIssue,
    SchoolRecord,
    StudentRecord,
    parse_files,
    parse_roster,
    read_source,
)

__all__ = [
    "DistrictRecord",
    "GuardianRecord",
    "LinkRecord",
    "Roster",
    "RosterError",
    "RosterIssue",
    "SchoolRecord",
    "StudentRecord",
    "parse_files",
    "parse_roster",
    "read_source",
]

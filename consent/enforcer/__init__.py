"""The reference enforcer: a partner's export job that applies the signed rules bundle.

It talks to the district's server over HTTP only (standard-library urllib) and
never touches the application or its database, so it runs on a partner's machine.
Use it from the command line (`accordant enforce ...`) or as a library:

    from consent.enforcer import filter_extract, verify_bundle
"""

from consent.enforcer.errors import BundleRefused, EnforcerError, ExtractRefused, ServerError
from consent.enforcer.extract import read_extract, write_extract
from consent.enforcer.filtering import disclosure_records, filter_extract
from consent.enforcer.verify import verify_bundle

__all__ = [
    "BundleRefused",
    "EnforcerError",
    "ExtractRefused",
    "ServerError",
    "disclosure_records",
    "filter_extract",
    "read_extract",
    "verify_bundle",
    "write_extract",
]

"""What can stop the enforcer, each with the exit status the command returns."""

from __future__ import annotations


class EnforcerError(Exception):
    """Something the operator must fix; nothing was written."""

    exit_code = 1


class ServerError(EnforcerError):
    """The server could not be reached (`status` None), or answered with an error."""

    exit_code = 1

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class BundleRefused(EnforcerError):
    """The rules bundle is stale, altered, or not the one asked for."""

    exit_code = 2


class ExtractRefused(EnforcerError):
    """The district's extract is not a well-formed UTF-8 CSV file."""

    exit_code = 3

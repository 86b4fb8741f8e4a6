"""Domain errors and their HTTP mapping (JSON under /api, HTML pages elsewhere)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from consent.extensions import db
from workflows import InvalidTransition, TransitionRefused

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """An error with an HTTP status, a machine code and optionally the field at fault."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message, self.field, self.details = message, field, details or {}


class ValidationFailed(DomainError):
    status, code = 422, "invalid"


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class Conflict(DomainError):
    status, code = 409, "conflict"


class TooManyAttempts(DomainError):
    """Refused for a while; `retry_after` (seconds) becomes the Retry-After header."""

    status, code = 429, "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field, details={"retry_after": retry_after})
        self.retry_after = retry_after


def wants_json() -> bool:
    """API paths, and clients that ask for JSON, get JSON errors."""
    return request.path.startswith("/api/") or request.path.startswith("/.well-known/") or (
        request.accept_mimetypes.best == "application/json"
    )


def error_body(code: str, message: str, field: str | None = None, details: dict | None = None):
    body = {"error": {"code": code, "message": message, "field": field}}
    if details:
        body["error"]["details"] = details
    return body


def _respond(status: int, code: str, message: str, field=None, details=None):
    if wants_json():
        return jsonify(error_body(code, message, field, details)), status
    return render_template("errors/error.html", status=status, message=message,
                           field=field), status


def register(app: Flask) -> None:
    """Install the error handlers on the app (prefix-wide 404/405 need the app, not a bp)."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        response = make_response(_respond(exc.status, exc.code, exc.message, exc.field,
                                          exc.details))
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(InvalidTransition)
    def invalid_transition(exc: InvalidTransition):
        db.session.rollback()
        return _respond(409, "invalid_transition", str(exc), None, {"state": exc.state})

    @app.errorhandler(TransitionRefused)
    def refused(exc: TransitionRefused):
        db.session.rollback()
        status = {"forbidden": 403, "invalid": 422}.get(exc.kind, 409)
        return _respond(status, "transition_refused", exc.reason, None, {"state": exc.state})

    @app.errorhandler(StaleDataError)
    def stale(exc):
        db.session.rollback()
        return _respond(409, "stale", "the record was changed by someone else; reload it")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        code = (exc.name or "error").lower().replace(" ", "_")
        return _respond(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return _respond(500, "internal_error", "something went wrong; the change was not saved")

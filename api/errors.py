"""One JSON error shape for every failure the API reports.

Every error body is ``{"error": {"status", "code", "message", "field"}}`` — for domain
exceptions, request validation, unknown routes, missing or wrong keys, size and rate limits,
time-outs and unexpected crashes alike, so clients parse one thing. Crashes are logged on the
server and answered with a generic message: no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import index as vector_index
from matcher import errors as domain

log = logging.getLogger("c2c.api")

#: Machine-readable code of each HTTP status the API answers with.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}

#: The errors the core reports to users: its domain errors and the vector index's own.
UserError = domain.C2CError | vector_index.VectorIndexError

#: Domain exception -> (HTTP status, code); the first matching class wins, so subclasses first.
DOMAIN_ERRORS: list[tuple[type[domain.C2CError] | type[vector_index.VectorIndexError], int, str]] = [
    (domain.ImportRejected, 422, "import_rejected"),
    (domain.UnknownSector, 422, "unknown_sector"),
    (domain.InvalidProfile, 422, "invalid"),
    (domain.UnknownOrganisation, 404, "not_found"),
    (domain.AmbiguousOrganisation, 409, "ambiguous"),
    (domain.DuplicateOrganisation, 409, "duplicate"),
    (domain.EventError, 422, "invalid_event"),
    (domain.NotTrained, 409, "not_trained"),
    (domain.ModelNotFound, 503, "model_unavailable"),
    (vector_index.IndexUnavailable, 503, "index_unavailable"),
    (vector_index.DuplicateItem, 409, "duplicate"),
    (vector_index.UnknownItem, 404, "not_found"),
    (domain.StoreUnavailable, 503, "store_unavailable"),
    (domain.UnknownEvent, 404, "not_found"),
    (domain.DuplicateEvent, 409, "duplicate"),
    (domain.UnreadableEvent, 500, "internal_error"),
    (domain.DuplicateCooperation, 409, "duplicate"),
    (domain.UnknownCooperation, 404, "not_found"),
    (domain.UnknownApiKey, 404, "not_found"),
]


class ApiError(StarletteHTTPException):
    """An HTTP error with a code and an optional offending field, rendered in the shared shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code or STATUS_CODES.get(status, "error")
        self.field = field


def error_body(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body of an error response."""
    return {"error": {"status": status, "code": code, "message": message, "field": field}}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A ready JSON error response (also used by the pure-ASGI middlewares)."""
    code = code or STATUS_CODES.get(status, "error")
    return JSONResponse(error_body(status, code, message, field), status_code=status, headers=headers)


def classify(exc: UserError) -> tuple[int, str]:
    """HTTP status and code of a domain exception.

    Classes added later to :mod:`matcher.errors` whose name starts with ``Unknown`` are "not
    found"; any other unlisted domain error is a 400.
    """
    for cls, status, code in DOMAIN_ERRORS:
        if isinstance(exc, cls):
            return status, code
    if type(exc).__name__.startswith("Unknown"):
        return 404, "not_found"
    if type(exc).__name__.startswith("Duplicate"):
        return 409, "duplicate"
    return 400, "bad_request"


def _domain_field(exc: UserError) -> str | None:
    field = getattr(exc, "field", None)
    if field is None and isinstance(exc, domain.ImportRejected) and exc.errors:
        field = exc.errors[0].field
    return field


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


async def _on_domain_error(request: Request, exc: UserError) -> JSONResponse:
    status, code = classify(exc)
    return error_response(status, str(exc), code, _domain_field(exc))


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    from api.auth import check_key_first  # api.auth builds on this module

    try:
        await check_key_first(request)
    except ApiError as refused:
        return await _on_http_error(request, refused)
    problems = exc.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    field = _loc_to_field(first.get("loc", ())) or (first.get("ctx") or {}).get("field")
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if field:
        message = f"{field}: {message}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return error_response(422, message, "validation_error", field)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    if isinstance(exc, ApiError):
        code, field = exc.code, exc.field
    else:
        code, field = STATUS_CODES.get(status, "error"), None
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return error_response(status, message, code, field, headers=getattr(exc, "headers", None))


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal server error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error in the shared shape."""
    for user_error in domain.USER_ERRORS:
        app.add_exception_handler(user_error, _on_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_crash)

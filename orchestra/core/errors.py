"""One exception tree for every failure a client can see, and the one JSON shape it takes.

    ApiError                 500 internal
     ├── BadRequest          400 bad_request        (malformed JSON, bad query parameter)
     ├── Unauthorized        401 unauthorized       (missing or wrong token)
     ├── NotFound            404 not_found
     ├── Conflict            409 conflict           (cycle, duplicate id, busy project)
     ├── Unprocessable       422 validation_error   (unknown field, wrong type, bad value)
     ├── TooManyRequests     429 too_many_requests  (a webhook's queue is full; with Retry-After)
     └── StorageUnavailable  503 storage_unavailable (disk full, database locked by another process)

Body: ``{"error": {"code": ..., "message": ..., "details": ...}}``.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}  # extra response headers (Retry-After)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotFound(ApiError):
    """What the request names (a project, node, run, execution, template) does not exist."""

    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unprocessable(ApiError):
    status, code = 422, "validation_error"


class TooManyRequests(ApiError):
    """Refused for now; ``Retry-After`` says in how many seconds to try again."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: int, details: Any = None) -> None:
        super().__init__(message, details)
        self.headers["Retry-After"] = str(retry_after_s)


class StorageUnavailable(ApiError):
    """The database cannot be read or written right now; nothing of the request was stored."""

    status, code = 503, "storage_unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}

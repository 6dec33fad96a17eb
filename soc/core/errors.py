"""Domain errors raised by services and mapped to HTTP answers and CLI messages in one place.

An error's message is English, and is the message id of its translation: the API answers
`detail` in the caller's language (soc.core.error_texts marks the fixed texts raised across
the domains); `code` never changes with the language. Each class has a default message for a
raise without one.
"""

from soc.core.i18n import N_


class DomainError(Exception):
    status_code = 400
    code = "bad_request"
    default = N_("bad request")

    def __init__(self, message: str | None = None) -> None:
        message = message or self.default
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Also raised for another tenant's objects: never confirm that they exist."""

    status_code = 404
    code = "not_found"
    default = N_("not found")


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    default = N_("not allowed for this role")


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"
    default = N_("not logged in")


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default = N_("conflict with the current state")


class Invalid(DomainError):
    status_code = 422
    code = "invalid"
    default = N_("invalid input")


class Unavailable(DomainError):
    """Try again shortly (the database is busy, a queue is down): answered 503 with
    Retry-After so clients back off instead of failing."""

    status_code = 503
    code = "busy"
    default = N_("busy; try again shortly")

    def __init__(self, message: str | None = None, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientStorage(DomainError):
    """The disk is full: nothing of the request was kept; answered 507 with Retry-After."""

    status_code = 507
    code = "disk_full"
    default = N_("the server's disk is full; retry later")

    def __init__(self, message: str | None = None, retry_after: int = 300) -> None:
        super().__init__(message)
        self.retry_after = retry_after

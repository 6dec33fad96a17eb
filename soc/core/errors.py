"""Domain errors raised by services and mapped to HTTP answers and CLI messages in one place.

An error's message is English, and is the message id of its translation: the API answers
`detail` in the caller's language (soc.core.error_texts marks the fixed texts raised across
the domains); `code` never changes with the language. Each class has a default message for a
raise without one.

A message with values in it is best raised as its template and the values apart:
`NotFound(N_("case {id} not found"), id=7)`. `message` is then the English text as before
(`case 7 not found`), and the translation looks the template up exactly and puts the values
back, instead of matching the English text against the known templates.
"""

from soc.core.i18n import N_


class DomainError(Exception):
    status_code = 400
    code = "bad_request"
    default = N_("bad request")

    def __init__(self, message: str | None = None, **params: object) -> None:
        template = message or self.default
        message = template.format(**params) if params else template
        super().__init__(message)
        self.message = message
        self.template = template  # the message id (with `{name}` fields when params are given)
        self.params = params


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

    def __init__(self, message: str | None = None, retry_after: int = 2, **params: object) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


class InsufficientStorage(DomainError):
    """The disk is full: nothing of the request was kept; answered 507 with Retry-After."""

    status_code = 507
    code = "disk_full"
    default = N_("the server's disk is full; retry later")

    def __init__(
        self, message: str | None = None, retry_after: int = 300, **params: object
    ) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after

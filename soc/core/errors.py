"""Domain errors raised by services and mapped to HTTP answers and CLI messages in one place."""


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Also raised for another tenant's objects: never confirm that they exist."""

    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"


class Unavailable(DomainError):
    """Try again shortly (the database is busy, a queue is down): answered 503 with
    Retry-After so clients back off instead of failing."""

    status_code = 503
    code = "busy"

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientStorage(DomainError):
    """The disk is full: nothing of the request was kept; answered 507 with Retry-After."""

    status_code = 507
    code = "disk_full"

    def __init__(self, message: str, retry_after: int = 300) -> None:
        super().__init__(message)
        self.retry_after = retry_after

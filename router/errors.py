"""The router's error hierarchy. The class docstring is the default message; only
router/api/errors.py maps classes to HTTP status codes.

RouterError
 ├── UnauthorizedError (401), ForbiddenError (403), RateLimitedError (429)
 ├── AuthHandlerRefusedError (the status the custom auth handler chose)
 ├── NotFoundError ── ThreadNotFoundError, RunNotFoundError, AssistantNotFoundError, CheckpointNotFoundError
 ├── ConflictError ── ThreadBusyError, AlreadyExistsError
 ├── InvalidRequestError (400) ── UnsupportedMediaTypeError (415)
 ├── UnprocessableError (422) ── WebhookUrlRefusedError
 └── FunctionError ── FunctionUnavailableError ── FunctionNotReachedError
"""

from __future__ import annotations


class RouterError(Exception):
    """Unexpected router error."""

    code = "internal_error"

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.__doc__)
        self.message = message or (self.__doc__ or "")
        self.details = details


class NotFoundError(RouterError):
    """Not found."""

    code = "not_found"


class ThreadNotFoundError(NotFoundError):
    """Thread not found."""


class RunNotFoundError(NotFoundError):
    """Run not found."""


class AssistantNotFoundError(NotFoundError):
    """Assistant not found."""


class CheckpointNotFoundError(NotFoundError):
    """Checkpoint not found."""


class UnauthorizedError(RouterError):
    """Missing authentication headers"""

    code = "unauthorized"


class ForbiddenError(RouterError):
    """Forbidden"""

    code = "forbidden"


class RateLimitedError(RouterError):
    """Too many failed authentication attempts"""

    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after_seconds: int) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


class AuthHandlerRefusedError(RouterError):
    """Forbidden"""

    code = "auth_refused"

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.headers = headers


class ConflictError(RouterError):
    """Conflict."""

    code = "conflict"


class ThreadBusyError(ConflictError):
    """Thread is already running a task. Wait for it to finish or choose a different multitask strategy."""


class AlreadyExistsError(ConflictError):
    """Already exists."""


class InvalidRequestError(RouterError):
    """Bad request."""

    code = "bad_request"


class UnsupportedMediaTypeError(InvalidRequestError):
    """Unsupported content type."""

    code = "unsupported_media_type"


class UnprocessableError(RouterError):
    """Unprocessable request."""

    code = "unprocessable"


class WebhookUrlRefusedError(UnprocessableError):
    """webhook: the URL is refused by the `webhooks.url` policy of langgraph.json."""

    code = "webhook_refused"


class FunctionError(RouterError):
    """The function service failed to answer."""

    code = "function_error"


class FunctionUnavailableError(FunctionError):
    """The function service could not be reached."""

    code = "function_unavailable"


class FunctionNotReachedError(FunctionUnavailableError):
    """The function service could not be reached: no connection was made, so nothing ran."""

    code = "function_not_reached"

"""Errors of the function runtime, and how a failed run's exception is reported.

    FunctionError                 internal_error   → FAILED, HTTP 500
    ├── BadRequestError           bad_request      → FAILED, HTTP 400 (undecodable event or payload)
    ├── GraphNotFoundError        not_found        → FAILED, HTTP 404 (graph id not in langgraph.json)
    ├── CheckpointNotFoundError   not_found        → FAILED, HTTP 404 (state read/update at a missing checkpoint)
    ├── GraphLoadError            graph_load_error → startup failure, or HTTP 500 for a factory that fails
    ├── StoreConfigError          store_config_error → startup failure (`store` of langgraph.json unusable)
    └── StoreRequestError         unprocessable    → FAILED, HTTP 422 (a store operation the store refuses)

Run failures are not FunctionErrors: a graph that raises ends its run with status `error`, and
`run_error()` turns the exception into the `{"error", "message"}` pair the official server puts in
the SSE `error` event and on the thread. The class docstring is each error's default message.
"""

from __future__ import annotations

from langgraph.errors import EmptyInputError, GraphBubbleUp, InvalidUpdateError, TaskNotFound

from contracts.runtime import RunError


class FunctionError(Exception):
    """Unexpected function runtime error."""

    code = "internal_error"

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.__doc__)
        self.details = details


class BadRequestError(FunctionError):
    """The CloudEvent or its payload is not a request this function understands."""

    code = "bad_request"


class GraphNotFoundError(FunctionError):
    """Graph not found."""

    code = "not_found"


class CheckpointNotFoundError(FunctionError):
    """Checkpoint not found."""

    code = "not_found"


class GraphLoadError(FunctionError):
    """A graph named in langgraph.json could not be loaded."""

    code = "graph_load_error"


class StoreConfigError(FunctionError):
    """The `store` section of langgraph.json cannot be applied."""

    code = "store_config_error"


class StoreRequestError(FunctionError):
    """The store refused the operation (invalid namespace, filter or value)."""

    code = "unprocessable"


# Messages of these types reach clients verbatim; any other type's message may carry secrets or
# internals, so the official server replaces it (langgraph_api/serde.py keeps the same list).
_PUBLIC_MESSAGE_TYPES: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    RuntimeError,
    RecursionError,
    TimeoutError,
    InvalidUpdateError,
    GraphBubbleUp,
    EmptyInputError,
    TaskNotFound,
)
INTERNAL_ERROR_MESSAGE = "An internal error occurred"

USER_INTERRUPT = RunError(error="UserInterrupt", message="User interrupted the run")
USER_ROLLBACK = RunError(error="UserRollback", message="User requested rollback of the run")


def unwrap_group(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (what the official server reports), else `exc`."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def run_error(exc: BaseException) -> RunError:
    """`{"error": TypeName, "message": ...}` for a run that failed with `exc`."""
    exc = unwrap_group(exc)
    message = str(exc) if isinstance(exc, _PUBLIC_MESSAGE_TYPES) else INTERNAL_ERROR_MESSAGE
    return RunError(error=type(exc).__name__, message=message)

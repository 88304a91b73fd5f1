"""The operator's error hierarchy. The class docstring is the default message; `code` is stable.

KnativeError
 ├── InvalidDeploymentError   the spec passed the CRD schema but cannot be built (permanent)
 ├── ChildConflictError       a child's name is taken by an object the deployment does not own (permanent)
 └── ClusterError             the API server refused or failed a call (temporary unless `permanent`)
"""

from __future__ import annotations


class KnativeError(Exception):
    """Unexpected operator error."""

    code = "internal_error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)
        self.message = message or (self.__doc__ or "")


class InvalidDeploymentError(KnativeError):
    """The AgentDeployment spec cannot be built."""

    code = "invalid_spec"


class ChildConflictError(KnativeError):
    """An object with a child's name exists and belongs to something else."""

    code = "child_conflict"


class ClusterError(KnativeError):
    """The Kubernetes API server refused or failed a request."""

    code = "cluster_error"

    def __init__(self, message: str | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent

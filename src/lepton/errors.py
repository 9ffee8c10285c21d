"""One error tree for everything Lepton raises on purpose.

Every error a user can cause is a :class:`LeptonError`. Subclasses also inherit the matching
builtin (``InvalidParameterError`` is a ``ValueError``) so ``except ValueError`` keeps working.
A message says what was wrong, what was expected and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AlreadyExistsError",
    "ArtifactNotFoundError",
    "AuthenticationError",
    "BackendError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DeploymentNotFoundError",
    "IntegrityError",
    "InvalidParameterError",
    "LeptonError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PolicyViolationError",
    "ProjectExistsError",
    "ProjectNotFoundError",
    "RateLimitedError",
    "RunNotFoundError",
    "SecretNotFoundError",
    "ServerUnavailableError",
    "StoreError",
    "VersionInUseError",
]


class LeptonError(Exception):
    """Base class of every error Lepton raises on purpose."""

    #: a short machine-readable code, used by the CLI's ``--json`` output and the REST API
    code = "lepton_error"


class InvalidParameterError(LeptonError, ValueError):
    """An argument has the wrong type or value."""

    code = "invalid_parameter"


class ConfigError(LeptonError, ValueError):
    """A setting in ``lepton.yaml`` or the environment is invalid."""

    code = "invalid_config"


class MissingDependencyError(LeptonError, ImportError):
    """An optional package is needed but not installed."""

    code = "missing_dependency"


class NotFoundError(LeptonError, LookupError):
    """Something the user named does not exist."""

    code = "not_found"
    kind = "object"

    def __init__(self, name: str, existing: Iterable[str] = (), hint: str = "") -> None:
        self.name = name
        self.existing = sorted(existing)
        super().__init__(_not_found_message(self.kind, name, self.existing, hint))


class ProjectNotFoundError(NotFoundError):
    kind = "project"


class RunNotFoundError(NotFoundError):
    kind = "run"


class ArtifactNotFoundError(NotFoundError):
    kind = "artifact"


class ModelNotFoundError(NotFoundError):
    kind = "model"


class DeploymentNotFoundError(NotFoundError):
    kind = "deployment"


class DatasetNotFoundError(NotFoundError):
    kind = "dataset"


class SecretNotFoundError(NotFoundError):
    kind = "secret"


class DataError(LeptonError, ValueError):
    """The data itself cannot be used: a missing column, an empty file, an unreadable image."""

    code = "invalid_data"


class AlreadyExistsError(LeptonError, FileExistsError):
    """Creating something would overwrite what is already there."""

    code = "already_exists"


class ProjectExistsError(AlreadyExistsError):
    pass


class VersionInUseError(AlreadyExistsError):
    """A model version cannot be deleted while an alias points at it."""

    code = "version_in_use"


class PolicyViolationError(LeptonError, PermissionError):
    """A governance policy refused a promotion or a deployment."""

    code = "policy_violation"


class StoreError(LeptonError, RuntimeError):
    """The metadata database or the artifact store failed."""

    code = "store_error"


class IntegrityError(LeptonError, RuntimeError):
    """Stored content does not match its recorded hash: it was changed or damaged."""

    code = "integrity_error"


class AuthenticationError(LeptonError, PermissionError):
    """No API key, or one that is wrong, revoked, expired or of a disabled user (HTTP 401)."""

    code = "unauthenticated"


class PermissionDeniedError(LeptonError, PermissionError):
    """The caller's role does not allow this (HTTP 403)."""

    code = "forbidden"


class RateLimitedError(LeptonError, RuntimeError):
    """Too many requests with one key in a short time (HTTP 429)."""

    code = "rate_limited"


class PayloadTooLargeError(LeptonError, ValueError):
    """A request body is larger than the server accepts (HTTP 413)."""

    code = "payload_too_large"


class ServerUnavailableError(StoreError):
    """The team server could not be reached or failed (connection refused, 5xx)."""

    code = "server_unavailable"


class BackendError(LeptonError, RuntimeError):
    """An execution backend (a Ray cluster) is unreachable, unsuitable, or failed the work."""

    code = "backend_error"


def _not_found_message(kind: str, name: str, existing: list[str], hint: str) -> str:
    shown = ", ".join(repr(e) for e in existing[:20])
    if len(existing) > 20:
        shown += f" and {len(existing) - 20} more"
    message = f"No {kind} named {name!r}."
    message += f" Existing {kind}s: {shown}." if existing else f" There are no {kind}s yet."
    if hint:
        message += f" {hint}"
    return message

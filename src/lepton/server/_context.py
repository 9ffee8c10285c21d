"""What every request handler gets: the server's state and the authenticated caller.

Each route checks the caller's role in the project it touches with ``caller.require(role,
project)`` and declares that role in the OpenAPI document (``role(...)``), so the role matrix
test can walk every route from the document alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query, Request

from lepton.errors import PermissionDeniedError

if TYPE_CHECKING:
    from lepton.security import AuditLog, Principal, RateLimiter, Security
    from lepton.workspace._local import LocalWorkspace

# paging of every list endpoint; offsets stay within what every database's integers hold
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]

ROLES = ("viewer", "developer", "admin")  # each includes the rights of the ones before it
ALL_PROJECTS = "*"


@dataclass
class ServerState:
    workspace: LocalWorkspace
    security: Security
    audit: AuditLog
    limiter: RateLimiter
    options: Any  # ServerOptions
    services: dict[str, Any] = field(default_factory=dict)  # secrets, jobs, control plane


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.lepton
    return state


def role(name: str, *, server: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a route that needs ``name`` in the project it touches, or, with
    ``server=True``, on every project (``*``: users, keys, the audit trail)."""
    assert name in ROLES or name == "authenticated", name
    extra = {"x-required-role": name}
    if server:
        extra["x-role-scope"] = "server"
    return extra


class Caller:
    """The principal behind a request's API key, and what the request touched (for audit)."""

    def __init__(self, principal: Principal, request: Request) -> None:
        self.principal = principal
        self.request = request

    @property
    def name(self) -> str:
        return self.principal.name

    def can(self, needed: str, project: str = ALL_PROJECTS) -> bool:
        return self.principal.allows(needed, project)

    def require(self, needed: str, project: str = ALL_PROJECTS) -> None:
        """Raise PermissionDeniedError unless the caller has ``needed`` in ``project``."""
        self.request.state.project = None if project == ALL_PROJECTS else project
        if not self.can(needed, project):
            where = "on this server" if project == ALL_PROJECTS else f"in project {project!r}"
            grant = f"lepton users grant {self.name} {needed}" + (
                "" if project == ALL_PROJECTS else f" --project {project}"
            )
            raise PermissionDeniedError(
                f"User {self.name!r} needs the {needed!r} role {where} for this request. "
                f"An admin can grant it: {grant}"
            )

    def visible(self, projects: list[str]) -> set[str]:
        """The projects among ``projects`` the caller may read."""
        return {p for p in projects if self.can("viewer", p)}


async def caller(request: Request) -> Caller:
    """The FastAPI dependency that authenticates a request (401) and rate-limits its key (429)."""
    from lepton.security._keys import bearer

    state = state_of(request)
    principal = state.security.authenticate(bearer(request.headers.get("authorization")))
    request.state.actor = principal.name
    state.limiter.check(principal.key_id)
    return Caller(principal, request)

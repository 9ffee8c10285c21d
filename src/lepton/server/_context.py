"""What every request handler gets: the server's state and the authenticated caller.

A caller is the holder of an API key (``Authorization: Bearer``) or of a dashboard session
cookie; a request with the cookie that changes something must also carry the session's CSRF
token (``x-csrf-token``), so another site cannot make a signed-in browser send it.

Each route checks the caller's role in the project it touches with ``caller.require(role,
project)`` and declares that role in the OpenAPI document (``role(...)``), so the role matrix
test can walk every route from the document alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query, Request

from lepton.errors import PermissionDeniedError
from lepton.security._sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, same_token

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


def role(name: str, *, server: bool = False, others: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` of a route that needs ``name`` in the project it touches, or, with
    ``server=True``, on every project (``*``: users, keys, the audit trail). ``others``: the
    role on every project a caller needs to do it to another user than themselves (the user
    named in the path)."""
    assert name in ROLES or name == "authenticated", name
    extra = {"x-required-role": name}
    if server:
        extra["x-role-scope"] = "server"
    if others is not None:
        assert others in ROLES, others
        extra["x-required-role-for-others"] = others
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


def principal_of(request: Request) -> Principal:
    """Who sends ``request``: the user of its API key, else of its session cookie (401 when
    neither works; 403 for a change sent with the cookie but without the session's CSRF
    token), rate-limited per key or session (429). Sets ``request.state.actor`` for the
    audit trail and ``request.state.csrf`` for the page's buttons."""
    from lepton.security._keys import bearer

    state = state_of(request)
    header = request.headers.get("authorization")
    token = request.cookies.get(SESSION_COOKIE)
    if header or not token:
        principal = state.security.authenticate(bearer(header))
        request.state.csrf = ""
    else:
        session = state.security.session(token)
        principal = session.principal
        request.state.csrf = session.csrf
        if request.method not in SAFE_METHODS and not same_token(
            request.headers.get(CSRF_HEADER), session.csrf
        ):
            request.state.actor = principal.name
            raise PermissionDeniedError(
                f"This {request.method} request came with a dashboard session but a missing or "
                f"wrong CSRF token ({CSRF_HEADER} header); reload the page and try again. "
                "Scripts: send an API key as `Authorization: Bearer lp_...` instead."
            )
    request.state.actor = principal.name
    state.limiter.check(principal.key_id)
    return principal


async def caller(request: Request) -> Caller:
    """The FastAPI dependency that authenticates a request (401), checks the CSRF token of a
    session's changes (403) and rate-limits its key or session (429)."""
    return Caller(principal_of(request), request)


def limit_password_tries(request: Request, user: str) -> None:
    """Take one password try of ``user`` from the request's client address: bursts of 10,
    then one every 6 seconds, so guessing stays slow however many keys or sessions one holds
    (RateLimitedError, 429, saying when to retry)."""
    from lepton.errors import RateLimitedError
    from lepton.security import RateLimiter

    services = state_of(request).services
    limiter: RateLimiter = services.setdefault("password_tries", RateLimiter(1 / 6, 10))
    address = request.client.host if request.client else "-"
    try:
        limiter.check(f"{address}|{user}")
    except RateLimitedError as error:
        wait = getattr(error, "retry_after", 6.0)
        slow_down = RateLimitedError(
            f"Too many password tries for user {user!r} from this address. Wait {wait:.0f} s "
            "before the next one, or sign in with an API key."
        )
        slow_down.retry_after = wait  # type: ignore[attr-defined]
        raise slow_down from None

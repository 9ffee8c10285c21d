"""Who am I, users and their roles, passwords, API keys, and the audit trail.

Users, keys of other users and the audit trail need the admin role on every project (``*``);
a project's admin may grant and remove roles in that project; every user manages their own
keys and changes their own password (given the current one). Keys are shown once, when
created, and never again: answers carry only their prefix. Passwords are never answered,
logged or audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lepton.server._context import (
    Caller,
    Limit,
    Offset,
    caller,
    limit_password_tries,
    role,
    state_of,
)

router = APIRouter(tags=["admin"])
Auth = Annotated[Caller, Depends(caller)]
Role = Literal["viewer", "developer", "admin"]
_DAY = 86_400.0


@router.get("/whoami", openapi_extra=role("authenticated"))
def whoami(auth: Auth) -> dict[str, Any]:
    """The user behind the presented key and the user's roles."""
    principal = auth.principal
    return {"user": principal.name, "roles": principal.roles, "key_id": principal.key_id}


# users --------------------------------------------------------------------------------------------
class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="letters, digits, '.', '_', '-'")
    email: str | None = Field(default=None, max_length=250)
    role: Role | None = Field(default=None, description="a first role; none: grant one later")
    project: str = Field(default="*", max_length=200, description="where the role holds")


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class UserOut(BaseModel):
    id: str
    name: str
    email: str | None
    disabled: bool
    created_at: float
    roles: dict[str, str] = Field(description="project (or '*', every project) -> role")


def _user(info: Any) -> UserOut:
    return UserOut.model_validate(info.to_dict())


def _note(request: Request, **details: Any) -> None:
    """What the audit entry of this request records besides who, what and where."""
    request.state.audit_details = {k: v for k, v in details.items() if v is not None}


@router.post("/users", status_code=201, openapi_extra=role("admin", server=True))
def create_user(body: UserIn, request: Request, auth: Auth) -> UserOut:
    """Create a user, optionally with a first role; give them a key with POST /tokens."""
    auth.require("admin")
    _note(request, user=body.name, role=body.role, project=body.role and body.project)
    return _user(state_of(request).security.create_user(**body.model_dump()))


@router.get("/users", openapi_extra=role("admin", server=True))
def list_users(
    request: Request, auth: Auth, limit: Limit = 1000, offset: Offset = 0
) -> list[UserOut]:
    """Every user, by name, with their roles."""
    auth.require("admin")
    users = state_of(request).security.list_users()
    return [_user(u) for u in users[offset : offset + limit]]


@router.get("/users/{name}", openapi_extra=role("admin", server=True))
def get_user(name: str, request: Request, auth: Auth) -> UserOut:
    auth.require("admin")
    return _user(state_of(request).security.get_user(name))


@router.post("/users/{name}/disable", openapi_extra=role("admin", server=True))
def disable_user(name: str, request: Request, auth: Auth) -> UserOut:
    """Every key of the user stops working at once (the keys stay, for when they come back)."""
    auth.require("admin")
    _note(request, user=name)
    return _user(state_of(request).security.set_disabled(name, True))


@router.post("/users/{name}/enable", openapi_extra=role("admin", server=True))
def enable_user(name: str, request: Request, auth: Auth) -> UserOut:
    auth.require("admin")
    _note(request, user=name)
    return _user(state_of(request).security.set_disabled(name, False))


@router.put("/users/{name}/roles/{project}", openapi_extra=role("admin"))
def grant_role(name: str, project: str, body: RoleIn, request: Request, auth: Auth) -> UserOut:
    """Set the user's role in ``project`` (``*``: every project); needs admin there."""
    auth.require("admin", project)
    _note(request, user=name, role=body.role, project=project)
    return _user(state_of(request).security.grant(name, body.role, project))


@router.delete("/users/{name}/roles/{project}", openapi_extra=role("admin"))
def revoke_role(name: str, project: str, request: Request, auth: Auth) -> UserOut:
    """Remove the role the user holds in ``project``; needs admin there."""
    auth.require("admin", project)
    _note(request, user=name, project=project)
    return _user(state_of(request).security.revoke_role(name, project))


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024, description="at least 10 characters")
    current_password: str | None = Field(
        default=None, max_length=1024, description="needed to change your own (not as an admin)"
    )


@router.post("/users/{name}/password", openapi_extra=role("authenticated", others="admin"))
def set_password(name: str, body: PasswordIn, request: Request, auth: Auth) -> UserOut:
    """Set a user's dashboard password: an admin anyone's, a user their own given the current
    one. The user's other dashboard sessions end."""
    security = state_of(request).security
    _note(request, user=name)
    if auth.can("admin"):
        return _user(security.set_password(name, body.password, keep=auth.principal.key_id))
    if name != auth.name:
        auth.require("admin")
    # each try checks a password: as slow to guess through here as through the sign-in form
    limit_password_tries(request, name)
    changed = security.change_password(
        name, body.current_password, body.password, keep=auth.principal.key_id
    )
    return _user(changed)


# API keys -----------------------------------------------------------------------------------------
class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=100, examples=["laptop"])
    expires_in_days: float | None = Field(default=None, gt=0, le=3650, description="none: never")
    user: str | None = Field(
        default=None, max_length=100, description="whose key (default: yours; others: admin)"
    )


class KeyOut(BaseModel):
    id: str
    user: str
    name: str
    prefix: str = Field(description="the first characters of the key, to tell keys apart")
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    status: Literal["active", "expired", "revoked"]


class NewKeyOut(BaseModel):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")
    record: KeyOut


def _key(info: Any) -> KeyOut:
    return KeyOut.model_validate(info.to_dict())


@router.post("/tokens", status_code=201, openapi_extra=role("authenticated"))
def create_token(body: TokenIn, request: Request, auth: Auth) -> NewKeyOut:
    """A new API key for yourself (or, as an admin, for another user)."""
    user = body.user or auth.name
    if user != auth.name:
        auth.require("admin")
    else:
        auth.require("authenticated")
    expires_in = body.expires_in_days * _DAY if body.expires_in_days else None
    record, key = state_of(request).security.create_key(user, body.name, expires_in)
    _note(request, user=user, key_id=record.id, key_prefix=record.prefix)
    return NewKeyOut(key=key, record=_key(record))


@router.get("/tokens", openapi_extra=role("authenticated"))
def list_tokens(
    request: Request,
    auth: Auth,
    user: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[KeyOut]:
    """Your keys; an admin sees every user's (or one user's, with ``?user=``)."""
    if user is not None and user != auth.name:
        auth.require("admin")
    else:
        auth.require("authenticated")
        if user is None and not auth.can("admin"):
            user = auth.name
    keys = state_of(request).security.list_keys(user)
    return [_key(k) for k in keys[offset : offset + limit]]


@router.delete("/tokens/{key_id}", openapi_extra=role("authenticated"))
def revoke_token(key_id: str, request: Request, auth: Auth) -> KeyOut:
    """Revoke one of your keys (an admin: anyone's), by id or a unique id prefix."""
    auth.require("authenticated")
    # a non-admin looks only among their own keys, so the answer reveals no one else's
    owner = None if auth.can("admin") else auth.name
    record = state_of(request).security.revoke_key(key_id, owner)
    _note(request, user=record.user, key_id=record.id, key_prefix=record.prefix)
    return _key(record)


# audit trail --------------------------------------------------------------------------------------
class AuditEntryOut(BaseModel):
    seq: int
    ts: float
    actor: str
    action: str
    target: str
    project: str | None
    source: str
    outcome: Literal["ok", "denied", "failed"]
    status_code: int
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditReportOut(BaseModel):
    ok: bool
    entries: int
    problems: list[str]


@router.get("/audit", openapi_extra=role("admin", server=True))
def list_audit(
    request: Request,
    auth: Auth,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    project: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Literal["ok", "denied", "failed"] | None = None,
    since: Annotated[float | None, Query(ge=0, description="Unix time")] = None,
) -> list[AuditEntryOut]:
    """Audit entries, newest first."""
    auth.require("admin")
    entries = state_of(request).audit.list(
        limit=limit, offset=offset, actor=actor, project=project, outcome=outcome, since=since
    )
    return [AuditEntryOut.model_validate(e.to_dict()) for e in entries]


@router.get("/audit/verify", openapi_extra=role("admin", server=True))
def verify_audit(request: Request, auth: Auth) -> AuditReportOut:
    """Recompute the hash chain: ``ok`` is false, with the problems, when the database was
    changed behind the server's back (an entry edited, deleted, or the newest ones dropped)."""
    auth.require("admin")
    return AuditReportOut.model_validate(state_of(request).audit.verify().to_dict())

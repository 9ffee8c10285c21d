"""Users, their roles per project, and their API keys; authentication of a presented key.

Roles: ``viewer`` reads, ``developer`` also creates datasets, runs, models, deployments and
jobs, ``admin`` also manages users, keys, policies, secrets and reads the audit trail. A role
on project ``*`` holds in every project; a user's role in a project is the higher of the two.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from lepton._validation import check_name
from lepton.errors import (
    AlreadyExistsError,
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
)
from lepton.security._keys import generate_key, hash_key
from lepton.security._sessions import SessionsMixin
from lepton.store import _schema as t

if TYPE_CHECKING:
    from lepton.store import MetadataStore

ROLES = ("viewer", "developer", "admin")
ALL = "*"
_TOUCH_EVERY = 60.0  # seconds between writes of a key's last_used_at


class UserNotFoundError(NotFoundError):
    kind = "user"


class KeyNotFoundError(NotFoundError):
    kind = "API key"


def _rank(role: str | None) -> int:
    return ROLES.index(role) + 1 if role in ROLES else 0


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the user behind an API key and the user's roles."""

    user_id: str
    name: str
    key_id: str
    roles: dict[str, str] = field(default_factory=dict)  # project (or "*") -> role

    def role_in(self, project: str) -> str | None:
        here = self.roles.get(project) if project != ALL else None
        everywhere = self.roles.get(ALL)
        return max((here, everywhere), key=_rank) if (here or everywhere) else None

    def allows(self, needed: str, project: str = ALL) -> bool:
        if needed == "authenticated":
            return True
        return _rank(self.role_in(project)) >= _rank(needed)


@dataclass(frozen=True)
class UserInfo:
    id: str
    name: str
    email: str | None
    disabled: bool
    created_at: float
    roles: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    user: str
    name: str
    prefix: str  # the first characters of the key, to tell keys apart; never the whole key
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= time.time():
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidParameterError(
            f"Unknown role {role!r}. Expected one of {', '.join(ROLES)} "
            "(viewer reads, developer creates, admin manages users, keys and policies)."
        )
    return role


def check_project(project: str) -> str:
    """A project name, or ``*`` for every project."""
    return project if project == ALL else check_name("project", project)


def check_email(email: str | None) -> str | None:
    if email is not None and (len(email) > 250 or email.count("@") != 1 or " " in email):
        raise InvalidParameterError(
            f"Invalid email {email!r}: expected one address such as 'ada@example.com' "
            "(at most 250 characters), or leave it out."
        )
    return email


class Security(SessionsMixin):
    """Users, roles and keys in the metadata store; turns a presented key into a Principal.
    Passwords, dashboard sessions and sign-in codes come from :class:`SessionsMixin`."""

    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta
        self._touched: dict[str, float] = {}

    # authentication -------------------------------------------------------------------------------
    def authenticate(self, token: bytes | str | None) -> Principal:
        """The principal of ``token``; AuthenticationError (401) when it is missing or bad."""
        if not token:
            raise AuthenticationError(
                "This request needs an API key: send `Authorization: Bearer lp_...`. Get one "
                "with `lepton tokens create` (or from the admin), then `lepton login URL`."
            )
        raw = token if isinstance(token, bytes) else token.encode("utf-8")
        try:
            presented = hash_key(raw.decode("utf-8"))
        except UnicodeDecodeError:
            presented = ""
        with self.meta.read() as conn:
            row = conn.execute(
                select(t.api_keys, t.users.c.name.label("user_name"), t.users.c.disabled)
                .join(t.users, t.users.c.id == t.api_keys.c.user_id)
                .where(t.api_keys.c.key_hash == presented)
            ).first()
            # the lookup is by hash; comparing the hashes again in constant time keeps the
            # decision itself free of timing differences
            if row is None or not hmac.compare_digest(row.key_hash, presented):
                raise AuthenticationError(
                    "The API key is not valid on this server. Check LEPTON_TOKEN / "
                    "`lepton login`, or create a new key with `lepton tokens create`."
                )
            if row.revoked_at is not None:
                raise AuthenticationError(
                    f"The API key {row.prefix}... was revoked. Create a new one with "
                    "`lepton tokens create`."
                )
            if row.expires_at is not None and row.expires_at <= time.time():
                raise AuthenticationError(
                    f"The API key {row.prefix}... expired. Create a new one with "
                    "`lepton tokens create`."
                )
            if row.disabled:
                raise AuthenticationError(
                    f"User {row.user_name!r} is disabled. An admin can enable the user again."
                )
            roles = self._roles(conn, row.user_id)
        self._touch(row.id)
        return Principal(row.user_id, row.user_name, row.id, roles)

    def _touch(self, key_id: str) -> None:
        now = time.time()
        if now - self._touched.get(key_id, 0.0) < _TOUCH_EVERY:
            return
        self._touched[key_id] = now
        with self.meta.write() as conn:
            conn.execute(
                update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=now)
            )

    @staticmethod
    def _roles(conn: Any, user_id: str) -> dict[str, str]:
        rows = conn.execute(select(t.memberships).where(t.memberships.c.user_id == user_id))
        return {r.project: r.role for r in rows}

    # users ----------------------------------------------------------------------------------------
    def bootstrap(self, name: str = "admin") -> str | None:
        """On an empty server, create the first admin and return its key (shown once)."""
        with self.meta.read() as conn:
            if conn.execute(select(t.users.c.id).limit(1)).first() is not None:
                return None
        self.create_user(name, role="admin", project=ALL)
        _, key = self.create_key(name, "bootstrap")
        return key

    def create_user(
        self, name: str, email: str | None = None, role: str | None = None, project: str = ALL
    ) -> UserInfo:
        check_name("user", name)
        check_email(email)
        check_project(project)
        if role is not None:
            check_role(role)
        user_id = uuid.uuid4().hex
        with self.meta.write() as conn:
            if conn.execute(select(t.users.c.id).where(t.users.c.name == name)).first():
                raise AlreadyExistsError(
                    f"A user named {name!r} already exists. Pick another name, or grant that "
                    "user a role with `lepton users grant`."
                )
            conn.execute(
                insert(t.users).values(
                    id=user_id, name=name, email=email, disabled=False, created_at=time.time()
                )
            )
            if role is not None:
                conn.execute(
                    insert(t.memberships).values(user_id=user_id, project=project, role=role)
                )
        return self.get_user(name)

    def _user_row(self, conn: Any, name: str) -> Any:
        row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        if row is None:
            names = conn.execute(select(t.users.c.name)).scalars().all()
            raise UserNotFoundError(name, names, hint="Create it with `lepton users create`.")
        return row

    def get_user(self, name: str) -> UserInfo:
        with self.meta.read() as conn:
            row = self._user_row(conn, name)
            return UserInfo(
                row.id,
                row.name,
                row.email,
                bool(row.disabled),
                row.created_at,
                self._roles(conn, row.id),
            )

    def list_users(self) -> list[UserInfo]:
        with self.meta.read() as conn:
            rows = conn.execute(select(t.users).order_by(t.users.c.name)).all()
            return [
                UserInfo(
                    r.id, r.name, r.email, bool(r.disabled), r.created_at, self._roles(conn, r.id)
                )
                for r in rows
            ]

    def set_disabled(self, name: str, disabled: bool = True) -> UserInfo:
        """Disable a user (every key of theirs stops working at once) or enable them again."""
        with self.meta.write() as conn:
            row = self._user_row(conn, name)
            if disabled:
                self._keep_an_admin(conn, row, "disable")
            conn.execute(update(t.users).where(t.users.c.id == row.id).values(disabled=disabled))
        return self.get_user(name)

    def grant(self, name: str, role: str, project: str = ALL) -> UserInfo:
        """Give ``name`` exactly ``role`` in ``project`` (replacing the role held there)."""
        check_role(role)
        check_project(project)
        with self.meta.write() as conn:
            row = self._user_row(conn, name)
            if project == ALL and role != "admin":
                self._keep_an_admin(conn, row, "demote")
            where = (t.memberships.c.user_id == row.id) & (t.memberships.c.project == project)
            conn.execute(delete(t.memberships).where(where))
            conn.execute(insert(t.memberships).values(user_id=row.id, project=project, role=role))
        return self.get_user(name)

    def revoke_role(self, name: str, project: str = ALL) -> UserInfo:
        """Remove the role ``name`` holds in ``project`` (nothing happens when it holds none)."""
        check_project(project)
        with self.meta.write() as conn:
            row = self._user_row(conn, name)
            if project == ALL:
                self._keep_an_admin(conn, row, "demote")
            where = (t.memberships.c.user_id == row.id) & (t.memberships.c.project == project)
            conn.execute(delete(t.memberships).where(where))
        return self.get_user(name)

    @staticmethod
    def _keep_an_admin(conn: Any, user: Any, change: str) -> None:
        """Refuse a change that would leave the server without an enabled admin on ``*``: nobody
        could manage users or keys any more (the change runs in the caller's write
        transaction, so two admins cannot demote each other at the same moment)."""
        admins = conn.execute(
            select(t.users.c.id)
            .join(t.memberships, t.memberships.c.user_id == t.users.c.id)
            .where(
                t.memberships.c.project == ALL,
                t.memberships.c.role == "admin",
                t.users.c.disabled.is_(False),
            )
        ).scalars()
        admin_ids = set(admins)
        if admin_ids == {user.id}:
            raise InvalidParameterError(
                f"Cannot {change} {user.name!r}: it is the last enabled admin of the server, "
                "and nobody could manage users or keys after that. Grant admin to another user "
                "first: lepton users grant NAME admin."
            )

    def grant_creator(self, principal: Principal, project: str) -> None:
        """The creator of a project administers it (unless already admin everywhere)."""
        if not principal.allows("admin", project):
            self.grant(principal.name, "admin", project)

    # keys -----------------------------------------------------------------------------------------
    def create_key(
        self, user: str, name: str = "default", expires_in: float | None = None
    ) -> tuple[KeyInfo, str]:
        """A new key for ``user``: the record, and the key itself (shown once, stored hashed)."""
        if not name or len(name) > 100:
            raise InvalidParameterError("A key name must be 1 to 100 characters, e.g. 'laptop'.")
        if expires_in is not None and expires_in <= 0:
            raise InvalidParameterError(
                f"expires_in must be a positive number of seconds, got {expires_in}."
            )
        key = generate_key()
        now = time.time()
        key_id = uuid.uuid4().hex
        with self.meta.write() as conn:
            row = self._user_row(conn, user)
            conn.execute(
                insert(t.api_keys).values(
                    id=key_id,
                    user_id=row.id,
                    name=name,
                    prefix=key[:10],
                    key_hash=hash_key(key),
                    created_at=now,
                    expires_at=now + expires_in if expires_in else None,
                )
            )
        return self.get_key(key_id), key

    def _keys(self, conn: Any, *where: Any) -> list[KeyInfo]:
        query = (
            select(t.api_keys, t.users.c.name.label("user_name"))
            .join(t.users, t.users.c.id == t.api_keys.c.user_id)
            .where(*where)
            .order_by(t.api_keys.c.created_at)
        )
        return [
            KeyInfo(
                r.id,
                r.user_name,
                r.name,
                r.prefix,
                r.created_at,
                r.expires_at,
                r.revoked_at,
                r.last_used_at,
            )
            for r in conn.execute(query)
        ]

    def get_key(self, key_id: str, user: str | None = None) -> KeyInfo:
        """A key by its id (or a unique prefix of at least 6 characters of the id); only among
        the keys of ``user`` when given, so the error lists no one else's keys."""
        with self.meta.read() as conn:
            mine = () if user is None else (t.users.c.name == user,)
            found = []
            if len(key_id) >= 6:
                by_id = t.api_keys.c.id.startswith(key_id, autoescape=True)
                found = self._keys(conn, by_id, *mine)
            if len(found) != 1:
                ids = [k.id[:12] for k in self._keys(conn, *mine)]
                hint = "List keys with `lepton tokens list`."
                if len(found) > 1:
                    hint = f"{len(found)} keys start with it: give more of the id. " + hint
                raise KeyNotFoundError(key_id, ids, hint=hint)
            return found[0]

    def list_keys(self, user: str | None = None) -> list[KeyInfo]:
        with self.meta.read() as conn:
            if user is None:
                return self._keys(conn)
            return self._keys(conn, t.api_keys.c.user_id == self._user_row(conn, user).id)

    def revoke_key(self, key_id: str, user: str | None = None) -> KeyInfo:
        """Revoke a key (of ``user`` only, when given); revoking it again changes nothing."""
        key = self.get_key(key_id, user)
        with self.meta.write() as conn:
            conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.id == key.id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return self.get_key(key.id)

"""Dashboard sessions: signing in with a password, an API key or a one-time sign-in code, and
turning the session cookie of a later request back into the signed-in user.

A session is a random token in an HttpOnly cookie; the store keeps only its SHA-256, so a
leaked database opens no sessions. The CSRF token a page sends back with every change is
derived from the session token (it needs no storage, and a page that can read it still cannot
recover the cookie). Sessions end after ``SESSION_LIFETIME`` whatever happens, on sign-out,
and when the user's password is set; a disabled user's sessions are refused at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from lepton.errors import AuthenticationError, InvalidParameterError, PermissionDeniedError
from lepton.security._keys import hash_key
from lepton.security._passwords import (
    check_password_strength,
    dummy_hash,
    hash_password,
    verify_password,
)
from lepton.store import _schema as t

if TYPE_CHECKING:
    from lepton.security._users import Principal, UserInfo
    from lepton.store import MetadataStore

SESSION_COOKIE = "lepton_session"  # HttpOnly, SameSite=Lax: the token of the session
LOGIN_COOKIE = "lepton_login"  # HttpOnly, SameSite=Strict: the sign-in form's CSRF token
CSRF_HEADER = "x-csrf-token"  # what the dashboard's script sends with every API change
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # the methods that need no CSRF token

SESSION_LIFETIME = 12 * 3600.0  # seconds from sign-in; a session is never extended
CODE_TTL = 15 * 60.0  # default lifetime of a one-time sign-in code
MAX_CODE_TTL = 7 * 86400.0
_SEEN_EVERY = 60.0  # seconds between writes of a session's last_seen_at
SESSION_PREFIX = "session:"  # Principal.key_id of a session: "session:" + its id

_SIGNED_OUT = (
    "Your session has ended (you signed out, or it is older than 12 hours). Sign in again."
)
_WRONG_PASSWORD = (
    "Wrong user name or password (both are case-sensitive). Try again, or sign in with an API key."
)
_BAD_CODE = (
    "This sign-in link does not work: it was used already, it expired, or it was never issued. "
    "Get a new one (`lepton dashboard` prints one), or sign in with a password or an API key."
)


@dataclass(frozen=True)
class Session:
    """A signed-in user: ``token`` (the cookie's value; set only when the session was just
    created, "" afterwards), who it is, the CSRF token its pages send back, and when it ends."""

    token: str
    principal: Principal
    csrf: str
    expires_at: float


def csrf_of(token: str) -> str:
    """The CSRF token of the session with cookie ``token``."""
    return hashlib.sha256(f"lepton-csrf:{token}".encode()).hexdigest()


def same_token(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` equals ``expected`` (both non-empty), in constant time."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )


def _disabled(name: str) -> AuthenticationError:
    return AuthenticationError(f"User {name!r} is disabled. An admin can enable the user again.")


class SessionsMixin:
    """Passwords, sessions and sign-in codes: the methods :class:`Security` gets from here."""

    if TYPE_CHECKING:  # provided by Security
        meta: MetadataStore

        def authenticate(self, token: bytes | str | None) -> Principal: ...

        def get_user(self, name: str) -> UserInfo: ...

        def _user_row(self, conn: Any, name: str) -> Any: ...

        @staticmethod
        def _roles(conn: Any, user_id: str) -> dict[str, str]: ...

    # passwords ------------------------------------------------------------------------------------
    def set_password(self, name: str, password: str, *, keep: str | None = None) -> UserInfo:
        """Set ``name``'s password (no check of the old one: for admins). Every session of the
        user ends, but the one whose Principal.key_id is ``keep`` (the caller's own)."""
        check_password_strength(password)
        stored = hash_password(password)
        with self.meta.write() as conn:
            row = self._user_row(conn, name)
            conn.execute(update(t.users).where(t.users.c.id == row.id).values(password_hash=stored))
            ending = delete(t.web_sessions).where(t.web_sessions.c.user_id == row.id)
            if keep and keep.startswith(SESSION_PREFIX):
                ending = ending.where(t.web_sessions.c.id != keep.removeprefix(SESSION_PREFIX))
            conn.execute(ending)
        return self.get_user(name)

    def change_password(
        self, name: str, current: str | None, password: str, *, keep: str | None = None
    ) -> UserInfo:
        """Set ``name``'s own password, given the current one (PermissionDeniedError when it is
        wrong, or when the user has none yet: an admin sets the first one)."""
        check_password_strength(password)
        with self.meta.read() as conn:
            row = self._user_row(conn, name)
        if row.password_hash is None:
            raise PermissionDeniedError(
                f"User {name!r} has no password yet; an admin sets the first one with "
                f"`lepton users password {name}`."
            )
        if not current:
            raise InvalidParameterError(
                "To change your own password, also send the current one (current_password)."
            )
        if not verify_password(current, row.password_hash):
            raise PermissionDeniedError(
                "The current password is wrong, so the password was not changed. Try again, "
                f"or ask an admin to set a new one with `lepton users password {name}`."
            )
        return self.set_password(name, password, keep=keep)

    # signing in -----------------------------------------------------------------------------------
    def sign_in_with_password(self, name: str, password: str) -> Session:
        """A new session for ``name``; AuthenticationError (the same one for an unknown user
        and a wrong password, after the same amount of work) otherwise."""
        with self.meta.read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        stored = row.password_hash if row is not None else None
        matches = verify_password(password, stored or dummy_hash())
        if row is None or (stored is not None and not matches):
            raise AuthenticationError(_WRONG_PASSWORD)
        if stored is None:
            raise AuthenticationError(
                f"User {name!r} has no password, so it cannot sign in with one. Sign in with an "
                f"API key, or ask an admin to set a password: lepton users password {name}"
            )
        if row.disabled:
            raise _disabled(name)
        with self.meta.write() as conn:
            return self._new_session(conn, row.id, row.name)

    def sign_in_with_key(self, key: str) -> Session:
        """A new session for the user of API key ``key`` (AuthenticationError when the key is
        refused, as for any request)."""
        principal = self.authenticate(key)
        with self.meta.write() as conn:
            return self._new_session(conn, principal.user_id, principal.name)

    def create_signin_code(self, name: str, ttl: float = CODE_TTL) -> str:
        """A one-time code that signs ``name`` in (``/login?code=...``) within ``ttl`` seconds.
        It carries 256 random bits and is stored only as its hash."""
        if not 0 < ttl <= MAX_CODE_TTL:
            raise InvalidParameterError(
                f"A sign-in code's ttl must be between 0 and {MAX_CODE_TTL:g} seconds (7 days), "
                f"got {ttl}."
            )
        code = secrets.token_urlsafe(32)
        now = time.time()
        with self.meta.write() as conn:
            row = self._user_row(conn, name)
            conn.execute(
                insert(t.signin_codes).values(
                    code_hash=hash_key(code), user_id=row.id, created_at=now, expires_at=now + ttl
                )
            )
        return code

    def redeem_signin_code(self, code: str) -> Session:
        """A new session for the user of ``code``, which is used up: AuthenticationError when
        it is unknown, expired or used already (also for the second of two redeems at once)."""
        now = time.time()
        with self.meta.write() as conn:
            code_hash = hash_key(code)
            # the conditional update takes the code in one statement: of two concurrent
            # redeems, only one changes the row
            taken = conn.execute(
                update(t.signin_codes)
                .where(
                    t.signin_codes.c.code_hash == code_hash,
                    t.signin_codes.c.used_at.is_(None),
                    t.signin_codes.c.expires_at > now,
                )
                .values(used_at=now)
            )
            if taken.rowcount != 1:
                raise AuthenticationError(_BAD_CODE)
            user = conn.execute(
                select(t.users)
                .join(t.signin_codes, t.signin_codes.c.user_id == t.users.c.id)
                .where(t.signin_codes.c.code_hash == code_hash)
            ).one()
            if user.disabled:
                raise _disabled(user.name)  # the transaction rolls back: the code stays unused
            return self._new_session(conn, user.id, user.name)

    def _new_session(self, conn: Any, user_id: str, name: str) -> Session:
        now = time.time()
        # sign-ins are rare: a good moment to forget what has expired
        conn.execute(delete(t.web_sessions).where(t.web_sessions.c.expires_at <= now))
        conn.execute(delete(t.signin_codes).where(t.signin_codes.c.expires_at <= now))
        token = secrets.token_urlsafe(32)
        session_id = uuid.uuid4().hex
        expires_at = now + SESSION_LIFETIME
        conn.execute(
            insert(t.web_sessions).values(
                id=session_id,
                token_hash=hash_key(token),
                user_id=user_id,
                created_at=now,
                expires_at=expires_at,
                last_seen_at=now,
            )
        )
        principal = _principal(user_id, name, session_id, self._roles(conn, user_id))
        return Session(token, principal, csrf_of(token), expires_at)

    # using a session ------------------------------------------------------------------------------
    def session(self, token: str) -> Session:
        """The session of cookie ``token``; AuthenticationError when it is unknown, expired,
        or its user is disabled or gone. Roles are read afresh, so a change applies at once."""
        now = time.time()
        with self.meta.read() as conn:
            row = conn.execute(
                select(t.web_sessions, t.users.c.name, t.users.c.disabled)
                .join(t.users, t.users.c.id == t.web_sessions.c.user_id)
                .where(t.web_sessions.c.token_hash == hash_key(token))
            ).first()
            if row is None or row.expires_at <= now:
                raise AuthenticationError(_SIGNED_OUT)
            if row.disabled:
                raise _disabled(row.name)
            roles = self._roles(conn, row.user_id)
        if now - row.last_seen_at >= _SEEN_EVERY:
            with self.meta.write() as conn:
                conn.execute(
                    update(t.web_sessions)
                    .where(t.web_sessions.c.id == row.id)
                    .values(last_seen_at=now)
                )
        principal = _principal(row.user_id, row.name, row.id, roles)
        return Session("", principal, csrf_of(token), row.expires_at)

    def end_session(self, token: str) -> None:
        """Sign out: the session of cookie ``token`` stops working (nothing when unknown)."""
        with self.meta.write() as conn:
            conn.execute(
                delete(t.web_sessions).where(t.web_sessions.c.token_hash == hash_key(token))
            )


def _principal(user_id: str, name: str, session_id: str, roles: dict[str, str]) -> Principal:
    from lepton.security._users import Principal  # _users imports this module

    # the rate limiter counts requests per key_id: per session here
    return Principal(user_id, name, SESSION_PREFIX + session_id, roles)

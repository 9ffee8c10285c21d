"""Dashboard sessions over a real metadata store (SQLite, and PostgreSQL): passwords, sign-in
with a password, a key or a one-time code, session lookup, expiry and sign-out, and the
migration that adds them to an existing database."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update

from lepton.errors import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from lepton.security import Security, Session
from lepton.security._passwords import verify_password
from lepton.security._sessions import SESSION_LIFETIME, csrf_of, same_token
from lepton.store import MetadataStore
from lepton.store import _schema as t

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def security(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Security]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_db_url")
    else:
        url = f"sqlite:///{tmp_path / 'lepton.db'}"
    meta = MetadataStore(url)
    security = Security(meta)
    security.create_user("root", role="admin")  # the last admin may not be disabled
    security.create_user("ada", role="developer", project="p1")
    yield security
    meta.engine.dispose()


def _rows(security: Security, table: Any) -> list[Any]:
    with security.meta.read() as conn:
        return list(conn.execute(select(table)).all())


def _age(security: Security, table: Any, column: str, seconds: float) -> None:
    """Move ``column`` of every row of ``table`` ``seconds`` into the past (as if they passed)."""
    with security.meta.write() as conn:
        conn.execute(update(table).values({column: getattr(table.c, column) - seconds}))


# passwords ---------------------------------------------------------------------------------------
def test_set_password_stores_only_a_scrypt_hash(security: Security) -> None:
    security.set_password("ada", PASSWORD)
    with security.meta.read() as conn:
        stored = conn.execute(select(t.users.c.password_hash).where(t.users.c.name == "ada"))
        stored_hash = stored.scalar_one()
    assert stored_hash.startswith("scrypt$") and PASSWORD not in stored_hash
    assert verify_password(PASSWORD, stored_hash)
    with pytest.raises(InvalidParameterError, match="too short .* use at least 10"):
        security.set_password("ada", "short")
    with pytest.raises(NotFoundError, match="No user named 'nobody'"):
        security.set_password("nobody", PASSWORD)


def test_change_password_needs_the_current_one(security: Security) -> None:
    with pytest.raises(PermissionDeniedError, match="has no password yet; an admin sets"):
        security.change_password("ada", None, PASSWORD)
    security.set_password("ada", PASSWORD)
    with pytest.raises(InvalidParameterError, match="also send the current one"):
        security.change_password("ada", None, "a new long password")
    with pytest.raises(PermissionDeniedError, match="The current password is wrong"):
        security.change_password("ada", "not the password", "a new long password")
    security.change_password("ada", PASSWORD, "a new long password")
    assert security.sign_in_with_password("ada", "a new long password").principal.name == "ada"


def test_setting_a_password_ends_the_other_sessions(security: Security) -> None:
    security.set_password("ada", PASSWORD)
    mine = security.sign_in_with_password("ada", PASSWORD)
    elsewhere = security.sign_in_with_password("ada", PASSWORD)
    security.change_password("ada", PASSWORD, "a new long password", keep=mine.principal.key_id)
    assert security.session(mine.token).principal.name == "ada"
    with pytest.raises(AuthenticationError, match="Your session has ended"):
        security.session(elsewhere.token)
    security.set_password("ada", PASSWORD)  # an admin's reset: every session ends
    with pytest.raises(AuthenticationError, match="Your session has ended"):
        security.session(mine.token)


# signing in --------------------------------------------------------------------------------------
def test_sign_in_with_a_password_makes_a_session(security: Security) -> None:
    security.set_password("ada", PASSWORD)
    before = time.time()
    session = security.sign_in_with_password("ada", PASSWORD)
    assert isinstance(session, Session)
    assert session.principal.name == "ada" and session.principal.roles == {"p1": "developer"}
    assert session.principal.key_id.startswith("session:")
    assert len(session.token) >= 40 and session.csrf == csrf_of(session.token)
    assert before + SESSION_LIFETIME <= session.expires_at <= time.time() + SESSION_LIFETIME
    (row,) = _rows(security, t.web_sessions)
    assert row.token_hash == hashlib.sha256(session.token.encode()).hexdigest()
    assert session.token not in str(tuple(row))  # only the hash is stored
    assert session.principal.key_id == "session:" + row.id


def test_wrong_password_and_unknown_user_get_the_same_answer(security: Security) -> None:
    security.set_password("ada", PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        security.sign_in_with_password("ada", "not the password")
    with pytest.raises(AuthenticationError) as unknown:
        security.sign_in_with_password("nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value)
    assert "Wrong user name or password" in str(wrong.value)
    assert _rows(security, t.web_sessions) == []


def test_unknown_user_takes_as_long_as_a_wrong_password(security: Security) -> None:
    """The unknown user is checked against a dummy hash: no quick answer tells who exists."""
    security.set_password("ada", PASSWORD)

    def seconds(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(AuthenticationError):
            security.sign_in_with_password(name, "not the password")
        return time.perf_counter() - start

    seconds("nobody")  # the dummy hash is made once, on first use
    wrong = min(seconds("ada") for _ in range(3))
    unknown = min(seconds("nobody") for _ in range(3))
    assert unknown > wrong / 3, (unknown, wrong)


def test_a_user_without_a_password_cannot_sign_in_with_one(security: Security) -> None:
    with pytest.raises(AuthenticationError, match="has no password.*lepton users password ada"):
        security.sign_in_with_password("ada", PASSWORD)


def test_a_disabled_user_cannot_sign_in(security: Security) -> None:
    security.set_password("ada", PASSWORD)
    _, key = security.create_key("ada")
    security.set_disabled("ada")
    with pytest.raises(AuthenticationError, match="User 'ada' is disabled"):
        security.sign_in_with_password("ada", PASSWORD)
    with pytest.raises(AuthenticationError, match="User 'ada' is disabled"):
        security.sign_in_with_key(key)
    code = security.create_signin_code("ada")
    with pytest.raises(AuthenticationError, match="User 'ada' is disabled"):
        security.redeem_signin_code(code)
    security.set_disabled("ada", False)
    assert security.redeem_signin_code(code).principal.name == "ada"  # it was not used up


def test_sign_in_with_a_key(security: Security) -> None:
    _, key = security.create_key("ada")
    session = security.sign_in_with_key(key)
    assert session.principal.name == "ada" and session.principal.key_id.startswith("session:")
    assert security.session(session.token).principal == session.principal
    with pytest.raises(AuthenticationError, match="The API key is not valid"):
        security.sign_in_with_key("lp_" + "x" * 43)


# using a session ---------------------------------------------------------------------------------
def test_session_lookup_returns_the_user_without_the_token(security: Security) -> None:
    _, key = security.create_key("ada")
    created = security.sign_in_with_key(key)
    found = security.session(created.token)
    assert found.token == "" and found.csrf == created.csrf
    assert found.principal == created.principal and found.expires_at == created.expires_at
    security.grant("ada", "viewer", "p2")  # roles are read afresh
    assert security.session(created.token).principal.roles == {"p1": "developer", "p2": "viewer"}
    with pytest.raises(AuthenticationError, match="Your session has ended"):
        security.session("not-a-session-token")


def test_a_session_expires(security: Security) -> None:
    _, key = security.create_key("ada")
    session = security.sign_in_with_key(key)
    _age(security, t.web_sessions, "expires_at", SESSION_LIFETIME + 1)
    with pytest.raises(AuthenticationError, match="older than 12 hours"):
        security.session(session.token)
    security.sign_in_with_key(key)  # signing in forgets the expired sessions
    assert len(_rows(security, t.web_sessions)) == 1


def test_last_seen_is_written_at_most_once_a_minute(security: Security) -> None:
    _, key = security.create_key("ada")
    session = security.sign_in_with_key(key)
    first = _rows(security, t.web_sessions)[0].last_seen_at
    security.session(session.token)
    assert _rows(security, t.web_sessions)[0].last_seen_at == first
    _age(security, t.web_sessions, "last_seen_at", 61)
    security.session(session.token)
    assert _rows(security, t.web_sessions)[0].last_seen_at >= first


def test_a_disabled_users_sessions_stop_working(security: Security) -> None:
    _, key = security.create_key("ada")
    session = security.sign_in_with_key(key)
    security.set_disabled("ada")
    with pytest.raises(AuthenticationError, match="User 'ada' is disabled"):
        security.session(session.token)


def test_end_session_signs_out(security: Security) -> None:
    _, key = security.create_key("ada")
    session, other = security.sign_in_with_key(key), security.sign_in_with_key(key)
    security.end_session(session.token)
    with pytest.raises(AuthenticationError, match="Your session has ended"):
        security.session(session.token)
    assert security.session(other.token).principal.name == "ada"
    security.end_session(session.token)  # again: nothing to end


def test_csrf_tokens_are_derived_and_compared_in_constant_time() -> None:
    assert csrf_of("a") == csrf_of("a") != csrf_of("b")
    assert len(csrf_of("a")) == 64
    assert same_token(csrf_of("a"), csrf_of("a"))
    assert not same_token(csrf_of("a"), csrf_of("b"))
    assert not same_token("", "") and not same_token(None, "x") and not same_token("x", "")
    assert not same_token("ünïcode", "unicode")


# sign-in codes -----------------------------------------------------------------------------------
def test_a_signin_code_works_once(security: Security) -> None:
    code = security.create_signin_code("ada")
    assert len(code) >= 40
    (row,) = _rows(security, t.signin_codes)
    assert row.code_hash == hashlib.sha256(code.encode()).hexdigest() and row.used_at is None
    session = security.redeem_signin_code(code)
    assert session.principal.name == "ada" and security.session(session.token)
    assert _rows(security, t.signin_codes)[0].used_at is not None
    with pytest.raises(AuthenticationError, match="it was used already, it expired"):
        security.redeem_signin_code(code)
    with pytest.raises(AuthenticationError, match="This sign-in link does not work"):
        security.redeem_signin_code("never-issued")


def test_a_signin_code_expires(security: Security) -> None:
    code = security.create_signin_code("ada", ttl=60)
    _age(security, t.signin_codes, "expires_at", 61)
    with pytest.raises(AuthenticationError, match="This sign-in link does not work"):
        security.redeem_signin_code(code)


def test_signin_codes_validate_their_input(security: Security) -> None:
    for ttl in (0, -1, 8 * 86400):
        with pytest.raises(InvalidParameterError, match="ttl must be between 0 and"):
            security.create_signin_code("ada", ttl=ttl)
    with pytest.raises(NotFoundError, match="No user named 'nobody'"):
        security.create_signin_code("nobody")


def test_two_redeems_at_once_give_one_session(security: Security) -> None:
    from concurrent.futures import ThreadPoolExecutor

    code = security.create_signin_code("ada")

    def redeem(_: int) -> str:
        try:
            return security.redeem_signin_code(code).principal.name
        except AuthenticationError:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(redeem, range(4)))
    assert answers == ["ada", "refused", "refused", "refused"]
    assert len(_rows(security, t.web_sessions)) == 1


# the migration -----------------------------------------------------------------------------------
def _at_revision(url: str, revision: str, action: str = "upgrade") -> None:
    from alembic import command
    from alembic.config import Config

    from lepton.store._engine import _MIGRATIONS, open_engine

    engine = open_engine(url) if action == "downgrade" else _bare_engine(url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)
        conn.commit()
    engine.dispose()


def _bare_engine(url: str) -> Any:
    from lepton.store._engine import _sqlite_engine

    return _sqlite_engine(url, url.removeprefix("sqlite:///"))


def test_migration_0007_upgrades_a_0006_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_revision(url, "0006")
    engine = _bare_engine(url)
    with engine.begin() as conn:  # a 0006 server's data: a user with a role and a key
        conn.execute(
            text(
                "INSERT INTO users (id, name, email, disabled, created_at) "
                "VALUES ('u1', 'ada', NULL, false, 1.0)"
            )
        )
        conn.execute(text("INSERT INTO memberships VALUES ('u1', '*', 'admin')"))
    engine.dispose()

    meta = MetadataStore(url)  # opening migrates to the head revision
    try:
        inspector = inspect(meta.engine)
        for table in (t.users, t.web_sessions, t.signin_codes):  # the same columns as _schema
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert set(columns) == {c.name for c in table.columns}, table.name
        assert columns["used_at"]["nullable"]
        security = Security(meta)
        assert security.get_user("ada").roles == {"*": "admin"}
        security.set_password("ada", PASSWORD)
        assert security.sign_in_with_password("ada", PASSWORD).principal.name == "ada"
    finally:
        meta.close()

    _at_revision(url, "0006", "downgrade")  # and back: the user stays, the new tables go
    engine = _bare_engine(url)
    try:
        inspector = inspect(engine)
        assert not {"web_sessions", "signin_codes"} & set(inspector.get_table_names())
        assert "password_hash" not in {c["name"] for c in inspector.get_columns("users")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM users")).scalars().all() == ["ada"]
    finally:
        engine.dispose()

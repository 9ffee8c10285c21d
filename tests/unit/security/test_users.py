"""Users, roles per project and API keys over a real metadata store (SQLite, and PostgreSQL):
authentication refuses every kind of bad key, roles combine per project and on ``*``, and the
server can never lose its last admin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from lepton.errors import AlreadyExistsError, AuthenticationError, InvalidParameterError
from lepton.security import Principal, Security, hash_key
from lepton.security._users import KeyNotFoundError, UserNotFoundError
from lepton.store import MetadataStore
from lepton.store import _schema as t


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def security(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Security]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_db_url")
    else:
        url = f"sqlite:///{tmp_path / 'lepton.db'}"
    meta = MetadataStore(url)
    yield Security(meta)
    meta.engine.dispose()


# users and roles ---------------------------------------------------------------------------------
def test_create_user_with_a_first_role(security: Security) -> None:
    user = security.create_user("ada", email="ada@example.com", role="developer", project="p1")
    assert (user.name, user.email, user.disabled, user.roles) == (
        "ada",
        "ada@example.com",
        False,
        {"p1": "developer"},
    )
    assert security.get_user("ada") == user
    assert [u.name for u in security.list_users()] == ["ada"]
    assert security.create_user("bob").roles == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "no spaces"}, "Invalid user name 'no spaces'"),
        ({"name": "ok", "role": "owner"}, "Unknown role 'owner'. Expected one of viewer"),
        ({"name": "ok", "email": "not-an-address"}, "Invalid email 'not-an-address'"),
        ({"name": "ok", "role": "viewer", "project": "a/b"}, "Invalid project name 'a/b'"),
    ],
)
def test_create_user_validates_its_input(
    security: Security, kwargs: dict[str, str], match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        security.create_user(**kwargs)
    assert security.list_users() == []


def test_user_names_are_unique(security: Security) -> None:
    security.create_user("ada")
    with pytest.raises(AlreadyExistsError, match="A user named 'ada' already exists"):
        security.create_user("ada", role="admin")


def test_unknown_user_lists_the_existing_ones(security: Security) -> None:
    security.create_user("ada")
    with pytest.raises(UserNotFoundError, match="No user named 'bob'. Existing users: 'ada'"):
        security.grant("bob", "viewer", "p1")


def test_grant_replaces_the_role_in_a_project_and_revoke_removes_it(security: Security) -> None:
    security.create_user("ada", role="viewer", project="p1")
    assert security.grant("ada", "admin", "p1").roles == {"p1": "admin"}
    assert security.grant("ada", "viewer", "*").roles == {"p1": "admin", "*": "viewer"}
    assert security.revoke_role("ada", "p1").roles == {"*": "viewer"}
    assert security.revoke_role("ada", "p1").roles == {"*": "viewer"}  # nothing left to remove
    with pytest.raises(InvalidParameterError, match="Unknown role 'root'"):
        security.grant("ada", "root", "p1")


def test_roles_combine_per_project_and_everywhere() -> None:
    who = Principal("id", "ada", "key", {"p1": "admin", "*": "viewer"})
    assert who.role_in("p1") == "admin"
    assert who.role_in("p2") == "viewer"
    assert who.role_in("*") == "viewer"  # a project role says nothing about every project
    assert who.allows("developer", "p1") and not who.allows("developer", "p2")
    assert not who.allows("admin")
    assert who.allows("authenticated")
    nobody = Principal("id", "bob", "key", {})
    assert nobody.role_in("p1") is None
    assert nobody.allows("authenticated") and not nobody.allows("viewer", "p1")
    # a higher role everywhere wins over a lower one in the project
    assert (
        Principal("id", "c", "k", {"p1": "viewer", "*": "developer"}).role_in("p1") == "developer"
    )


def test_the_creator_of_a_project_becomes_its_admin(security: Security) -> None:
    security.create_user("dev", role="developer", project="*")
    dev = security.authenticate(security.create_key("dev")[1])
    security.grant_creator(dev, "fresh")
    assert security.get_user("dev").roles == {"*": "developer", "fresh": "admin"}
    security.create_user("root", role="admin")
    root = security.authenticate(security.create_key("root")[1])
    security.grant_creator(root, "fresh")  # admin everywhere already: nothing to add
    assert security.get_user("root").roles == {"*": "admin"}


# the last admin ----------------------------------------------------------------------------------
def test_the_last_admin_cannot_be_disabled_or_demoted(security: Security) -> None:
    security.create_user("root", role="admin")
    security.create_user("ada", role="admin", project="p1")  # admin of one project only
    with pytest.raises(InvalidParameterError, match="Cannot disable 'root': it is the last"):
        security.set_disabled("root")
    with pytest.raises(InvalidParameterError, match="Cannot demote 'root': it is the last"):
        security.grant("root", "developer", "*")
    with pytest.raises(InvalidParameterError, match="Cannot demote 'root'"):
        security.revoke_role("root", "*")
    assert security.get_user("root").roles == {"*": "admin"}
    assert not security.get_user("root").disabled


def test_an_admin_may_go_once_another_enabled_admin_exists(security: Security) -> None:
    security.create_user("root", role="admin")
    security.create_user("second", role="admin")
    security.set_disabled("second")
    with pytest.raises(InvalidParameterError, match="last enabled admin"):
        security.set_disabled("root")  # a disabled admin does not count
    security.set_disabled("second", False)
    assert security.set_disabled("root").disabled
    with pytest.raises(InvalidParameterError, match="Cannot demote 'second'"):
        security.revoke_role("second", "*")
    assert security.set_disabled("root", False).disabled is False
    assert security.revoke_role("second", "*").roles == {}


def test_bootstrap_creates_the_first_admin_only_once(security: Security) -> None:
    key = security.bootstrap()
    assert key is not None and key.startswith("lp_")
    assert security.authenticate(key).roles == {"*": "admin"}
    assert security.bootstrap() is None
    assert [u.name for u in security.list_users()] == ["admin"]


# keys and authentication ------------------------------------------------------------------------
def test_a_key_authenticates_its_user_and_is_stored_only_hashed(security: Security) -> None:
    security.create_user("ada", role="viewer", project="p1")
    record, key = security.create_key("ada", "laptop")
    principal = security.authenticate(key)
    assert (principal.name, principal.key_id, principal.roles) == (
        "ada",
        record.id,
        {"p1": "viewer"},
    )
    assert security.authenticate(key.encode()) == principal  # the raw header bytes work too
    assert record.prefix == key[:10] and record.status == "active"
    assert "key_hash" not in record.to_dict() and key not in str(record.to_dict())
    with security.meta.read() as conn:
        stored = conn.execute(select(t.api_keys.c.key_hash)).scalar_one()
    assert stored == hash_key(key) and key not in stored


def test_authentication_records_when_a_key_was_last_used(security: Security) -> None:
    security.create_user("ada")
    record, key = security.create_key("ada")
    assert record.last_used_at is None
    security.authenticate(key)
    assert security.get_key(record.id).last_used_at is not None


@pytest.mark.parametrize(
    ("token", "match"),
    [
        (None, "This request needs an API key"),
        ("", "This request needs an API key"),
        ("lp_not-a-key-of-this-server", "The API key is not valid on this server"),
        (b"\xff\xfe not utf-8", "The API key is not valid on this server"),
    ],
)
def test_missing_and_wrong_keys_are_refused(
    security: Security, token: str | bytes | None, match: str
) -> None:
    security.bootstrap()
    with pytest.raises(AuthenticationError, match=match):
        security.authenticate(token)


def test_revoked_expired_and_disabled_keys_are_refused(security: Security) -> None:
    security.bootstrap()
    security.create_user("ada", role="admin", project="p1")
    revoked, revoked_key = security.create_key("ada", "old")
    assert security.revoke_key(revoked.id[:8]).status == "revoked"
    with pytest.raises(
        AuthenticationError, match=rf"The API key {revoked.prefix}\.\.\. was revoked"
    ):
        security.authenticate(revoked_key)

    expiring, expiring_key = security.create_key("ada", "short", expires_in=3600)
    assert security.authenticate(expiring_key).name == "ada"
    with security.meta.write() as conn:  # an hour later
        conn.execute(
            update(t.api_keys)
            .where(t.api_keys.c.id == expiring.id)
            .values(expires_at=time.time() - 1)
        )
    assert security.get_key(expiring.id).status == "expired"
    with pytest.raises(AuthenticationError, match=rf"{expiring.prefix}\.\.\. expired"):
        security.authenticate(expiring_key)

    _, key = security.create_key("ada", "current")
    security.set_disabled("ada")
    with pytest.raises(AuthenticationError, match="User 'ada' is disabled"):
        security.authenticate(key)
    security.set_disabled("ada", False)
    assert security.authenticate(key).name == "ada"


@pytest.mark.parametrize(
    ("name", "expires_in", "match"),
    [
        ("", None, "A key name must be 1 to 100 characters"),
        ("x" * 101, None, "A key name must be 1 to 100 characters"),
        ("ok", 0, "expires_in must be a positive number of seconds, got 0"),
        ("ok", -5.0, "expires_in must be a positive number of seconds, got -5.0"),
    ],
)
def test_create_key_validates_its_input(
    security: Security, name: str, expires_in: float | None, match: str
) -> None:
    security.create_user("ada")
    with pytest.raises(InvalidParameterError, match=match):
        security.create_key("ada", name, expires_in)


def test_keys_are_found_by_id_prefix_and_scoped_to_their_owner(security: Security) -> None:
    security.create_user("ada")
    security.create_user("bob")
    ada_key, _ = security.create_key("ada", "a")
    bob_key, _ = security.create_key("bob", "b")
    assert security.get_key(ada_key.id[:6]) == ada_key
    assert [k.name for k in security.list_keys()] == ["a", "b"]
    assert [k.name for k in security.list_keys("bob")] == ["b"]
    with pytest.raises(KeyNotFoundError, match="No API key named 'abc'"):
        security.get_key("abc")  # under 6 characters: never a prefix match
    # looking among ada's keys, bob's key is not there, and the error does not list it
    with pytest.raises(KeyNotFoundError) as caught:
        security.revoke_key(bob_key.id, user="ada")
    assert caught.value.existing == [ada_key.id[:12]]
    assert security.get_key(bob_key.id).status == "active"
    first = security.revoke_key(bob_key.id, user="bob")
    assert first.status == "revoked"
    assert security.revoke_key(bob_key.id).revoked_at == first.revoked_at  # revoking again: no-op


def test_an_id_prefix_shared_by_several_keys_asks_for_more(security: Security) -> None:
    security.create_user("ada")
    with security.meta.write() as conn:  # two ids that share their first 8 characters
        for n in (1, 2):
            conn.execute(
                t.api_keys.insert().values(
                    id=f"abcdef0{n}" + "0" * 24,
                    user_id=security.get_user("ada").id,
                    name=f"k{n}",
                    prefix="lp_xxxxxxx",
                    key_hash=str(n) * 64,
                    created_at=time.time(),
                )
            )
    with pytest.raises(KeyNotFoundError, match="2 keys start with it: give more of the id"):
        security.get_key("abcdef0")
    assert security.get_key("abcdef02").name == "k2"

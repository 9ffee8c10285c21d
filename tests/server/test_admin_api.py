"""Users, roles, API keys and the audit trail through a real server: the REST API, and the
``lepton users|tokens|audit`` commands pointed at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from lepton.errors import ConfigError
from lepton.security import hash_key

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def client(server: Any, token: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=30)


@pytest.fixture
def admin(server: Any) -> Iterator[httpx.Client]:
    with client(server, server.admin_token) as api:
        yield api


def as_user(server: Any, role: str | None, project: str = "*", name: str | None = None) -> Any:
    return client(server, server.make_token(role, project, name))


def audited(server: Any, count: int) -> None:
    """Wait until ``count`` audit entries are written: each is written just after its response
    went out, so the client can be a moment ahead of the log."""
    deadline = time.monotonic() + 30
    while len(server.state.audit.list(limit=10_000)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} audit entries"
        time.sleep(0.02)


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


# users --------------------------------------------------------------------------------------------
def test_admin_creates_lists_and_reads_users(admin: httpx.Client) -> None:
    body = {"name": "ada", "email": "ada@example.com", "role": "developer", "project": "proj"}
    created = admin.post("/users", json=body)
    assert created.status_code == 201, created.text
    ada = created.json()
    assert (ada["name"], ada["email"], ada["disabled"], ada["roles"]) == (
        "ada",
        "ada@example.com",
        False,
        {"proj": "developer"},
    )
    assert admin.get("/users/ada").json() == ada
    assert [u["name"] for u in admin.get("/users").json()] == ["ada", "admin"]
    assert [u["name"] for u in admin.get("/users", params={"limit": 1, "offset": 1}).json()] == [
        "admin"
    ]
    assert "already exists" in error(admin.post("/users", json=body), 409)
    assert "No user named 'bob'" in error(admin.get("/users/bob"), 404)
    assert "role" in error(admin.post("/users", json={"name": "x", "role": "owner"}), 422)
    assert "Invalid user name" in error(admin.post("/users", json={"name": "a b"}), 422)


def test_only_server_admins_manage_users(server: Any) -> None:
    for who in (as_user(server, "admin", "proj"), as_user(server, "developer")):
        with who:
            message = error(who.post("/users", json={"name": "x"}), 403)
            assert "needs the 'admin' role on this server" in message
            error(who.get("/users"), 403)
            error(who.post("/users/admin/disable"), 403)
            error(who.get("/audit"), 403)
            error(who.get("/audit/verify"), 403)


def test_a_project_admin_grants_roles_in_that_project_only(server: Any, admin: Any) -> None:
    admin.post("/users", json={"name": "ada"})
    with as_user(server, "admin", "proj") as owner:
        granted = owner.put("/users/ada/roles/proj", json={"role": "viewer"})
        assert granted.status_code == 200 and granted.json()["roles"] == {"proj": "viewer"}
        message = error(owner.put("/users/ada/roles/other", json={"role": "viewer"}), 403)
        assert "needs the 'admin' role in project 'other'" in message
        error(owner.put("/users/ada/roles/*", json={"role": "viewer"}), 403)
        error(owner.delete("/users/ada/roles/other"), 403)
        assert owner.delete("/users/ada/roles/proj").json()["roles"] == {}
    with as_user(server, "developer", "proj") as developer:
        error(developer.put("/users/ada/roles/proj", json={"role": "admin"}), 403)
    assert admin.put("/users/ada/roles/*", json={"role": "viewer"}).json()["roles"] == {
        "*": "viewer"
    }
    assert "Input should be" in error(admin.put("/users/ada/roles/p", json={"role": "root"}), 422)


def test_disabling_a_user_stops_their_keys_until_enabled(server: Any, admin: Any) -> None:
    with as_user(server, "developer", name="ada") as ada:
        assert ada.get("/whoami").json()["user"] == "ada"
        assert admin.post("/users/ada/disable").json()["disabled"] is True
        assert "User 'ada' is disabled" in error(ada.get("/whoami"), 401)
        assert admin.post("/users/ada/enable").json()["disabled"] is False
        assert ada.get("/whoami").status_code == 200


def test_the_last_admin_cannot_lock_everyone_out(admin: httpx.Client) -> None:
    assert "last enabled admin" in error(admin.post("/users/admin/disable"), 422)
    assert "last enabled admin" in error(admin.delete("/users/admin/roles/*"), 422)
    assert admin.get("/whoami").json()["roles"] == {"*": "admin"}


# keys ---------------------------------------------------------------------------------------------
def test_a_user_creates_lists_and_revokes_their_own_keys(server: Any, admin: Any) -> None:
    with as_user(server, "viewer", "proj", name="ada") as ada:
        created = ada.post("/tokens", json={"name": "laptop", "expires_in_days": 30})
        assert created.status_code == 201, created.text
        key, record = created.json()["key"], created.json()["record"]
        assert key.startswith("lp_") and record["prefix"] == key[:10]
        assert (record["user"], record["name"], record["status"]) == ("ada", "laptop", "active")
        assert record["expires_at"] - record["created_at"] == pytest.approx(30 * 86_400)
        listed = ada.get("/tokens").json()
        assert {k["name"] for k in listed} == {"test", "laptop"}  # ada's keys, nobody else's
        assert key not in json.dumps(listed) and hash_key(key) not in json.dumps(listed)
        with client(server, key) as laptop:
            assert laptop.get("/whoami").json()["user"] == "ada"
            revoked = ada.delete(f"/tokens/{record['id'][:8]}")
            assert revoked.json()["status"] == "revoked"
            assert "was revoked" in error(laptop.get("/whoami"), 401)
    assert {k["user"] for k in admin.get("/tokens").json()} == {"admin", "ada"}
    assert [k["name"] for k in admin.get("/tokens", params={"user": "ada"}).json()] == [
        "test",
        "laptop",
    ]


def test_keys_of_other_users_need_an_admin(server: Any, admin: Any) -> None:
    admin.post("/users", json={"name": "bob"})
    bob_key = admin.post("/tokens", json={"user": "bob", "name": "ci"}).json()
    with as_user(server, "admin", "proj", name="ada") as ada:
        assert "on this server" in error(ada.post("/tokens", json={"user": "bob"}), 403)
        error(ada.get("/tokens", params={"user": "bob"}), 403)
        # looking among ada's own keys, bob's is not found, and the answer lists only hers
        missing = ada.delete(f"/tokens/{bob_key['record']['id']}")
        assert missing.status_code == 404
        assert missing.json()["error"]["details"]["existing"] == [
            k["id"][:12] for k in ada.get("/tokens").json()
        ]
    with client(server, bob_key["key"]) as bob:
        assert bob.get("/whoami").status_code == 200
        assert admin.delete(f"/tokens/{bob_key['record']['id']}").json()["status"] == "revoked"
        error(bob.get("/whoami"), 401)
    assert "No user named 'nobody'" in error(admin.post("/tokens", json={"user": "nobody"}), 404)


@pytest.mark.parametrize(
    "body",
    [{"expires_in_days": 0}, {"expires_in_days": -1}, {"name": ""}, {"name": "x" * 101}, {"x": 1}],
)
def test_bad_key_requests_are_refused(admin: httpx.Client, body: dict[str, Any]) -> None:
    assert "The request is not valid" in error(admin.post("/tokens", json=body), 422)


def test_no_answer_ever_holds_a_key_hash(server: Any, admin: Any) -> None:
    created = admin.post("/tokens", json={"name": "probe"}).json()
    admin.delete(f"/tokens/{created['record']['id']}")
    audited(server, 2)
    hashes = [hash_key(server.admin_token), hash_key(created["key"])]
    answers = [
        admin.get("/tokens").text,
        admin.get("/audit").text,
        admin.get("/users").text,
        admin.get("/whoami").text,
    ]
    for text in answers:
        assert not any(h in text for h in hashes)
    audit = admin.get("/audit").text
    assert created["key"] not in audit and server.admin_token not in audit


# audit --------------------------------------------------------------------------------------------
def test_the_audit_trail_records_admin_actions_with_details(server: Any, admin: Any) -> None:
    admin.post("/users", json={"name": "ada", "role": "viewer", "project": "proj"})
    key = admin.post("/tokens", json={"user": "ada", "name": "ci"}).json()
    with client(server, key["key"]) as ada:
        error(ada.get("/users"), 403)
    audited(server, 3)
    entries = admin.get("/audit").json()
    created, token, denied = entries[2], entries[1], entries[0]
    assert (created["actor"], created["action"], created["outcome"]) == (
        "admin",
        "POST /users",
        "ok",
    )
    assert created["details"] == {"user": "ada", "role": "viewer", "project": "proj"}
    assert token["details"] == {
        "user": "ada",
        "key_id": key["record"]["id"],
        "key_prefix": key["record"]["prefix"],
    }
    assert (denied["actor"], denied["outcome"], denied["status_code"]) == ("ada", "denied", 403)
    assert denied["source"] == "127.0.0.1"
    assert [e["seq"] for e in admin.get("/audit", params={"actor": "ada"}).json()] == [
        denied["seq"]
    ]
    assert admin.get("/audit", params={"outcome": "denied"}).json() == [denied]
    assert admin.get("/audit", params={"limit": 1, "offset": 2}).json() == [created]
    assert admin.get("/audit", params={"since": denied["ts"]}).json()[-1] == denied
    assert "outcome" in error(admin.get("/audit", params={"outcome": "maybe"}), 422)
    assert admin.get("/audit/verify").json() == {
        "ok": True,
        "entries": len(admin.get("/audit").json()),
        "problems": [],
    }


# the CLI ------------------------------------------------------------------------------------------
def cli(*args: str) -> Result:
    from lepton.cli._app import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_cli_manages_users(remote: Any) -> None:
    assert "Created user ada (developer on proj)" in ok(
        "users", "create", "ada", "--role", "developer", "--project", "proj", "--email", "a@b.c"
    )
    users = json.loads(ok("users", "list", "--json"))
    assert [(u["name"], u["roles"], u["email"]) for u in users] == [
        ("ada", {"proj": "developer"}, "a@b.c"),
        ("admin", {"*": "admin"}, None),
    ]
    assert "developer on proj" in ok("users", "list")
    assert "viewer on *" in ok("users", "grant", "ada", "viewer")
    assert "admin on proj" in ok("users", "grant", "ada", "admin", "--project", "proj")
    assert "ada: viewer on *" in ok("users", "revoke", "ada", "--project", "proj")
    assert "Disabled user ada" in ok("users", "disable", "ada")
    assert remote.state.security.get_user("ada").disabled
    assert "Enabled user ada" in ok("users", "enable", "ada")
    assert not remote.state.security.get_user("ada").disabled
    failed = cli("users", "create", "ada")
    assert failed.exit_code == 1 and "already exists" in str(failed.exception)


def test_cli_creates_lists_and_revokes_keys(remote: Any) -> None:
    ok("users", "create", "ada", "--role", "viewer", "--project", "proj")
    shown = ok("tokens", "create", "--name", "ci", "--user", "ada", "--expires-days", "7")
    key = next(word for word in shown.split() if word.startswith("lp_"))
    assert "will not be shown again" in shown
    assert remote.state.security.authenticate(key).name == "ada"
    listed = json.loads(ok("tokens", "list", "--json", "--user", "ada"))
    assert [(k["name"], k["status"]) for k in listed] == [("ci", "active")]
    assert key not in ok("tokens", "list") and listed[0]["prefix"] in ok("tokens", "list")
    assert "Revoked key" in ok("tokens", "revoke", listed[0]["id"][:8])
    assert json.loads(ok("tokens", "list", "--json", "--user", "ada"))[0]["status"] == "revoked"
    created = json.loads(ok("tokens", "create", "--json"))
    assert created["record"]["user"] == "admin" and created["key"].startswith("lp_")


def test_cli_lists_and_verifies_the_audit_trail(remote: Any) -> None:
    ok("users", "create", "ada")
    audited(remote, 1)
    entries = json.loads(ok("audit", "list", "--json", "--actor", "admin", "--limit", "1"))
    assert [(e["action"], e["outcome"]) for e in entries] == [("POST /users", "ok")]
    assert json.loads(ok("audit", "list", "--json", "--outcome", "denied")) == []
    assert "POST /users" in ok("audit", "list")
    assert "No audit entries match" in ok("audit", "list", "--project", "nothing-here")
    assert "The audit trail is intact" in ok("audit", "verify")
    assert json.loads(ok("audit", "verify", "--json"))["ok"] is True


def test_cli_without_a_server_says_how_to_get_one() -> None:
    for command in (["users", "list"], ["tokens", "create"], ["audit", "verify"]):
        result = cli(*command)
        assert result.exit_code == 1
        assert isinstance(result.exception, ConfigError)
        assert "no server is configured" in str(result.exception)
        assert "lepton server start" in str(result.exception)


def test_cli_errors_are_one_readable_paragraph(server: Any) -> None:
    viewer = server.make_token("viewer", "proj")
    env = {**os.environ, "LEPTON_URL": server.url, "LEPTON_TOKEN": viewer, "COLUMNS": "200"}
    out = subprocess.run(
        [LEPTON, "users", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1
    assert out.stderr.startswith("Error: User 'user-") and "needs the 'admin' role" in out.stderr
    assert "Traceback" not in out.stderr

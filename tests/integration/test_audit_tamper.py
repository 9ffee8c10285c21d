"""Tampering with the audit trail behind the server's back, on SQLite and on PostgreSQL: a real
server writes the entries from real requests, then someone with access to the database edits
an entry, deletes one from the middle, deletes the newest. ``lepton audit verify`` and
``GET /audit/verify`` find each change, and pass again once the log is put back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """The server's metadata database: SQLite in its home folder, or a fresh PostgreSQL one."""
    return request.getfixturevalue("postgres_db_url") if request.param == "postgres" else None


@pytest.fixture
def server(start_server: Callable[..., Any], db_url: str | None) -> Any:
    return start_server(db_url=db_url, control_plane=False)


@pytest.fixture
def database(server: Any) -> Iterator[Engine]:
    """A connection of our own to the server's database, as an intruder would have."""
    engine = create_engine(server.state.workspace.meta.url)
    yield engine
    engine.dispose()


@pytest.fixture
def cli(server: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``lepton ...`` in this process, pointed at the server with its admin key."""
    from lepton.cli._app import app
    from lepton.workspace import reset

    monkeypatch.setenv("LEPTON_URL", server.url)
    monkeypatch.setenv("LEPTON_TOKEN", server.admin_token)
    reset()

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})

    return run


def make_entries(server: Any) -> int:
    """Changes and refusals through real requests; returns how many entries they wrote."""
    admin = {"authorization": f"Bearer {server.admin_token}"}
    api = server.url + "/api/v1"
    with httpx.Client(base_url=api, headers=admin, timeout=30) as client:
        assert client.post("/projects", json={"name": "alpha"}).status_code == 201
        assert client.post("/users", json={"name": "ada", "role": "viewer", "project": "alpha"})
        key = client.post("/tokens", json={"user": "ada", "name": "ci"}).json()["key"]
        assert client.put("/users/ada/roles/alpha", json={"role": "developer"}).status_code == 200
    with httpx.Client(base_url=api, headers={"authorization": f"Bearer {key}"}) as ada:
        assert ada.post("/projects", json={"name": "beta"}).status_code == 403
        assert ada.post("/runs", json={"project": "alpha", "name": "r"}).status_code == 201
    assert httpx.get(api + "/projects").status_code == 401
    count = 7
    deadline = time.monotonic() + 30  # each entry is written just after its response went out
    while len(server.state.audit.list(limit=100)) < count:
        assert time.monotonic() < deadline, "the audit entries were not written"
        time.sleep(0.02)
    return count


def verify_over_api(server: Any) -> dict[str, Any]:
    answer = httpx.get(
        server.url + "/api/v1/audit/verify",
        headers={"authorization": f"Bearer {server.admin_token}"},
    )
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def assert_intact(server: Any, cli: Callable[..., Result], entries: int) -> None:
    assert verify_over_api(server) == {"ok": True, "entries": entries, "problems": []}
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"The audit trail is intact: {entries} entries verified." in result.output


def assert_tampered(server: Any, cli: Callable[..., Result], problems: list[str]) -> None:
    report = verify_over_api(server)
    assert (report["ok"], report["problems"]) == (False, problems)
    result = cli("audit", "verify")
    assert result.exit_code == 1, result.output
    assert "The audit trail was changed behind the server's back" in result.output
    for problem in problems:
        assert f"- {problem}" in result.output


def row(database: Engine, seq: int) -> dict[str, Any]:
    """An entry as stored (through the table, so that ``details`` round-trips as JSON)."""
    from lepton.store import _schema as t

    with database.connect() as conn:
        found = conn.execute(t.audit_log.select().where(t.audit_log.c.seq == seq))
        return dict(found.one()._mapping)


def execute(database: Engine, sql: str, **values: Any) -> None:
    with database.begin() as conn:
        conn.execute(text(sql), values)


def put_back(database: Engine, saved: dict[str, Any]) -> None:
    from lepton.store import _schema as t

    with database.begin() as conn:
        conn.execute(t.audit_log.insert().values(**saved))


def test_each_kind_of_tampering_is_found(
    server: Any, database: Engine, cli: Callable[..., Result]
) -> None:
    entries = make_entries(server)
    assert_intact(server, cli, entries)

    # an entry's column edited: who did it
    execute(database, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    assert_tampered(server, cli, ["entry 2 was changed after it was written"])
    execute(database, "UPDATE audit_log SET actor = 'admin' WHERE seq = 2")
    assert_intact(server, cli, entries)

    # an entry's outcome edited: a refusal made to look like a success
    execute(database, "UPDATE audit_log SET outcome = 'ok', status_code = 201 WHERE seq = 5")
    assert_tampered(server, cli, ["entry 5 was changed after it was written"])
    execute(database, "UPDATE audit_log SET outcome = 'denied', status_code = 403 WHERE seq = 5")
    assert_intact(server, cli, entries)

    # an entry deleted from the middle
    middle = row(database, 4)
    execute(database, "DELETE FROM audit_log WHERE seq = 4")
    assert_tampered(
        server,
        cli,
        ["entry 4 is missing (deleted)", "entry 5 does not follow the entry before it"],
    )
    put_back(database, middle)
    assert_intact(server, cli, entries)

    # the newest entry deleted
    newest = row(database, entries)
    execute(database, "DELETE FROM audit_log WHERE seq = :seq", seq=entries)
    assert_tampered(
        server,
        cli,
        [
            f"entry {entries} is missing (deleted): the head of the chain says entry {entries}, "
            f"the log ends at entry {entries - 1}"
        ],
    )
    put_back(database, newest)
    assert_intact(server, cli, entries)


def test_a_deletion_stays_found_while_the_server_goes_on(
    server: Any, database: Engine, cli: Callable[..., Result]
) -> None:
    entries = make_entries(server)
    execute(database, "DELETE FROM audit_log WHERE seq = :seq", seq=entries)
    with httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"authorization": f"Bearer {server.admin_token}"},
    ) as client:
        assert client.post("/projects", json={"name": "gamma"}).status_code == 201
    deadline = time.monotonic() + 30
    while server.state.audit.list(limit=1)[0].seq != entries + 1:
        assert time.monotonic() < deadline, "the new entry was not written"
        time.sleep(0.02)
    assert_tampered(
        server,
        cli,
        [
            f"entry {entries} is missing (deleted)",
            f"entry {entries + 1} does not follow the entry before it",
        ],
    )

"""Secrets over the team server's REST API and the ``lepton secrets`` CLI, against a live server:
roles, names-only listing, encryption in the database, and values kept out of every response,
error, audit entry and log line."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lepton.security._crypto import MasterKey
from lepton.store._schema import secrets

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"
VALUE = "pw-VALUE-of-the-secret-31f9"
SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "lepton")


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the in-process server, uvicorn's own loggers included."""
    attached = []
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        attached.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        if name.startswith("uvicorn"):  # they do not propagate to the root logger
            logger.addHandler(caplog.handler)
    yield caplog
    for logger, level in attached:
        logger.setLevel(level)
        logger.removeHandler(caplog.handler)


@pytest.fixture
def keyed(start_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A live server with encryption at rest on, and a project ``credit``."""
    monkeypatch.setenv("LEPTON_MASTER_KEY", MasterKey.generate().to_text())
    live = start_server()
    reply = _client(live, live.admin_token).post("/projects", json={"name": "credit"})
    assert reply.status_code == 201, reply.text
    return live


def _client(live: Any, token: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=live.url + "/api/v1", headers=headers, timeout=30)


def test_admin_sets_developer_lists_names_only(keyed: Any, server_log: Any) -> None:
    admin = _client(keyed, keyed.admin_token)
    developer = _client(keyed, keyed.make_token("developer", "credit"))

    put = admin.put("/projects/credit/secrets/DB_PASSWORD", json={"value": VALUE})
    assert put.status_code == 200, put.text
    assert set(put.json()) == {"project", "name", "created_at", "updated_at"}
    admin.put("/projects/credit/secrets/API_TOKEN", json={"value": "tok"})

    listed = developer.get("/projects/credit/secrets")
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()] == ["API_TOKEN", "DB_PASSWORD"]
    assert [
        s["name"] for s in developer.get("/projects/credit/secrets?limit=1&offset=1").json()
    ] == ["DB_PASSWORD"]
    for reply in (put, listed):
        assert VALUE not in reply.text

    (row,) = keyed.state.workspace.meta.rows(secrets, name="DB_PASSWORD")
    assert VALUE.encode() not in bytes(row["ciphertext"])
    store = keyed.state.services["secrets"]
    assert store.values("credit", ["DB_PASSWORD"]) == {"DB_PASSWORD": VALUE}

    deleted = admin.delete("/projects/credit/secrets/API_TOKEN")
    assert deleted.status_code == 204
    assert [s["name"] for s in developer.get("/projects/credit/secrets").json()] == ["DB_PASSWORD"]
    missing = admin.delete("/projects/credit/secrets/API_TOKEN")
    assert missing.status_code == 404
    assert "No secret named 'API_TOKEN'" in missing.json()["error"]["message"]

    audited = [e for e in keyed.state.audit.list(limit=1000) if "secrets" in e.action]
    assert {e.action for e in audited} == {
        "PUT /projects/{project}/secrets/{name}",
        "DELETE /projects/{project}/secrets/{name}",
    }
    assert all(e.details == {"secret": e.target.rsplit("/", 1)[1]} for e in audited)
    assert all(e.project == "credit" for e in audited)
    assert VALUE not in repr(keyed.state.audit.list(limit=1000))
    assert server_log.records, "the log capture saw nothing: it does not test anything"
    assert VALUE not in server_log.text


def test_roles(keyed: Any) -> None:
    admin = _client(keyed, keyed.admin_token)
    admin.put("/projects/credit/secrets/DB_PASSWORD", json={"value": VALUE})
    developer = _client(keyed, keyed.make_token("developer", "credit"))
    viewer = _client(keyed, keyed.make_token("viewer", "credit"))
    project_admin = _client(keyed, keyed.make_token("admin", "credit"))
    outsider = _client(keyed, keyed.make_token("admin", "elsewhere"))

    assert developer.put("/projects/credit/secrets/X", json={"value": "v"}).status_code == 403
    assert developer.delete("/projects/credit/secrets/DB_PASSWORD").status_code == 403
    denied = viewer.get("/projects/credit/secrets")
    assert denied.status_code == 403
    assert "needs the 'developer' role in project 'credit'" in denied.json()["error"]["message"]
    assert outsider.get("/projects/credit/secrets").status_code == 403
    assert outsider.put("/projects/credit/secrets/X", json={"value": "v"}).status_code == 403
    assert _client(keyed, None).get("/projects/credit/secrets").status_code == 401
    assert project_admin.put("/projects/credit/secrets/X", json={"value": "v"}).status_code == 200
    assert project_admin.delete("/projects/credit/secrets/X").status_code == 204

    refused = [e for e in keyed.state.audit.list(limit=1000, outcome="denied")]
    assert any(e.details == {"secret": "X"} for e in refused)


def test_bad_requests_never_echo_the_value(keyed: Any, server_log: Any) -> None:
    admin = _client(keyed, keyed.admin_token)
    bad_name = admin.put("/projects/credit/secrets/db-password", json={"value": VALUE})
    assert bad_name.status_code == 422
    assert "Invalid secret name 'db-password'" in bad_name.json()["error"]["message"]
    reserved = admin.put("/projects/credit/secrets/LEPTON_MASTER_KEY", json={"value": VALUE})
    assert reserved.status_code == 422 and "reserved" in reserved.text
    too_long = admin.put("/projects/credit/secrets/BIG", json={"value": VALUE * 3000})
    assert too_long.status_code == 422
    with_nul = admin.put("/projects/credit/secrets/NUL", json={"value": VALUE + "\x00"})
    assert with_nul.status_code == 422 and "NUL character" in with_nul.text
    not_text = admin.put("/projects/credit/secrets/NUM", json={"value": 12345})
    assert not_text.status_code == 422
    no_project = admin.put("/projects/nope/secrets/DB_PASSWORD", json={"value": VALUE})
    assert no_project.status_code == 404 and "No project named 'nope'" in no_project.text
    for reply in (bad_name, reserved, too_long, with_nul, not_text, no_project):
        assert VALUE not in reply.text
    assert keyed.state.workspace.meta.rows(secrets) == []
    assert VALUE not in server_log.text


def test_without_a_master_key_the_server_explains(start_server: Callable[..., Any]) -> None:
    live = start_server()  # LEPTON_MASTER_KEY unset and no master.key in its home
    admin = _client(live, live.admin_token)
    admin.post("/projects", json={"name": "credit"})
    reply = admin.put("/projects/credit/secrets/DB_PASSWORD", json={"value": VALUE})
    assert reply.status_code == 422
    assert "no master key is configured" in reply.json()["error"]["message"]
    assert admin.get("/projects/credit/secrets").json() == []


# the CLI --------------------------------------------------------------------------------------------
def _lepton(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env}
    environ.pop("LEPTON_MASTER_KEY", None)  # the client needs no key: the server holds it
    return subprocess.run(
        [LEPTON, *args],
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_set_list_delete(keyed: Any, server_log: Any) -> None:
    login = {"LEPTON_URL": keyed.url, "LEPTON_TOKEN": keyed.admin_token, "LEPTON_PROJECT": "credit"}
    piped = _lepton("secrets", "set", "DB_PASSWORD", stdin=VALUE + "\n", **login)
    assert piped.returncode == 0, piped.stderr
    assert "Set secret DB_PASSWORD of project credit" in piped.stdout
    given = _lepton("secrets", "set", "API_TOKEN", "--value", "tok", "--project", "credit", **login)
    assert given.returncode == 0, given.stderr
    assert keyed.state.services["secrets"].values("credit", ["DB_PASSWORD", "API_TOKEN"]) == {
        "DB_PASSWORD": VALUE,  # the trailing newline of the pipe is not part of the value
        "API_TOKEN": "tok",
    }

    listed = _lepton("secrets", "list", "--json", **login)
    assert listed.returncode == 0, listed.stderr
    import json

    assert [s["name"] for s in json.loads(listed.stdout)] == ["API_TOKEN", "DB_PASSWORD"]
    table = _lepton("secrets", "list", **login)
    assert "DB_PASSWORD" in table.stdout and VALUE not in table.stdout + listed.stdout

    gone = _lepton("secrets", "delete", "API_TOKEN", **login)
    assert gone.returncode == 0 and "Deleted secret API_TOKEN" in gone.stdout
    again = _lepton("secrets", "delete", "API_TOKEN", **login)
    assert again.returncode == 1 and "No secret named 'API_TOKEN'" in again.stderr

    developer = {**login, "LEPTON_TOKEN": keyed.make_token("developer", "credit")}
    refused = _lepton("secrets", "set", "X", "--value", "v", **developer)
    assert refused.returncode == 1 and "needs the 'admin' role" in refused.stderr
    assert VALUE not in server_log.text


def test_cli_without_a_server_says_how_to_configure_one() -> None:
    out = _lepton("secrets", "list", LEPTON_URL="")
    assert out.returncode == 1
    assert "no server is configured" in " ".join(out.stderr.split())
    assert "lepton login URL" in out.stderr

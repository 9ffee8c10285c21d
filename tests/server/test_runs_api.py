"""Runs, params, tags, lineage, inputs, metrics and artifacts over the team server's REST API,
through ``RemoteWorkspace`` and the public SDK, against a live server over real HTTP."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import lepton
from lepton.errors import (
    ArtifactNotFoundError,
    IntegrityError,
    InvalidParameterError,
    PermissionDeniedError,
    RunNotFoundError,
)
from lepton.workspace._remote import RemoteWorkspace


@pytest.fixture
def admin(server: Any) -> Iterator[RemoteWorkspace]:
    workspace = RemoteWorkspace(server.url, server.admin_token)
    yield workspace
    workspace.close()


def as_user(server: Any, role: str, project: str) -> RemoteWorkspace:
    return RemoteWorkspace(server.url, server.make_token(role, project))


def raw(server: Any, token: str) -> httpx.Client:
    """A plain HTTP client, to send what RemoteWorkspace itself would refuse to send."""
    return httpx.Client(
        base_url=server.url + "/api/v1", headers={"authorization": f"Bearer {token}"}
    )


def audited(server: Any, action: str | None, count: int = 1, outcome: str = "ok") -> list[Any]:
    """Audit entries of ``action`` (e.g. "POST /metrics"; None: any) with ``outcome``, oldest
    first. The trail is written just after the response is sent, so this waits (a bounded
    while) until there are ``count`` of them."""
    deadline = time.monotonic() + 10
    while True:
        entries = [
            e
            for e in server.state.audit.list(limit=10_000)
            if e.outcome == outcome and action in (None, e.action.replace("/api/v1", "", 1))
        ]
        if len(entries) >= count or time.monotonic() > deadline:
            return sorted(entries, key=lambda e: e.seq)
        time.sleep(0.02)


def stored_files(server: Any) -> set[str]:
    return {str(p.relative_to(server.home)) for p in server.home.rglob("*") if p.is_file()}


# runs ---------------------------------------------------------------------------------------------
def test_run_lifecycle_round_trips(admin: RemoteWorkspace) -> None:
    run = admin.create_run("alpha", "baseline", lineage={"git": "abc"}, tags={"team": "risk"})
    assert (run.project, run.name, run.status, run.tags) == (
        "alpha",
        "baseline",
        "running",
        {"team": "risk"},
    )
    assert admin.get_project("alpha").name == "alpha"  # created with the run

    admin.log_params(run.id, {"lr": 0.01, "layers": [64, 32], "name": "mlp"})
    admin.log_params(run.id, {"lr": 0.02})  # overwrites
    admin.set_tags(run.id, {"stage": "dev"})
    admin.update_lineage(run.id, {"python": "3.11"})
    admin.add_run_inputs(run.id, [("dataset", "credit", "3f2a" * 16)])
    admin.add_run_inputs(run.id, [("dataset", "credit", "3f2a" * 16)])  # recorded once

    got = admin.get_run(run.id[:8])  # a unique prefix is enough
    assert got.id == run.id
    assert got.params == {"lr": 0.02, "layers": [64, 32], "name": "mlp"}
    assert got.tags == {"team": "risk", "stage": "dev"}
    assert got.lineage == {"git": "abc", "python": "3.11"}
    assert got.inputs == [{"kind": "dataset", "name": "credit", "version": "3f2a" * 16}]

    admin.end_run(run.id, "failed", "boom")
    ended = admin.get_run(run.id)
    assert (ended.status, ended.error) == ("failed", "boom") and ended.end_time is not None
    reopened = admin.reopen_run(run.id[:6])
    assert (reopened.id, reopened.status, reopened.end_time) == (run.id, "running", None)


def test_list_runs_filters_and_pages(admin: RemoteWorkspace) -> None:
    parent = admin.create_run("alpha", "sweep")
    children = [admin.create_run("alpha", f"trial-{i}", parent_id=parent.id[:8]) for i in range(3)]
    other = admin.create_run("beta", "elsewhere")
    admin.end_run(children[0].id, "finished")

    assert {r.id for r in admin.list_runs("alpha")} == {parent.id, *(c.id for c in children)}
    assert [r.id for r in admin.list_runs("beta")] == [other.id]
    assert {r.id for r in admin.list_runs(parent_id=parent.id)} == {c.id for c in children}
    assert [r.id for r in admin.list_runs("alpha", status="finished")] == [children[0].id]
    everything = admin.list_runs()
    assert len(everything) == 5
    assert admin.list_runs(limit=2) == everything[:2]
    assert admin.list_runs(limit=2, offset=3) == everything[3:5]
    with pytest.raises(InvalidParameterError, match="Unknown run status 'paused'"):
        admin.list_runs(status="paused")


def test_unknown_run_is_404_with_the_servers_message(server: Any, admin: RemoteWorkspace) -> None:
    admin.create_run("alpha", "known")
    with pytest.raises(RunNotFoundError, match="No run named 'deadbeef'|deadbeef") as caught:
        admin.get_run("deadbeef")
    for call in (
        lambda: admin.log_params("deadbeef", {"a": 1}),
        lambda: admin.end_run("deadbeef", "finished"),
        lambda: admin.list_artifacts("deadbeef"),
        lambda: admin.metric_history("deadbeef"),
    ):
        with pytest.raises(RunNotFoundError, match="deadbeef"):
            call()
    with raw(server, server.admin_token) as http:
        response = http.get("/runs/deadbeef")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["message"] == str(caught.value)


def test_unknown_run_in_a_metric_batch_writes_nothing(admin: RemoteWorkspace) -> None:
    run = admin.create_run("alpha", "known")
    with pytest.raises(RunNotFoundError, match="nope"):
        admin.log_metrics([(run.id, "loss", 0, 1.0, 0.5), ("nope", "loss", 0, 1.0, 0.5)])
    assert admin.metric_history(run.id) == []


def test_a_prefix_matching_several_runs_is_refused(server: Any, admin: RemoteWorkspace) -> None:
    from sqlalchemy import insert, select

    from lepton.store import _schema as t

    run = admin.create_run("alpha", "one")
    with server.state.workspace.meta.write() as conn:  # a second run sharing a 6-char prefix
        row = dict(conn.execute(select(t.runs).where(t.runs.c.id == run.id)).one()._mapping)
        twin = run.id[:6] + ("0" if run.id[6] != "0" else "1") * 26
        conn.execute(insert(t.runs).values(**{**row, "id": twin}))
    with pytest.raises(InvalidParameterError, match="matches several runs; give more"):
        admin.get_run(run.id[:6])
    assert admin.get_run(run.id[:7]).id == run.id


# metrics ------------------------------------------------------------------------------------------
def test_metrics_round_trip_in_one_batch(server: Any, admin: RemoteWorkspace) -> None:
    first = admin.create_run("alpha", "one")
    second = admin.create_run("alpha", "two")
    rows = [(first.id, "loss", step, 1000.0 + step, 1 / (step + 1)) for step in range(5)]
    rows += [(first.id, "acc", 0, 1000.0, 0.5), (second.id[:8], "loss", 7, 1000.0, 0.25)]
    admin.log_metrics(rows)
    [entry] = audited(server, "POST /metrics")  # one request for the whole batch
    assert entry.details == {"runs": sorted([first.id, second.id]), "points": 7}

    history = admin.metric_history(first.id)
    assert [(p.key, p.step, p.value) for p in history] == [("acc", 0, 0.5)] + [
        ("loss", s, 1 / (s + 1)) for s in range(5)
    ]
    assert [p.step for p in admin.metric_history(first.id, "loss")] == [0, 1, 2, 3, 4]
    assert admin.last_steps(first.id) == {"loss": 4, "acc": 0}
    assert admin.last_steps(second.id) == {"loss": 7}  # the prefix was stored as the full id
    assert admin.get_run(first.id).metrics == {"loss": 0.2, "acc": 0.5}


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (["loss", "x", 1.0, 1.0], "points.0.2: Input should be a valid integer"),
        (["loss", 2**70, 1.0, 1.0], "points.0.2: Input should be less than or equal to"),
        (["loss", 0, 1.0, float("inf")], "points.0.4: Input should be a finite number"),
        (["loss", 0, float("nan"), 1.0], "points.0.3: Input should be a finite number"),
        (["bad\nkey", 0, 1.0, 1.0], "Invalid metric key 'bad\\nkey'"),
    ],
)
def test_invalid_metric_points_are_refused(
    server: Any, admin: RemoteWorkspace, point: list[Any], message: str
) -> None:
    run = admin.create_run("alpha", "one")
    body = json.dumps({"points": [[run.id, *point]]})  # NaN and Infinity as Python writes them
    with raw(server, server.admin_token) as http:
        response = http.post("/metrics", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert admin.metric_history(run.id) == []


# artifacts ----------------------------------------------------------------------------------------
def test_artifacts_round_trip(admin: RemoteWorkspace, tmp_path: Path) -> None:
    run = admin.create_run("alpha", "files")
    model = tmp_path / "model.bin"
    model.write_bytes(bytes(range(256)) * 5000)  # 1.28 MB: more than one streamed chunk
    folder = tmp_path / "plots"
    (folder / "deep").mkdir(parents=True)
    (folder / "loss.txt").write_text("loss")
    (folder / "deep" / "acc é.txt").write_text("acc")

    [logged] = admin.log_artifact(run.id, model)
    assert (logged.path, logged.size) == ("model.bin", model.stat().st_size)
    assert logged.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    paths = [a.path for a in admin.log_artifact(run.id, folder, "charts")]
    assert paths == ["charts/deep/acc é.txt", "charts/loss.txt"]
    assert [a.path for a in admin.list_artifacts(run.id)] == [
        "charts/deep/acc é.txt",
        "charts/loss.txt",
        "model.bin",
    ]

    with admin.open_artifact(run.id, "model.bin") as stream:
        assert stream.read(10) == bytes(range(10))
        assert stream.read() == model.read_bytes()[10:]
    one = admin.download_artifacts(run.id, "model.bin", tmp_path / "out" / "m.bin")
    assert one.read_bytes() == model.read_bytes()
    tree = admin.download_artifacts(run.id, "charts", tmp_path / "charts-copy")
    assert (tree / "loss.txt").read_text() == "loss"
    assert (tree / "deep" / "acc é.txt").read_text() == "acc"

    with pytest.raises(ArtifactNotFoundError, match="missing.txt"):
        admin.open_artifact(run.id, "missing.txt")
    with pytest.raises(ArtifactNotFoundError, match="nothing-here"):
        admin.download_artifacts(run.id, "nothing-here", tmp_path / "x")
    with pytest.raises(ArtifactNotFoundError, match="not-there"):
        admin.log_artifact(run.id, tmp_path / "not-there")


def test_a_changed_artifact_fails_the_download_check(
    server: Any, admin: RemoteWorkspace, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from lepton.store import _schema as t

    run = admin.create_run("alpha", "files")
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.txt").write_text("payload")
    admin.log_artifact(run.id, folder / "a.txt")
    with server.state.workspace.meta.write() as conn:  # the record no longer matches the bytes
        conn.execute(update(t.artifacts).values(sha256="0" * 64))
    with pytest.raises(IntegrityError, match="'a.txt' of run .* has sha256"):
        admin.download_artifacts(run.id, "a.txt", folder / "copy.txt")
    assert [p.name for p in folder.iterdir()] == ["a.txt"]  # no copy, no temp file left


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../b", "a\\..\\b", "a//b", "./a", "a/."]
)
def test_artifact_path_traversal_is_refused(server: Any, admin: RemoteWorkspace, path: str) -> None:
    run = admin.create_run("alpha", "files")
    before = stored_files(server)
    encoded = "/".join(p.replace(".", "%2E") for p in path.split("/"))  # past URL normalising
    with raw(server, server.admin_token) as http:
        put = http.put(f"/runs/{run.id}/artifacts/{encoded}", content=b"evil")
        get = http.get(f"/runs/{run.id}/artifacts/{encoded}")
    assert put.status_code == 422, put.text
    assert "Invalid artifact path" in put.json()["error"]["message"]
    assert get.status_code == 422, get.text
    assert admin.list_artifacts(run.id) == []
    assert stored_files(server) - before <= {  # only the audit trail's database grew
        f for f in stored_files(server) if f.endswith((".db", ".db-wal", ".db-shm"))
    }


def test_the_client_refuses_traversal_before_sending(
    admin: RemoteWorkspace, tmp_path: Path
) -> None:
    run = admin.create_run("alpha", "files")
    (tmp_path / "f.txt").write_text("x")
    for path in ("../x", "a/../../b", "/etc/passwd/.."):
        with pytest.raises(InvalidParameterError, match="Invalid artifact key"):
            admin.log_artifact(run.id, tmp_path / "f.txt", path)
    with pytest.raises(InvalidParameterError, match="Invalid artifact key"):
        admin.open_artifact(run.id, "../x")
    assert admin.list_artifacts(run.id) == []


def test_an_artifact_upload_cut_off_midway_stores_nothing(
    server: Any, admin: RemoteWorkspace
) -> None:
    import socket
    from urllib.parse import urlsplit

    run = admin.create_run("alpha", "files")
    url = urlsplit(server.url)
    head = (
        f"PUT /api/v1/runs/{run.id}/artifacts/model.bin HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\nAuthorization: Bearer {server.admin_token}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head + b"x" * 300_000)  # then the client is gone
    assert audited(server, "PUT /runs/{run_id}/artifacts/{path:path}", outcome="failed")
    assert admin.list_artifacts(run.id) == []


# roles --------------------------------------------------------------------------------------------
def test_a_viewer_reads_but_cannot_write(
    server: Any, admin: RemoteWorkspace, tmp_path: Path
) -> None:
    run = admin.create_run("alpha", "shared")
    admin.log_metrics([(run.id, "loss", 0, 1.0, 0.5)])
    (tmp_path / "f.txt").write_text("x")
    admin.log_artifact(run.id, tmp_path / "f.txt")
    viewer = as_user(server, "viewer", "alpha")

    assert viewer.get_run(run.id).name == "shared"
    assert [r.id for r in viewer.list_runs("alpha")] == [run.id]
    assert [p.value for p in viewer.metric_history(run.id)] == [0.5]
    assert [a.path for a in viewer.list_artifacts(run.id)] == ["f.txt"]
    with viewer.open_artifact(run.id, "f.txt") as stream:
        assert stream.read() == b"x"

    writes = {
        "create_run": lambda: viewer.create_run("alpha", "mine"),
        "log_params": lambda: viewer.log_params(run.id, {"a": 1}),
        "set_tags": lambda: viewer.set_tags(run.id, {"a": "1"}),
        "update_lineage": lambda: viewer.update_lineage(run.id, {"a": 1}),
        "add_run_inputs": lambda: viewer.add_run_inputs(run.id, [("dataset", "d", "v")]),
        "log_metrics": lambda: viewer.log_metrics([(run.id, "loss", 1, 1.0, 0.1)]),
        "log_artifact": lambda: viewer.log_artifact(run.id, tmp_path / "f.txt", "g.txt"),
        "end_run": lambda: viewer.end_run(run.id, "finished"),
        "reopen_run": lambda: viewer.reopen_run(run.id),
    }
    for write in writes.values():
        with pytest.raises(
            PermissionDeniedError, match="needs the 'developer' role in project 'alpha'"
        ):
            write()
    assert len(audited(server, None, len(writes), outcome="denied")) == len(writes)
    after = admin.get_run(run.id)
    assert (after.status, after.params, after.tags, after.inputs) == ("running", {}, {}, [])
    assert [p.step for p in admin.metric_history(run.id)] == [0]
    assert [a.path for a in admin.list_artifacts(run.id)] == ["f.txt"]
    viewer.close()


def test_runs_of_other_projects_stay_out_of_sight(server: Any, admin: RemoteWorkspace) -> None:
    mine = [admin.create_run("alpha", f"a{i}").id for i in range(3)]
    theirs = admin.create_run("beta", "secret")
    developer = as_user(server, "developer", "alpha")

    assert sorted(r.id for r in developer.list_runs()) == sorted(mine)
    assert len(developer.list_runs(limit=2)) == 2
    assert developer.list_runs(limit=2, offset=2) == developer.list_runs()[2:]
    for call in (
        lambda: developer.list_runs("beta"),
        lambda: developer.get_run(theirs.id),
        lambda: developer.log_metrics([(theirs.id, "loss", 0, 1.0, 1.0)]),
        lambda: developer.log_metrics(
            [(mine[0], "loss", 0, 1.0, 1.0), (theirs.id, "x", 0, 1.0, 1.0)]
        ),
        lambda: developer.create_run("alpha", "child", parent_id=theirs.id),
    ):
        with pytest.raises(PermissionDeniedError, match="'beta'"):
            call()
    assert admin.metric_history(mine[0]) == []  # the batch with a forbidden run wrote nothing
    with pytest.raises(PermissionDeniedError, match="'gamma'"):
        developer.create_run("gamma", "new-project")
    developer.close()


def test_a_run_in_a_new_project_makes_its_creator_admin(server: Any) -> None:
    creator = RemoteWorkspace(server.url, server.make_token("developer", "*", name="maker"))
    creator.create_run("fresh", "first")
    assert server.state.security.get_user("maker").roles == {"*": "developer", "fresh": "admin"}
    creator.close()


def test_writes_leave_an_audit_trail(server: Any, admin: RemoteWorkspace, tmp_path: Path) -> None:
    run = admin.create_run("alpha", "audited")
    (tmp_path / "f.txt").write_text("secret contents")
    admin.log_artifact(run.id, tmp_path / "f.txt", "dir/f.txt")
    admin.log_params(run.id, {"password_length": 12})
    [put] = audited(server, "PUT /runs/{run_id}/artifacts/{path:path}")
    [params] = audited(server, "POST /runs/{run_id}/params")
    [created] = audited(server, "POST /runs")
    assert put.details == {"run_id": run.id, "path": "dir/f.txt", "size": 15}
    assert params.details == {"run_id": run.id, "keys": ["password_length"]}
    assert created.details == {"run_id": run.id, "name": "audited"}
    assert {e.project for e in (put, params, created)} == {"alpha"}
    assert "secret contents" not in repr(server.state.audit.list(limit=10_000))


# the public SDK ---------------------------------------------------------------------------------
def test_the_sdk_tracks_runs_on_the_server(remote: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# notes")
    with lepton.start_run(project="sdk", name="remote-run") as run:
        run.log_params({"lr": 0.1})
        run.set_tag("owner", "me")
        for step in range(20):
            run.log_metric("loss", 1.0 / (step + 1))
        run.log_artifact(tmp_path / "notes.md")
        run.log_text("hello", "texts/hello.txt")
        run_id = run.id

    server_side = remote.state.workspace.get_run(run_id)
    assert (server_side.project, server_side.status) == ("sdk", "finished")
    assert server_side.params == {"lr": 0.1} and server_side.tags["owner"] == "me"
    assert [p.step for p in remote.state.workspace.metric_history(run_id)] == list(range(20))
    assert [a.path for a in remote.state.workspace.list_artifacts(run_id)] == [
        "notes.md",
        "texts/hello.txt",
    ]
    with lepton.start_run(project="sdk", name="resumed", run_id=run_id[:8]) as again:
        again.log_metric("loss", 0.01)  # continues after the last step on the server
    assert remote.state.workspace.last_steps(run_id) == {"loss": 20}

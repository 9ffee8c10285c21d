"""Datasets over the team server's REST API: one multipart upload per version, records,
listings and streamed downloads, through ``RemoteWorkspace`` and the public SDK, against a
live server over real HTTP; uploads cut off half-way never leave a version behind."""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from lepton.errors import (
    ArtifactNotFoundError,
    DatasetNotFoundError,
    IntegrityError,
    InvalidParameterError,
    PermissionDeniedError,
)
from lepton.workspace._remote import RemoteWorkspace

VERSION = hashlib.sha256(b"version one").hexdigest()
OTHER = hashlib.sha256(b"version two").hexdigest()


@pytest.fixture
def admin(server: Any) -> Iterator[RemoteWorkspace]:
    workspace = RemoteWorkspace(server.url, server.admin_token)
    yield workspace
    workspace.close()


@pytest.fixture
def files(tmp_path: Path) -> list[tuple[Path, str]]:
    """A table and two images in a sub-folder (one with a space and an accent in its name)."""
    source = tmp_path / "source"
    (source / "images").mkdir(parents=True)
    (source / "data.csv").write_text("a,b\n1,2\n3,4\n")
    (source / "images" / "cat 1.png").write_bytes(bytes(range(256)) * 6000)  # > 1 chunk
    (source / "images" / "chien é.png").write_bytes(b"\x89PNG fake")
    return [
        (source / "data.csv", "data.csv"),
        (source / "images" / "cat 1.png", "images/cat 1.png"),
        (source / "images" / "chien é.png", "images/chien é.png"),
    ]


def add(
    workspace: RemoteWorkspace,
    files: list[tuple[Path, str]],
    *,
    project: str = "alpha",
    name: str = "credit",
    version: str = VERSION,
) -> Any:
    return workspace.add_dataset_version(
        project,
        name,
        version,
        "table",
        "b",
        {"columns": [{"name": "a", "type": "int", "inferred": True}]},
        {"rows": 2},
        2,
        files,
    )


def meta(project: str = "alpha", version: str = VERSION) -> bytes:
    fields = {
        "project": project,
        "name": "credit",
        "version": version,
        "kind": "table",
        "target": None,
        "schema": {},
        "profile": {},
        "num_rows": 1,
    }
    return json.dumps(fields).encode()


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    """A multipart/form-data body of (field name, filename or None, content) parts."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def post(server: Any, body: bytes, token: str | None = None, boundary: str = "XyZ") -> Any:
    headers = {
        "authorization": f"Bearer {token or server.admin_token}",
        "content-type": f"multipart/form-data; boundary={boundary}",
    }
    return httpx.post(server.url + "/api/v1/datasets", content=body, headers=headers)


def no_versions(workspace: RemoteWorkspace, name: str = "credit") -> bool:
    try:
        workspace.list_dataset_versions(name)
    except DatasetNotFoundError:
        return True
    return False


def audited(server: Any, action: str, outcome: str, count: int = 1) -> list[Any]:
    """Audit entries of ``action`` with ``outcome``. The trail is written once the request's
    handler has finished, so this waits (a bounded while) for ``count`` of them."""
    deadline = time.monotonic() + 10
    while True:
        entries = [
            e
            for e in server.state.audit.list(limit=10_000)
            if e.outcome == outcome and e.action.replace("/api/v1", "", 1) == action
        ]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


# round trips --------------------------------------------------------------------------------------
def test_a_version_round_trips(
    server: Any, admin: RemoteWorkspace, files: list[tuple[Path, str]], tmp_path: Path
) -> None:
    info = add(admin, files)
    assert (info.project, info.name, info.version, info.kind, info.num_rows) == (
        "alpha",
        "credit",
        VERSION,
        "table",
        2,
    )
    assert [f["path"] for f in info.files] == [relative for _, relative in files]
    for record, (local, _) in zip(info.files, files, strict=True):
        assert record["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    [entry] = audited(server, "POST /datasets", "ok")
    assert entry.details == {
        "dataset": "credit",
        "version": VERSION,
        "files": 3,
        "size": sum(p.stat().st_size for p, _ in files),
    }

    assert add(admin, files) == info  # already stored: the same record, no second upload
    assert len(audited(server, "POST /datasets", "ok")) == 1
    newer = add(admin, files[:1], version=OTHER)

    assert admin.get_dataset_version("credit") == newer
    assert admin.get_dataset_version("credit", VERSION[:8], "alpha") == info
    assert [v.version for v in admin.list_dataset_versions("credit")] == [OTHER, VERSION]
    assert [d.version for d in admin.list_datasets()] == [OTHER]
    assert admin.list_datasets("alpha") == admin.list_datasets()

    with admin.open_dataset_file("credit", VERSION, "images/cat 1.png", "alpha") as stream:
        assert stream.read() == files[1][0].read_bytes()
    folder = admin.download_dataset("credit", VERSION[:10], tmp_path / "copy")
    for local, relative in files:
        assert (folder / relative).read_bytes() == local.read_bytes()

    with pytest.raises(ArtifactNotFoundError, match="missing.csv"):
        admin.open_dataset_file("credit", None, "missing.csv")
    with pytest.raises(DatasetNotFoundError, match="credit:ffffffff"):
        admin.get_dataset_version("credit", "ffffffff")
    with pytest.raises(InvalidParameterError, match="Invalid dataset version 'xyz'"):
        admin.get_dataset_version("credit", "xyz")


def test_a_name_in_two_projects_needs_the_project(
    admin: RemoteWorkspace, files: list[tuple[Path, str]]
) -> None:
    add(admin, files[:1], project="alpha")
    add(admin, files[:1], project="beta")
    with pytest.raises(InvalidParameterError, match=r"several projects \(alpha, beta\)"):
        admin.get_dataset_version("credit")
    assert admin.get_dataset_version("credit", project="beta").project == "beta"
    assert {v.project for v in admin.list_dataset_versions("credit")} == {"alpha", "beta"}


def test_a_changed_file_fails_the_download_check(
    server: Any, admin: RemoteWorkspace, files: list[tuple[Path, str]], tmp_path: Path
) -> None:
    from sqlalchemy import update

    from lepton.store import _schema as t

    info = add(admin, files[:1])
    damaged = [{**info.files[0], "sha256": "0" * 64}]
    with server.state.workspace.meta.write() as conn:  # the record no longer matches the bytes
        conn.execute(update(t.dataset_versions).values(files=damaged))
    with pytest.raises(IntegrityError, match="'data.csv' of dataset credit:.* has sha256"):
        admin.download_dataset("credit", None, tmp_path / "copy")
    assert list((tmp_path / "copy").iterdir()) == []  # no file, no temp file left


# uploads that must store nothing --------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "a\\b", "a//b", "./x", "..%2Fx", "a/%2E%2E/b"]
)
def test_dataset_file_names_cannot_escape(
    server: Any, admin: RemoteWorkspace, name: str, tmp_path: Path
) -> None:
    response = post(server, multipart([("meta", None, meta()), (name, "x", b"evil")]))
    assert response.status_code == 422, response.text
    assert "Invalid dataset file name" in response.json()["error"]["message"]
    assert no_versions(admin)
    assert not [p for p in server.home.rglob("*") if p.name in ("x", "b", "passwd")]
    if "%" not in name:  # the client refuses it too, before sending anything
        (tmp_path / "f").write_text("x")
        with pytest.raises(InvalidParameterError, match="Invalid artifact key"):
            add(admin, [(tmp_path / "f", name)])


def test_reading_a_file_by_a_traversal_path_is_refused(
    server: Any, admin: RemoteWorkspace, files: list[tuple[Path, str]]
) -> None:
    add(admin, files[:1])
    headers = {"authorization": f"Bearer {server.admin_token}"}
    url = f"{server.url}/api/v1/datasets/credit/versions/{VERSION}/files/%2E%2E/%2E%2E/secret"
    response = httpx.get(url, headers=headers)
    assert response.status_code == 422, response.text
    assert "Invalid dataset file name '../../secret'" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (multipart([("data.csv", "d", b"1"), ("meta", None, meta())]), "must come before"),
        (multipart([("meta", None, b"{not json")]), "not valid JSON"),
        (multipart([("meta", None, b"[1, 2]")]), "must be a JSON object"),
        (multipart([("meta", None, meta(version="abc"))]), "must be a sha256 hex digest"),
        (multipart([("meta", None, b"{}")]), "field is not valid: project"),
        (multipart([("meta", None, meta()), ("note", None, b"hi")]), "Unexpected form field"),
        (multipart([("data.csv", "d", b"1")]), "must come before"),
        (multipart([("meta", None, meta())])[:-20], "ended before its closing boundary"),
        (b"", "ended before its closing boundary"),
    ],
)
def test_malformed_uploads_are_refused(
    server: Any, admin: RemoteWorkspace, body: bytes, message: str
) -> None:
    response = post(server, body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert no_versions(admin)


def test_an_upload_must_be_multipart(server: Any) -> None:
    response = httpx.post(
        server.url + "/api/v1/datasets",
        json={"name": "credit"},
        headers={"authorization": f"Bearer {server.admin_token}"},
    )
    assert response.status_code == 422
    assert "must be multipart/form-data" in response.json()["error"]["message"]


def test_an_upload_cut_off_midway_leaves_no_version(
    server: Any, admin: RemoteWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "server-tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))  # where the server stages uploads
    body = multipart([("meta", None, meta()), ("data.csv", "data.csv", b"x" * 300_000)])
    head = (
        "POST /api/v1/datasets HTTP/1.1\r\n"
        f"Host: {urlsplit(server.url).netloc}\r\n"
        f"Authorization: Bearer {server.admin_token}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head + body[: len(body) // 2])  # meta and half of the file, then gone

    assert audited(server, "POST /datasets", "failed")  # the server saw the request end
    assert no_versions(admin)
    assert list(staging.iterdir()) == []  # the staged half-file was removed

    response = post(server, body)  # the whole body: stored
    assert response.status_code == 201, response.text
    assert [v.version for v in admin.list_dataset_versions("credit")] == [VERSION]


# roles ----------------------------------------------------------------------------------------
def test_a_viewer_reads_but_cannot_upload(
    server: Any, admin: RemoteWorkspace, files: list[tuple[Path, str]], tmp_path: Path
) -> None:
    info = add(admin, files)
    viewer = RemoteWorkspace(server.url, server.make_token("viewer", "alpha"))
    assert viewer.get_dataset_version("credit") == info
    assert viewer.list_datasets() == [info]
    viewer.download_dataset("credit", None, tmp_path / "copy")
    assert (tmp_path / "copy" / "data.csv").read_text() == files[0][0].read_text()

    with pytest.raises(PermissionDeniedError, match="needs the 'developer' role in project"):
        add(viewer, files, version=OTHER)
    token = server.make_token("viewer", "alpha")
    response = post(server, multipart([("meta", None, meta(version=OTHER))]), token)
    assert response.status_code == 403
    assert [v.version for v in admin.list_dataset_versions("credit")] == [VERSION]
    viewer.close()


def test_datasets_of_other_projects_stay_out_of_sight(
    server: Any, admin: RemoteWorkspace, files: list[tuple[Path, str]]
) -> None:
    add(admin, files[:1], project="alpha", name="public-ds")
    add(admin, files[:1], project="beta", name="secret-ds")
    developer = RemoteWorkspace(server.url, server.make_token("developer", "alpha"))

    assert [d.name for d in developer.list_datasets()] == ["public-ds"]
    with pytest.raises(DatasetNotFoundError, match="public-ds") as caught:
        developer.get_dataset_version("nope")
    assert "secret-ds" not in str(caught.value)
    for call in (
        lambda: developer.get_dataset_version("secret-ds"),
        lambda: developer.list_dataset_versions("secret-ds"),
        lambda: developer.list_datasets("beta"),
        lambda: developer.open_dataset_file("secret-ds", None, "data.csv", "beta"),
        lambda: add(developer, files[:1], project="beta", version=OTHER),
    ):
        with pytest.raises(PermissionDeniedError, match="'beta'"):
            call()
    developer.close()


# the public SDK ---------------------------------------------------------------------------------
def test_the_sdk_registers_and_loads_datasets_on_the_server(remote: Any, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from PIL import Image

    from lepton import Dataset
    from lepton.data import list_versions, load_dataset

    frame = pd.DataFrame({"age": [23, 35, 41, 52], "label": ["a", "b", "a", "b"]})
    info = Dataset.from_pandas(frame, name="loans", target="label").register(project="team")
    assert remote.state.workspace.get_dataset_version("loans").version == info.version
    loaded = load_dataset("loans")
    assert loaded.version == info.version and len(loaded) == 4
    assert [v.version for v in list_versions("loans")] == [info.version]

    for label in ("cat", "dog"):
        for i in range(2):
            (tmp_path / "imgs" / label).mkdir(parents=True, exist_ok=True)
            pixels = np.full((8, 8, 3), 40 * i + (100 if label == "dog" else 0), np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / label / f"{i}.png")
    images = Dataset.from_images(tmp_path / "imgs", name="pets", input_shape=(8, 8, 3))
    stored = images.register(project="team")
    assert len([f for f in stored.files if f["path"].startswith("images/")]) == 4
    again = load_dataset(f"pets:{stored.version[:8]}")
    assert (again.kind, len(again)) == ("images", 4)

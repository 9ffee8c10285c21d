"""Secrets: encrypted in the database, never listed with values, bound to their project and name;
and injected into a deployment's replica processes by a real control plane."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton.errors import ConfigError, IntegrityError, InvalidParameterError, NotFoundError
from lepton.security._crypto import MasterKey
from lepton.security._secrets import (
    MAX_VALUE_BYTES,
    SecretInfo,
    SecretNotFoundError,
    SecretStore,
    deployment_secret_env,
)
from lepton.store import MetadataStore
from lepton.store._schema import secrets

VALUE = "s3cr3t-VALUE-9c1e"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    url = (
        request.getfixturevalue("postgres_db_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'lepton.db'}"
    )
    store = MetadataStore(url)
    yield store
    store.close()


@pytest.fixture
def key() -> MasterKey:
    return MasterKey.generate()


def test_set_list_values_delete(meta: MetadataStore, key: MasterKey) -> None:
    store = SecretStore(meta, key)
    first = store.set("credit", "DB_PASSWORD", VALUE)
    store.set("credit", "API_TOKEN", "tok-1")
    store.set("other", "DB_PASSWORD", "another project's")

    listed = store.list("credit")
    assert [s.name for s in listed] == ["API_TOKEN", "DB_PASSWORD"]
    assert all(isinstance(s, SecretInfo) and VALUE not in repr(s) for s in listed)
    assert set(SecretInfo.__dataclass_fields__) == {"project", "name", "created_at", "updated_at"}
    assert store.values("credit", ["DB_PASSWORD", "API_TOKEN"]) == {
        "DB_PASSWORD": VALUE,
        "API_TOKEN": "tok-1",
    }
    assert store.values("other", ["DB_PASSWORD"]) == {"DB_PASSWORD": "another project's"}
    assert store.values("credit", []) == {}

    replaced = store.set("credit", "DB_PASSWORD", "rotated ✓ unicode")
    assert replaced.created_at == first.created_at and replaced.updated_at >= first.updated_at
    assert store.values("credit", ["DB_PASSWORD"]) == {"DB_PASSWORD": "rotated ✓ unicode"}

    store.delete("credit", "API_TOKEN")
    assert [s.name for s in store.list("credit")] == ["DB_PASSWORD"]
    with pytest.raises(SecretNotFoundError, match=r"No secret named 'API_TOKEN'.*'DB_PASSWORD'"):
        store.delete("credit", "API_TOKEN")


def test_values_are_encrypted_in_the_database(meta: MetadataStore, key: MasterKey) -> None:
    SecretStore(meta, key).set("credit", "DB_PASSWORD", VALUE)
    (row,) = meta.rows(secrets)
    raw = bytes(row["ciphertext"])
    assert VALUE.encode() not in raw and len(raw) >= len(VALUE) + 12 + 16
    assert row["master_key_id"] == key.id
    assert VALUE not in str(row)


def test_unknown_names_are_listed_with_the_existing_ones(
    meta: MetadataStore, key: MasterKey
) -> None:
    store = SecretStore(meta, key)
    store.set("credit", "DB_PASSWORD", VALUE)
    with pytest.raises(
        SecretNotFoundError,
        match=r"No secret named 'API_TOKEN'\. Existing secrets: 'DB_PASSWORD'\. \(project 'credit'\)\. "
        r"Also missing: S3_KEY\. Set one with `lepton secrets set API_TOKEN --project credit`",
    ) as caught:
        store.values("credit", ["DB_PASSWORD", "API_TOKEN", "S3_KEY"])
    assert isinstance(caught.value, NotFoundError) and VALUE not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("9LIVES", "not starting with a digit"),
        ("db-password", "letters, digits or '_'"),
        ("", "Invalid secret name ''"),
        ("LEPTON_MASTER_KEY", "reserved for Lepton's own settings"),
        ("lepton_token", "reserved for Lepton's own settings"),
        ("A" * 129, "1-128 letters"),
    ],
)
def test_invalid_names(meta: MetadataStore, key: MasterKey, name: str, problem: str) -> None:
    with pytest.raises(InvalidParameterError, match=problem):
        SecretStore(meta, key).set("credit", name, VALUE)


def test_invalid_values_never_echo_the_value(meta: MetadataStore, key: MasterKey) -> None:
    store = SecretStore(meta, key)
    cases = [
        (VALUE + "\x00", "cannot contain a NUL character"),
        (VALUE + "x" * MAX_VALUE_BYTES, "at most 65,536 bytes"),
        (b"bytes " + VALUE.encode(), "must be a string, got bytes"),
    ]
    for value, problem in cases:
        with pytest.raises(InvalidParameterError, match=problem) as caught:
            store.set("credit", "DB_PASSWORD", value)  # type: ignore[arg-type]
        assert VALUE not in str(caught.value)
    with pytest.raises(InvalidParameterError, match="Invalid project name"):
        store.set("../etc", "DB_PASSWORD", VALUE)
    assert meta.rows(secrets) == []


def test_without_a_master_key_secrets_cannot_be_set_or_read(meta: MetadataStore) -> None:
    store = SecretStore(meta, None)
    with pytest.raises(ConfigError, match=r"no master key is configured.*lepton keys generate"):
        store.set("credit", "DB_PASSWORD", VALUE)
    with pytest.raises(ConfigError, match="no master key is configured"):
        store.values("credit", ["DB_PASSWORD"])
    assert store.list("credit") == []  # names need no key


def test_a_value_moved_to_another_name_does_not_decrypt(
    meta: MetadataStore, key: MasterKey
) -> None:
    store = SecretStore(meta, key)
    store.set("credit", "DB_PASSWORD", VALUE)
    store.set("credit", "PUBLIC_NAME", "harmless")
    stolen = meta.rows(secrets, name="DB_PASSWORD")[0]["ciphertext"]
    with meta.write() as conn:
        conn.execute(
            secrets.update().where(secrets.c.name == "PUBLIC_NAME").values(ciphertext=stolen)
        )
    with pytest.raises(
        IntegrityError,
        match="The value of secret 'PUBLIC_NAME' of project 'credit' does not authenticate",
    ):
        store.values("credit", ["PUBLIC_NAME"])


def test_wrong_master_key_names_the_expected_one(meta: MetadataStore, key: MasterKey) -> None:
    SecretStore(meta, key).set("credit", "DB_PASSWORD", VALUE)
    other = MasterKey.generate()
    with pytest.raises(
        ConfigError,
        match=rf"encrypted under master key {key.id}.*configured master key is {other.id}",
    ):
        SecretStore(meta, other).values("credit", ["DB_PASSWORD"])


# injection into replicas ----------------------------------------------------------------------------
@pytest.fixture
def encrypted_workspace(monkeypatch: pytest.MonkeyPatch, key: MasterKey) -> Iterator[object]:
    """The embedded workspace with encryption at rest on and one registered model."""
    import lepton
    from lepton.testing import tiny_table
    from lepton.workspace import get_workspace, reset

    monkeypatch.setenv("LEPTON_MASTER_KEY", key.to_text())
    reset()
    result = lepton.train(lepton.create_model("logistic_regression"), tiny_table(), verbose=0)
    lepton.register(result, "tiny")
    yield get_workspace()
    reset()


def _deploy(workspace: object, names: list[str]) -> None:
    from lepton.serving._server import free_port

    workspace.save_deployment(  # type: ignore[attr-defined]
        "tiny",
        "default",
        {
            "model_name": "tiny",
            "model_version": 1,
            "desired": "running",
            "status": "pending",
            "replicas": 1,
            "host": "127.0.0.1",
            "port": free_port(),
            "key_hash": None,
            "options": {},
            "secrets": names,
        },
    )


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_replicas_get_the_deployment_secrets_as_environment(
    encrypted_workspace: object, key: MasterKey, lepton_home: Path
) -> None:
    from lepton.deployments._controlplane import ControlPlane
    from lepton.security._secrets import workspace_master_key

    meta = encrypted_workspace.meta  # type: ignore[attr-defined]
    assert workspace_master_key(encrypted_workspace).id == key.id
    SecretStore(meta, key).set("default", "DB_PASSWORD", VALUE)
    SecretStore(meta, key).set("default", "UNUSED", "not injected")
    _deploy(encrypted_workspace, ["DB_PASSWORD"])
    assert deployment_secret_env(encrypted_workspace, "tiny") == {"DB_PASSWORD": VALUE}

    plane = ControlPlane(encrypted_workspace, lepton_home)

    async def start_and_read() -> dict[str, str]:
        try:
            await plane.tick()
            (replica,) = plane.runtimes["tiny"].replicas
            return _environ(replica.process.pid)
        finally:
            await plane.shutdown()

    env = asyncio.run(start_and_read())
    assert env["DB_PASSWORD"] == VALUE
    assert "UNUSED" not in env
    assert env["LEPTON_SERVE_NAME"] == "tiny"  # Lepton's own variables are still there
    assert env["LEPTON_MASTER_KEY"] == ""  # set in this process, kept from model code
    log = (lepton_home / "deployments" / "tiny" / "replica-0.log").read_text()
    assert VALUE not in log


def test_a_missing_secret_fails_the_deployment_with_its_name(
    encrypted_workspace: object, lepton_home: Path
) -> None:
    from lepton.deployments._controlplane import ControlPlane

    _deploy(encrypted_workspace, ["NOT_SET"])
    plane = ControlPlane(encrypted_workspace, lepton_home)

    async def tick() -> object:
        try:
            await plane.tick()
            return encrypted_workspace.get_deployment("tiny")  # type: ignore[attr-defined]
        finally:
            await plane.shutdown()

    info = asyncio.run(tick())
    assert info.status == "failed"  # type: ignore[attr-defined]
    error = info.error  # type: ignore[attr-defined]
    assert "No secret named 'NOT_SET'" in error and "lepton secrets set NOT_SET" in error
    assert not list((lepton_home / "deployments" / "tiny").glob("replica-*.log"))


def test_deployments_without_secrets_need_no_master_key(tmp_path: Path) -> None:
    from lepton.workspace import get_workspace

    workspace = get_workspace()  # no master key configured
    _deploy_without_model(workspace)
    assert deployment_secret_env(workspace, "plain") == {}
    workspace.update_deployment("plain", secrets=["DB_PASSWORD"])  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="no master key is configured"):
        deployment_secret_env(workspace, "plain")
    assert os.environ.get("LEPTON_MASTER_KEY") is None


def _deploy_without_model(workspace: object) -> None:
    workspace.save_deployment(  # type: ignore[attr-defined]
        "plain",
        "default",
        {
            "model_name": "none",
            "model_version": 1,
            "desired": "stopped",
            "status": "stopped",
            "replicas": 1,
            "host": "127.0.0.1",
            "port": 1,
            "key_hash": None,
            "options": {},
            "secrets": None,
        },
    )

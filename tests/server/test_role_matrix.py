"""Every operation of the API, walked from the server's own OpenAPI document, against every
kind of caller: refused (401) without a valid key, refused (403) below the role the operation
declares in ``x-required-role``, and let through at or above it.

The document is the source of truth, so a route added later is covered without touching this
file, and a route that declares no role fails the test. The calls touch a small real world in
project ``proj`` (a run, a dataset, a model version with an alias, a deployment, an alert
rule, a job, a secret, a second user and their key): the role check of most routes comes after
looking up the resource's project, so only real resources exercise the 403s. Request bodies are
built from the operation's schema (FastAPI validates a body before the handler checks roles).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

PROJECT = "proj"
RANK = {"authenticated": 0, "viewer": 1, "developer": 2, "admin": 3}
# callers with a valid key: their role in PROJECT; "root" is admin on every project ("*")
CALLERS = ("none", "viewer", "developer", "admin", "root")
BAD_KEYS = ("missing", "wrong", "revoked", "expired", "disabled user")

# Operations whose 403 cannot be exercised here, with the reason. Keep this tiny.
NOT_EXERCISED: dict[str, str] = {}


# the world --------------------------------------------------------------------------------------
@dataclass
class World:
    """The resources whose names fill the path parameters, re-created when a call deletes one."""

    server: Any
    admin: httpx.Client
    run_id: str = ""
    artifact: str = "notes.txt"
    dataset: str = "ds"
    dataset_version: str = ""
    dataset_file: str = ""
    model: str = "mdl"
    version: int = 0
    alias: str = "production"
    deployment: str = "dep"
    rule_id: str = ""
    job_id: str = ""
    secret: str = "sec"
    user: str = "target"
    key_id: str = ""
    missing: dict[str, str] = field(default_factory=dict)  # resource -> why it could not be made
    trained: Any = None  # the model registered as new versions
    sdk_env: Callable[[], contextlib.AbstractContextManager[None]] | None = None

    @property
    def workspace(self) -> Any:
        return self.server.state.workspace

    def create(self, sdk_env: Callable[[], contextlib.AbstractContextManager[None]]) -> None:
        """Runs, datasets and models through the embedded SDK on the server's own store; the
        rest through the API as an admin on every project."""
        import pandas as pd

        import lepton
        from lepton.data import Dataset
        from lepton.workspace import get_workspace

        with sdk_env():
            get_workspace().ensure_project(PROJECT)
            frame = pd.DataFrame(
                {"x": [0.1, 0.4, 0.35, 0.8, 0.9, 0.2] * 5, "y": [0, 0, 1, 1, 1, 0] * 5}
            )
            data = Dataset.from_pandas(frame, target="y", name=self.dataset)
            info = data.register(project=PROJECT)
            self.dataset_version, self.dataset_file = info.version, info.files[0]["path"]
            with lepton.start_run(name="matrix", project=PROJECT) as run:
                run.log_params({"lr": 0.1})
                run.log_metric("loss", 0.5)
                (artifact := self.server.home.parent / self.artifact).write_text("notes")
                run.log_artifact(artifact)
            self.run_id = run.id
            self.trained = lepton.train(lepton.create_model("logistic_regression"), data, verbose=0)
            self.sdk_env = sdk_env
        self.server.state.security.create_user(self.user, role="viewer", project=PROJECT)
        self.ensure()

    def ensure(self) -> None:
        """(Re)create whatever a call deleted: a model version, its alias, the alert rule, the
        secret, the deployment, the job and the second user's key."""
        import lepton
        from lepton.errors import ModelNotFoundError

        assert self.sdk_env is not None
        known = self.workspace.meta.get_model(self.model) is not None
        versions = (
            [v.version for v in self.workspace.list_model_versions(self.model)] if known else []
        )
        if self.version not in versions:
            with self.sdk_env():
                self.version = lepton.register(self.trained.model, self.model).version
        try:
            aliased = self.workspace.get_model_version(self.model, alias=self.alias).version
        except ModelNotFoundError:
            aliased = None
        if aliased != self.version:
            answer = self.admin.put(
                f"/models/{self.model}/aliases/{self.alias}", json={"version": self.version}
            )
            self.ok(answer, "alias")
        if not any(d.name == self.deployment for d in self.workspace.list_deployments()):
            body = {"project": PROJECT, "model_name": self.model, "model_version": self.version}
            self.ok(self.admin.put(f"/deployments/{self.deployment}", json=body), "deployment")
        if self.rule_id not in {r.id for r in self.workspace.list_alerts()}:
            body = {"metric": "error_rate", "op": "above", "threshold": 0.5}
            rule = self.ok(
                self.admin.post(f"/deployments/{self.deployment}/alerts", json=body), "alert rule"
            )
            self.rule_id = rule.get("id", "")
        secrets = self.admin.get(f"/projects/{PROJECT}/secrets").json()
        if not any(s.get("name") == self.secret for s in secrets if isinstance(s, dict)):
            self.ok(
                self.admin.put(
                    f"/projects/{PROJECT}/secrets/{self.secret}", json={"value": "s3cret"}
                ),
                "secret",
            )
        if not self.job_id:
            body = {"project": PROJECT, "data": self.dataset, "model": "logistic_regression"}
            self.job_id = self.ok(self.admin.post("/jobs", json=body), "job").get("id", "")
        keys = self.server.state.security.list_keys(self.user)
        if not any(k.status == "active" for k in keys):
            self.key_id = self.server.state.security.create_key(self.user, "target")[0].id

    def ok(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 300:
            self.missing[what] = f"{response.status_code} {response.text[:300]}"
            return {}
        self.missing.pop(what, None)
        answer = response.json() if response.content else {}
        return answer if isinstance(answer, dict) else {}

    def path_value(self, path: str, param: str) -> str:
        """The value of path parameter ``param``, by the resource the path names before it."""
        parts = path.removeprefix("/api/v1/").split("/")
        before = parts[parts.index("{" + param + "}") - 1]
        root = parts[0]
        values = {
            ("projects", "name"): PROJECT,
            ("projects", "project"): PROJECT,
            ("roles", "project"): PROJECT,
            ("runs", "run_id"): self.run_id,
            ("artifacts", "path"): self.artifact,
            ("datasets", "name"): self.dataset,
            ("files", "path"): self.dataset_file,
            ("models", "name"): self.model,
            ("aliases", "alias"): self.alias,
            ("deployments", "name"): self.deployment,
            ("alerts", "rule_id"): self.rule_id,
            ("jobs", "job_id"): self.job_id,
            ("secrets", "name"): self.secret,
            ("users", "name"): self.user,
            ("tokens", "key_id"): self.key_id,
        }
        if (before, param) == ("versions", "version"):
            return self.dataset_version if root == "datasets" else str(self.version)
        if (before, param) not in values:
            raise LookupError(
                f"no value for path parameter {{{param}}} of {path}: add the resource it names "
                "to World in tests/server/test_role_matrix.py"
            )
        return values[(before, param)]

    def field_value(self, name: str) -> Any:
        """Values for body fields that name a resource, so the handler reaches its role check."""
        return {
            "project": PROJECT,
            "name": PROJECT,  # POST /projects checks the role in the project it names
            "run_id": self.run_id,
            "model_name": self.model,
            "model_version": self.version,
            "version": self.version,
            "data": self.dataset,
            "metric": "error_rate",
            "op": "above",
        }.get(name, _NOTHING)


_NOTHING = object()


# request bodies from the schema -----------------------------------------------------------------
class Schemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        for combined in ("anyOf", "oneOf"):
            if combined in schema:
                options = [o for o in schema[combined] if self.resolve(o).get("type") != "null"]
                return self.resolve(options[0])
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            return merged
        return schema

    def sample(self, schema: dict[str, Any], world: World, name: str = "") -> Any:
        """A small valid value of ``schema``: required properties only (and ``project``)."""
        value = world.field_value(name)
        if value is not _NOTHING:
            return value
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if kind == "string":
            if schema.get("format") == "binary" or "contentMediaType" in schema:
                return b"lepton"
            if schema.get("pattern") == r"^[0-9a-f]{64}$":
                return "0" * 64
            return "x" * max(1, int(schema.get("minLength", 1)))
        if kind in ("integer", "number"):
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            high = schema.get("maximum", schema.get("exclusiveMaximum"))
            if kind == "number" and low is not None and high is not None:
                return (low + high) / 2
            number = 1 if low is None else low + (1 if "exclusiveMinimum" in schema else 0)
            return int(number) if kind == "integer" else float(number)
        if kind == "boolean":
            return False
        if kind == "array":
            if "prefixItems" in schema:
                return [self.sample(item, world) for item in schema["prefixItems"]]
            count = int(schema.get("minItems", 0))
            return [self.sample(schema.get("items", {}), world) for _ in range(count)]
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            wanted = [p for p in properties if p in schema.get("required", []) or p == "project"]
            return {p: self.sample(properties[p], world, p) for p in wanted}
        return "x"


# per-operation bodies the schema cannot describe well enough
def _dataset_upload(world: World) -> dict[str, Any]:
    meta = {
        "project": PROJECT,
        "name": world.dataset,
        "version": "0" * 64,
        "kind": "table",
        "num_rows": 1,
    }
    return {"files": [("meta", (None, json.dumps(meta))), ("data.csv", ("data.csv", b"x\n1\n"))]}


BODIES: dict[str, Callable[[World], dict[str, Any]]] = {
    "POST /api/v1/datasets": _dataset_upload,
    "POST /api/v1/metrics": lambda w: {"json": {"points": [[w.run_id, "loss", 1, 0.0, 0.25]]}},
}


@dataclass
class Call:
    operation: str  # "METHOD /path"
    method: str
    url: str
    needed: str
    server_wide: bool
    options: dict[str, Any]


def calls(document: dict[str, Any], world: World) -> Iterator[Call]:
    """Every operation of the document, as a ready request; reads first, deletions last (a
    deletion re-creates its resource with ``world.ensure`` before the next operation)."""
    schemas = Schemas(document)
    order = {"get": 0, "head": 0, "post": 1, "put": 1, "patch": 1, "delete": 2}
    operations = sorted(
        (
            (path, method, op)
            for path, ops in document["paths"].items()
            for method, op in ops.items()
        ),
        key=lambda item: (order.get(item[1], 1), item[0], item[1]),
    )
    for path, method, op in operations:
        name = f"{method.upper()} {path}"
        url = path
        for param in op.get("parameters", []):
            if param["in"] == "path":
                value = world.path_value(path, param["name"])
                url = url.replace("{" + param["name"] + "}", str(value))
        params = {
            p["name"]: schemas.sample(p.get("schema", {}), world, p["name"])
            for p in op.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        }
        options: dict[str, Any] = {"params": params}
        if name in BODIES:
            options.update(BODIES[name](world))
        elif "requestBody" in op:
            content = op["requestBody"]["content"]
            kind = next(iter(content))
            body = schemas.sample(content[kind].get("schema", {}), world)
            if kind == "application/json":
                options["json"] = body
            elif kind == "multipart/form-data":
                options["files"] = [
                    (k, (k, v) if isinstance(v, bytes) else (None, str(v))) for k, v in body.items()
                ]
            else:
                options["content"] = b"lepton"
                options["headers"] = {"content-type": kind}
        # an operation on the user named in the path (``x-required-role-for-others``): the
        # world's user is none of the callers, so it needs that role on every project
        others = op.get("x-required-role-for-others")
        yield Call(
            name,
            method.upper(),
            url.removeprefix("/api/v1"),
            others or op["x-required-role"],
            others is not None or op.get("x-role-scope") == "server",
            options,
        )


# callers ------------------------------------------------------------------------------------------
def make_keys(server: Any) -> tuple[dict[str, str | None], dict[str, str]]:
    """Keys that must be refused (401), and keys of a user for each caller."""
    from lepton.store import _schema as t

    security = server.state.security
    refused: dict[str, str | None] = {"missing": None, "wrong": "lp_" + uuid.uuid4().hex * 2}
    security.create_user("revoked-user", role="admin")
    record, refused["revoked"] = security.create_key("revoked-user", "old")
    security.revoke_key(record.id)
    security.create_user("expired-user", role="admin")
    record, refused["expired"] = security.create_key("expired-user", "old", expires_in=3600)
    with security.meta.write() as conn:  # as if the hour had passed
        conn.execute(
            update(t.api_keys)
            .where(t.api_keys.c.id == record.id)
            .values(expires_at=time.time() - 1)
        )
    security.create_user("disabled-user", role="admin")
    _, refused["disabled user"] = security.create_key("disabled-user", "old")
    security.set_disabled("disabled-user")
    valid = {
        "none": server.make_token(None, name="role-none"),
        "viewer": server.make_token("viewer", PROJECT, name="role-viewer"),
        "developer": server.make_token("developer", PROJECT, name="role-developer"),
        "admin": server.make_token("admin", PROJECT, name="role-admin"),
        "root": server.make_token("admin", "*", name="role-root"),
    }
    return refused, valid


def rank_of(caller: str, server_wide: bool) -> int:
    if caller == "root":
        return RANK["admin"]
    if server_wide:  # a role in one project says nothing about the whole server
        return 0
    return {"none": 0, "viewer": 1, "developer": 2, "admin": 3}[caller]


# the test -----------------------------------------------------------------------------------------
@pytest.fixture
def sdk_on(server: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """A context in which the embedded SDK writes to the server's own store."""
    from lepton.workspace import reset

    @contextlib.contextmanager
    def sdk_env() -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setenv("LEPTON_HOME", str(server.home))
            patch.setenv("LEPTON_URL", "")
            patch.setenv("LEPTON_PROJECT", PROJECT)
            reset()
            try:
                yield
            finally:
                reset()

    return sdk_env


@pytest.fixture
def server(
    start_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A server with a master key (secrets need one), no rate limit (see test_limits.py) and no
    control plane (deployments stay records: nothing is started)."""
    from lepton.security._crypto import create_master_key_file

    create_master_key_file(tmp_path / "master.key")
    monkeypatch.setenv("LEPTON_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    return start_server(rate_limit=0, control_plane=False)


def test_every_operation_declares_a_known_role(server: Any) -> None:
    document = httpx.get(server.url + "/api/v1/openapi.json").json()
    operations = [(p, m, op) for p, ops in document["paths"].items() for m, op in ops.items()]
    assert len(operations) > 20
    undeclared = [f"{m.upper()} {p}" for p, m, op in operations if "x-required-role" not in op]
    assert not undeclared, (
        f"operations without x-required-role (use openapi_extra=role(...)): {undeclared}"
    )
    unknown = [
        f"{m.upper()} {p}: {op['x-required-role']!r}"
        for p, m, op in operations
        if op["x-required-role"] not in RANK or op.get("x-role-scope", "server") != "server"
    ]
    assert not unknown, f"unknown roles or scopes: {unknown}"


@pytest.mark.slow
def test_every_operation_refuses_bad_keys_and_roles_below_its_own(
    server: Any, sdk_on: Callable[[], Any]
) -> None:
    document = httpx.get(server.url + "/api/v1/openapi.json").json()
    refused, valid = make_keys(server)
    base = server.url + "/api/v1"
    clients = {
        who: httpx.Client(
            base_url=base, timeout=60, headers={"authorization": f"Bearer {key}"} if key else {}
        )
        for who, key in {**refused, **valid}.items()
    }
    world = World(server, clients["root"])
    world.create(sdk_on)
    assert not world.missing, f"could not build the world: {world.missing}"

    problems: list[str] = []
    exercised: list[str] = []
    try:
        for call in calls(document, world):
            if call.operation in NOT_EXERCISED:
                continue
            for who in BAD_KEYS:
                answer = clients[who].request(call.method, call.url, **call.options)
                if answer.status_code != 401:
                    problems.append(
                        f"{call.operation} with a {who} key: {answer.status_code}, not 401"
                    )
                elif answer.headers.get("www-authenticate") != "Bearer":
                    problems.append(f"{call.operation} 401 without WWW-Authenticate: Bearer")
            for who in CALLERS:  # lowest first: the refused calls come before any change
                allowed = rank_of(who, call.server_wide) >= RANK[call.needed]
                answer = clients[who].request(call.method, call.url, **call.options)
                status = answer.status_code
                if not allowed and status != 403:
                    problems.append(
                        f"{call.operation} (needs {call.needed}) as {who}: {status}, not 403: "
                        f"{answer.text[:200]}"
                    )
                elif allowed and (status in (401, 403) or status >= 500):
                    problems.append(
                        f"{call.operation} (needs {call.needed}) as {who}: {status}: "
                        f"{answer.text[:200]}"
                    )
            exercised.append(call.operation)
            world.ensure()
            if world.missing:
                problems.append(f"after {call.operation}, could not restore: {world.missing}")
                world.missing.clear()
    finally:
        for client in clients.values():
            client.close()
    every = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert set(exercised) | set(NOT_EXERCISED) == every
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)

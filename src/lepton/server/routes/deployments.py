"""Deployments over REST (their alert rules are in ``alerts``).

The server's control plane reconciles what is stored, so creating or changing a deployment
here is only a write of its desired state. The control plane's own writes (metric points,
sampled requests, alert states and events) never come over HTTP. Roles are checked in the
deployment's project: viewer reads, developer writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from lepton.errors import (
    DeploymentNotFoundError,
    InvalidParameterError,
    PolicyViolationError,
)
from lepton.server._context import Caller, Offset, ServerState, caller, role, state_of
from lepton.server.routes.models import (
    VersionNumber,
    check_version,
    ensure_project,
    model_project,
    project_names,
    stored_policies,
)
from lepton.workspace._records import DeploymentInfo, ModelVersionInfo

router = APIRouter(tags=["deployments"])
Auth = Annotated[Caller, Depends(caller)]
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def _row(state: ServerState, name: str) -> dict[str, Any] | None:
    from lepton.store import _schema as t

    found = state.workspace.meta.rows(t.deployments, name=name)
    return found[0] if found else None


def deployment_project(state: ServerState, auth: Caller, name: str, needed: str) -> str:
    """The project of deployment ``name``, after checking the caller has ``needed`` in it.
    An unknown name lists only the deployments the caller may see."""
    from lepton.store import _schema as t

    row = _row(state, name)
    names = project_names(state)
    if row is None:
        visible = auth.visible(list(names.values()))
        existing = [
            r["name"]
            for r in state.workspace.meta.rows(t.deployments)
            if names.get(r["project_id"]) in visible
        ]
        raise DeploymentNotFoundError(
            name, existing, hint="Deploy a model with lepton.deploy('model@production', name=...)."
        )
    project = names.get(row["project_id"], "")
    auth.require(needed, project)
    return project


def _check_model(state: ServerState, auth: Caller, name: str, version: int) -> ModelVersionInfo:
    """The model version, after checking it exists and the caller may read it (it may live in
    another project)."""
    model_project(state, auth, name, "viewer")
    return state.workspace.get_model_version(name, version=version)


def _check_policies(
    state: ServerState,
    project: str,
    name: str,
    version: ModelVersionInfo,
    override_reason: str | None,
    details: dict[str, Any],
) -> None:
    """The server's own run of the deployment project's stored policies on the version it is
    to serve (as for a protected alias): a failing version is refused unless an override reason
    says why it must go anyway. The reason and the results go into the audit trail
    (``details``), also when the request is refused. ``lepton.deploy`` has run the same
    policies and sends its reason along, so what it lets through passes here too."""
    if override_reason is not None and not override_reason.strip():
        raise InvalidParameterError(
            "An override reason must say why the policies are overridden; it cannot be empty. "
            "Give one, or leave override_reason out."
        )
    if override_reason is not None:
        details["override_reason"] = override_reason
    policies = stored_policies(state, project)
    if not policies:
        return
    check = check_version(state, project, version, policies)
    details["policy_results"] = check.results
    if not check.passed and override_reason is None:
        failing = [f"{r['policy']} ({r['reason']})" for r in check.results if not r["passed"]]
        raise PolicyViolationError(
            f"{version.ref} cannot be deployed as {name!r}: {len(failing)} of the policies of "
            f"project {project!r} failed: {'; '.join(failing)}. Fix what they name, or give an "
            "override reason (override_reason in the request, override_reason=... in "
            "lepton.deploy, --override-reason on the CLI); it is recorded."
        )


def _check_secrets(state: ServerState, project: str, names: list[str]) -> None:
    from lepton.deployments._deploy import missing_secrets

    missing = missing_secrets(state.workspace.meta, project, names)
    if missing:
        raise InvalidParameterError(
            f"Project {project!r} has no secret(s) {', '.join(missing)}. Set them first with "
            f"`lepton secrets set NAME --project {project}`, or leave them out of secrets=[...]."
        )


def _check_options(options: dict[str, Any]) -> None:
    from dataclasses import fields

    from lepton.serving._app import ServerOptions

    known = {f.name for f in fields(ServerOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParameterError(
            f"Unknown serving option(s) {', '.join(unknown)}; options: {', '.join(sorted(known))}."
        )
    # every serving option is a number; anything else would only fail later, in a replica
    wrong = {
        k: v for k, v in options.items() if not isinstance(v, int | float) or isinstance(v, bool)
    }
    if wrong:
        raise InvalidParameterError(f"Serving options must be numbers, got {wrong}.")


# deployments --------------------------------------------------------------------------------------
Desired = Literal["running", "stopped"]
Status = Literal["pending", "updating"]  # what a client may set; the control plane sets the rest


OVERRIDE = (
    "Why the model version is deployed although a governance policy of the project fails "
    "(recorded in the audit trail); without one, such a version is refused (403)"
)


class DeploymentIn(BaseModel):
    """The desired state of a deployment, as ``lepton.deploy`` writes it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    project: str = Field(max_length=200)
    model_name: str = Field(max_length=200)
    model_version: VersionNumber
    desired: Desired = "running"
    status: Status = "pending"
    replicas: int = Field(default=1, ge=1, le=64)
    port: int | None = Field(
        default=None, ge=1024, le=65535, description="None: the server picks a free port"
    )
    key_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    options: dict[str, Any] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list, max_length=100)
    override_reason: str | None = Field(default=None, max_length=10_000, description=OVERRIDE)


@router.put("/deployments/{name}", openapi_extra=role("developer"))
def save_deployment(name: str, body: DeploymentIn, request: Request, auth: Auth) -> DeploymentInfo:
    """Create the deployment or replace its desired state; the control plane does the rest.

    The deployment listens on the server's own bind address (a client cannot choose where the
    server opens ports), on ``port`` or a free one. The project's governance policies run on
    the model version first (403 when one fails, unless ``override_reason`` is given).
    """
    state = state_of(request)
    row = _row(state, name)
    project = body.project
    if row is not None:  # a deployment stays in the project it was created in
        project = deployment_project(state, auth, name, "developer")
    ensure_project(state, auth, project)
    details: dict[str, Any] = {
        "deployment": name,
        "model": body.model_name,
        "version": body.model_version,
        "replicas": body.replicas,
        "secrets": body.secrets,
    }
    request.state.audit_details = details
    version = _check_model(state, auth, body.model_name, body.model_version)
    _check_options(body.options)
    _check_secrets(state, project, body.secrets)
    _check_policies(state, project, name, version, body.override_reason, details)
    host = str(getattr(state.options, "host", "127.0.0.1"))
    if body.port is not None:
        port = body.port
    elif row is not None:
        port = int(row["port"])
    else:
        from lepton.serving._server import free_port

        port = free_port("0.0.0.0" if host in WILDCARD_HOSTS else host)
    values = body.model_dump(exclude={"project", "override_reason"})
    values.update(host=host, port=port)
    return state.workspace.save_deployment(name, project, values)


class DeploymentChange(BaseModel):
    """What ``Deployment.scale``, ``.update`` and ``.stop`` change."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    desired: Desired | None = None
    status: Status | None = None
    replicas: int | None = Field(default=None, ge=1, le=64)
    model_version: VersionNumber | None = None
    override_reason: str | None = Field(default=None, max_length=10_000, description=OVERRIDE)


@router.patch("/deployments/{name}", status_code=204, openapi_extra=role("developer"))
def update_deployment(name: str, body: DeploymentChange, request: Request, auth: Auth) -> Response:
    """Change the deployment's desired state. A new ``model_version`` must pass the project's
    governance policies (403 when one fails, unless ``override_reason`` is given)."""
    state = state_of(request)
    project = deployment_project(state, auth, name, "developer")
    values = body.model_dump(exclude_none=True, exclude={"override_reason"})
    if not values:
        raise InvalidParameterError(
            "Nothing to change: give desired, status, replicas or model_version."
        )
    details: dict[str, Any] = {"deployment": name, **values}
    request.state.audit_details = details
    if body.model_version is not None:
        info = state.workspace.get_deployment(name)
        version = _check_model(state, auth, info.model_name, body.model_version)
        _check_policies(state, project, name, version, body.override_reason, details)
    elif body.override_reason is not None:
        raise InvalidParameterError(
            "override_reason goes with a new model_version (it overrides the policies that "
            f"version fails); this change {sorted(values)} runs no policy. Leave it out."
        )
    state.workspace.update_deployment(name, **values)
    return Response(status_code=204)


@router.get("/deployments", openapi_extra=role("authenticated"))
def list_deployments(
    request: Request,
    auth: Auth,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> list[DeploymentInfo]:
    """The deployments of the projects the caller may read, by name."""
    return visible_deployments(state_of(request), auth)[offset : offset + limit]


@router.get("/deployments/{name}", openapi_extra=role("viewer"))
def get_deployment(name: str, request: Request, auth: Auth) -> DeploymentInfo:
    state = state_of(request)
    deployment_project(state, auth, name, "viewer")
    return state.workspace.get_deployment(name)


class KeyHash(BaseModel):
    key_hash: str | None


@router.get("/deployments/{name}/key-hash", openapi_extra=role("developer"))
def deployment_key_hash(name: str, request: Request, auth: Auth) -> KeyHash:
    """The SHA-256 of the deployment's API key (None: public), so a redeploy keeps the key."""
    state = state_of(request)
    deployment_project(state, auth, name, "developer")
    return KeyHash(key_hash=state.workspace.deployment_key_hash(name))


def _home(state: ServerState) -> Path:
    """Where the control plane writes replica logs: the server's LEPTON_HOME."""
    plane = state.services.get("control_plane")
    return Path(plane.home) if plane is not None else Path(state.workspace.location)


@router.get(
    "/deployments/{name}/logs",
    response_class=PlainTextResponse,
    openapi_extra=role("developer"),
)
def deployment_logs(
    name: str,
    request: Request,
    auth: Auth,
    replica: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    tail: Annotated[int, Query(ge=1, le=100_000)] = 200,
) -> PlainTextResponse:
    """The last ``tail`` lines each replica wrote (developer: tracebacks may echo requests)."""
    from lepton.deployments._deploy import replica_logs

    state = state_of(request)
    deployment_project(state, auth, name, "developer")
    text = replica_logs(_home(state) / "deployments" / name, name, replica, tail)
    return PlainTextResponse(text)


@router.get("/deployments/{name}/series", openapi_extra=role("viewer"))
def deployment_series(
    name: str,
    request: Request,
    auth: Auth,
    resolution: Annotated[int, Query(ge=0, le=86_400)] = 0,
    since: Annotated[float, Query(ge=0)] = 0.0,
) -> list[dict[str, Any]]:
    """Metric points (QPS, error rate, latency percentiles...) at a resolution (0: raw)."""
    state = state_of(request)
    deployment_project(state, auth, name, "viewer")
    return state.workspace.deployment_series(name, resolution, since)


@router.get("/deployments/{name}/samples", openapi_extra=role("viewer"))
def request_samples(
    name: str,
    request: Request,
    auth: Auth,
    since: Annotated[float, Query(ge=0)] = 0.0,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
) -> list[dict[str, Any]]:
    """Sampled requests (PII masked) and their predictions, newest first, for drift."""
    state = state_of(request)
    deployment_project(state, auth, name, "viewer")
    return state.workspace.request_samples(name, since, limit)


class PredictIn(BaseModel):
    """What a deployment's ``/v1/predict`` takes."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[Any] = Field(
        description="Records (objects) or rows (lists, in schema order) of the model's input "
        "schema, one per prediction."
    )


@router.post("/deployments/{name}/predict", openapi_extra=role("developer"))
async def predict(name: str, body: PredictIn, request: Request, auth: Auth) -> JSONResponse:
    """A prediction of the deployment, sent by the server (the dashboard's "try it"), so no
    deployment key is needed: the answer and status are the deployment's own.

    The inputs are checked against the model's input schema first (422 with the replicas'
    message); a deployment that is not running here answers 503.
    """
    from starlette.concurrency import run_in_threadpool

    from lepton.server.routes import _deployment_calls as calls
    from lepton.serving._schema import RequestError

    state = state_of(request)

    def target() -> tuple[DeploymentInfo, ModelVersionInfo]:
        deployment_project(state, auth, name, "developer")
        info = state.workspace.get_deployment(name)
        return info, state.workspace.get_model_version(info.model_name, version=info.model_version)

    info, version = await run_in_threadpool(target)
    # the inputs may hold personal data: the trail records only how many there were
    request.state.audit_details = {"deployment": name, "rows": len(body.inputs)}
    try:
        calls.check_inputs(version, info.options, body.inputs)
    except RequestError as exc:
        return calls.input_error(exc.status, exc.message, exc.field)
    plane = state.services.get("control_plane")
    if plane is None:
        return calls.unavailable(
            f"This server runs no control plane, so it does not serve deployment {name!r}. "
            f"Check where it runs with `lepton deployments status {name}`."
        )
    token = plane.internal_token(name)
    if info.desired != "running":
        return calls.unavailable(
            f"Deployment {name!r} is stopped. Start it again with `lepton deploy "
            f"{info.model_ref} --name {name}`, then check `lepton deployments status {name}`."
        )
    if token is None:  # the control plane has not picked it up yet
        return calls.unavailable(
            f"Deployment {name!r} is not running yet (status {info.status}); retry shortly, "
            f"or see why with `lepton deployments status {name}`."
        )
    return await calls.forward(info, token, body.inputs)


class FeatureDriftOut(BaseModel):
    feature: str
    kind: str = Field(description="numeric or categorical")
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    drifted: bool = Field(description="PSI > 0.2 or KS p-value < 0.01")


class DriftOut(BaseModel):
    deployment: str
    samples: int = Field(description="sampled requests compared")
    drifted: list[str]
    max_psi: float
    features: list[FeatureDriftOut]
    prediction: FeatureDriftOut | None
    note: str


@router.get("/deployments/{name}/drift", openapi_extra=role("viewer"))
def deployment_drift(
    name: str,
    request: Request,
    auth: Auth,
    since: Annotated[float, Query(ge=0)] = 0.0,
) -> DriftOut:
    """PSI and KS per feature of the sampled requests since ``since`` (a unix time) against the
    model's training data, most drifted first (``lepton deployments drift``)."""
    from lepton.deployments._drift import drift_of

    state = state_of(request)
    deployment_project(state, auth, name, "viewer")
    return DriftOut.model_validate(drift_of(state.workspace, name, since).to_dict())


def visible_deployments(state: ServerState, auth: Caller) -> list[DeploymentInfo]:
    from lepton.store import _schema as t

    names = project_names(state)
    visible = auth.visible(list(names.values()))
    allowed = {
        r["name"]
        for r in state.workspace.meta.rows(t.deployments)
        if names.get(r["project_id"]) in visible
    }
    return [d for d in state.workspace.list_deployments() if d.name in allowed]

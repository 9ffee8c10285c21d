"""The model registry over REST: versions (with their bundles), aliases and their history, model
cards; and the governance policies of a project.

Roles are checked in the model's project (the project it was first registered in): viewer
reads, developer writes, admin sets the project's policies.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lepton._validation import check_name
from lepton.errors import (
    IntegrityError,
    InvalidParameterError,
    ModelNotFoundError,
    PolicyViolationError,
    ProjectNotFoundError,
)
from lepton.server._context import Caller, Offset, ServerState, caller, role, state_of
from lepton.workspace._records import ModelVersionInfo

router = APIRouter(tags=["models"])
Auth = Annotated[Caller, Depends(caller)]
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1)]  # an SQL INTEGER
_CHUNK = 1 << 20


# shared with routes/deployments.py ----------------------------------------------------------------
def project_names(state: ServerState) -> dict[str, str]:
    """Project id -> project name."""
    return {p.id: p.name for p in state.workspace.list_projects()}


def ensure_project(state: ServerState, auth: Caller, project: str) -> None:
    """Check the developer role in ``project``; create it when missing (its creator becomes its
    admin, as with ``PUT /projects/{name}``)."""
    auth.require("developer", project)
    try:
        state.workspace.get_project(project)
    except ProjectNotFoundError:
        state.workspace.ensure_project(project)
        state.security.grant_creator(auth.principal, project)


def model_project(state: ServerState, auth: Caller, name: str, needed: str) -> str:
    """The project of model ``name``, after checking that the caller has ``needed`` in it.

    An unknown model lists only the models the caller may see, so names do not leak across
    projects.
    """
    row = state.workspace.meta.get_model(name)
    if row is None:
        names = project_names(state)
        visible = auth.visible(list(names.values()))
        existing = [
            m["name"]
            for m in state.workspace.meta.list_models()
            if names.get(m["project_id"]) in visible
        ]
        raise ModelNotFoundError(
            name, existing, hint="Register one with lepton.register(model, name)."
        )
    project = project_names(state).get(row["project_id"], "")
    auth.require(needed, project)
    return project


# versions -----------------------------------------------------------------------------------------
class VersionIn(BaseModel):
    """What ``lepton.register`` records about a version (the bundle travels next to it)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    model: str = Field(min_length=1, max_length=100)
    family: str = Field(min_length=1, max_length=32)
    task: str | None = Field(default=None, max_length=32)
    run_id: str | None = Field(default=None, max_length=32)
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict)
    input_schema: dict[str, Any] | None = None
    evaluation_run_id: str | None = Field(default=None, max_length=32)
    card: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str = Field(default="", max_length=100_000)


def _parse_info(text: str) -> VersionIn:
    try:
        return VersionIn.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        where = "; ".join(
            f"{'.'.join(map(str, p['loc']))}: {p['msg']}"
            for p in (exc.errors()[:5] if isinstance(exc, ValidationError) else [])
        )
        raise InvalidParameterError(
            f"The form field 'info' must be a JSON object describing the version ({where or exc}). "
            "Register with lepton.register(model, name), which sends it."
        ) from None


def _receive_bundle(upload: UploadFile, folder: Path, info: VersionIn) -> Path:
    """Copy the uploaded bundle to ``folder``, checking it is the file ``info`` describes."""
    path = folder / "model.lepton"
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        while chunk := upload.file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if digest.hexdigest() != info.bundle_sha256 or size != info.size:
        raise IntegrityError(
            f"The uploaded bundle ({size} bytes, sha256 {digest.hexdigest()[:12]}...) is not the "
            f"one described in 'info' ({info.size} bytes, sha256 {info.bundle_sha256[:12]}...): "
            "it was changed or cut short on the way. Register it again."
        )
    return path


@router.post("/models/{name}/versions", status_code=201, openapi_extra=role("developer"))
def register_version(
    name: str,
    request: Request,
    auth: Auth,
    project: Annotated[str, Form(max_length=200)],
    info: Annotated[str, Form(description="JSON: what lepton.register records")],
    bundle: Annotated[UploadFile, File(description="The model.lepton bundle")],
) -> ModelVersionInfo:
    """Store a bundle as the next version of ``name`` (numbers are never reused)."""
    state = state_of(request)
    if state.workspace.meta.get_model(name) is not None:
        model_project(state, auth, name, "developer")
    ensure_project(state, auth, project)
    parsed = _parse_info(info)
    with tempfile.TemporaryDirectory(prefix="lepton-upload-") as tmp:
        path = _receive_bundle(bundle, Path(tmp), parsed)
        version = state.workspace.register_model_version(name, project, path, parsed.model_dump())
    request.state.audit_details = {"model": name, "version": version.version}
    return version


@router.get("/models", openapi_extra=role("authenticated"))
def list_models(
    request: Request,
    auth: Auth,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """The models of the projects the caller may read: latest version, count, aliases."""
    state = state_of(request)
    names = project_names(state)
    visible = auth.visible(list(names.values()))
    projects = {m["name"]: names.get(m["project_id"]) for m in state.workspace.meta.list_models()}
    models = [
        {**m, "project": projects.get(m["name"])}
        for m in state.workspace.list_models()
        if projects.get(m["name"]) in visible
    ]
    return models[offset : offset + limit]


@router.get("/models/{name}/versions", openapi_extra=role("viewer"))
def list_versions(name: str, request: Request, auth: Auth) -> list[ModelVersionInfo]:
    state = state_of(request)
    model_project(state, auth, name, "viewer")
    return state.workspace.list_model_versions(name)


@router.get("/models/{name}/latest", openapi_extra=role("viewer"))
def latest_version(name: str, request: Request, auth: Auth) -> ModelVersionInfo:
    state = state_of(request)
    model_project(state, auth, name, "viewer")
    return state.workspace.get_model_version(name)


@router.get("/models/{name}/versions/{version}", openapi_extra=role("viewer"))
def get_version(
    name: str, version: VersionNumber, request: Request, auth: Auth
) -> ModelVersionInfo:
    state = state_of(request)
    model_project(state, auth, name, "viewer")
    return state.workspace.get_model_version(name, version=version)


class CardIn(BaseModel):
    card: dict[str, Any] | None = None


@router.patch("/models/{name}/versions/{version}", status_code=204, openapi_extra=role("developer"))
def update_version(
    name: str, version: VersionNumber, body: CardIn, request: Request, auth: Auth
) -> Response:
    """Change a version's model card fields."""
    state = state_of(request)
    model_project(state, auth, name, "developer")
    state.workspace.update_model_version(name, version, card=body.card)
    request.state.audit_details = {"model": name, "version": version, "card": True}
    return Response(status_code=204)


@router.delete(
    "/models/{name}/versions/{version}", status_code=204, openapi_extra=role("developer")
)
def delete_version(name: str, version: VersionNumber, request: Request, auth: Auth) -> Response:
    """Delete a version (409 while an alias points at it); its number is never given again."""
    state = state_of(request)
    model_project(state, auth, name, "developer")
    request.state.audit_details = {"model": name, "version": version}
    state.workspace.delete_model_version(name, version)
    return Response(status_code=204)


@router.get("/models/{name}/versions/{version}/bundle", openapi_extra=role("viewer"))
def download_bundle(
    name: str, version: VersionNumber, request: Request, auth: Auth
) -> StreamingResponse:
    """The version's bundle file, streamed (check it against ``bundle_sha256``)."""
    state = state_of(request)
    model_project(state, auth, name, "viewer")
    info = state.workspace.get_model_version(name, version=version)
    stream = state.workspace.artifacts.open(info.bundle_key)

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := stream.read(_CHUNK):
                yield chunk
        finally:
            stream.close()

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={
            "content-disposition": f'attachment; filename="{name}-{version}.lepton"',
            "x-lepton-sha256": info.bundle_sha256,
        },
    )


# aliases ------------------------------------------------------------------------------------------
@router.get("/models/{name}/aliases/{alias}", openapi_extra=role("viewer"))
def get_alias(name: str, alias: str, request: Request, auth: Auth) -> ModelVersionInfo:
    """The version ``name@alias`` points at."""
    state = state_of(request)
    model_project(state, auth, name, "viewer")
    return state.workspace.get_model_version(name, alias=alias)


class AliasIn(BaseModel):
    version: VersionNumber
    actor: str | None = Field(
        default=None,
        max_length=80,
        description="Whom the caller acts for (set_alias(actor=...)); recorded after the "
        "authenticated user's name, never instead of it",
    )
    override_reason: str | None = Field(default=None, max_length=10_000)
    policy_results: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Results of policies the client ran that the project does not store (its "
        "lepton.yaml); the server runs the project's own policies itself",
    )


def _check_alias(alias: str) -> None:
    check_name("alias", alias)
    if len(alias) > 64:  # the column's width
        raise InvalidParameterError(
            f"Alias {alias[:20]!r}... has {len(alias)} characters; an alias has at most 64."
        )
    if alias == "latest":
        raise InvalidParameterError(
            "'latest' always means the newest version; it cannot be set. Pick another alias name."
        )


class AliasMoved(BaseModel):
    previous: int | None


def _check_promotion(
    state: ServerState, project: str, name: str, alias: str, body: AliasIn
) -> list[dict[str, Any]]:
    """The server's last word on a protected alias: it runs the project's stored policies on
    the version itself (results a client sends for them are not trusted) and refuses a failing
    move that has no override reason. Returns the results to record: the server's, then the
    client's for policies only the client has (its lepton.yaml or ``use_policies``)."""
    from lepton.governance._policies import DEFAULT_PROTECTED

    policies = stored_policies(state, project)
    if alias not in DEFAULT_PROTECTED or not policies:
        return list(body.policy_results)
    info = state.workspace.get_model_version(name, version=body.version)
    check = check_version(state, project, info, policies)
    if not check.passed and not body.override_reason:
        failing = [f"{r['policy']} ({r['reason']})" for r in check.results if not r["passed"]]
        raise PolicyViolationError(
            f"{info.ref} cannot become {name}@{alias}: {len(failing)} of the policies of project "
            f"{project!r} failed: {'; '.join(failing)}. Fix what they name, or give an override "
            "reason (it is recorded)."
        )
    checked = {r["policy"] for r in check.results}
    return check.results + [r for r in body.policy_results if r.get("policy") not in checked]


def _actor(auth: Caller, claimed: str | None) -> str:
    """Who moved an alias: the authenticated user, and whom they said they acted for."""
    return auth.name if not claimed or claimed == auth.name else f"{auth.name} (for {claimed})"


@router.put("/models/{name}/aliases/{alias}", openapi_extra=role("developer"))
def set_alias(name: str, alias: str, body: AliasIn, request: Request, auth: Auth) -> AliasMoved:
    """Point ``name@alias`` at a version, atomically; the move is recorded with its author."""
    state = state_of(request)
    project = model_project(state, auth, name, "developer")
    request.state.audit_details = {"model": name, "alias": alias, "version": body.version}
    _check_alias(alias)
    event = {
        "actor": _actor(auth, body.actor),
        "override_reason": body.override_reason,
        "policy_results": _check_promotion(state, project, name, alias, body),
    }
    return AliasMoved(previous=state.workspace.set_model_alias(name, alias, body.version, event))


@router.delete("/models/{name}/aliases/{alias}", openapi_extra=role("developer"))
def remove_alias(name: str, alias: str, request: Request, auth: Auth) -> AliasMoved:
    state = state_of(request)
    model_project(state, auth, name, "developer")
    request.state.audit_details = {"model": name, "alias": alias, "version": None}
    event: dict[str, Any] = {"actor": auth.name, "override_reason": None, "policy_results": []}
    return AliasMoved(previous=state.workspace.set_model_alias(name, alias, None, event))


@router.get("/models/{name}/alias-history", openapi_extra=role("viewer"))
def alias_history(name: str, request: Request, auth: Auth) -> list[dict[str, Any]]:
    """Every alias move of the model, oldest first: who, when, from and to which version, why."""
    state = state_of(request)
    model_project(state, auth, name, "viewer")
    return state.workspace.alias_history(name)


# governance policies of a project -----------------------------------------------------------------
POLICIES_KEY = "policies"


def stored_policies(state: ServerState, project: str) -> list[Any]:
    """The project's policies (``lepton.governance.Policy``), as stored on the server."""
    from lepton.governance._policies import Policy
    from lepton.store import _schema as t

    rows = state.workspace.meta.rows(t.project_settings, project=project, key=POLICIES_KEY)
    return [Policy.from_dict(p) for p in rows[0]["value"]] if rows else []


class PoliciesIn(BaseModel):
    policies: list[dict[str, Any]] = Field(
        max_length=100,
        description="Rules in the format of lepton.yaml's `policies:`, "
        "e.g. {rule: min_metric, metric: roc_auc, value: 0.75}",
    )


class PoliciesOut(BaseModel):
    project: str
    policies: list[dict[str, Any]]


def _policy_dicts(policies: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in vars(p).items() if v is not None} for p in policies]


@router.get("/projects/{project}/policies", tags=["governance"], openapi_extra=role("viewer"))
def get_policies(project: str, request: Request, auth: Auth) -> PoliciesOut:
    """The governance policies every promotion and deployment of the project must pass."""
    auth.require("viewer", project)
    state = state_of(request)
    state.workspace.get_project(project)
    return PoliciesOut(project=project, policies=_policy_dicts(stored_policies(state, project)))


class PolicyCheck(BaseModel):
    """The project's policies run on one version (what ``lepton.check_policies`` reports)."""

    ref: str
    project: str
    protected: list[str] = Field(description="The aliases a move to needs every policy passing")
    passed: bool
    results: list[dict[str, Any]] = Field(description="policy, rule, passed, reason")


def check_version(
    state: ServerState,
    project: str,
    info: ModelVersionInfo,
    policies: list[Any],
    evidence: Any = None,
) -> PolicyCheck:
    """The ``policies`` of ``project`` run on one of its versions, as ``lepton.check_policies``
    runs them (the dashboard shows this for each version, and sends it with a promotion).
    ``evidence``: the version's ``VersionEvidence`` when the caller has already read it."""
    from lepton.governance._policies import DEFAULT_PROTECTED
    from lepton.server._evidence import VersionEvidence, required_card_fields

    if evidence is None:
        evidence = VersionEvidence(state, info, required_card_fields(policies))
    report = evidence.check(policies)
    return PolicyCheck(
        ref=info.ref,
        project=project,
        protected=list(DEFAULT_PROTECTED),
        passed=report.passed,
        results=[r.to_dict() for r in report.results],
    )


@router.get(
    "/models/{name}/versions/{version}/policy-check",
    tags=["governance"],
    openapi_extra=role("viewer"),
)
def policy_check(name: str, version: VersionNumber, request: Request, auth: Auth) -> PolicyCheck:
    """Run the project's policies on a version: pass or fail, and why, for each. Moving a
    protected alias needs them all passing (the server runs them again on the move) or an
    override reason."""
    state = state_of(request)
    project = model_project(state, auth, name, "viewer")
    info = state.workspace.get_model_version(name, version=version)
    return check_version(state, project, info, stored_policies(state, project))


@router.put("/projects/{project}/policies", tags=["governance"], openapi_extra=role("admin"))
def set_policies(project: str, body: PoliciesIn, request: Request, auth: Auth) -> PoliciesOut:
    """Replace the project's policies (an empty list removes them)."""
    from sqlalchemy import delete, insert

    from lepton.governance._policies import Policy
    from lepton.store import _schema as t

    auth.require("admin", project)
    state = state_of(request)
    state.workspace.get_project(project)
    policies = [Policy.from_dict(p) for p in body.policies]  # ConfigError (422) names the rule
    request.state.audit_details = {"policies": [p.name for p in policies]}
    table = t.project_settings
    with state.workspace.meta.write() as conn:
        conn.execute(delete(table).where(table.c.project == project, table.c.key == POLICIES_KEY))
        if policies:
            conn.execute(
                insert(table).values(
                    project=project,
                    key=POLICIES_KEY,
                    value=_policy_dicts(policies),
                    updated_at=time.time(),
                )
            )
    return PoliciesOut(project=project, policies=_policy_dicts(policies))

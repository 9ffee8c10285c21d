"""Secrets of a project: set, list (names and times only), delete.

Setting and deleting a secret needs the admin role of the project: a secret is usually a
credential of production (a database password, a payment API token) that running deployments
and jobs pick up, so replacing or removing it can redirect or break production, which is an
admin's decision. Listing needs the developer role: developers name secrets when they deploy
or submit jobs, and the list shows no values. No route ever returns a value; it reaches only
the processes the secret is injected into. Values are kept out of responses, error messages,
the audit trail (whose details name the secret only) and logs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from lepton.security._secrets import MAX_VALUE_BYTES, SecretInfo, SecretStore
from lepton.server._context import Caller, Offset, ServerState, caller, role, state_of

router = APIRouter(tags=["secrets"])
Auth = Annotated[Caller, Depends(caller)]
Name = Annotated[str, Path(max_length=128)]


class SecretIn(BaseModel):
    value: str = Field(max_length=MAX_VALUE_BYTES, repr=False)


def secret_store(state: ServerState) -> SecretStore:
    """The server's secret store, with the master key its workspace encrypts with."""
    store = state.services.get("secrets")
    if store is None:
        from lepton.security._secrets import workspace_master_key

        store = SecretStore(state.workspace.meta, workspace_master_key(state.workspace))
        state.services["secrets"] = store
    return store  # type: ignore[no-any-return]


@router.put("/projects/{project}/secrets/{name}", openapi_extra=role("admin"))
def set_secret(
    project: str, name: Name, body: SecretIn, request: Request, auth: Auth
) -> SecretInfo:
    """Create or replace a secret. The answer holds its name and times, never its value."""
    request.state.audit_details = {"secret": name}
    auth.require("admin", project)
    state = state_of(request)
    state.workspace.get_project(project)  # 404 with the known projects
    return secret_store(state).set(project, name, body.value)


@router.get("/projects/{project}/secrets", openapi_extra=role("developer"))
def list_secrets(
    project: str,
    request: Request,
    auth: Auth,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> list[SecretInfo]:
    """The secrets of a project by name, without values."""
    auth.require("developer", project)
    state = state_of(request)
    state.workspace.get_project(project)
    return secret_store(state).list(project)[offset : offset + limit]


@router.delete("/projects/{project}/secrets/{name}", status_code=204, openapi_extra=role("admin"))
def delete_secret(project: str, name: Name, request: Request, auth: Auth) -> Response:
    request.state.audit_details = {"secret": name}
    auth.require("admin", project)
    state = state_of(request)
    state.workspace.get_project(project)
    secret_store(state).delete(project, name)
    return Response(status_code=204)

"""Projects: create, get, list. Creating a project needs the developer role in it (or on every
project, ``*``); its creator becomes its admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from lepton.errors import ProjectNotFoundError
from lepton.server._context import Caller, Offset, caller, role, state_of
from lepton.workspace._records import ProjectInfo

router = APIRouter(tags=["projects"])
Auth = Annotated[Caller, Depends(caller)]


class ProjectIn(BaseModel):
    name: str = Field(max_length=200)
    path: str | None = Field(default=None, max_length=4096)
    description: str = Field(default="", max_length=10_000)


@router.post("/projects", status_code=201, openapi_extra=role("developer"))
def create_project(body: ProjectIn, request: Request, auth: Auth) -> ProjectInfo:
    auth.require("developer", body.name)
    state = state_of(request)
    info = state.workspace.create_project(body.name, body.path, body.description)
    state.security.grant_creator(auth.principal, info.name)
    return info


@router.put("/projects/{name}", openapi_extra=role("viewer"))
def ensure_project(name: str, request: Request, auth: Auth) -> ProjectInfo:
    """The project, created when it does not exist yet (which needs the developer role)."""
    state = state_of(request)
    try:
        info = state.workspace.get_project(name)
    except ProjectNotFoundError:
        auth.require("developer", name)
        info = state.workspace.ensure_project(name)
        state.security.grant_creator(auth.principal, info.name)
        return info
    auth.require("viewer", name)
    return info


@router.get("/projects/{name}", openapi_extra=role("viewer"))
def get_project(name: str, request: Request, auth: Auth) -> ProjectInfo:
    auth.require("viewer", name)
    return state_of(request).workspace.get_project(name)


@router.get("/projects", openapi_extra=role("authenticated"))
def list_projects(
    request: Request,
    auth: Auth,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> list[ProjectInfo]:
    """The projects the caller may read, by name."""
    projects = state_of(request).workspace.list_projects()
    visible = auth.visible([p.name for p in projects])
    return [p for p in projects if p.name in visible][offset : offset + limit]

"""``RemoteWorkspace``: the workspace interface over the team server's REST API, so every SDK
call and CLI command works the same against ``lepton server start`` as on a laptop."""

from __future__ import annotations

from lepton.workspace._base import Workspace
from lepton.workspace._records import ProjectInfo
from lepton.workspace._remote_datasets import RemoteDatasetsMixin
from lepton.workspace._remote_deployments import RemoteDeploymentsMixin
from lepton.workspace._remote_http import Transport
from lepton.workspace._remote_http import segment as _seg
from lepton.workspace._remote_models import RemoteModelsMixin
from lepton.workspace._remote_runs import RemoteRunsMixin


class RemoteWorkspace(
    RemoteRunsMixin, RemoteDatasetsMixin, RemoteModelsMixin, RemoteDeploymentsMixin, Workspace
):
    remote = True  # the control plane runs on the server: nothing to start locally

    def __init__(self, url: str, token: str | None) -> None:
        self.http = Transport(url, token)
        self.location = self.http.url

    def __repr__(self) -> str:
        return f"RemoteWorkspace({self.location!r})"

    def close(self) -> None:
        super().close()
        self.http.close()

    # projects -------------------------------------------------------------------------------
    def create_project(
        self, name: str, path: str | None = None, description: str = ""
    ) -> ProjectInfo:
        body = {"name": name, "path": path, "description": description}
        return ProjectInfo(**self.http.call("POST", "/projects", json=body))

    def get_project(self, name: str) -> ProjectInfo:
        return ProjectInfo(**self.http.call("GET", f"/projects/{_seg(name)}"))

    def list_projects(self) -> list[ProjectInfo]:
        return [ProjectInfo(**p) for p in self.http.call("GET", "/projects")]

    def ensure_project(self, name: str) -> ProjectInfo:
        return ProjectInfo(**self.http.call("PUT", f"/projects/{_seg(name)}"))

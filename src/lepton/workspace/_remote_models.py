"""The model registry of ``RemoteWorkspace``: versions, bundles, aliases and model cards over the
team server's REST API, plus the governance policies the server keeps per project."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import ProjectNotFoundError
from lepton.workspace._records import ModelVersionInfo
from lepton.workspace._remote_http import segment as _seg

if TYPE_CHECKING:
    from lepton.workspace._remote_http import Transport


def _version(data: dict[str, Any]) -> ModelVersionInfo:
    return ModelVersionInfo(**data)


def _claimed_actor(actor: Any) -> str | None:
    """The actor a caller named (``set_alias(actor=...)``); None for the default, this
    machine's login name, which means nothing on the server (it records the API key's user)."""
    import getpass

    try:
        login = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name (containers)
        login = None
    return None if not actor or actor == login else str(actor)[:80]


class RemoteModelsMixin:
    """The model-registry methods of :class:`RemoteWorkspace`."""

    http: Transport

    def register_model_version(
        self, name: str, project: str, bundle: Path, info: dict[str, Any]
    ) -> ModelVersionInfo:
        """Upload the bundle and its record in one multipart request (the file is streamed)."""
        with open(bundle, "rb") as stream:
            data = self.http.call(
                "POST",
                f"/models/{_seg(name)}/versions",
                data={"project": project, "info": json.dumps(info)},
                files={"bundle": ("model.lepton", stream, "application/octet-stream")},
            )
        return _version(data)

    def get_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersionInfo:
        base = f"/models/{_seg(name)}"
        if alias is not None and alias != "latest":
            return _version(self.http.call("GET", f"{base}/aliases/{_seg(alias)}"))
        if version is not None:
            return _version(self.http.call("GET", f"{base}/versions/{int(version)}"))
        return _version(self.http.call("GET", f"{base}/latest"))

    def list_models(self) -> list[dict[str, Any]]:
        return list(self.http.call("GET", "/models"))

    def list_model_versions(self, name: str) -> list[ModelVersionInfo]:
        return [_version(v) for v in self.http.call("GET", f"/models/{_seg(name)}/versions")]

    def update_model_version(
        self, name: str, version: int, *, card: dict[str, Any] | None = None
    ) -> None:
        self.http.call(
            "PATCH", f"/models/{_seg(name)}/versions/{int(version)}", json={"card": card}
        )

    def delete_model_version(self, name: str, version: int) -> None:
        self.http.call("DELETE", f"/models/{_seg(name)}/versions/{int(version)}")

    def set_model_alias(
        self, name: str, alias: str, version: int | None, event: dict[str, Any]
    ) -> int | None:
        """Move the alias; the server records the move under the authenticated user's name."""
        path = f"/models/{_seg(name)}/aliases/{_seg(alias)}"
        if version is None:
            moved = self.http.call("DELETE", path)
        else:
            body = {
                "version": int(version),
                "actor": _claimed_actor(event.get("actor")),
                "override_reason": event.get("override_reason"),
                "policy_results": list(event.get("policy_results") or []),
            }
            moved = self.http.call("PUT", path, json=body)
        previous = moved.get("previous")
        return None if previous is None else int(previous)

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        return list(self.http.call("GET", f"/models/{_seg(name)}/alias-history"))

    def download_model_bundle(self, name: str, version: int, dest: Path) -> Path:
        """Stream the bundle to ``dest`` (written whole or not at all)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with (
                self.http.stream(f"/models/{_seg(name)}/versions/{int(version)}/bundle") as reply,
                open(partial, "wb") as out,
            ):
                for chunk in reply.iter_bytes():
                    out.write(chunk)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        return dest

    # governance -----------------------------------------------------------------------------
    def project_policies(self, project: str) -> list[dict[str, Any]]:
        """The governance policies the server keeps for ``project`` (none for a new project)."""
        try:
            answer = self.http.call("GET", f"/projects/{_seg(project)}/policies")
        except ProjectNotFoundError:
            return []
        return list(answer["policies"])

    def set_project_policies(
        self, project: str, policies: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Replace the project's policies on the server (needs the admin role)."""
        answer = self.http.call(
            "PUT", f"/projects/{_seg(project)}/policies", json={"policies": policies}
        )
        return list(answer["policies"])

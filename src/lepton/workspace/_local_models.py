"""The model registry in the embedded workspace: bundles in the artifact store, records in SQL.

A bundle is stored under ``models/<name>/<sha256>/model.lepton`` before its version row is
inserted, so a crash between the two leaves an unreferenced file, never a version without
its bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton._validation import check_name
from lepton.errors import InvalidParameterError, ModelNotFoundError, VersionInUseError
from lepton.store import ArtifactStore, MetadataStore
from lepton.workspace._records import ModelVersionInfo, ProjectInfo


class LocalModelsMixin:
    """The model-registry methods of :class:`LocalWorkspace`."""

    meta: MetadataStore
    artifacts: ArtifactStore

    if TYPE_CHECKING:  # provided by LocalWorkspace

        def ensure_project(self, name: str) -> ProjectInfo: ...

    def _info(self, row: dict[str, Any], aliases: dict[str, int]) -> ModelVersionInfo:
        return ModelVersionInfo.from_row(
            row, [a for a, v in aliases.items() if v == row["version"]]
        )

    def register_model_version(
        self, name: str, project: str, bundle: Path, info: dict[str, Any]
    ) -> ModelVersionInfo:
        check_name("model", name)
        project_id = self.ensure_project(project).id
        key = f"models/{name}/{info['bundle_sha256']}/model.lepton"
        self.artifacts.put_file(key, bundle)
        row = self.meta.insert_model_version(name, project_id, {**info, "bundle_key": key})
        return self._info(row, {})

    def _unknown_model(self, name: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            name,
            [m["name"] for m in self.meta.list_models()],
            hint="Register one with lepton.register(model, name).",
        )

    def get_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersionInfo:
        if self.meta.get_model(name) is None:
            raise self._unknown_model(name)
        aliases = self.meta.aliases(name)
        if alias is not None and alias != "latest":
            if alias not in aliases:
                raise ModelNotFoundError(
                    f"{name}@{alias}",
                    [f"{name}@{a}" for a in aliases],
                    hint=f"Set it with `lepton models alias {name}@{alias} VERSION`.",
                )
            version = aliases[alias]
        if version is None:
            versions = self.meta.list_model_versions(name)
            if not versions:
                raise ModelNotFoundError(name, [], hint="It has no versions left.")
            return self._info(versions[-1], aliases)
        row = self.meta.get_model_version(name, int(version))
        if row is None:
            raise ModelNotFoundError(
                f"{name}:{version}",
                [f"{name}:{r['version']}" for r in self.meta.list_model_versions(name)],
            )
        return self._info(row, aliases)

    def list_models(self) -> list[dict[str, Any]]:
        models = []
        for row in self.meta.list_models():
            models.append(
                {
                    "name": row["name"],
                    "latest": row["latest"],
                    "versions": int(row["versions"] or 0),
                    "aliases": self.meta.aliases(row["name"]),
                    "created_at": row["created_at"],
                }
            )
        return models

    def list_model_versions(self, name: str) -> list[ModelVersionInfo]:
        if self.meta.get_model(name) is None:
            raise self._unknown_model(name)
        aliases = self.meta.aliases(name)
        return [self._info(row, aliases) for row in self.meta.list_model_versions(name)]

    def update_model_version(
        self, name: str, version: int, *, card: dict[str, Any] | None = None
    ) -> None:
        self.get_model_version(name, version=version)
        if card is not None:
            self.meta.update_model_version(name, version, {"card": card})

    def delete_model_version(self, name: str, version: int) -> None:
        self.get_model_version(name, version=version)
        blocking = self.meta.delete_model_version(name, version)
        if blocking:
            raise VersionInUseError(
                f"{name}:{version} cannot be deleted: the alias(es) {', '.join(sorted(blocking))} point at it. "
                f"Move them first, e.g. `lepton models alias {name}@{sorted(blocking)[0]} OTHER_VERSION`."
            )

    def set_model_alias(
        self, name: str, alias: str, version: int | None, event: dict[str, Any]
    ) -> int | None:
        if version is not None:
            self.get_model_version(name, version=version)
        elif alias not in self.meta.aliases(name):
            raise InvalidParameterError(
                f"{name} has no alias {alias!r} to remove; aliases: {sorted(self.meta.aliases(name))}."
            )
        return self.meta.move_alias(name, alias, version, event)

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        return self.meta.alias_history(name)

    def download_model_bundle(self, name: str, version: int, dest: Path) -> Path:
        info = self.get_model_version(name, version=version)
        return self.artifacts.download(info.bundle_key, dest)

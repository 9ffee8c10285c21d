"""The model registry: numbered versions with lineage, aliases that move atomically.

version = lepton.register(result.model, "credit-risk", report=report)
lepton.registry.set_alias("credit-risk", "production", version.version)
model = lepton.load_model("credit-risk@production")
"""

from __future__ import annotations

import hashlib
import html
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton._validation import check_name
from lepton.errors import InvalidParameterError
from lepton.registry._refs import ModelRef, parse_ref

if TYPE_CHECKING:
    from lepton.evaluation import EvaluationReport
    from lepton.models import Model
    from lepton.registry._card import ModelCard
    from lepton.workspace import ModelVersionInfo


class ModelVersion:
    """One registered version of a model: its lineage, metrics, aliases and bundle."""

    def __init__(self, info: ModelVersionInfo) -> None:
        self.info = info

    name = property(lambda self: self.info.name)
    version = property(lambda self: self.info.version)
    aliases = property(lambda self: list(self.info.aliases))
    metrics = property(lambda self: dict(self.info.metrics))
    run_id = property(lambda self: self.info.run_id)
    bundle_sha256 = property(lambda self: self.info.bundle_sha256)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def load(self) -> Model:
        """The model itself, from its verified bundle."""
        return _load_version(self.info)

    def report(self) -> EvaluationReport | None:
        """The evaluation report registered with this version, if any."""
        if not self.info.evaluation_run_id:
            return None
        from lepton.evaluation import load_report

        return load_report(self.info.evaluation_run_id)

    def card(self) -> ModelCard:
        from lepton.registry._card import build_card

        return build_card(self.info)

    def to_dict(self) -> dict[str, Any]:
        return self.info.to_dict()

    def __repr__(self) -> str:
        aliases = f", aliases={self.aliases}" if self.aliases else ""
        return f"ModelVersion({self.ref!r}{aliases})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in [
                ("model", self.info.model),
                ("task", self.info.task),
                ("run", self.run_id),
                ("aliases", ", ".join(self.aliases)),
            ]
            + [(k, f"{v:.4g}") for k, v in self.metrics.items()]
        )
        return f"<b>{html.escape(self.ref)}</b><table>{rows}</table>"


def _workspace() -> Any:
    from lepton.workspace import get_workspace

    return get_workspace()


def _load_version(info: ModelVersionInfo, workspace: Any = None) -> Model:
    """The model of ``info`` from the bundle in ``workspace`` (default: the process's), after
    checking the bundle's sha256 against the one recorded at registration."""
    from lepton.errors import IntegrityError
    from lepton.models._bundle import load_bundle

    store = _workspace() if workspace is None else workspace
    with tempfile.TemporaryDirectory(prefix="lepton-model-") as tmp:
        path = store.download_model_bundle(info.name, info.version, Path(tmp) / "model.lepton")
        if _sha256(path) != info.bundle_sha256:
            raise IntegrityError(
                f"The stored bundle of {info.name}:{info.version} does not match the sha256 recorded at "
                "registration: it was changed in the artifact store. Run `lepton models verify` and re-register it."
            )
        return load_bundle(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def register(
    model: Any,
    name: str,
    *,
    report: EvaluationReport | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> ModelVersion:
    """Register ``model`` (a trained model, a TrainResult or a bundle path) as the next version of ``name``.

    The version records its lineage (training run, dataset versions, params), its metrics (the
    evaluation report's when given), the report itself and the sha256 of its bundle.

    Example:
        >>> version = lepton.register(result.model, "credit-risk", report=report)
    """
    from lepton.models import Model, save_model
    from lepton.models._bundle import load_bundle
    from lepton.training import TrainResult
    from lepton.workspace import current_settings

    check_name("model", name)
    if isinstance(model, TrainResult):
        model = model.model
    if isinstance(model, str | Path):
        model = load_bundle(model)
    if not isinstance(model, Model):
        raise InvalidParameterError(
            f"register takes a trained model, a TrainResult or a bundle path, got {type(model).__name__}."
        )
    model._check_fitted()
    if report is not None and report.run_id is None:
        from lepton.evaluation._evaluate import store_report

        store_report(report)
    metrics = dict(report.metrics) if report is not None else dict(model.metrics)
    clean_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    with tempfile.TemporaryDirectory(prefix="lepton-register-") as tmp:
        bundle = save_model(model, Path(tmp) / "model.lepton")
        info = _workspace().register_model_version(
            name,
            current_settings().project,
            bundle,
            {
                "bundle_sha256": _sha256(bundle),
                "size": bundle.stat().st_size,
                "model": model.name,
                "family": model.family,
                "task": model.task,
                "run_id": model.lineage.get("run_id"),
                "datasets": list(model.lineage.get("datasets", [])),
                "params": model.config.to_dict(),
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float)},
                "evaluation_run_id": report.run_id if report is not None else None,
                "input_schema": model.input_schema,
                "card": {},
                "tags": clean_tags,
                "description": description,
            },
        )
    return ModelVersion(info)


def get_version(ref: str | ModelRef) -> ModelVersion:
    """The version a reference names: ``name`` (latest), ``name:3`` or ``name@alias``."""
    parsed = ref if isinstance(ref, ModelRef) else parse_ref(ref)
    return ModelVersion(
        _workspace().get_model_version(parsed.name, version=parsed.version, alias=parsed.alias)
    )


def list_models() -> list[dict[str, Any]]:
    """Every registered model with its latest version, version count and aliases."""
    return list(_workspace().list_models())


def list_versions(name: str) -> list[ModelVersion]:
    return [ModelVersion(info) for info in _workspace().list_model_versions(name)]


def set_alias(
    name: str,
    alias: str,
    version: int | None,
    *,
    override_reason: str | None = None,
    actor: str | None = None,
) -> ModelVersion | None:
    """Point ``name@alias`` at ``version`` atomically (None removes the alias).

    Moving a protected alias (``production`` by default, see ``lepton.yaml``'s
    ``governance.protected_aliases``) first runs the governance policies; a failing model is
    refused with :class:`PolicyViolationError` unless ``override_reason`` says why it must go
    anyway. The move, the policy results and any override reason are recorded.
    """
    from lepton.governance import guard_promotion

    check_name("alias", alias)
    if alias == "latest":
        raise InvalidParameterError(
            "'latest' always means the newest version; it cannot be set. Pick another alias name."
        )
    workspace = _workspace()
    target = None
    results: list[dict[str, Any]] = []
    if version is not None:
        target = workspace.get_model_version(name, version=int(version))
        results = guard_promotion(ModelVersion(target), alias, override_reason)
    workspace.set_model_alias(
        name,
        alias,
        None if version is None else int(version),
        {"actor": actor or _actor(), "override_reason": override_reason, "policy_results": results},
    )
    return (
        ModelVersion(workspace.get_model_version(name, version=target.version))
        if target is not None
        else None
    )


def _actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def delete_version(ref: str) -> None:
    """Delete a version; refused while an alias points at it."""
    version = get_version(ref)
    _workspace().delete_model_version(version.name, version.version)


def load_model(path_or_ref: Any) -> Model:
    """Load a model from a bundle path, ``runs:/RUN/PATH``, or a registry reference.

    Example:
        >>> model = lepton.load_model("credit-risk@production")
    """
    from lepton.models._bundle import load_model as load_path

    text = str(path_or_ref)
    # Path("") is the current folder: an empty reference must be refused, not loaded from "."
    if (
        (text and Path(text).exists())
        or text.startswith("runs:/")
        or not isinstance(path_or_ref, str)
    ):
        return load_path(path_or_ref)
    return get_version(text).load()


def export(ref: str, path: str | Path) -> Path:
    """Write the bundle of ``ref`` to ``path`` (after checking its sha256)."""
    from lepton._fs import atomic_write_bytes
    from lepton.errors import IntegrityError

    version = get_version(ref)
    with tempfile.TemporaryDirectory(prefix="lepton-export-") as tmp:
        local = _workspace().download_model_bundle(
            version.name, version.version, Path(tmp) / "model.lepton"
        )
        if _sha256(local) != version.bundle_sha256:
            raise IntegrityError(
                f"The stored bundle of {version.ref} does not match its recorded sha256; not exported."
            )
        return atomic_write_bytes(path, local.read_bytes())


def verify(ref: str) -> dict[str, Any]:
    """Recompute the bundle's sha256 and every file hash inside it; raise IntegrityError on any change."""
    version = get_version(ref)
    model = version.load()  # checks the bundle sha256, then every file's hash
    return {
        "ref": version.ref,
        "bundle_sha256": version.bundle_sha256,
        "model": model.name,
        "ok": True,
    }

"""The model to score with, as a verified bundle on local disk that workers can load.

Whatever the user names (a trained Model, a TrainResult, a bundle path, ``runs:/RUN/PATH`` or a
registry reference), scoring needs the same three things: a bundle file worker processes and Ray
actors can load once each, the model itself in the driver (its schema and classes), and a
fingerprint that says whether two runs used the same model, so a resume never mixes outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import InvalidParameterError

if TYPE_CHECKING:
    from lepton.models import Model

_REFERENCE_KINDS = (
    "a trained Model, a TrainResult, a bundle path, runs:/RUN_ID/model.lepton or a registry "
    "reference ('name', 'name:3', 'name@production')"
)


@dataclass(frozen=True)
class ModelSource:
    """A model ready to score with: its bundle on local disk, loaded once in the driver."""

    ref: str  # how the user named it, for messages and the output manifest
    path: Path  # a bundle (zip or folder) that exists while scoring runs
    fingerprint: str  # sha256 of the bundle's manifest, which holds every weight file's sha256
    model: Model

    def bundle_bytes(self) -> bytes:
        """The bundle as one zip, for workers that do not share this machine's disk (Ray)."""
        if self.path.is_file():
            return self.path.read_bytes()
        with tempfile.TemporaryDirectory(prefix="lepton-score-") as tmp:
            archive = Path(tmp) / "model.lepton"
            with zipfile.ZipFile(archive, "w") as zf:
                for file in sorted(self.path.iterdir()):
                    zf.write(file, file.name)
            return archive.read_bytes()


@contextmanager
def open_model(model_ref: Any) -> Iterator[ModelSource]:
    """The model ``model_ref`` names, downloaded if need be into a folder removed afterwards.

    Raises:
        InvalidParameterError: ``model_ref`` is of no kind a model can be named by.
        ModelNotFoundError: no such bundle, run artifact or registered model.
        IntegrityError: the bundle was tampered with.
    """
    from lepton.models._bundle import load_bundle

    with tempfile.TemporaryDirectory(prefix="lepton-score-") as tmp:
        ref, path = _materialize(model_ref, Path(tmp))
        model = load_bundle(path)  # checks every file's sha256 before workers load it
        yield ModelSource(ref=ref, path=path, fingerprint=fingerprint(path), model=model)


def fingerprint(bundle: Path) -> str:
    """What identifies a model: its manifest (name, task, classes, schema, config and the
    sha256 of every weight file), less the time it was saved, so that a model saved twice
    keeps its fingerprint."""
    from lepton.models._bundle import MANIFEST

    if bundle.is_dir():
        text = (bundle / MANIFEST).read_text(encoding="utf-8")
    else:
        with zipfile.ZipFile(bundle) as zf:
            text = zf.read(MANIFEST).decode("utf-8")
    manifest = json.loads(text)
    manifest.pop("created_at", None)
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _materialize(model_ref: Any, tmp: Path) -> tuple[str, Path]:
    """(how to name it, a local bundle path) for every kind of model reference."""
    from lepton.models import Model
    from lepton.training import TrainResult

    if isinstance(model_ref, TrainResult):
        if not model_ref.model_uri:
            return _saved(model_ref.model, tmp)
        model_ref = model_ref.model_uri  # the stored bundle: the same bytes on every call
    if isinstance(model_ref, Model):
        return _saved(model_ref, tmp)
    if not isinstance(model_ref, str | os.PathLike):
        raise InvalidParameterError(
            f"predict_batch scores with {_REFERENCE_KINDS}; got {type(model_ref).__name__}."
        )
    text = os.fspath(model_ref)
    if not text.strip():
        raise InvalidParameterError(f"The model reference is empty. Pass {_REFERENCE_KINDS}.")
    if Path(text).exists():
        return text, Path(text)
    if text.startswith("runs:/"):
        from lepton.workspace import get_workspace

        run_id, _, artifact = text.removeprefix("runs:/").partition("/")
        return text, get_workspace().download_artifacts(
            run_id, artifact or "model.lepton", tmp / "model"
        )
    if "/" in text or os.sep in text or Path(text).suffix in (".lepton", ".zip"):
        from lepton.errors import ModelNotFoundError
        from lepton.registry import list_models

        raise ModelNotFoundError(
            text,
            [str(m["name"]) for m in list_models()],
            hint="No bundle exists at that path. Pass the path of a saved bundle "
            "(lepton.save_model), runs:/RUN_ID/model.lepton or a registered NAME[:VERSION|@ALIAS].",
        )
    return _registered(text, tmp)


def _saved(model: Model, tmp: Path) -> tuple[str, Path]:
    """A bundle of a model object. Saving is not byte-stable (fitted preprocessing is written
    anew), so each call fingerprints it anew: a resume needs a saved or registered model."""
    from lepton.models._bundle import save_model

    model._check_fitted()
    return f"{model.name} (in memory)", save_model(model, tmp / "model.lepton")


def _registered(text: str, tmp: Path) -> tuple[str, Path]:
    from lepton.errors import IntegrityError
    from lepton.registry import get_version
    from lepton.workspace import get_workspace

    version = get_version(text)
    path = get_workspace().download_model_bundle(
        version.name, version.version, tmp / "model.lepton"
    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != version.info.bundle_sha256:
        raise IntegrityError(
            f"The stored bundle of {version.ref} does not match the sha256 recorded at "
            "registration: it was changed in the artifact store. Run `lepton models verify` "
            "and re-register it."
        )
    return version.ref, path

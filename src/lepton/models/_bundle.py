"""Model bundles: a zip (or folder) holding ``lepton.json`` and weights in safe formats.

``lepton.json`` records the model's name, task, classes, input schema, config, metrics,
lineage and the sha256 of every other file. Loading checks every hash first and never unpickles
arbitrary code (safetensors, LightGBM text, skops with a type allow-list), so a tampered or
foreign bundle is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from lepton._fs import atomic_write_bytes
from lepton.errors import IntegrityError, InvalidParameterError, ModelNotFoundError
from lepton.models._base import Model

MANIFEST = "lepton.json"
REFERENCE = "reference.json"  # training-data sample for drift checks
FORMAT = "lepton-bundle/1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """numpy scalars and tuples as plain JSON values."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def write_bundle_folder(model: Model, folder: Path) -> dict[str, Any]:
    """Write weights and the manifest into the empty folder ``folder``; return the manifest."""
    from lepton import __version__

    model._check_fitted()
    files = model._save_weights(folder)
    if model.reference is not None:
        (folder / REFERENCE).write_text(json.dumps(model.reference), encoding="utf-8")
        files.append(REFERENCE)
    manifest = {
        "format": FORMAT,
        "name": model.name,
        "family": model.family,
        "task": model.task,
        "classes": _plain(model.classes_),
        "num_classes": model.num_classes,
        "input_shape": _plain(model.input_shape),
        "input_schema": _plain(model.input_schema),
        "config": _plain(model.config.to_dict()),
        "metrics": _plain(model.metrics),
        "lineage": _plain(model.lineage),
        "runtime": "onnxruntime" if model.runtime is not None else "native",
        "compression": _plain(model.compression),
        "created_at": time.time(),
        "lepton_version": __version__,
        "files": {name: _sha256(folder / name) for name in sorted(files)},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return manifest


def save_model(model: Model, path: str | os.PathLike[str]) -> Path:
    """Save a trained model as a Lepton bundle at ``path``, atomically.

    The suffix is yours (``model.lepton``, ``model.zip``, even ``model.h5``): the file is a zip
    bundle. A path ending in ``/`` (or an existing folder) gets a folder bundle instead.

    Example:
        >>> lepton.save_model(model, "myproject/model.lepton")
    """
    if not isinstance(model, Model):
        raise InvalidParameterError(f"save_model needs a Lepton model, got {type(model).__name__}.")
    target = Path(path)
    as_folder = str(path).endswith(("/", os.sep)) or target.is_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lepton-save-", dir=target.parent) as tmp:
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        write_bundle_folder(model, staging)
        # a pruned model's zeros are its gain on disk: its weights are deflated
        deflate_weights = model.compression.get("method") == "prune"
        if as_folder:
            if target.exists():
                shutil.rmtree(target)
            os.rename(staging, target)
        else:
            archive = Path(tmp) / "bundle.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for file in sorted(staging.iterdir()):
                    # float weights barely compress (~7 %), and deflating ResNet-50's 94 MB
                    # takes seconds on every save: store them as they are (ONNX graphs too)
                    stored = file.suffix in (".safetensors", ".onnx") and not deflate_weights
                    zf.write(file, file.name, zipfile.ZIP_STORED if stored else None)
            atomic_write_bytes(target, archive.read_bytes())
    return target


def _safe_extract(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            parts = PurePosixPath(member.filename).parts
            if member.filename.startswith("/") or ".." in parts or len(parts) != 1:
                raise IntegrityError(
                    f"{archive} holds an unexpected entry {member.filename!r}; a Lepton bundle "
                    "holds only flat files. It was not written by Lepton or was tampered with."
                )
        zf.extractall(dest)


def read_manifest(folder: Path, source: Path) -> dict[str, Any]:
    """Read and verify ``lepton.json`` against every file in ``folder``."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise IntegrityError(
            f"{source} is not a Lepton bundle: it has no {MANIFEST}. Save models with lepton.save_model()."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{source}: {MANIFEST} is not valid JSON ({exc}).") from exc
    if manifest.get("format") != FORMAT:
        raise IntegrityError(
            f"{source}: unsupported bundle format {manifest.get('format')!r}; expected {FORMAT!r}."
        )
    listed = manifest.get("files", {})
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST}
    if present != set(listed):
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        raise IntegrityError(
            f"{source} was tampered with: files not in the manifest {extra}, files missing {missing}."
        )
    for name, expected in listed.items():
        if _sha256(folder / name) != expected:
            raise IntegrityError(
                f"{source} was tampered with: {name} does not match the sha256 recorded in "
                f"{MANIFEST}. Do not load it; re-export the model from its source."
            )
    return manifest


def model_from_folder(folder: Path, source: Path) -> Model:
    from lepton.models._zoo import zoo_entry

    manifest = read_manifest(folder, source)
    entry = zoo_entry(manifest["name"])
    config = entry.config.from_dict(manifest["config"])
    shape = manifest.get("input_shape")
    model: Model = entry.load()(
        manifest["name"],
        config,
        task=manifest["task"],
        input_shape=tuple(shape) if shape else None,
        num_classes=manifest.get("num_classes"),
    )
    model.classes_ = manifest.get("classes")
    model.input_schema = manifest["input_schema"]
    model.metrics = dict(manifest.get("metrics") or {})
    model.lineage = dict(manifest.get("lineage") or {})
    model.compression = dict(manifest.get("compression") or {})
    model._load_weights(folder)
    if REFERENCE in manifest["files"]:
        model.reference = json.loads((folder / REFERENCE).read_text(encoding="utf-8"))
    return model


def load_bundle(path: str | os.PathLike[str]) -> Model:
    """Load a bundle (zip or folder) after verifying every file's hash."""
    source = Path(path)
    if source.is_dir():
        return model_from_folder(source, source)
    if not zipfile.is_zipfile(source):
        raise IntegrityError(
            f"{source} is not a Lepton bundle (not a zip file or a bundle folder)."
        )
    with tempfile.TemporaryDirectory(prefix="lepton-load-") as tmp:
        _safe_extract(source, Path(tmp))
        return model_from_folder(Path(tmp), source)


def load_model(path_or_ref: str | os.PathLike[str]) -> Model:
    """Load a model from a bundle path or ``runs:/RUN_ID/PATH``.

    Example:
        >>> model = lepton.load_model("myproject/model.lepton")
    """
    text = str(path_or_ref)
    if Path(text).exists():
        return load_bundle(text)
    if text.startswith("runs:/"):
        from lepton.workspace import get_workspace

        run_id, _, artifact = text.removeprefix("runs:/").partition("/")
        with tempfile.TemporaryDirectory(prefix="lepton-load-") as tmp:
            local = get_workspace().download_artifacts(
                run_id, artifact or "model.lepton", Path(tmp) / "model"
            )
            return load_bundle(local)
    raise ModelNotFoundError(
        text,
        hint="Pass the path of a saved bundle (lepton.save_model) or runs:/RUN_ID/model.lepton.",
    )

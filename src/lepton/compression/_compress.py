"""``lepton.compress``: a smaller or faster copy of a trained model, checked against the original.

    result = lepton.compress(model, method="onnx")          # or "quantize", "prune"
    result.table                                            # size, latency, metric: before/after

The original is never changed: the compressed model is a new one (a copy through its bundle),
tracked as a run whose ``model.lepton`` artifact is the new bundle, with lineage pointing to its
parent. ``method="onnx"`` is refused when its predictions move by more than ``tolerance``.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.compression._support import CompressionError, check_method, check_supported
from lepton.errors import InvalidParameterError

if TYPE_CHECKING:
    from lepton.compression._result import CompressionResult
    from lepton.data import Dataset
    from lepton.models import Model


def compress(
    model: Any,
    *,
    method: str,
    data: Dataset | None = None,
    tolerance: float = 1e-4,
    sparsity: float = 0.5,
    fine_tune_epochs: int = 1,
    verbose: Any = "auto",
) -> CompressionResult:
    """Compress a trained model and compare it with the original: size, latency, metric.

    Args:
        model: a trained Model, a TrainResult, a bundle path, ``runs:/RUN_ID/model.lepton`` or a
            registry reference (``"name"``, ``"name:3"``, ``"name@production"``).
        method: ``"onnx"`` (export to ONNX, run by onnxruntime), ``"quantize"`` (ONNX with
            int8 weights; torch models) or ``"prune"`` (zero the smallest weights; torch models).
        data: a Dataset of the model's kind: the task metric is measured on it, the parity check
            and timings use its rows, and ``prune`` fine-tunes on it. Without it, table models
            are checked on the training sample kept in their bundle and image models on random
            images; text models need it.
        tolerance: ``onnx`` only: the largest accepted absolute difference between the
            original's and the ONNX model's probabilities (or values scaled by max(1, std)).
        sparsity: ``prune`` only: the share of Linear/Conv2d weights set to zero, 0 < s < 1.
        fine_tune_epochs: ``prune`` only: epochs of fine-tuning on ``data`` (0: none).
        verbose: ``"auto"`` (status lines), 0 to silence.

    Returns:
        CompressionResult: ``model``, ``table`` (one row for the original, one for the
        compressed model), ``run_id``, ``model_uri``.

    Raises:
        InvalidParameterError: an unknown method, a model the method does not support (the
            message lists what each method supports), bad data or numbers.
        CompressionError: the ONNX model's predictions differ by more than ``tolerance``.

    Example:
        >>> result = lepton.compress(model, method="onnx", data=valid)
    """
    from lepton.compression._measure import sample_inputs
    from lepton.training._progress import Progress

    method = check_method(method)
    _check_numbers(tolerance, sparsity, fine_tune_epochs)
    progress = Progress("compress", verbose)
    original, parent = _resolve(model)
    original._check_fitted()
    check_supported(method, original)
    _check_data(original, data, method, fine_tune_epochs)
    _require(method)
    progress.title = f"{original.name}-{method}"
    inputs = sample_inputs(original, data)
    return _run(
        original,
        parent,
        method,
        data,
        inputs,
        {"tolerance": tolerance, "sparsity": sparsity, "fine_tune_epochs": fine_tune_epochs},
        progress,
    )


def _run(
    original: Model,
    parent: dict[str, Any],
    method: str,
    data: Dataset | None,
    inputs: Any,
    options: dict[str, Any],
    progress: Any,
) -> CompressionResult:
    from lepton.compression._measure import max_abs_diff, measure, raw_outputs
    from lepton.compression._result import CompressionResult
    from lepton.tracking import start_run
    from lepton.training._train import BUNDLE, _save_bundle

    run = start_run(
        name=f"{original.name}-{method}",
        tags={
            "lepton.kind": "compress",
            "lepton.model": original.name,
            "lepton.compression": method,
        },
    )
    with run:
        run.log_params(
            {
                "method": method,
                "model": original.name,
                "parent": _describe(parent),
                "tolerance": options["tolerance"],
                "sparsity": options["sparsity"],
                **({"fine_tune_epochs": options["fine_tune_epochs"]} if method == "prune" else {}),
            }
        )
        if data is not None:
            run.add_inputs(("dataset", data.name, str(data.version)))
        compressed, info = _build(original, method, data, options, progress)

        before, after = raw_outputs(original, inputs.batch), raw_outputs(compressed, inputs.batch)
        diff = max_abs_diff(before, after, original.task)
        run.log_metrics({"max_abs_diff": diff})
        progress.status(f"max abs diff {diff:.3g} on {inputs.rows} rows ({inputs.source})")
        if method == "onnx" and not diff <= options["tolerance"]:
            raise CompressionError(
                f"The ONNX export of {original.name} was refused: its outputs differ from the "
                f"original's by up to {diff:.3g} on {inputs.rows} rows ({inputs.source}), above "
                f"tolerance={options['tolerance']:g}. If that difference is acceptable, pass "
                f"tolerance={_loosen(diff)} (--tolerance on the CLI)."
            )

        # the bundle's size depends on the method (pruned weights are deflated)
        compressed.compression = {"method": method, "parent": parent}
        progress.status("timing the original and the compressed model")
        rows = {
            "original": measure(original, inputs, data),
            method: measure(compressed, inputs, data),
        }
        table = _table(rows, {"original": _sparsity(original), method: _sparsity(compressed)})
        table.loc[method, "max_abs_diff"] = diff
        run.log_metrics(_run_metrics(table, method))

        compressed.compression = {
            "method": method,
            "parent": parent,
            "max_abs_diff": diff,
            "parity_rows": inputs.rows,
            "parity_inputs": inputs.source,
            **({"tolerance": options["tolerance"]} if method == "onnx" else {}),
            **info,
        }
        compressed.metrics = {"max_abs_diff": diff}
        metric = rows[method]["metric"]  # accuracy or rmse, measured on data
        if not math.isnan(rows[method]["value"]):
            compressed.metrics[metric] = float(rows[method]["value"])
        datasets = list(original.lineage.get("datasets", []))
        if method == "prune" and data is not None and info.get("fine_tune_epochs"):
            datasets.append({"name": data.name, "version": str(data.version), "role": "fine_tune"})
        compressed.lineage = {
            **original.lineage,
            "run_id": run.id,
            "project": run.project,
            "datasets": datasets,
            "parent": parent,
        }
        model_path = _save_bundle(compressed, run)
        progress.status(f"saved runs:/{run.id}/{BUNDLE}")
    return CompressionResult(
        model=compressed,
        method=method,
        run_id=run.id,
        table=table,
        model_uri=f"runs:/{run.id}/{BUNDLE}",
        model_path=model_path,
        details=compressed.compression,
    )


# building the compressed model -------------------------------------------------------------
def _build(
    original: Model, method: str, data: Dataset | None, options: dict[str, Any], progress: Any
) -> tuple[Model, dict[str, Any]]:
    from lepton.compression._onnx_export import export_graph
    from lepton.models._onnx import OnnxRuntime

    if method == "prune":
        from lepton.compression._prune import prune_model

        progress.status(f"pruning to sparsity {options['sparsity']:g}")
        clone = copy_model(original)
        pruned = prune_model(
            clone, options["sparsity"], data, options["fine_tune_epochs"], progress
        )
        return clone, pruned
    if original.runtime is not None:  # quantising an ONNX model: its graph is the start
        graph = original.runtime.graph
    else:
        progress.status("exporting to ONNX")
        graph = export_graph(original)
    info: dict[str, Any] = {"runtime": "onnxruntime", "onnx_bytes": len(graph)}
    if method == "quantize":
        from lepton.compression._quantize import quantize_graph

        progress.status("quantising weights to int8")
        graph, quantization = quantize_graph(graph)
        info.update(onnx_bytes=len(graph), quantization=quantization)
    clone = copy_model(original)
    attach_runtime(clone, OnnxRuntime(graph))
    return clone, info


def copy_model(model: Model) -> Model:
    """An independent copy of ``model``, made through its bundle (so exactly what loads)."""
    from lepton.models._bundle import model_from_folder, write_bundle_folder

    with tempfile.TemporaryDirectory(prefix="lepton-copy-") as tmp:
        folder = Path(tmp)
        write_bundle_folder(model, folder)
        return model_from_folder(folder, folder)


def attach_runtime(model: Model, runtime: Any) -> None:
    """Make ``model`` predict through ``runtime``, dropping its native weights."""
    from lepton.models._onnx import torch_net

    model.runtime = runtime
    if model.family == "torch":
        model.net = torch_net(runtime)  # type: ignore[attr-defined]
    elif model.family == "lightgbm":
        model.booster = None  # type: ignore[attr-defined]
    else:
        model.estimator = None  # type: ignore[attr-defined]


def _sparsity(model: Model) -> float:
    """Zeros among the Linear/Conv2d weights of a native torch model; NaN otherwise."""
    if model.family != "torch" or model.runtime is not None:
        return math.nan
    from lepton.compression._prune import sparsity_of

    return sparsity_of(model.net)  # type: ignore[attr-defined]


def _table(rows: dict[str, dict[str, Any]], sparsity: dict[str, float]) -> Any:
    import pandas as pd

    metric = next(iter(rows.values()))["metric"]
    frame = pd.DataFrame(
        {
            name: {
                "size_bytes": row["size_bytes"],
                "latency_row_ms": row["latency_row_ms"],
                "latency_batch_ms": row["latency_batch_ms"],
                "batch_rows": row["batch_rows"],
                "rows_per_s": row["rows_per_s"],
                metric: row["value"],
                "max_abs_diff": 0.0 if name == "original" else math.nan,
                "sparsity": sparsity[name],
            }
            for name, row in rows.items()
        }
    ).T
    for column in ("size_bytes", "batch_rows"):
        frame[column] = frame[column].astype("int64")
    for column in frame.columns.difference(["size_bytes", "batch_rows"]):
        frame[column] = frame[column].astype("float64")
    return frame


def _run_metrics(table: Any, method: str) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for column in table.columns:
        if column in ("batch_rows", "max_abs_diff"):
            continue
        for row, suffix in (("original", "before"), (method, "after")):
            value = float(table.loc[row, column])
            if math.isfinite(value):
                metrics[f"{column}_{suffix}"] = value
    return metrics


def _loosen(diff: float) -> str:
    """A round tolerance just above ``diff``: 3.2e-4 -> 1e-3."""
    if not math.isfinite(diff):
        return "a larger value"
    return f"{10 ** math.ceil(math.log10(diff * 1.0001)):g}" if diff > 0 else "1e-4"


# inputs ------------------------------------------------------------------------------------
def _resolve(model: Any) -> tuple[Model, dict[str, Any]]:
    """The model to compress and what the compressed one records as its parent."""
    from lepton.compression._result import CompressionResult
    from lepton.models import Model
    from lepton.training import TrainResult

    if isinstance(model, CompressionResult):
        return model.model, _parent_of(model.model, uri=model.model_uri)
    if isinstance(model, TrainResult):
        return model.model, _parent_of(model.model, uri=model.model_uri)
    if isinstance(model, Model):
        return model, _parent_of(model)
    if isinstance(model, str | os.PathLike):
        text = os.fspath(model)
        if text and Path(text).exists():
            from lepton.models._bundle import load_bundle

            loaded = load_bundle(text)
            return loaded, _parent_of(loaded, path=str(Path(text).resolve()))
        if text.startswith("runs:/"):
            from lepton.models._bundle import load_model

            loaded = load_model(text)
            return loaded, _parent_of(loaded, uri=text)
        from lepton.registry import get_version

        version = get_version(text)
        loaded = version.load()
        return loaded, _parent_of(
            loaded, ref=version.ref, name=version.name, version=version.version
        )
    raise InvalidParameterError(
        f"compress takes a trained model, a TrainResult, a bundle path or a registry reference "
        f"('name', 'name:3', 'name@production'), got {type(model).__name__}."
    )


def _parent_of(model: Model, **where: Any) -> dict[str, Any]:
    parent: dict[str, Any] = {
        "model": model.name,
        "run_id": model.lineage.get("run_id"),
        "runtime": "onnxruntime" if model.runtime is not None else "native",
        **where,
    }
    if model.compression.get("method"):
        parent["compression"] = model.compression["method"]
    return parent


def _describe(parent: dict[str, Any]) -> str:
    for key in ("ref", "path", "uri", "run_id"):
        if parent.get(key):
            return str(parent[key])
    return str(parent["model"])


def _check_numbers(tolerance: Any, sparsity: Any, fine_tune_epochs: Any) -> None:
    def number(value: Any) -> bool:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    if not number(tolerance) or tolerance <= 0:
        raise InvalidParameterError(
            f"tolerance must be a positive number (the largest accepted difference between the "
            f"original's and the ONNX model's outputs, e.g. 1e-4), got {tolerance!r}."
        )
    if not number(sparsity) or not 0 < sparsity < 1:
        raise InvalidParameterError(
            f"sparsity must be a number between 0 and 1 (exclusive): the share of weights "
            f"pruning sets to zero, e.g. 0.5; got {sparsity!r}."
        )
    if (
        not isinstance(fine_tune_epochs, int)
        or isinstance(fine_tune_epochs, bool)
        or fine_tune_epochs < 0
    ):
        raise InvalidParameterError(
            f"fine_tune_epochs must be an int >= 0 (0: prune without fine-tuning), got "
            f"{fine_tune_epochs!r}."
        )


def _check_data(model: Model, data: Any, method: str, fine_tune_epochs: int) -> None:
    from lepton.data import Dataset

    if data is None:
        return
    if not isinstance(data, Dataset):
        raise InvalidParameterError(
            f"data must be a lepton Dataset, got {type(data).__name__}. Wrap a table with "
            "lepton.Dataset.from_pandas(frame, target='label') (or from_images/from_texts)."
        )
    if data.kind not in model.data_kinds:
        raise InvalidParameterError(
            f"{model.name} takes {' or '.join(model.data_kinds)} data, but dataset {data.name!r} "
            f"holds {data.kind}. Pass a dataset like the one the model was trained on."
        )
    if len(data) == 0:
        raise InvalidParameterError(f"Dataset {data.name!r} is empty; pass rows to check on.")
    if data.kind == "images" and tuple(data.input_shape or ()) != tuple(model.input_shape or ()):
        raise InvalidParameterError(
            f"{model.name} takes images of shape {model.input_shape} (H, W, C) but dataset "
            f"{data.name!r} is resized to {data.input_shape}. Build it with "
            f"input_shape={model.input_shape}."
        )
    if method == "prune" and fine_tune_epochs > 0 and data.target is None:
        raise InvalidParameterError(
            f"Fine-tuning after pruning trains on data, but dataset {data.name!r} has no target. "
            "Pass a dataset with its target, or fine_tune_epochs=0."
        )


def _require(method: str) -> None:
    from lepton._optional import require

    purpose = {"onnx": "export to ONNX", "quantize": "quantise a model", "prune": "prune"}[method]
    if method == "prune":
        require("torch", purpose=purpose)
        return
    for module in ("onnx", "onnxruntime"):
        require(module, purpose=purpose)

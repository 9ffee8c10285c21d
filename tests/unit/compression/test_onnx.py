"""ONNX export: parity with the original for every supported family, bundles that reload and
verify, the tolerance that refuses an export, and serving's predictor on an ONNX bundle."""

from __future__ import annotations

import gc
import json
import math
import os
import signal
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.compression._data import bundle_files, multiclass, table

import lepton
from lepton.compression import CompressionError, CompressionResult
from lepton.errors import IntegrityError, InvalidParameterError
from lepton.models import load_model, save_model
from lepton.testing import tiny_texts

NATIVE_FILES = {"model.lgb.txt", "estimator.skops", "weights.safetensors"}


def _table_case(name: str, task: str = "classification", **hparams: Any) -> Callable[[Any], Any]:
    def build(_: Any) -> tuple[Any, Any]:
        train, valid = multiclass() if task == "multiclass" else table(task)
        return lepton.create_model(name, **hparams).fit(train, valid), valid

    return build


def _images_case(name: str, **hparams: Any) -> Callable[[Any], Any]:
    def build(request: Any) -> tuple[Any, Any]:
        train, valid = request.getfixturevalue("images")
        return lepton.create_model(name, **hparams).fit(train), valid

    return build


def _texts_case(request: Any) -> tuple[Any, Any]:
    train, valid = tiny_texts(rows=80).split(test_size=0.25, seed=0)
    return lepton.create_model("text_bow", epochs=3).fit(train), valid


CASES = {
    "lightgbm-binary": _table_case("lightgbm", n_estimators=40),
    "lightgbm-multiclass": _table_case("lightgbm", "multiclass", n_estimators=40),
    "lightgbm-regression": _table_case("lightgbm", "regression", n_estimators=40),
    "logistic_regression": _table_case("logistic_regression"),
    "linear_regression": _table_case("linear_regression", "regression"),
    "random_forest": _table_case("random_forest", n_estimators=15),
    "mlp-classification": _table_case("mlp", epochs=5),
    "mlp-regression": _table_case("mlp", "regression", epochs=5),
    "cnn": _images_case("cnn", epochs=2, num_workers=0),  # no fork: see conftest.cnn
    "resnet18": _images_case("resnet18", epochs=1, num_workers=0),
    "text_bow": _texts_case,
}
SLOW = {"resnet18"}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=[pytest.mark.slow] if c in SLOW else []) for c in CASES],
)
def test_onnx_export_predicts_like_the_original(case: str, request: Any, tmp_path: Path) -> None:
    model, valid = CASES[case](request)
    result = lepton.compress(model, method="onnx", data=valid, verbose=0)

    onnx_model = result.model
    assert onnx_model is not model and model.runtime is None  # the original is untouched
    assert onnx_model.runtime is not None and onnx_model.runtime.size_bytes > 0
    assert 0 <= result.max_abs_diff <= 1e-4
    classify = model.task == "classification"
    if classify:
        expected = model.predict_proba(valid)
        np.testing.assert_allclose(onnx_model.predict_proba(valid), expected, atol=1e-5)
    else:
        expected = model.predict(valid)
        scale = max(1.0, float(np.std(expected)))
        np.testing.assert_allclose(onnx_model.predict(valid) / scale, expected / scale, atol=1e-5)
    metric = "accuracy" if classify else "rmse"
    assert list(result.table.index) == ["original", "onnx"]
    assert result.table.loc["onnx", metric] == pytest.approx(
        result.table.loc["original", metric], abs=0.02 if classify else 1e-4
    )
    assert result.table.loc["original", metric] == pytest.approx(_metric(model, valid), rel=1e-9)

    # the bundle: model.onnx replaces the native weights, and it reloads to the same outputs
    assert result.model_path is not None and result.model_path.is_file()
    files = bundle_files(result.model_path)
    assert "model.onnx" in files and not NATIVE_FILES & set(files)
    assert files["model.onnx"] == zipfile.ZIP_STORED  # float weights: stored, like safetensors
    with zipfile.ZipFile(result.model_path) as zf:
        manifest = json.loads(zf.read("lepton.json"))
    assert manifest["runtime"] == "onnxruntime"
    assert manifest["compression"]["method"] == "onnx"
    assert manifest["compression"]["max_abs_diff"] == pytest.approx(result.max_abs_diff)
    reloaded = load_model(result.model_uri)
    assert reloaded.runtime is not None and reloaded.compression["method"] == "onnx"
    if classify:
        np.testing.assert_array_equal(
            reloaded.predict_proba(valid), onnx_model.predict_proba(valid)
        )
    else:
        np.testing.assert_array_equal(reloaded.predict(valid), onnx_model.predict(valid))


def _metric(model: Any, data: Any) -> float:
    predicted, truth = model.predict(data), data.y()
    if model.task == "classification":
        return float(np.mean(predicted == truth))
    return float(np.sqrt(np.mean((predicted - truth.astype(float)) ** 2)))


def test_result_records_lineage_the_run_and_a_readable_table(mlp: Any) -> None:
    from lepton.workspace import get_workspace

    _, valid = table()
    result = lepton.compress(mlp, method="onnx", data=valid, verbose=0)
    assert isinstance(result, CompressionResult) and result.method == "onnx"

    run = get_workspace().get_run(result.run_id)
    assert run.name == "mlp-onnx" and run.status == "finished"
    assert run.tags["lepton.kind"] == "compress" and run.tags["lepton.model"] == "mlp"
    assert run.params["method"] == "onnx" and run.params["tolerance"] == 1e-4
    for key in ("size_bytes", "latency_row_ms", "latency_batch_ms", "rows_per_s", "accuracy"):
        assert f"{key}_before" in run.metrics and f"{key}_after" in run.metrics
    assert run.metrics["max_abs_diff"] == pytest.approx(result.max_abs_diff)
    assert run.metrics["size_bytes_after"] == result.table.loc["onnx", "size_bytes"]

    table_ = result.table
    assert list(table_.columns) == [
        "size_bytes",
        "latency_row_ms",
        "latency_batch_ms",
        "batch_rows",
        "rows_per_s",
        "accuracy",
        "max_abs_diff",
        "sparsity",
    ]
    assert (table_["size_bytes"] > 1000).all() and (table_["latency_row_ms"] > 0).all()
    assert (table_["batch_rows"] == len(valid)).all()  # fewer than 256 rows: all of them
    assert table_.loc["original", "max_abs_diff"] == 0.0
    assert math.isnan(table_.loc["onnx", "sparsity"]) and table_.loc["original", "sparsity"] == 0

    assert result.model.lineage["run_id"] == result.run_id
    assert result.model.lineage["parent"] == {"model": "mlp", "run_id": None, "runtime": "native"}
    assert result.model.compression["parent"] == result.model.lineage["parent"]
    assert result.model.compression["parity_inputs"] == "data"
    assert result.model.metrics["accuracy"] == table_.loc["onnx", "accuracy"]

    text = repr(result)
    assert text.startswith("CompressionResult(method='onnx', model='mlp'")
    assert "original" in text and " KB" in text and " ms" in text
    page = result._repr_html_()
    assert "<table" in page and "data:image/png;base64," in page
    summary = json.loads(json.dumps(result.summary()))
    assert summary["table"]["onnx"]["size_bytes"] == int(table_.loc["onnx", "size_bytes"])
    assert summary["table"]["onnx"]["sparsity"] is None  # NaN -> null


def test_without_data_table_models_are_checked_on_their_bundled_sample() -> None:
    train, _ = table("regression")
    model = lepton.create_model("linear_regression").fit(train)
    result = lepton.compress(model, method="onnx", verbose=0)
    assert result.model.compression["parity_inputs"] == "reference sample"
    assert result.table.loc["onnx", "batch_rows"] == len(train)  # the sample holds every row
    assert math.isnan(result.table.loc["onnx", "rmse"])  # no data: no metric
    assert "rmse" not in result.model.metrics


def test_without_data_image_models_are_checked_on_random_images(cnn: Any) -> None:
    result = lepton.compress(cnn, method="onnx", verbose=0)
    assert result.model.compression["parity_inputs"] == "random images"
    assert result.table.loc["onnx", "batch_rows"] == 256
    assert result.max_abs_diff < 1e-4


def test_a_tiny_tolerance_refuses_the_export_and_says_the_measured_diff() -> None:
    from lepton.workspace import get_workspace

    # LightGBM sums its trees in float64, the ONNX graph in float32: never bit-identical
    # (a torch MLP can be: its ONNX graph does the same float32 arithmetic)
    train, _ = table()
    model = lepton.create_model("lightgbm", n_estimators=20).fit(train)
    with pytest.raises(
        CompressionError,
        match=r"The ONNX export of lightgbm was refused: its outputs differ from the original's "
        r"by up to [0-9.e+-]+ on \d+ rows \(reference sample\), above tolerance=1e-12\. If "
        r"that difference is acceptable, pass tolerance=1e-0?\d",
    ):
        lepton.compress(model, method="onnx", tolerance=1e-12, verbose=0)
    (run,) = get_workspace().list_runs("default")
    assert run.status == "failed" and "refused" in (run.error or "")
    assert run.metrics["max_abs_diff"] > 1e-12


def test_a_tampered_model_onnx_is_refused(tmp_path: Path) -> None:
    train, _ = table()
    model = lepton.create_model("logistic_regression").fit(train)
    onnx_model = lepton.compress(model, method="onnx", verbose=0).model
    folder = save_model(onnx_model, f"{tmp_path}/bundle/")
    assert load_model(folder).runtime is not None
    graph = bytearray((folder / "model.onnx").read_bytes())
    graph[-1] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(graph))
    with pytest.raises(IntegrityError, match=r"model\.onnx does not match the sha256"):
        load_model(folder)


def test_serving_predictor_runs_an_onnx_bundle(tmp_path: Path) -> None:
    """The serving layer's predictor (fast linear path included) on an ONNX logistic regression."""
    from lepton.serving._predictor import Predictor

    train, valid = multiclass()
    model = lepton.create_model("logistic_regression").fit(train)
    path = lepton.compress(model, method="onnx", verbose=0).model_path
    assert path is not None
    served = Predictor(load_model(path))
    assert not served.compiled  # no estimator to compile: the rows go through the graph
    rows = valid.X().head(20)[served.columns].to_numpy().tolist()  # validated rows, as served
    labels, probabilities = served.predict(rows)
    native_labels, native_probabilities = Predictor(model).predict(rows)
    assert labels == native_labels
    np.testing.assert_allclose(probabilities, native_probabilities, atol=1e-5)


def test_a_compressed_model_compresses_again_only_where_it_makes_sense(mlp: Any) -> None:
    onnx = lepton.compress(mlp, method="onnx", verbose=0)
    with pytest.raises(
        InvalidParameterError,
        match=r"Cannot apply method='onnx' to this mlp model: it already runs on onnxruntime "
        r"\(compressed with 'onnx'\)\. Start from its parent model",
    ):
        lepton.compress(onnx, method="onnx", verbose=0)
    with pytest.raises(
        InvalidParameterError,
        match=r"pruning needs the native torch weights and this model runs an ONNX graph",
    ):
        lepton.compress(onnx.model, method="prune", verbose=0)
    quantized = lepton.compress(onnx, method="quantize", verbose=0)  # its graph, quantised
    assert quantized.model.compression["parent"]["compression"] == "onnx"
    assert quantized.model.compression["parent"]["uri"] == onnx.model_uri
    with pytest.raises(InvalidParameterError, match=r"already quantised to int8"):
        lepton.compress(quantized.model, method="quantize", verbose=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_that_frees_a_session_does_not_hang() -> None:
    """DataLoader workers are forked; one that garbage-collected an inherited onnxruntime session
    used to hang for ever in its destructor (the session's threads do not exist in the child)."""
    from lepton.models._onnx import OnnxRuntime

    train, _ = table()
    model = lepton.create_model("logistic_regression").fit(train)
    runtime = lepton.compress(model, method="onnx", verbose=0).model.runtime
    assert runtime is not None
    copy = OnnxRuntime(runtime.graph)
    copy.run(np.zeros((2, int(model.estimator.n_features_in_)), dtype=np.float32))
    cycle: dict[str, Any] = {"runtime": copy}
    cycle["self"] = cycle  # only the garbage collector frees it
    del copy, cycle
    gc.disable()  # so that the child, not this process, collects it
    try:
        pid = os.fork()
        if pid == 0:  # the child: free the session, then leave at once
            gc.collect()
            os._exit(0)
    finally:
        gc.enable()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung while freeing an onnxruntime session")


def test_an_onnx_model_pickles_and_copies(mlp: Any) -> None:
    """Execution backends may pickle a model; the session is rebuilt on the other side."""
    import copy
    import pickle

    onnx_model = lepton.compress(mlp, method="onnx", verbose=0).model
    _, valid = table()
    expected = onnx_model.predict_proba(valid)
    for clone in (pickle.loads(pickle.dumps(onnx_model)), copy.deepcopy(onnx_model)):
        assert clone.runtime is not None and clone.runtime is not onnx_model.runtime
        np.testing.assert_array_equal(clone.predict_proba(valid), expected)

"""Dynamic int8 quantisation and magnitude pruning of torch models: smaller bundles, accuracy
within a stated tolerance, the target sparsity reached, and the fine-tune actually run."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np
import pytest
from tests.unit.compression._data import bundle_files, table

import lepton
from lepton.compression._prune import sparsity_of
from lepton.models import load_model

# the accuracy a compressed model may lose on the validation set of a learnable data set
ACCURACY_DROP = 0.05


def test_quantized_mlp_is_smaller_and_as_accurate(mlp: Any) -> None:
    _, valid = table()
    result = lepton.compress(mlp, method="quantize", data=valid, verbose=0)
    before, after = result.table.loc["original"], result.table.loc["quantize"]
    assert after["size_bytes"] < before["size_bytes"]
    assert result.ratio("size_bytes") == pytest.approx(after["size_bytes"] / before["size_bytes"])
    assert before["accuracy"] >= 0.8  # the data is learnable: the comparison means something
    assert after["accuracy"] >= before["accuracy"] - ACCURACY_DROP
    assert 0 < result.max_abs_diff < 0.05  # int8 weights move the probabilities a little

    info = result.model.compression
    assert info["method"] == "quantize" and info["runtime"] == "onnxruntime"
    assert info["quantization"]["ops"] == {"MatMul": 3}  # the MLP's three Linear layers
    assert info["quantization"]["weights"].startswith("int8")
    assert "tolerance" not in info  # the tolerance refuses ONNX exports only
    files = bundle_files(result.model_path)  # type: ignore[arg-type]
    assert "model.onnx" in files and "weights.safetensors" not in files
    reloaded = load_model(result.model_uri)
    np.testing.assert_array_equal(reloaded.predict_proba(valid), result.model.predict_proba(valid))


def test_quantized_cnn_quantizes_its_convolutions_and_keeps_its_accuracy(
    cnn: Any, images: tuple[Any, Any]
) -> None:
    _, valid = images
    result = lepton.compress(cnn, method="quantize", data=valid, verbose=0)
    before, after = result.table.loc["original"], result.table.loc["quantize"]
    # the CNN's weights are most of its bundle: int8 takes about a quarter of float32
    assert after["size_bytes"] < 0.6 * before["size_bytes"]
    assert before["accuracy"] >= 0.8
    assert after["accuracy"] >= before["accuracy"] - ACCURACY_DROP
    assert result.model.compression["quantization"]["ops"] == {"Conv": 2, "MatMul": 1}
    labels = result.model.predict(valid)
    assert set(labels) <= set(cnn.classes) and len(labels) == len(valid)


def test_prune_reaches_the_target_sparsity_and_fine_tunes(mlp: Any) -> None:
    train, valid = table()
    pruned = lepton.compress(mlp, method="prune", data=train, sparsity=0.6, verbose=0)
    untuned = lepton.compress(mlp, method="prune", sparsity=0.6, verbose=0)
    info = pruned.model.compression
    assert info["method"] == "prune" and info["target_sparsity"] == 0.6
    assert info["sparsity"] == pytest.approx(0.6, abs=0.005)
    assert info["pruned_layers"] == 3 and info["fine_tune_epochs"] == 1
    assert untuned.model.compression["fine_tune_epochs"] == 0
    assert sparsity_of(pruned.model.net) == pytest.approx(info["sparsity"])
    assert pruned.table.loc["prune", "sparsity"] == pytest.approx(info["sparsity"])
    assert pruned.table.loc["original", "sparsity"] == 0.0
    assert sparsity_of(mlp.net) == 0.0  # the original keeps its weights

    # the fine-tune trained the weights that survived: same zeros, other values
    tuned_w = pruned.model.net.net[0].weight.detach().numpy()
    untuned_w = untuned.model.net.net[0].weight.detach().numpy()
    np.testing.assert_array_equal(tuned_w == 0, untuned_w == 0)
    assert not np.allclose(tuned_w, untuned_w)
    assert pruned.model.lineage["datasets"][-1]["role"] == "fine_tune"
    accuracy = pruned.model.predict(valid) == valid.y()
    assert accuracy.mean() >= pruned.table.loc["original", "accuracy"] - 0.1

    # the zeros are deflated in the bundle, so it is smaller on disk than the original's
    files = bundle_files(pruned.model_path)  # type: ignore[arg-type]
    assert files["weights.safetensors"] == zipfile.ZIP_DEFLATED
    assert pruned.table.loc["prune", "size_bytes"] < pruned.table.loc["original", "size_bytes"]
    reloaded = load_model(pruned.model_path)  # type: ignore[arg-type]
    assert reloaded.runtime is None and reloaded.compression["sparsity"] == info["sparsity"]
    np.testing.assert_array_equal(reloaded.predict_proba(valid), pruned.model.predict_proba(valid))


def test_prune_a_cnn_with_a_fine_tune_on_images(cnn: Any, images: tuple[Any, Any]) -> None:
    train, _ = images
    result = lepton.compress(
        cnn, method="prune", data=train, sparsity=0.3, fine_tune_epochs=2, verbose=0
    )
    info = result.model.compression
    assert info["sparsity"] == pytest.approx(0.3, abs=0.005) and info["fine_tune_epochs"] == 2
    assert info["pruned_layers"] == 3  # two Conv2d layers and the Linear head
    assert result.table.loc["prune", "accuracy"] >= 0.8

"""Bad input to ``lepton.compress``: each refusal says what was wrong and what is supported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.compression._data import table

import lepton
from lepton.compression import METHODS, SUPPORTED
from lepton.errors import InvalidParameterError, ModelNotFoundError
from lepton.models import ModelNotFittedError
from lepton.testing import tiny_texts


@pytest.fixture(scope="module")
def lightgbm() -> Any:
    return lepton.create_model("lightgbm", n_estimators=10).fit(table()[0])


@pytest.fixture(scope="module")
def logreg() -> Any:
    return lepton.create_model("logistic_regression").fit(table()[0])


def test_the_supported_table() -> None:
    assert METHODS == ("onnx", "quantize", "prune")
    torch_models = ("mlp", "cnn", "resnet18", "resnet34", "resnet50", "text_bow")
    assert SUPPORTED["quantize"] == SUPPORTED["prune"] == torch_models
    assert set(SUPPORTED["onnx"]) == {
        "lightgbm",
        "logistic_regression",
        "linear_regression",
        "random_forest",
        *torch_models,
    }
    assert "tfidf_logreg" not in SUPPORTED["onnx"]


def test_quantize_lightgbm_lists_what_quantize_supports(lightgbm: Any) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"method='quantize' does not support lightgbm models; it supports mlp, cnn, "
        r"resnet18, resnet34, resnet50, text_bow\. lightgbm can be compressed with: onnx\.",
    ):
        lepton.compress(lightgbm, method="quantize")


def test_prune_sklearn_lists_what_prune_supports(logreg: Any) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"method='prune' does not support logistic_regression models; it supports mlp, "
        r"cnn, resnet18, resnet34, resnet50, text_bow\. logistic_regression can be compressed "
        r"with: onnx\.",
    ):
        lepton.compress(logreg, method="prune")


def test_onnx_tfidf_logreg_says_no_method_supports_it() -> None:
    model = lepton.create_model("tfidf_logreg").fit(tiny_texts(rows=40))
    with pytest.raises(
        InvalidParameterError,
        match=r"method='onnx' does not support tfidf_logreg models; it supports lightgbm, "
        r"logistic_regression, linear_regression, random_forest, mlp, cnn, .* No method "
        r"compresses tfidf_logreg yet\.",
    ):
        lepton.compress(model, method="onnx")


def test_unknown_method_lists_the_methods_and_what_each_supports(logreg: Any) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"Unknown compression method 'distill'; expected one of onnx, quantize, prune\. "
        r"What each supports: onnx: lightgbm, .*; quantize: mlp, .*; prune: mlp, ",
    ):
        lepton.compress(logreg, method="distill")
    with pytest.raises(InvalidParameterError, match=r"Unknown compression method None"):
        lepton.compress(logreg, method=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tolerance": 0}, r"tolerance must be a positive number .* got 0\."),
        ({"tolerance": -1e-3}, r"tolerance must be a positive number .* got -0\.001\."),
        ({"tolerance": float("nan")}, r"tolerance must be a positive number .* got nan\."),
        ({"tolerance": "1e-4"}, r"tolerance must be a positive number .* got '1e-4'\."),
        ({"tolerance": True}, r"tolerance must be a positive number .* got True\."),
        ({"sparsity": 0}, r"sparsity must be a number between 0 and 1 \(exclusive\).* got 0\."),
        ({"sparsity": 1.0}, r"sparsity must be a number between 0 and 1 .* got 1\.0\."),
        ({"sparsity": 1.5}, r"sparsity must be a number between 0 and 1 .* got 1\.5\."),
        ({"fine_tune_epochs": -1}, r"fine_tune_epochs must be an int >= 0 .* got -1\."),
        ({"fine_tune_epochs": 1.5}, r"fine_tune_epochs must be an int >= 0 .* got 1\.5\."),
        ({"verbose": "loud"}, r"verbose must be 'auto', 0, 1 or 2, got 'loud'\."),
        ({"data": "valid.csv"}, r"data must be a lepton Dataset, got str\. Wrap a table with"),
    ],
)
def test_bad_arguments(logreg: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        lepton.compress(logreg, method="onnx", **kwargs)


def test_bad_models() -> None:
    with pytest.raises(ModelNotFittedError, match=r"mlp has not been trained yet"):
        lepton.compress(lepton.create_model("mlp"), method="onnx")
    with pytest.raises(
        InvalidParameterError,
        match=r"compress takes a trained model, a TrainResult, a bundle path or a registry "
        r"reference \('name', 'name:3', 'name@production'\), got dict\.",
    ):
        lepton.compress({"weights": 1}, method="onnx")
    with pytest.raises(ModelNotFoundError, match=r"No model named 'credit'"):
        lepton.compress("credit:3", method="onnx")
    with pytest.raises(InvalidParameterError, match=r"Invalid model reference 'no such/model'"):
        lepton.compress("no such/model", method="onnx")


def test_data_of_the_wrong_kind_or_shape(logreg: Any, tmp_path: Path) -> None:
    from lepton.testing import tiny_images

    texts = tiny_texts(rows=20)
    with pytest.raises(
        InvalidParameterError,
        match=r"logistic_regression takes table data, but dataset 'tiny-texts' holds texts\.",
    ):
        lepton.compress(logreg, method="onnx", data=texts)
    images = tiny_images(tmp_path / "a", per_class=4, size=16)
    cnn = lepton.create_model("cnn", epochs=1).fit(images)
    other = tiny_images(tmp_path / "b", per_class=2, size=8)
    with pytest.raises(
        InvalidParameterError,
        match=r"cnn takes images of shape \(16, 16, 3\) \(H, W, C\) but dataset 'tiny-images' is "
        r"resized to \(8, 8, 3\)\. Build it with input_shape=\(16, 16, 3\)\.",
    ):
        lepton.compress(cnn, method="onnx", data=other)


def test_text_models_need_data_and_fine_tuning_needs_a_target() -> None:
    import pandas as pd

    texts = tiny_texts(rows=40)
    model = lepton.create_model("text_bow", epochs=1).fit(texts)
    with pytest.raises(
        InvalidParameterError,
        match=r"text_bow takes texts; without data= there is nothing to check the compressed "
        r"model on\. Pass data=",
    ):
        lepton.compress(model, method="onnx")
    unlabeled = lepton.Dataset.from_texts(
        pd.DataFrame({"text": ["good film", "bad day"]}), text_column="text", name="unlabeled"
    )
    with pytest.raises(
        InvalidParameterError,
        match=r"Fine-tuning after pruning trains on data, but dataset 'unlabeled' has no target\. "
        r"Pass a dataset with its target, or fine_tune_epochs=0\.",
    ):
        lepton.compress(model, method="prune", data=unlabeled)


def test_table_models_without_a_bundled_sample_need_data(logreg: Any) -> None:
    import copy

    model = copy.copy(logreg)
    model.reference = None  # e.g. every column was PII or text: nothing kept in the bundle
    with pytest.raises(
        InvalidParameterError,
        match=r"This logistic_regression model keeps no training sample for the column\(s\) "
        r"\['x1', 'x2', 'color'\] .* Pass data=",
    ):
        lepton.compress(model, method="onnx")


def test_nothing_is_tracked_when_the_input_is_refused(logreg: Any) -> None:
    from lepton.errors import ProjectNotFoundError
    from lepton.workspace import get_workspace

    with pytest.raises(InvalidParameterError):
        lepton.compress(logreg, method="quantize")
    try:
        runs = get_workspace().list_runs("default")
    except ProjectNotFoundError:
        runs = []
    assert runs == []

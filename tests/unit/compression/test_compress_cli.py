"""``lepton compress``: a registered model compressed into its next version, linked to its parent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.compression._data import table
from typer.testing import CliRunner, Result

import lepton
from lepton.cli._app import app
from lepton.errors import InvalidParameterError
from lepton.registry import get_version, list_versions


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture
def registered() -> Any:
    model = lepton.create_model("logistic_regression").fit(table()[0])
    lepton.register(model, "credit")
    return model


def test_compress_a_registered_model_registers_version_2(registered: Any) -> None:
    out = invoke("compress", "credit", "--method", "onnx", "--json")
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["method"] == "onnx" and answer["model"] == "logistic_regression"
    assert answer["version"]["version"] == 2
    assert answer["compression"]["parent"]["ref"] == "credit:1"
    assert set(answer["table"]) == {"original", "onnx"}

    version = get_version("credit:2")
    assert version.info.tags == {"lepton.parent_version": "1", "lepton.compression": "onnx"}
    assert version.run_id == answer["run_id"]  # the version points to the compression run
    assert "onnx of credit:1" in version.info.description
    loaded = version.load()
    assert loaded.runtime is not None
    assert loaded.compression["parent"] == {
        "model": "logistic_regression",
        "run_id": None,
        "runtime": "native",
        "ref": "credit:1",
        "name": "credit",
        "version": 1,
    }
    _, valid = table()
    np.testing.assert_allclose(
        loaded.predict_proba(valid), registered.predict_proba(valid), atol=1e-5
    )


def test_the_table_the_new_version_and_the_run_are_printed(registered: Any) -> None:
    lepton.registry.set_alias("credit", "staging", 1)
    _, valid = table()
    info = valid.register()
    out = invoke("compress", "credit@staging", "--method", "onnx", "--data", info.name)
    assert out.exit_code == 0, out.output
    for text in ("logistic_regression: onnx vs original", "size", "1 row", "max diff"):
        assert text in out.output
    accuracy = float(np.mean(registered.predict(valid) == valid.y()))
    assert f"{accuracy:.4g}" in out.output  # the metric on --data, before and after
    assert get_version("credit:2").metrics["accuracy"] == pytest.approx(accuracy)
    assert "Registered credit:2 (parent credit:1)" in out.output
    assert "Run " in out.output and "model.lepton" in out.output


def test_no_register_and_bundle_paths(registered: Any, tmp_path: Path) -> None:
    out = invoke("compress", "credit:1", "--method", "onnx", "--no-register", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["version"] is None
    assert [v.version for v in list_versions("credit")] == [1]

    path = lepton.save_model(registered, tmp_path / "credit.lepton")
    out = invoke("compress", str(path), "--method", "onnx", "--json")  # a path: not registered
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["version"] is None
    assert answer["compression"]["parent"]["path"] == str(path.resolve())

    out = invoke("compress", str(path), "--method", "onnx", "--register")
    assert isinstance(out.exception, InvalidParameterError)
    assert "--register adds a version to a registered model" in str(out.exception)


def test_refusals_are_lepton_errors(registered: Any) -> None:
    """The console script prints a LeptonError as one paragraph (see lepton.cli.main)."""
    out = invoke("compress", "credit", "--method", "quantize")
    assert isinstance(out.exception, InvalidParameterError)
    assert "method='quantize' does not support logistic_regression" in str(out.exception)
    out = invoke("compress", "credit", "--method", "onnx", "--tolerance", "1e-12")
    assert type(out.exception).__name__ == "CompressionError"
    assert "above tolerance=1e-12" in str(out.exception)
    assert [v.version for v in list_versions("credit")] == [1]

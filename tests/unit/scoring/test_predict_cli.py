"""``lepton predict``: a few lines around lepton.predict_batch, human or --json output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner, Result

import lepton
from lepton.cli._app import app
from lepton.errors import DataError, InvalidParameterError
from lepton.scoring import OutputConflictError


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_json_output_for_a_registered_model_and_dataset(classifier: Any, table: Any) -> None:
    lepton.register(classifier, "credit")
    table.register()
    out = invoke(
        "predict",
        "credit",
        "--data",
        "tiny-classification",
        "--output",
        "scores",
        "--batch-size",
        "50",
        "--workers",
        "1",
        "--json",
    )
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["model"] == "credit:1" and answer["backend"] == "local"
    assert (answer["rows"], answer["chunks"], answer["chunks_scored"]) == (120, 3, 3)
    assert answer["columns"] == ["row", "prediction", "proba_no", "proba_yes"]
    assert len(pd.read_parquet("scores")) == 120

    again = json.loads(
        invoke(
            "predict",
            "credit",
            "--data",
            "tiny-classification",
            "--output",
            "scores",
            "--batch-size",
            "50",
            "--json",
        ).output
    )
    assert (again["chunks_scored"], again["chunks_skipped"]) == (0, 3)


def test_human_output_and_fresh(bundle: Path, table: Any) -> None:
    table.to_pandas().to_csv("rows.csv", index=False)
    args = ["predict", str(bundle), "--data", "rows.csv", "--output", "scores", "--workers", "1"]
    out = invoke(*args, "--batch-size", "100")
    assert out.exit_code == 0, out.output
    assert "Scored 120 of 120 rows with" in out.output
    assert "(2 of 2 chunks; local, 1 worker(s))" in out.output
    assert "Predictions: scores" in out.output
    assert "Columns: row, prediction, proba_no, proba_yes" in out.output

    refused = invoke(*args, "--batch-size", "60")
    assert isinstance(refused.exception, OutputConflictError)
    assert "batch_size=100 there, 60 now" in str(refused.exception)

    fresh = invoke(*args, "--batch-size", "60", "--fresh")
    assert fresh.exit_code == 0, fresh.output
    assert "(2 of 2 chunks; local" in fresh.output
    assert json.loads(Path("scores/_lepton.json").read_text())["chunk_rows"] == 60


def test_errors_reach_the_user(bundle: Path, table: Any) -> None:
    table.to_pandas().drop(columns=["color"]).to_csv("rows.csv", index=False)
    out = invoke("predict", str(bundle), "--data", "rows.csv", "--output", "scores")
    assert isinstance(out.exception, DataError)
    assert "lacks the column(s) ['color']" in str(out.exception)

    out = invoke("predict", str(bundle), "--data", "rows.csv", "--output", "s", "--batch-size", "0")
    assert isinstance(out.exception, InvalidParameterError)
    assert "batch_size must be a whole number of rows >= 1" in str(out.exception)

    out = invoke("predict", str(bundle), "--output", "scores")
    assert out.exit_code == 2 and "Missing option '--data'" in out.output

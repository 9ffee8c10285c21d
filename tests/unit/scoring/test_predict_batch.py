"""``lepton.predict_batch`` on the local backend: the same numbers as the model, by chunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lepton
from lepton.scoring import BatchPrediction
from lepton.testing import tiny_table


def test_scores_equal_predict_and_predict_proba(classifier: Any, table: Any, bundle: Path) -> None:
    result = lepton.predict_batch(bundle, table, output="scores", batch_size=50, workers=1)

    assert isinstance(result, BatchPrediction)
    assert (result.rows, result.chunks, result.chunks_scored, result.chunks_skipped) == (
        120,
        3,
        3,
        0,
    )
    assert result.columns == ("row", "prediction", "proba_no", "proba_yes")
    assert sorted(p.name for p in Path("scores").iterdir()) == [
        "_lepton.json",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    frame = result.to_pandas()
    assert frame["row"].tolist() == list(range(120))
    assert (frame["prediction"].to_numpy() == classifier.predict(table)).all()
    np.testing.assert_allclose(
        frame[["proba_no", "proba_yes"]].to_numpy(), classifier.predict_proba(table)
    )
    # any Parquet reader sees the predictions and nothing else
    assert len(pd.read_parquet("scores")) == 120
    manifest = json.loads(Path("scores/_lepton.json").read_text())
    assert manifest["complete"] is True and manifest["chunk_rows"] == 50
    assert manifest["model"]["ref"] == str(bundle)
    assert manifest["data"] == {
        "name": "tiny-classification",
        "version": table.version,
        "rows": 120,
    }


def test_repr_and_summary(bundle: Path, table: Any) -> None:
    result = lepton.predict_batch(bundle, table, output="scores", batch_size=100, workers=1)
    assert repr(result).startswith("BatchPrediction('scores', model=")
    assert "rows=120, chunks=2/2" in repr(result)
    summary = result.summary()
    json.dumps(summary)
    assert summary["rows_scored"] == 120 and summary["chunks_skipped"] == 0
    assert summary["backend"] == "local" and summary["workers"] == 1


def test_regression_writes_one_value_per_row() -> None:
    data = tiny_table("regression", rows=60)
    model = lepton.create_model("linear_regression").fit(data)
    result = lepton.predict_batch(model, data, output="values", batch_size=25, workers=1)
    frame = result.to_pandas()
    assert list(frame.columns) == ["row", "prediction"]
    np.testing.assert_allclose(frame["prediction"].to_numpy(), model.predict(data))
    assert result.model == "linear_regression (in memory)"


def test_registered_model_dataset_and_csv_path(classifier: Any, table: Any) -> None:
    lepton.register(classifier, "credit")
    table.register()
    by_name = lepton.predict_batch(
        "credit:1", "tiny-classification", output="by-name", batch_size=60, workers=1
    )
    assert by_name.model == "credit:1" and by_name.data.startswith("tiny-classification:")
    table.to_pandas().to_csv("rows.csv", index=False)
    by_path = lepton.predict_batch("credit", "rows.csv", output="by-path", workers=1)
    np.testing.assert_allclose(
        by_name.to_pandas()["proba_yes"], by_path.to_pandas()["proba_yes"], rtol=1e-9
    )


def test_a_train_result_scores_through_its_run(table: Any) -> None:
    trained = lepton.train(lepton.create_model("logistic_regression"), table, verbose=0)
    result = lepton.predict_batch(trained, table.frame, output="scores", workers=1)
    assert result.model == trained.model_uri
    uri = lepton.predict_batch(trained.model_uri, table.frame, output="again", workers=1)
    pd.testing.assert_frame_equal(result.to_pandas(), uri.to_pandas())


def test_an_id_column_is_kept_to_join_on(bundle: Path, table: Any) -> None:
    frame = table.to_pandas().drop(columns=["label"])
    frame.insert(0, "id", [f"app-{i}" for i in range(len(frame))])
    result = lepton.predict_batch(bundle, frame, output="scores", batch_size=50, workers=1)
    out = result.to_pandas()
    assert list(out.columns[:3]) == ["row", "id", "prediction"]
    assert out["id"].tolist() == frame["id"].tolist()


def test_progress_is_printed_by_chunk(bundle: Path, table: Any, capsys: Any) -> None:
    lepton.predict_batch(bundle, table, output="scores", batch_size=40, workers=1, verbose=2)
    out = capsys.readouterr().out
    assert "predict scores chunk 1/3" in out and "chunk 3/3" in out
    assert "120 rows in 3 chunks (0 resumed)" in out
    lepton.predict_batch(bundle, table, output="quiet", batch_size=40, workers=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_by_default_workers_are_started_only_when_they_would_pay_off(
    bundle: Path, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from lepton.scoring import _local

    # a tiny model scores its chunks faster here than worker processes would start
    quick = lepton.predict_batch(bundle, table, output="quick", batch_size=30)
    assert (quick.workers, quick.chunks_scored) == (1, 4)
    # when the rest would take longer than starting workers, they are started
    monkeypatch.setattr(_local, "WORKER_START_S", 0.0)
    pooled = lepton.predict_batch(bundle, table, output="pooled", batch_size=30)
    assert pooled.workers == min(os.cpu_count() or 1, 3) and pooled.chunks_scored == 4
    assert pooled.to_pandas().equals(quick.to_pandas())

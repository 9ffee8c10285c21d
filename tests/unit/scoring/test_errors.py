"""Bad input to ``lepton.predict_batch``: clear LeptonError subclasses, before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lepton
from lepton.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    IntegrityError,
    InvalidParameterError,
    ModelNotFoundError,
)
from lepton.scoring import ScoringError


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, r"batch_size must be a whole number of rows >= 1 per chunk, got 0"),
        ({"batch_size": True}, r"batch_size must be .* got True"),
        ({"batch_size": "100"}, r"batch_size must be .* got '100'"),
        ({"workers": 0}, r"workers must be a whole number >= 1 \(or None: one per CPU\), got 0"),
        ({"resume": "yes"}, r"resume must be True or False, got 'yes'"),
        ({"verbose": "loud"}, r"verbose must be 'auto', 0, 1 or 2, got 'loud'"),
    ],
)
def test_bad_options(bundle: Path, table: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        lepton.predict_batch(bundle, table, output="scores", **options)
    assert not Path("scores").exists()


def test_unknown_backend(bundle: Path, table: Any) -> None:
    with pytest.raises(ConfigError, match="Unknown backend 'spark'; expected one of local, ray"):
        lepton.predict_batch(bundle, table, output="scores", backend="spark")


def test_unknown_models(table: Any) -> None:
    with pytest.raises(ModelNotFoundError, match="No model named 'credit'"):
        lepton.predict_batch("credit", table, output="scores")
    with pytest.raises(ModelNotFoundError, match="No bundle exists at that path"):
        lepton.predict_batch("models/missing.lepton", table, output="scores")
    with pytest.raises(InvalidParameterError, match="The model reference is empty"):
        lepton.predict_batch("", table, output="scores")
    with pytest.raises(InvalidParameterError, match="predict_batch scores with a trained Model"):
        lepton.predict_batch(42, table, output="scores")


def test_an_untrained_model_is_refused(table: Any) -> None:
    with pytest.raises(lepton.LeptonError, match="has not been trained yet"):
        lepton.predict_batch(lepton.create_model("random_forest"), table, output="scores")


def test_a_tampered_bundle_is_refused(bundle: Path, table: Any, tmp_path: Path) -> None:
    import zipfile

    broken = tmp_path / "broken.lepton"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b" " if item.filename != "lepton.json" else data)
    with pytest.raises(IntegrityError, match="was tampered with"):
        lepton.predict_batch(broken, table, output="scores")


def test_data_without_the_model_columns_names_them(bundle: Path, table: Any) -> None:
    frame = table.to_pandas().drop(columns=["x2", "color"])
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['x2', 'color'\] that .*model"):
        lepton.predict_batch(bundle, frame, output="scores")


def test_bad_data(bundle: Path, table: Any) -> None:
    import pandas as pd

    with pytest.raises(DatasetNotFoundError, match="No dataset named 'nope'"):
        lepton.predict_batch(bundle, "nope", output="scores")
    with pytest.raises(DatasetNotFoundError, match="No file exists at that path"):
        lepton.predict_batch(bundle, "data/rows.csv", output="scores")
    with pytest.raises(InvalidParameterError, match="predict_batch scores a lepton Dataset"):
        lepton.predict_batch(bundle, [1, 2, 3], output="scores")
    with pytest.raises(DataError, match="The DataFrame to score has no rows"):
        lepton.predict_batch(bundle, pd.DataFrame({"x1": []}), output="scores")


def test_an_output_that_is_a_file_or_unwritable(bundle: Path, table: Any) -> None:
    Path("taken.parquet").write_text("x")
    with pytest.raises(InvalidParameterError, match="'taken.parquet' is a file"):
        lepton.predict_batch(bundle, table, output="taken.parquet")
    with pytest.raises(
        InvalidParameterError, match="Cannot write predictions to 'taken.parquet/sub'"
    ):
        lepton.predict_batch(bundle, table, output="taken.parquet/sub")
    with pytest.raises(InvalidParameterError, match="output must be the path of a folder"):
        lepton.predict_batch(bundle, table, output="")


def test_a_chunk_that_fails_keeps_the_finished_ones(classifier: Any, table: Any) -> None:
    import numpy as np

    frame = table.to_pandas()
    frame.loc[70, "x1"] = np.inf  # the model's scaler refuses infinity
    with pytest.raises(
        ScoringError,
        match=r"^Rows 50-99 could not be scored: ValueError: .*infinity.*\. The chunks finished "
        r"before it are kept: fix the cause and run the same command again",
    ):
        lepton.predict_batch(classifier, frame, output="scores", batch_size=50, workers=1)
    assert sorted(p.name for p in Path("scores").glob("part-*")) == ["part-00000.parquet"]

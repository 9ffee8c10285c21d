"""The serving predictor: the compiled numpy path agrees with the model, whatever the batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import lepton
from lepton.serving._predictor import Predictor
from lepton.testing import tiny_table

COLUMNS = [f"f{i}" for i in range(6)]


def numeric_table(task: str) -> Any:
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(COLUMNS)))
    frame = pd.DataFrame(x, columns=COLUMNS)
    frame.loc[::17, "f2"] = np.nan
    score = x @ rng.normal(size=len(COLUMNS))
    frame["label"] = (score > 0).astype(int) if task == "classification" else score
    return lepton.Dataset.from_pandas(frame, target="label", name=f"numeric-{task}")


@pytest.fixture(scope="module")
def logistic() -> Any:
    return lepton.create_model("logistic_regression").fit(numeric_table("classification"))


def rows(count: int, seed: int = 1) -> list[list[Any]]:
    values = np.random.default_rng(seed).normal(size=(count, len(COLUMNS))).tolist()
    values[0][2] = None  # a missing value, imputed as in training
    return values


def test_a_numeric_linear_model_is_compiled_and_agrees_with_the_model(logistic: Any) -> None:
    predictor = Predictor(logistic)
    assert predictor.compiled and predictor.classes == [0, 1]
    batch = rows(50)
    labels, probabilities = predictor.predict(batch)
    frame_rows = [[np.nan if v is None else v for v in row] for row in batch]
    records = [dict(zip(COLUMNS, row, strict=True)) for row in frame_rows]
    assert labels == logistic.predict(records).tolist()
    assert probabilities is not None
    np.testing.assert_allclose(probabilities, logistic.predict_proba(records), atol=1e-6)


def test_compiled_answers_do_not_depend_on_the_batch(logistic: Any) -> None:
    predictor = Predictor(logistic)
    batch = rows(64, seed=2)
    together = predictor.predict(batch)
    alone = [predictor.predict([row]) for row in batch]
    assert together[0] == [a[0][0] for a in alone]
    assert together[1] == [a[1][0] for a in alone if a[1] is not None]  # bit for bit


def test_linear_regression_is_compiled_too() -> None:
    model = lepton.create_model("linear_regression").fit(numeric_table("regression"))
    predictor = Predictor(model)
    assert predictor.compiled
    values, probabilities = predictor.predict(rows(10))
    assert probabilities is None
    frame = [[np.nan if v is None else v for v in row] for row in rows(10)]
    np.testing.assert_allclose(values, model.predict(frame), rtol=1e-6)


def test_other_pipelines_take_the_generic_path() -> None:
    data = tiny_table()
    model = lepton.create_model("logistic_regression").fit(data)
    predictor = Predictor(model)
    assert not predictor.compiled  # a categorical column: one-hot encoding
    batch = [[0.5, None, "red"], [-1.0, 2.0, "blue"]]
    labels, probabilities = predictor.predict(batch)
    records = [{"x1": 0.5, "x2": np.nan, "color": "red"}, {"x1": -1.0, "x2": 2.0, "color": "blue"}]
    assert labels == model.predict(records).tolist()
    np.testing.assert_allclose(probabilities or [], model.predict_proba(records))

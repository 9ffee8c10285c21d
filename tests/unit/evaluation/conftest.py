"""Small trained models and the data sets the evaluation tests measure them on.

The models are fitted with ``model.fit`` (untracked), so they can be shared by every test of
the session: nothing here touches a workspace. ``predictions`` recomputes what a model
predicts, exactly as a user would, so the tests hand scikit-learn and fairlearn the same
labels that ``lepton.evaluate`` saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lepton
from lepton.data import Dataset
from lepton.demo._credit import credit_table
from lepton.models import Model
from lepton.testing import tiny_table

# LogisticRegression on the float32 feature matrix gives probabilities whose rows sum to 1 only
# within float32 precision; scikit-learn's log_loss warns about that. Not what these tests check.
Y_PROB_WARNING = "ignore:The y_prob values do not sum to one:UserWarning"

# edge-case groups of the credit table's "region" column
ALL_POSITIVE_GROUP = "east"  # 30 rows, every one a default
TINY_GROUP = "west"  # 5 rows: fewer than the 20 a group needs for stable rates


@dataclass
class Case:
    """A fitted model and the data it is evaluated on."""

    model: Model
    data: Dataset


@dataclass
class Predictions:
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None


def predictions(model: Model, data: Dataset, threshold: float = 0.5) -> Predictions:
    """What ``model`` predicts for ``data``, with the binary decision rule of lepton.evaluate."""
    y_true = np.asarray(data.y())
    if model.task != "classification":
        return Predictions(y_true.astype(float), np.asarray(model.predict(data), float), None)
    proba = np.asarray(model.predict_proba(data), dtype=float)
    if len(model.classes) == 2:
        negative, positive = model.classes
        y_pred = np.where(proba[:, 1] >= threshold, positive, negative)
    else:
        y_pred = np.asarray(model.predict(data))
    return Predictions(y_true, y_pred, proba)


def credit_frame(rows: int = 600) -> pd.DataFrame:
    """The demo's credit table plus a "region" column with an all-positive and a tiny group."""
    frame = credit_table(rows=rows, seed=0)
    rng = np.random.default_rng(0)
    frame["region"] = rng.choice(["north", "south"], size=len(frame))
    defaults = np.flatnonzero(frame["default"] == "yes")
    frame.loc[defaults[:30], "region"] = ALL_POSITIVE_GROUP
    frame.loc[defaults[30:35], "region"] = TINY_GROUP
    return frame


@pytest.fixture(scope="session")
def credit() -> Case:
    """Binary, string labels ("no"/"yes"); sex, age, age group and region kept out of the features."""
    data = Dataset.from_pandas(credit_frame(), target="default", name="credit").exclude_features(
        "sex", "age_group", "region"
    )
    train, _ = data.split(test_size=0.3, seed=0)
    return Case(lepton.create_model("logistic_regression").fit(train), data)


@pytest.fixture(scope="session")
def multiclass() -> Case:
    """Three classes, one of them rare and random, so the model never predicts it."""
    rng = np.random.default_rng(1)
    n = 300
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    score = x1 + 0.5 * x2
    label = np.where(score < -0.6, "low", np.where(score < 0.6, "mid", "high")).astype(object)
    label[rng.choice(n, size=6, replace=False)] = "rare"
    frame = pd.DataFrame(
        {"x1": x1, "x2": x2, "group": rng.choice(["a", "b"], size=n), "label": label}
    )
    data = Dataset.from_pandas(frame, target="label", name="levels").exclude_features("group")
    return Case(lepton.create_model("logistic_regression").fit(data), data)


@pytest.fixture(scope="session")
def integer_labels() -> Case:
    """Binary with 0/1 integer labels (the positive class is 1)."""
    frame = tiny_table(rows=200, seed=2).to_pandas()
    frame["label"] = (frame["label"] == "yes").astype(int)
    data = Dataset.from_pandas(frame, target="label", name="ints")
    return Case(lepton.create_model("logistic_regression").fit(data), data)


@pytest.fixture(scope="session")
def regression() -> Case:
    frame = tiny_table("regression", rows=200, seed=3).to_pandas()
    data = Dataset.from_pandas(frame, target="label", name="values")
    return Case(lepton.create_model("linear_regression").fit(data), data)


def fairness_values(result: dict[str, Any]) -> dict[str, Any]:
    """The across-group numbers of one feature's fairness result (without the groups)."""
    return {k: v for k, v in result.items() if k != "groups"}


# one evaluation of the credit model, shared by the tests that only read it
CREDIT_SENSITIVE: dict[str, Any] = {
    "sex": None,  # categorical
    "age_group": None,  # categorical, four bands
    "age": [18, 30, 50, 80],  # numeric, user bins
    "income": None,  # numeric with missing values: quartiles + "missing"
    "loan_amount": 3,  # numeric, three quantile bins
    "loan_term": None,  # numeric with four values: categorical
    "credit_history_years": [5, 20, 40],  # numeric, values outside the bins
    "region": None,  # an all-positive group and a tiny one
}


@pytest.fixture(scope="session")
def credit_report(credit: Case) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny group's note has a test of its own
        return lepton.evaluate(
            credit.model, credit.data, sensitive_features=CREDIT_SENSITIVE, track=False
        )

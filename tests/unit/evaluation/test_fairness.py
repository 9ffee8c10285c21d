"""Fairness numbers of lepton.evaluate equal fairlearn's on the same predictions and groups."""

from __future__ import annotations

import functools
import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

import lepton
from lepton.errors import DataError, InvalidParameterError
from lepton.evaluation import EvaluationReport
from lepton.evaluation._fairness import fairness_for

from .conftest import (
    ALL_POSITIVE_GROUP,
    CREDIT_SENSITIVE,
    TINY_GROUP,
    Y_PROB_WARNING,
    Case,
    fairness_values,
    predictions,
)

pytestmark = pytest.mark.filterwarnings(Y_PROB_WARNING)

AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)
GROUP_METRICS = ("count", "selection_rate", "tpr", "fpr", "precision", "accuracy")


def quiet_evaluate(model: Any, data: Any, **kwargs: Any) -> EvaluationReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-group notes have a test of their own
        return lepton.evaluate(model, data, track=False, **kwargs)


def fairlearn_result(
    y_true: np.ndarray, y_pred: np.ndarray, groups: Any, positive: Any
) -> dict[str, Any]:
    """fairlearn's view of the same predictions, in the shape of a lepton fairness result."""
    frame = flm.MetricFrame(
        metrics={
            "count": flm.count,
            "selection_rate": functools.partial(flm.selection_rate, pos_label=positive),
            "tpr": functools.partial(flm.true_positive_rate, pos_label=positive),
            "fpr": functools.partial(flm.false_positive_rate, pos_label=positive),
            "precision": functools.partial(
                skm.precision_score, pos_label=positive, zero_division=0
            ),
            "accuracy": skm.accuracy_score,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    # fairlearn's disparity functions take no pos_label: they count 1 as the positive label
    truth, pred = (y_true == positive).astype(int), (y_pred == positive).astype(int)
    result: dict[str, Any] = {
        name: getattr(flm, name)(truth, pred, sensitive_features=groups) for name in AGGREGATES
    }
    result["groups"] = {
        str(group): {name: frame.by_group.loc[group, name] for name in GROUP_METRICS}
        for group in frame.by_group.index
    }
    return result


def assert_same(lepton_result: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal numbers (NaN equal to NaN), the same groups, the same keys."""
    assert set(lepton_result) == {*AGGREGATES, "groups"}
    assert fairness_values(lepton_result) == pytest.approx(
        fairness_values(expected), rel=1e-12, abs=1e-12, nan_ok=True
    )
    assert set(lepton_result["groups"]) == set(expected["groups"])
    for group, values in lepton_result["groups"].items():
        assert list(values) == list(GROUP_METRICS)
        assert values == pytest.approx(expected["groups"][group], rel=1e-12, abs=1e-12)


# binary, string labels ----------------------------------------------------------------------------
def test_categorical_feature_equals_fairlearn(
    credit: Case, credit_report: EvaluationReport
) -> None:
    p = predictions(credit.model, credit.data)
    expected = fairlearn_result(p.y_true, p.y_pred, credit.data.frame["sex"], "yes")
    assert_same(credit_report.fairness["sex"], expected)
    assert list(credit_report.fairness["sex"]["groups"]) == ["female", "male"]


def test_categorical_feature_at_another_threshold(
    credit: Case, credit_report: EvaluationReport
) -> None:
    report = quiet_evaluate(credit.model, credit.data, sensitive_features="sex", threshold=0.3)
    p = predictions(credit.model, credit.data, 0.3)
    expected = fairlearn_result(p.y_true, p.y_pred, credit.data.frame["sex"], "yes")
    assert_same(report.fairness["sex"], expected)
    lower, usual = report.fairness["sex"]["groups"], credit_report.fairness["sex"]["groups"]
    assert lower["female"]["selection_rate"] > usual["female"]["selection_rate"]


def test_every_feature_has_a_result_and_a_plot(credit_report: EvaluationReport) -> None:
    assert list(credit_report.fairness) == list(CREDIT_SENSITIVE)
    assert {f"groups_{name}" for name in CREDIT_SENSITIVE} <= set(credit_report.plots)


def test_second_categorical_feature(credit: Case, credit_report: EvaluationReport) -> None:
    p = predictions(credit.model, credit.data)
    expected = fairlearn_result(p.y_true, p.y_pred, credit.data.frame["age_group"], "yes")
    assert_same(credit_report.fairness["age_group"], expected)


def test_numeric_feature_with_user_bins(credit: Case, credit_report: EvaluationReport) -> None:
    p = predictions(credit.model, credit.data)
    bands = pd.cut(credit.data.frame["age"], [18, 30, 50, 80], right=False).astype(str)
    assert_same(credit_report.fairness["age"], fairlearn_result(p.y_true, p.y_pred, bands, "yes"))
    assert list(credit_report.fairness["age"]["groups"]) == ["[18, 30)", "[30, 50)", "[50, 80)"]


def test_numeric_feature_gets_quartiles_by_default(
    credit: Case, credit_report: EvaluationReport
) -> None:
    """income has missing values: they form a group of their own, after the four quartiles."""
    income = credit.data.frame["income"]
    assert income.isna().any() and income.nunique() > 10
    p = predictions(credit.model, credit.data)
    quartiles = pd.qcut(income, 4)
    groups = quartiles.astype(object).map(str).where(income.notna(), "missing")
    result = credit_report.fairness["income"]
    assert_same(result, fairlearn_result(p.y_true, p.y_pred, groups, "yes"))
    # in numeric order, not string order
    assert list(result["groups"]) == [*(str(c) for c in quartiles.cat.categories), "missing"]


def test_numeric_feature_with_a_number_of_quantile_bins(
    credit: Case, credit_report: EvaluationReport
) -> None:
    p = predictions(credit.model, credit.data)
    groups = pd.qcut(credit.data.frame["loan_amount"], 3).astype(object).map(str)
    result = credit_report.fairness["loan_amount"]
    assert_same(result, fairlearn_result(p.y_true, p.y_pred, groups, "yes"))
    assert len(result["groups"]) == 3


def test_numeric_feature_with_few_values_is_categorical(
    credit: Case, credit_report: EvaluationReport
) -> None:
    p = predictions(credit.model, credit.data)
    groups = credit.data.frame["loan_term"].astype(str)
    result = credit_report.fairness["loan_term"]
    assert_same(result, fairlearn_result(p.y_true, p.y_pred, groups, "yes"))
    assert list(result["groups"]) == ["12", "24", "36", "60"]


def test_values_outside_the_bins_form_their_own_group(
    credit: Case, credit_report: EvaluationReport
) -> None:
    years = credit.data.frame["credit_history_years"]
    outside = (years < 5) | (years >= 40)
    p = predictions(credit.model, credit.data)
    groups = pd.cut(years, [5, 20, 40], right=False).astype(object).map(str)
    groups[outside] = "outside [5, 40)"
    result = credit_report.fairness["credit_history_years"]
    assert_same(result, fairlearn_result(p.y_true, p.y_pred, groups, "yes"))
    assert list(result["groups"]) == ["[5, 20)", "[20, 40)", "outside [5, 40)"]
    assert result["groups"]["outside [5, 40)"]["count"] == int(outside.sum()) > 0


# edge cases ---------------------------------------------------------------------------------------
def test_group_with_only_positive_labels(credit: Case, credit_report: EvaluationReport) -> None:
    p = predictions(credit.model, credit.data)
    region = credit.data.frame["region"]
    assert set(p.y_true[region == ALL_POSITIVE_GROUP]) == {"yes"}
    result = credit_report.fairness["region"]
    assert_same(result, fairlearn_result(p.y_true, p.y_pred, region, "yes"))
    east = result["groups"][ALL_POSITIVE_GROUP]
    assert east["fpr"] == 0.0  # no negatives: 0, as in fairlearn
    assert east["accuracy"] == east["tpr"] == east["selection_rate"]


def test_tiny_group_warns_and_is_reported(credit: Case) -> None:
    with pytest.warns(UserWarning, match=rf"Group region={TINY_GROUP} has only 5 rows \(< 20\)"):
        report = lepton.evaluate(
            credit.model, credit.data, sensitive_features="region", track=False
        )
    assert report.fairness["region"]["groups"][TINY_GROUP]["count"] == 5
    assert any(TINY_GROUP in note and "noisy" in note for note in report.notes)
    assert any(TINY_GROUP in note for note in report.to_dict()["notes"])


def test_nothing_selected_gives_nan_ratios_and_none_in_json(credit: Case) -> None:
    report = quiet_evaluate(credit.model, credit.data, sensitive_features=["sex"], threshold=0.995)
    p = predictions(credit.model, credit.data, 0.995)
    assert set(p.y_pred) == {"no"}
    result = report.fairness["sex"]
    assert_same(result, fairlearn_result(p.y_true, p.y_pred, credit.data.frame["sex"], "yes"))
    assert math.isnan(result["demographic_parity_ratio"])
    assert math.isnan(result["equalized_odds_ratio"])
    assert result["demographic_parity_difference"] == 0.0
    shown = report.to_dict()["fairness"]["sex"]
    assert shown["demographic_parity_ratio"] is None and shown["equalized_odds_ratio"] is None
    assert json.loads(report.to_json())["fairness"]["sex"]["demographic_parity_ratio"] is None
    assert "NaN" not in report.to_json()


@pytest.mark.parametrize(
    ("y_true", "y_pred", "groups"),
    [
        # every TPR is 0 (ratio 0/0 = NaN) while the FPRs differ
        ([1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 1, 0, 0, 0, 1, 1], list("aaaabbbb")),
        # every FPR is 0 while the TPRs differ
        ([1, 1, 0, 0, 1, 1, 0, 0], [1, 0, 0, 0, 1, 1, 0, 0], list("aaaabbbb")),
        # a group without positives and a group without negatives
        ([1, 1, 1, 0, 0, 0, 1, 0], [1, 0, 1, 0, 1, 0, 1, 1], list("aaabbbcc")),
    ],
    ids=["tpr-all-zero", "fpr-all-zero", "one-sided-groups"],
)
def test_hand_made_edge_cases_equal_fairlearn(
    y_true: list[int], y_pred: list[int], groups: list[str]
) -> None:
    """Which of the two equalized-odds ratios is NaN decides the result: same order as fairlearn."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    result = fairness_for(pd.Series(groups, name="g"), t, p, 1, [])
    assert_same(result, fairlearn_result(t, p, groups, 1))


# other tasks --------------------------------------------------------------------------------------
def test_integer_labels_equal_fairlearn(integer_labels: Case) -> None:
    report = quiet_evaluate(integer_labels.model, integer_labels.data, sensitive_features="color")
    p = predictions(integer_labels.model, integer_labels.data)
    expected = fairlearn_result(p.y_true, p.y_pred, integer_labels.data.frame["color"], 1)
    assert_same(report.fairness["color"], expected)


def test_multiclass_fairness_needs_a_positive_label(multiclass: Case) -> None:
    with pytest.warns(UserWarning, match="Fairness by group needs a binary task or positive_label"):
        report = lepton.evaluate(
            multiclass.model, multiclass.data, sensitive_features=["group"], track=False
        )
    assert report.fairness == {}


def test_multiclass_fairness_one_vs_rest(multiclass: Case) -> None:
    report = quiet_evaluate(
        multiclass.model, multiclass.data, sensitive_features=["group"], positive_label="high"
    )
    p = predictions(multiclass.model, multiclass.data)
    # one-vs-rest: every rate, accuracy included, answers "high or not?"
    truth = np.where(p.y_true == "high", "high", "other")
    pred = np.where(p.y_pred == "high", "high", "other")
    expected = fairlearn_result(truth, pred, multiclass.data.frame["group"], "high")
    assert_same(report.fairness["group"], expected)


def test_regression_fairness_is_the_error_per_group(regression: Case) -> None:
    report = quiet_evaluate(regression.model, regression.data, sensitive_features=["color"])
    p = predictions(regression.model, regression.data)
    frame = flm.MetricFrame(
        metrics={"mae": skm.mean_absolute_error, "count": flm.count},
        y_true=p.y_true,
        y_pred=p.y_pred,
        sensitive_features=regression.data.frame["color"],
    )
    result = report.fairness["color"]
    assert result["mae_difference"] == pytest.approx(frame.difference()["mae"])
    for group, values in result["groups"].items():
        assert values["mae"] == pytest.approx(frame.by_group.loc[group, "mae"])
        assert values["count"] == frame.by_group.loc[group, "count"]
        mask = (regression.data.frame["color"] == group).to_numpy()
        assert values["mean_prediction"] == pytest.approx(p.y_pred[mask].mean())


# bad input ----------------------------------------------------------------------------------------
def test_sensitive_feature_not_in_the_data(credit: Case) -> None:
    with pytest.raises(DataError, match=r"Sensitive feature 'gender' is not a column of the data"):
        lepton.evaluate(credit.model, credit.data, sensitive_features=["sex", "gender"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"sex": [0, 1]}, r"Bins were given for 'sex', but it is not numeric"),
        ({"age": "decades"}, r"Bins for 'age' must be an int or a list of at least two edges"),
        ({"age": [30]}, r"Bins for 'age' must be an int or a list of at least two edges"),
        ({"age": 0}, r"Bins for 'age' must be a positive number of quantile bins"),
        (42, r"sensitive_features takes a column name, a list of names, or a dict"),
    ],
)
def test_bad_sensitive_feature_specs(credit: Case, spec: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        lepton.evaluate(credit.model, credit.data, sensitive_features=spec)

"""lepton.evaluate's metrics equal scikit-learn's on the same predictions, and bad input fails clearly."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.preprocessing import label_binarize

import lepton
from lepton.data import Dataset
from lepton.errors import DataError, InvalidParameterError, LeptonError
from lepton.evaluation import EvaluationReport
from lepton.testing import tiny_table

from .conftest import Y_PROB_WARNING, Case, predictions

pytestmark = pytest.mark.filterwarnings(Y_PROB_WARNING)

BINARY_METRICS = [
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
]


def quiet_evaluate(model: Any, data: Any, **kwargs: Any) -> EvaluationReport:
    """Evaluate without tracking; notes (tested on their own) do not clutter the output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lepton.evaluate(model, data, track=False, **kwargs)


def expected_ece(y_hit: np.ndarray, confidence: np.ndarray, bins: int = 10) -> float:
    """ECE from scikit-learn's reliability curve (equal-width bins, weighted by bin size)."""
    prob_true, prob_pred = calibration_curve(y_hit, confidence, n_bins=bins, strategy="uniform")
    edges = np.linspace(0, 1, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / len(confidence) * np.abs(prob_true - prob_pred)))


# binary -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_string_labels_equal_sklearn(
    credit: Case, credit_report: EvaluationReport, threshold: float
) -> None:
    report = (
        credit_report
        if threshold == 0.5
        else quiet_evaluate(credit.model, credit.data, threshold=threshold)
    )
    p = predictions(credit.model, credit.data, threshold)
    assert p.proba is not None
    score = p.proba[:, 1]
    truth = p.y_true == "yes"
    expected = {
        "accuracy": skm.accuracy_score(p.y_true, p.y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(p.y_true, p.y_pred),
        "precision": skm.precision_score(p.y_true, p.y_pred, pos_label="yes", zero_division=0),
        "recall": skm.recall_score(p.y_true, p.y_pred, pos_label="yes", zero_division=0),
        "f1": skm.f1_score(p.y_true, p.y_pred, pos_label="yes", zero_division=0),
        "log_loss": skm.log_loss(p.y_true, p.proba, labels=["no", "yes"]),
        "roc_auc": skm.roc_auc_score(p.y_true, score),
        "pr_auc": skm.average_precision_score(p.y_true, score, pos_label="yes"),
        "brier": skm.brier_score_loss(p.y_true, score, pos_label="yes"),
        "ece": expected_ece(truth, score),
    }
    for average in ("macro", "weighted"):
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            expected[f"{name}_{average}"] = fn(p.y_true, p.y_pred, average=average, zero_division=0)

    assert list(report.metrics) == BINARY_METRICS
    assert report.metrics == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert report.threshold == threshold and report.positive_label == "yes"
    assert report.confusion_matrix == {
        "labels": ["no", "yes"],
        "matrix": skm.confusion_matrix(p.y_true, p.y_pred, labels=["no", "yes"]).tolist(),
    }
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        p.y_true, p.y_pred, labels=["no", "yes"], zero_division=0
    )
    assert report.per_class == {
        label: {
            "precision": pytest.approx(precision[i]),
            "recall": pytest.approx(recall[i]),
            "f1": pytest.approx(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(["no", "yes"])
    }


def test_calibration_curve_equals_sklearn(credit: Case, credit_report: EvaluationReport) -> None:
    report = credit_report
    p = predictions(credit.model, credit.data)
    assert p.proba is not None and report.calibration is not None
    prob_true, prob_pred = calibration_curve(p.y_true == "yes", p.proba[:, 1], n_bins=10)
    assert report.calibration["prob_true"] == pytest.approx(prob_true.tolist())
    assert report.calibration["prob_pred"] == pytest.approx(prob_pred.tolist())
    assert sum(report.calibration["counts"]) == len(credit.data)
    assert report.calibration["bins"] == 10
    assert report.calibration["ece"] == report.metrics["ece"]


def test_integer_labels_equal_sklearn(integer_labels: Case) -> None:
    report = quiet_evaluate(integer_labels.model, integer_labels.data)
    p = predictions(integer_labels.model, integer_labels.data)
    assert p.proba is not None
    assert report.positive_label == 1
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(p.y_true, p.y_pred))
    assert report.metrics["f1"] == pytest.approx(skm.f1_score(p.y_true, p.y_pred))
    assert report.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(p.y_true, p.proba[:, 1]))
    assert report.metrics["brier"] == pytest.approx(skm.brier_score_loss(p.y_true, p.proba[:, 1]))
    assert report.confusion_matrix is not None
    assert report.confusion_matrix["labels"] == ["0", "1"]
    assert report.confusion_matrix["matrix"] == skm.confusion_matrix(p.y_true, p.y_pred).tolist()


def test_positive_class_never_predicted(credit: Case) -> None:
    """Threshold 0.995: no row is predicted "yes"; precision is 0 (zero_division=0), not an error."""
    report = quiet_evaluate(credit.model, credit.data, threshold=0.995)
    p = predictions(credit.model, credit.data, 0.995)
    assert set(p.y_pred) == {"no"}
    assert report.metrics["precision"] == 0.0 == report.per_class["yes"]["precision"]
    assert report.metrics["recall"] == 0.0
    assert report.metrics["precision_macro"] == pytest.approx(
        skm.precision_score(p.y_true, p.y_pred, average="macro", zero_division=0)
    )
    assert report.metrics["f1_weighted"] == pytest.approx(
        skm.f1_score(p.y_true, p.y_pred, average="weighted", zero_division=0)
    )


# multi-class --------------------------------------------------------------------------------------
def test_multiclass_equals_sklearn(multiclass: Case) -> None:
    report = quiet_evaluate(multiclass.model, multiclass.data)
    p = predictions(multiclass.model, multiclass.data)
    assert p.proba is not None
    classes = multiclass.model.classes
    assert classes == ["high", "low", "mid", "rare"]
    assert "rare" not in set(p.y_pred), "the rare class must never be predicted for this test"
    onehot = label_binarize(p.y_true, classes=classes)
    hit = (np.asarray(classes, dtype=object)[p.proba.argmax(axis=1)] == p.y_true).astype(float)
    expected = {
        "accuracy": skm.accuracy_score(p.y_true, p.y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(p.y_true, p.y_pred),
        "log_loss": skm.log_loss(p.y_true, p.proba, labels=classes),
        "roc_auc": skm.roc_auc_score(p.y_true, p.proba, multi_class="ovr", labels=classes),
        "pr_auc": skm.average_precision_score(onehot, p.proba, average="macro"),
        "brier": skm.brier_score_loss(p.y_true, p.proba, labels=classes),
        "ece": expected_ece(hit, p.proba.max(axis=1)),
    }
    for average in ("macro", "weighted"):
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            expected[f"{name}_{average}"] = fn(
                p.y_true, p.y_pred, labels=classes, average=average, zero_division=0
            )
    assert report.metrics == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert report.threshold is None and report.positive_label is None
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        p.y_true, p.y_pred, labels=classes, zero_division=0
    )
    assert list(report.per_class) == classes
    for i, label in enumerate(classes):
        assert report.per_class[label] == {
            "precision": pytest.approx(precision[i]),
            "recall": pytest.approx(recall[i]),
            "f1": pytest.approx(f1[i]),
            "support": int(support[i]),
        }
    assert report.per_class["rare"]["precision"] == 0.0  # never predicted: zero_division=0
    assert report.confusion_matrix is not None
    assert (
        report.confusion_matrix["matrix"]
        == skm.confusion_matrix(p.y_true, p.y_pred, labels=classes).tolist()
    )
    assert {"confusion_matrix", "calibration"} <= set(report.plots)


def test_multiclass_with_a_positive_label_is_one_vs_rest(multiclass: Case) -> None:
    report = quiet_evaluate(multiclass.model, multiclass.data, positive_label="mid")
    p = predictions(multiclass.model, multiclass.data)  # argmax: no threshold for 3+ classes
    assert p.proba is not None
    assert report.threshold is None and report.positive_label == "mid"
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(p.y_true, p.y_pred))
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert report.metrics[name] == pytest.approx(
            fn(p.y_true, p.y_pred, labels=["mid"], average="micro", zero_division=0)
        )
    score = p.proba[:, multiclass.model.classes.index("mid")]
    assert report.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(p.y_true == "mid", score))


@pytest.mark.filterwarnings("ignore:No positive class found in y_true")  # the absent class
def test_classes_absent_from_the_data_skip_multiclass_auc_with_a_note(multiclass: Case) -> None:
    frame = multiclass.data.to_pandas()
    subset = Dataset.from_pandas(frame[frame["label"] != "rare"], target="label", name="no-rare")
    with pytest.warns(UserWarning, match="Some classes are absent from the data"):
        report = lepton.evaluate(multiclass.model, subset, track=False)
    assert "roc_auc" not in report.metrics and "pr_auc" in report.metrics
    assert report.per_class["rare"]["support"] == 0


# regression ---------------------------------------------------------------------------------------
def test_regression_equals_sklearn(regression: Case) -> None:
    report = quiet_evaluate(regression.model, regression.data)
    p = predictions(regression.model, regression.data)
    expected = {
        "mae": skm.mean_absolute_error(p.y_true, p.y_pred),
        "rmse": skm.root_mean_squared_error(p.y_true, p.y_pred),
        "r2": skm.r2_score(p.y_true, p.y_pred),
        "mape": skm.mean_absolute_percentage_error(p.y_true, p.y_pred),
    }
    assert list(report.metrics) == ["mae", "rmse", "r2", "mape"]
    assert report.metrics == pytest.approx(expected, rel=1e-12)
    assert report.task == "regression"
    assert report.per_class == {} and report.confusion_matrix is None
    assert report.threshold is None and report.calibration is None


# choosing metrics ---------------------------------------------------------------------------------
def test_metrics_keeps_only_the_named_ones_in_order(credit: Case) -> None:
    report = quiet_evaluate(credit.model, credit.data, metrics=["roc_auc", "accuracy"])
    assert list(report.metrics) == ["roc_auc", "accuracy"]


def test_unknown_metric_name_is_refused(credit: Case, regression: Case) -> None:
    with pytest.raises(InvalidParameterError, match=r"Unknown metric\(s\) \['auc'\].*roc_auc"):
        quiet_evaluate(credit.model, credit.data, metrics=["auc"])
    with pytest.raises(InvalidParameterError, match=r"Unknown metric\(s\) \['roc_auc'\].*mae"):
        quiet_evaluate(regression.model, regression.data, metrics=["roc_auc"])


# models without probabilities ---------------------------------------------------------------------
def test_model_without_predict_proba_skips_auc_with_a_note(credit: Case) -> None:
    model = lepton.create_model("logistic_regression").fit(credit.data)

    class NoProbabilities(type(model)):  # type: ignore[misc]
        def predict_proba(self, x: Any) -> np.ndarray:
            raise NotImplementedError("this model gives labels only")

    model.__class__ = NoProbabilities
    with pytest.warns(UserWarning, match="The model gives no probabilities: ROC AUC"):
        report = lepton.evaluate(model, credit.data, track=False, threshold=0.3)
    y_pred = model.predict(credit.data)  # argmax: the threshold needs probabilities
    y_true = credit.data.y()
    assert not {"roc_auc", "pr_auc", "log_loss", "brier", "ece"} & set(report.metrics)
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert report.metrics["f1"] == pytest.approx(skm.f1_score(y_true, y_pred, pos_label="yes"))
    assert any("no probabilities" in note for note in report.notes)
    assert report.calibration is None
    assert set(report.plots) == {"confusion_matrix"}


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_one_class_in_the_data_skips_auc_with_a_note(credit: Case) -> None:
    frame = credit.data.to_pandas()
    only_yes = Dataset.from_pandas(frame[frame["default"] == "yes"], target="default", name="yes")
    with pytest.warns(UserWarning, match="Only one class is present"):
        report = lepton.evaluate(credit.model, only_yes, track=False)
    assert "roc_auc" not in report.metrics and "pr_auc" not in report.metrics
    assert report.metrics["recall"] == pytest.approx(report.metrics["accuracy"])
    assert "roc" not in report.plots


# bad input ----------------------------------------------------------------------------------------
def test_data_must_be_a_dataset(credit: Case) -> None:
    with pytest.raises(InvalidParameterError, match="needs a lepton Dataset .* got DataFrame"):
        lepton.evaluate(credit.model, credit.data.to_pandas())


def test_data_must_have_a_target(credit: Case) -> None:
    frame = credit.data.to_pandas().drop(columns="default")
    with pytest.raises(DataError, match="'unlabelled' has no target column"):
        lepton.evaluate(credit.model, Dataset.from_pandas(frame, name="unlabelled"))


@pytest.mark.parametrize("threshold", [0, 1, 1.5, -0.2, "0.5", None])
def test_threshold_must_be_between_0_and_1(credit: Case, threshold: Any) -> None:
    with pytest.raises(InvalidParameterError, match="threshold must be a number between 0 and 1"):
        lepton.evaluate(credit.model, credit.data, threshold=threshold)


def test_positive_label_must_be_a_class(credit: Case) -> None:
    with pytest.raises(InvalidParameterError, match=r"positive_label='maybe' is not a class"):
        quiet_evaluate(credit.model, credit.data, positive_label="maybe")


def test_integer_labels_for_a_string_model_are_a_type_mismatch(credit: Case) -> None:
    frame = credit.data.to_pandas()
    frame["default"] = (frame["default"] == "yes").astype(int)
    encoded = Dataset.from_pandas(frame, target="default", name="encoded")
    with pytest.raises(DataError, match=r"label/prediction type mismatch") as raised:
        lepton.evaluate(credit.model, encoded)
    assert "['0', '1'], int" in str(raised.value) and "['no', 'yes'], str" in str(raised.value)
    assert isinstance(raised.value, LeptonError)


def test_labels_the_model_never_saw_are_refused(credit: Case) -> None:
    frame = credit.data.to_pandas()
    frame.loc[:4, "default"] = "maybe"
    with pytest.raises(DataError, match=r"include \['maybe'\], which are not classes of the model"):
        lepton.evaluate(credit.model, Dataset.from_pandas(frame, target="default", name="odd"))


def test_string_labels_for_a_regression_model_are_a_type_mismatch(regression: Case) -> None:
    labelled = tiny_table(rows=50)  # "yes"/"no" labels, same feature columns
    with pytest.raises(DataError, match="regression model.*non-numeric labels.*type mismatch"):
        lepton.evaluate(regression.model, labelled)

"""``lepton.evaluate``: metrics, calibration, fairness per sensitive group, plots, stored on a run."""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lepton.errors import DataError, InvalidParameterError
from lepton.evaluation import _fairness, _metrics, _plots
from lepton.evaluation._report import EvaluationReport


def _sensitive_spec(sensitive_features: Any) -> dict[str, Any]:
    if sensitive_features is None:
        return {}
    if isinstance(sensitive_features, str):
        return {sensitive_features: None}
    if isinstance(sensitive_features, Mapping):
        return dict(sensitive_features)
    if isinstance(sensitive_features, Sequence):
        return {str(name): None for name in sensitive_features}
    raise InvalidParameterError(
        "sensitive_features takes a column name, a list of names, or a dict of name -> bins "
        f"(e.g. {{'age': [18, 25, 40, 60, 100]}}), got {type(sensitive_features).__name__}."
    )


def _check_labels(y_true: np.ndarray, classes: list[Any], data_name: str) -> None:
    seen = set(y_true.tolist())
    known = set(classes)
    if seen and not (seen & known):
        raise DataError(
            f"The labels of {data_name!r} ({sorted(map(str, seen))[:5]}, {type(next(iter(seen))).__name__}) "
            f"share nothing with the model's classes ({[str(c) for c in classes][:5]}, "
            f"{type(classes[0]).__name__}): a label/prediction type mismatch. Evaluate on data "
            "with the same target encoding the model was trained on."
        )
    unknown = sorted(map(str, seen - known))
    if unknown:
        # scikit-learn would fail deep inside a metric with a message about averaging
        raise DataError(
            f"The labels of {data_name!r} include {unknown[:5]}, which are not classes of the model "
            f"({[str(c) for c in classes][:10]}). Evaluate on rows whose labels the model knows, or "
            "retrain it on data that holds these classes."
        )


def _label_array(values: Any, classes: list[Any]) -> np.ndarray:
    """Labels as scikit-learn reads them: strings as objects, numbers and booleans as such
    (an object array of ints is a target type scikit-learn refuses)."""
    strings = any(isinstance(c, str) for c in classes)
    return np.asarray(list(values), dtype=object if strings else None)


def evaluate(
    model: Any,
    data: Any,
    *,
    sensitive_features: Any = None,
    metrics: Sequence[str] | None = None,
    threshold: float = 0.5,
    positive_label: Any = None,
    track: bool = True,
) -> EvaluationReport:
    """Measure ``model`` on ``data``: quality metrics, calibration, fairness and plots.

    Args:
        model: a trained model, a bundle path, or a registered model reference.
        data: a Dataset with its target column (and the sensitive columns, if any).
        sensitive_features: column(s) to check fairness on; numeric ones are binned into
            quartiles unless bins are given: ``{"age": [18, 25, 40, 60, 100]}``.
        metrics: keep only these metric names (default: all that apply).
        threshold: binary classifiers predict the positive class when its probability is at
            least this.
        positive_label: the positive class (default: the second of the two sorted classes).
        track: store the metrics and the report (JSON, HTML, plots) on a run.

    Example:
        >>> report = lepton.evaluate(model, test, sensitive_features=["sex"])
    """
    from lepton.data import Dataset
    from lepton.models import Model

    if not isinstance(model, Model):
        # the registry's loader takes bundle paths and runs:/ URIs as well as "name@alias"
        from lepton.registry import load_model

        model = load_model(model)
    if not isinstance(data, Dataset):
        raise InvalidParameterError(
            f"evaluate needs a lepton Dataset with a target, got {type(data).__name__}. Wrap a table "
            "with lepton.Dataset.from_pandas(frame, target='label')."
        )
    if data.target is None or data.target not in data.frame.columns:
        raise DataError(
            f"Dataset {data.name!r} has no target column; evaluation needs the true labels (target=...)."
        )
    if not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise InvalidParameterError(
            f"threshold must be a number between 0 and 1, got {threshold!r}."
        )
    if len(data) == 0:
        raise DataError(f"Dataset {data.name!r} is empty; nothing to evaluate.")
    spec = _sensitive_spec(sensitive_features)
    groups = {name: _fairness.group_column(data.frame, name, bins) for name, bins in spec.items()}
    notes: list[str] = []
    y_true = np.asarray(data.y(), dtype=object)
    plots: dict[str, bytes] = {}
    report_args: dict[str, Any] = {}
    if model.task == "classification":
        classes = list(model.classes)
        _check_labels(y_true, classes, data.name)
        positive = _metrics.binary_labels(classes, positive_label)
        try:
            proba: np.ndarray | None = np.asarray(model.predict_proba(data), dtype=np.float64)
        except (AttributeError, NotImplementedError, InvalidParameterError):
            proba = None
        binary = positive is not None and len(classes) == 2
        if proba is not None and binary:
            chosen = proba[:, classes.index(positive)] >= threshold
            negative = classes[1 - classes.index(positive)]
            y_pred = _label_array([positive if c else negative for c in chosen], classes)
        else:
            y_pred = _label_array(model.predict(data), classes)
        y_true = _label_array(y_true, classes)
        values, per_class, metric_notes = _metrics.classification_metrics(
            y_true, proba, y_pred, classes, positive
        )
        notes += metric_notes
        from sklearn.metrics import confusion_matrix

        matrix = confusion_matrix(y_true, y_pred, labels=classes).tolist()
        report_args.update(
            per_class=per_class,
            confusion_matrix={"labels": [str(c) for c in classes], "matrix": matrix},
            threshold=float(threshold) if binary else None,
            positive_label=positive,
        )
        plots["confusion_matrix"] = _plots.confusion_plot([str(c) for c in classes], matrix)
        if proba is not None:
            curve = _metrics.calibration(y_true, proba, classes, positive)
            values["ece"] = curve["ece"]
            report_args["calibration"] = curve
            if positive is not None and "roc_auc" in values:
                truth, score = y_true == positive, proba[:, classes.index(positive)]
                plots["roc"] = _plots.roc_plot(truth, score, values["roc_auc"])
                plots["pr"] = _plots.pr_plot(truth, score, values["pr_auc"])
            plots["calibration"] = _plots.calibration_plot(curve)
        fairness = {}
        for name, column in groups.items():
            if positive is None:
                notes.append(
                    f"Fairness by {name} needs a binary task or positive_label=...; skipped."
                )
                continue
            fairness[name] = _fairness.fairness_for(
                column.rename(name), y_true, y_pred, positive, notes
            )
            plots[f"groups_{name}"] = _plots.group_plot(
                name, fairness[name]["groups"], ("selection_rate", "tpr", "fpr")
            )
    else:
        try:
            y_num = y_true.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(
                f"{model.name} is a regression model, but the target {data.target!r} of {data.name!r} "
                f"holds non-numeric labels ({sorted(map(str, set(y_true.tolist())))[:5]}): a "
                "label/prediction type mismatch. Evaluate it on data with a numeric target."
            ) from None
        y_hat = np.asarray(model.predict(data), dtype=np.float64)
        values = _metrics.regression_metrics(y_num, y_hat)
        fairness = {
            name: _fairness.regression_fairness_for(col.rename(name), y_num, y_hat, notes)
            for name, col in groups.items()
        }
    if metrics is not None:
        unknown = [m for m in metrics if m not in values]
        if unknown:
            raise InvalidParameterError(
                f"Unknown metric(s) {unknown} for this model; available: {', '.join(values)}."
            )
        values = {m: values[m] for m in metrics}
    for note in notes:
        warnings.warn(note, stacklevel=2)
    report = EvaluationReport(
        task=str(model.task),
        model={
            "name": model.name,
            "family": model.family,
            "classes": [str(c) for c in model.classes],
            "run_id": model.lineage.get("run_id"),
        },
        data={"name": data.name, "version": data.version, "rows": len(data)},
        metrics=values,
        fairness=fairness,
        notes=notes,
        plots=plots,
        **report_args,
    )
    if track:
        store_report(report)
    return report


def store_report(report: EvaluationReport) -> str:
    """Save the report on a new run (a child of the model's training run when it is known)."""
    from lepton.tracking import start_run
    from lepton.workspace import get_workspace

    parent = report.model.get("run_id")
    if parent is not None:
        try:
            parent = get_workspace().get_run(parent).id
        except LookupError:
            parent = None
    with start_run(
        name=f"eval-{report.model['name']}", parent=parent, tags={"lepton.kind": "evaluation"}
    ) as run:
        report.run_id = run.id
        run.log_params({"data": report.data["name"], "threshold": report.threshold})
        run.add_inputs(("dataset", str(report.data["name"]), str(report.data["version"])))
        run.log_metrics(
            {k: v for k, v in report.metrics.items() if isinstance(v, float) and np.isfinite(v)},
            step=0,
        )
        for feature, result in report.fairness.items():
            run.log_metrics(
                {
                    f"fairness/{feature}/{k}": v
                    for k, v in result.items()
                    if k != "groups" and np.isfinite(v)
                },
                step=0,
            )
        with tempfile.TemporaryDirectory(prefix="lepton-eval-") as tmp:
            folder = Path(tmp)
            (folder / "report.json").write_text(
                json.dumps(report.to_dict(), indent=2), encoding="utf-8"
            )
            report.to_html(folder / "report.html")
            (folder / "plots").mkdir()
            for name, png in report.plots.items():
                (folder / "plots" / f"{name}.png").write_bytes(png)
            run.log_artifact(folder, "evaluation")
    return run.id


def load_report(run_id: str) -> EvaluationReport:
    """Read back a stored report (with its plots) from an evaluation run."""
    from lepton.workspace import get_workspace

    workspace = get_workspace()
    with workspace.open_artifact(run_id, "evaluation/report.json") as stream:
        data = json.loads(stream.read())
    plots = {}
    for item in data.get("plots", []):
        with workspace.open_artifact(run_id, f"evaluation/{item['file']}") as stream:
            plots[item["name"]] = stream.read()
    return EvaluationReport.from_dict(data, plots)

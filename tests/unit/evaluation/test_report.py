"""The EvaluationReport: its dict/JSON shape, HTML page, summary, and storage on a run."""

from __future__ import annotations

import base64
import json
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

import lepton
from lepton.errors import ModelNotFoundError
from lepton.evaluation import EvaluationReport, load_report
from lepton.workspace import get_workspace

from .conftest import CREDIT_SENSITIVE, Y_PROB_WARNING, Case

pytestmark = pytest.mark.filterwarnings(Y_PROB_WARNING)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOP_KEYS = [
    "task",
    "model",
    "data",
    "threshold",
    "positive_label",
    "metrics",
    "per_class",
    "confusion_matrix",
    "calibration",
    "fairness",
    "plots",
    "notes",
    "run_id",
    "created_at",
]
FAIRNESS_KEYS = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "groups",
]


class Page(HTMLParser):
    """Headings, images and external references of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag in ("h1", "h2"):
            self._heading = tag
            self.headings.append((tag, ""))
        if tag == "img":
            self.images.append(values)
        for key in ("src", "href"):
            if values.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(values[key])
        if tag in ("script", "link"):
            self.external.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._heading:
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def test_to_dict_has_a_stable_shape(credit_report: EvaluationReport) -> None:
    shape = credit_report.to_dict()
    assert list(shape) == TOP_KEYS
    assert shape["task"] == "classification"
    assert shape["model"] == {
        "name": "logistic_regression",
        "family": "sklearn",
        "classes": ["no", "yes"],
        "run_id": None,
    }
    assert shape["data"]["name"] == "credit" and shape["data"]["rows"] == 600
    assert shape["threshold"] == 0.5 and shape["positive_label"] == "yes"
    assert all(isinstance(v, float) for v in shape["metrics"].values())
    assert list(shape["per_class"]) == ["no", "yes"]
    assert set(shape["per_class"]["yes"]) == {"precision", "recall", "f1", "support"}
    assert set(shape["confusion_matrix"]) == {"labels", "matrix"}
    assert set(shape["calibration"]) == {"prob_pred", "prob_true", "counts", "ece", "bins"}
    assert list(shape["fairness"]) == list(CREDIT_SENSITIVE)
    for result in shape["fairness"].values():
        assert list(result) == FAIRNESS_KEYS
        for values in result["groups"].values():
            assert list(values) == [
                "count",
                "selection_rate",
                "tpr",
                "fpr",
                "precision",
                "accuracy",
            ]
    assert [p["name"] for p in shape["plots"]][:4] == [
        "confusion_matrix",
        "roc",
        "pr",
        "calibration",
    ]
    assert shape["plots"][1] == {"name": "roc", "title": "ROC curve", "file": "plots/roc.png"}
    assert {"name": "groups_sex", "title": "groups sex", "file": "plots/groups_sex.png"} in shape[
        "plots"
    ]
    assert isinstance(shape["notes"], list) and shape["run_id"] is None
    # plain JSON, the same after a round trip
    assert json.loads(credit_report.to_json()) == shape
    assert json.loads(credit_report.to_json(indent=None)) == shape


def test_from_dict_round_trip(credit_report: EvaluationReport) -> None:
    again = EvaluationReport.from_dict(credit_report.to_dict(), credit_report.plots)
    assert again.to_dict() == credit_report.to_dict()


def test_plots_are_png(credit_report: EvaluationReport) -> None:
    assert {"confusion_matrix", "roc", "pr", "calibration", "groups_sex"} <= set(
        credit_report.plots
    )
    for png in credit_report.plots.values():
        assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_html_report_is_one_self_contained_page(
    credit_report: EvaluationReport, tmp_path: Path
) -> None:
    target = tmp_path / "reports" / "credit.html"
    page = credit_report.to_html(target)
    assert target.read_text(encoding="utf-8") == page
    assert page.startswith("<!doctype html>")
    parsed = parse(page)
    headings = [text for _, text in parsed.headings]
    assert headings[0] == "Evaluation of logistic_regression"
    for section in ("Metrics", "Per class", "Fairness by sex", "Fairness by age", "Plots", "Notes"):
        assert section in headings, section
    assert parsed.external == []  # nothing loaded from elsewhere: no links, scripts, URLs
    assert len(parsed.images) == len(credit_report.plots)
    for image in parsed.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        assert base64.b64decode(image["src"][len(prefix) :]).startswith(PNG_MAGIC)
        assert image["alt"]
    assert "roc_auc" in page and "demographic_parity_difference" in page
    assert "[18, 30)" in page  # the age bands


def test_jupyter_html_is_the_body_only(credit_report: EvaluationReport) -> None:
    body = credit_report._repr_html_()
    assert "<html" not in body and "<h2>Metrics</h2>" in body
    assert "data:image/png;base64," in body


def test_summary_prints_metrics_fairness_and_notes(
    credit_report: EvaluationReport, capsys: pytest.CaptureFixture[str]
) -> None:
    text = credit_report.summary()
    assert "roc_auc" in text and "Fairness by sex" in text and "female" in text
    assert "demographic_parity_difference=" in text
    assert "note: Group region=west has only 5 rows" in text
    assert "roc_auc" in capsys.readouterr().out


def test_regression_report_shape(regression: Case) -> None:
    report = lepton.evaluate(
        regression.model, regression.data, sensitive_features="color", track=False
    )
    shape = report.to_dict()
    assert list(shape) == TOP_KEYS
    assert list(shape["fairness"]["color"]) == ["mae_difference", "groups"]
    assert set(shape["fairness"]["color"]["groups"]["red"]) == {"count", "mean_prediction", "mae"}
    assert shape["threshold"] is None and shape["confusion_matrix"] is None
    assert "<h2>Fairness by color</h2>" in report.to_html()


# stored on a run ----------------------------------------------------------------------------------
def test_report_is_stored_on_a_child_run_of_the_training_run(credit: Case) -> None:
    train, test = credit.data.split(test_size=0.3, seed=1)
    result = lepton.train(lepton.create_model("logistic_regression"), train, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lepton.evaluate(result.model, test, sensitive_features=["sex", "region"])
    assert report.run_id is not None
    workspace = get_workspace()
    run = workspace.get_run(report.run_id)
    assert run.parent_id == result.run_id
    assert run.tags["lepton.kind"] == "evaluation" and run.status == "finished"
    assert run.params == {"data": "credit-test", "threshold": 0.5}
    assert run.metrics["roc_auc"] == pytest.approx(report.metrics["roc_auc"])
    assert run.metrics["fairness/sex/demographic_parity_difference"] == pytest.approx(
        report.fairness["sex"]["demographic_parity_difference"]
    )
    files = {a.path for a in workspace.list_artifacts(report.run_id)}
    assert {
        "evaluation/report.json",
        "evaluation/report.html",
        "evaluation/plots/roc.png",
        "evaluation/plots/groups_sex.png",
    } <= files

    loaded = load_report(report.run_id)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.plots == report.plots
    assert loaded.to_html() == report.to_html()


def test_untracked_report_has_no_run(credit_report: EvaluationReport) -> None:
    assert credit_report.run_id is None


def test_evaluate_takes_a_bundle_path_or_a_registered_reference(
    credit: Case, tmp_path: Path
) -> None:
    bundle = lepton.save_model(credit.model, tmp_path / "credit.lepton")
    lepton.register(credit.model, "credit-risk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_path = lepton.evaluate(str(bundle), credit.data, track=False)
        from_registry = lepton.evaluate("credit-risk:1", credit.data, track=False)
        from_latest = lepton.evaluate("credit-risk", credit.data, track=False)
    assert from_path.metrics == from_registry.metrics == from_latest.metrics
    with pytest.raises(ModelNotFoundError, match="No model named 'credit-risk:7'"):
        lepton.evaluate("credit-risk:7", credit.data)


def test_load_report_of_a_run_without_one(credit: Case) -> None:
    with lepton.start_run(name="plain") as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(LookupError, match="report.json"):
        load_report(run.id)

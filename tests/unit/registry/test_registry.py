"""The model registry: versions with lineage, references, aliases, deletion, export, integrity
and model cards. The core tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import lepton
from lepton import registry
from lepton.data import Dataset
from lepton.demo._credit import credit_table
from lepton.errors import (
    IntegrityError,
    InvalidParameterError,
    ModelNotFoundError,
    VersionInUseError,
)
from lepton.evaluation import EvaluationReport
from lepton.models import Model
from lepton.registry import ModelRef, ModelVersion, parse_ref
from lepton.testing import tiny_table
from lepton.training import TrainResult
from lepton.workspace import current_settings, get_workspace, reset

pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one:UserWarning")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The metadata database of the workspace: the default SQLite file, or a fresh PostgreSQL."""
    if request.param == "postgres":
        monkeypatch.setenv("LEPTON_DB_URL", request.getfixturevalue("postgres_db_url"))
    reset()
    yield request.param
    reset()


@pytest.fixture
def credit() -> Dataset:
    """A registered credit table; sex and age group stay out of the features."""
    frame = credit_table(rows=400, seed=0)
    data = Dataset.from_pandas(frame, target="default", name="credit")
    data.register()
    return data.exclude_features("sex", "age_group")


@pytest.fixture
def trained(credit: Dataset) -> TrainResult:
    return lepton.train(lepton.create_model("logistic_regression"), credit, verbose=0)


def evaluated(model: Model, data: Dataset, track: bool = True) -> EvaluationReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lepton.evaluate(model, data, sensitive_features=["sex"], track=track)


def stored_bundle(version: ModelVersion) -> Path:
    """Where the local artifact store keeps the version's bundle."""
    return Path(current_settings().artifacts_url) / version.info.bundle_key


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# versions and lineage -----------------------------------------------------------------------------
@pytest.mark.local_only(reason="reads the bundle in the embedded artifact folder")
def test_versions_are_numbered_per_name_with_lineage(
    db: str, trained: TrainResult, credit: Dataset
) -> None:
    first = lepton.register(trained.model, "credit-risk", tags={"team": "risk", "n": 3})  # type: ignore[dict-item]
    second = lepton.register(trained, "credit-risk", description="same model again")
    other = lepton.register(trained.model, "other-model")
    assert [first.version, second.version, other.version] == [1, 2, 1]
    assert first.ref == "credit-risk:1" and repr(second) == "ModelVersion('credit-risk:2')"

    info = first.info
    assert info.run_id == trained.run_id == first.run_id
    assert info.datasets == [{"name": "credit", "version": credit.version, "role": "train"}]
    assert info.params == trained.model.config.to_dict()
    assert info.metrics == pytest.approx(trained.model.metrics)
    assert info.model == "logistic_regression" and info.family == "sklearn"
    assert info.task == "classification"
    assert info.tags == {"team": "risk", "n": "3"}
    assert second.info.description == "same model again"
    assert info.evaluation_run_id is None and first.report() is None
    assert info.input_schema == trained.model.input_schema
    assert sha256(stored_bundle(first)) == first.bundle_sha256 == info.bundle_sha256
    assert stored_bundle(first).stat().st_size == info.size

    assert registry.list_models() == [
        {
            "name": "credit-risk",
            "latest": 2,
            "versions": 2,
            "aliases": {},
            "created_at": pytest.approx(info.created_at, abs=5),
        },
        {
            "name": "other-model",
            "latest": 1,
            "versions": 1,
            "aliases": {},
            "created_at": pytest.approx(other.info.created_at, abs=5),
        },
    ]
    assert [v.version for v in registry.list_versions("credit-risk")] == [1, 2]
    assert first.to_dict()["name"] == "credit-risk" and first.to_dict()["version"] == 1
    assert "credit-risk:1" in first._repr_html_()


def test_register_with_a_report_records_its_metrics_and_run(
    db: str, trained: TrainResult, credit: Dataset
) -> None:
    report = evaluated(trained.model, credit, track=False)
    assert report.run_id is None
    version = lepton.register(trained.model, "credit-risk", report=report)
    assert report.run_id is not None  # stored on a run by register
    assert version.info.evaluation_run_id == report.run_id
    assert version.metrics == pytest.approx(report.metrics)
    stored = version.report()
    assert stored is not None and stored.to_dict() == report.to_dict()


def test_register_a_saved_bundle(db: str, trained: TrainResult, tmp_path: Path) -> None:
    bundle = lepton.save_model(trained.model, tmp_path / "model.lepton")
    version = lepton.register(str(bundle), "from-file")
    assert version.ref == "from-file:1" and version.run_id == trained.run_id


# loading by reference -----------------------------------------------------------------------------
def test_load_by_name_version_and_alias(db: str, trained: TrainResult, credit: Dataset) -> None:
    lepton.register(trained.model, "credit-risk")
    retrained = lepton.train(
        lepton.create_model("logistic_regression", C=0.01), credit, verbose=0
    ).model
    lepton.register(retrained, "credit-risk")
    registry.set_alias("credit-risk", "staging", 1)

    expected_v1 = trained.model.predict_proba(credit)
    expected_v2 = retrained.predict_proba(credit)
    assert not np.allclose(expected_v1, expected_v2)
    assert np.allclose(lepton.load_model("credit-risk:1").predict_proba(credit), expected_v1)
    assert np.allclose(lepton.load_model("credit-risk@staging").predict_proba(credit), expected_v1)
    assert np.allclose(lepton.load_model("credit-risk").predict_proba(credit), expected_v2)
    assert np.allclose(lepton.load_model("credit-risk@latest").predict_proba(credit), expected_v2)
    assert registry.get_version("credit-risk@staging").version == 1
    assert registry.get_version(ModelRef("credit-risk", version=2)).version == 2


def test_unknown_references_say_what_exists(db: str, trained: TrainResult) -> None:
    lepton.register(trained.model, "credit-risk")
    with pytest.raises(
        ModelNotFoundError, match="No model named 'nope'. Existing models: 'credit-risk'"
    ):
        lepton.load_model("nope")
    with pytest.raises(ModelNotFoundError, match="No model named 'credit-risk:9'.*'credit-risk:1'"):
        lepton.load_model("credit-risk:9")
    with pytest.raises(
        ModelNotFoundError,
        match=r"No model named 'credit-risk@production'.*lepton models alias credit-risk@production VERSION",
    ):
        lepton.load_model("credit-risk@production")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("credit-risk", ModelRef("credit-risk")),
        ("credit-risk:3", ModelRef("credit-risk", version=3)),
        ("credit_risk.v2@production", ModelRef("credit_risk.v2", alias="production")),
    ],
)
def test_parse_ref(text: str, expected: ModelRef) -> None:
    assert parse_ref(text) == expected
    assert str(parse_ref(text)) == text


@pytest.mark.parametrize(
    "text", ["", "bad name", "credit:x", "credit:", "credit@", "credit:1@prod", "-credit", "a/b", 7]
)
def test_invalid_references(text: object) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid model reference .*'name:3'"):
        parse_ref(text)


def test_load_model_refuses_an_empty_reference() -> None:
    """ "" must not load the current folder as a bundle."""
    with pytest.raises(InvalidParameterError, match="Invalid model reference ''"):
        lepton.load_model("")


# aliases ------------------------------------------------------------------------------------------
def test_aliases_move_atomically_with_history(db: str, trained: TrainResult) -> None:
    for _ in range(3):
        lepton.register(trained.model, "credit-risk")
    moved = registry.set_alias("credit-risk", "staging", 1, actor="alice")
    assert moved is not None and moved.aliases == ["staging"]
    registry.set_alias("credit-risk", "staging", 3, actor="bob")
    registry.set_alias("credit-risk", "production", 2)  # no policies configured: passes
    assert registry.get_version("credit-risk:1").aliases == []
    assert registry.get_version("credit-risk:3").aliases == ["staging"]
    assert registry.list_models()[0]["aliases"] == {"staging": 3, "production": 2}
    assert registry.set_alias("credit-risk", "staging", None) is None
    assert registry.list_models()[0]["aliases"] == {"production": 2}

    history = get_workspace().alias_history("credit-risk")
    assert [(e["alias"], e["version"], e["previous_version"]) for e in history] == [
        ("staging", 1, None),
        ("staging", 3, 1),
        ("production", 2, None),
        ("staging", None, 3),
    ]
    # a team server records who asked, for whom: "admin (for alice)"
    assert [e["actor"].removeprefix("admin (for ").rstrip(")") for e in history[:2]] == [
        "alice",
        "bob",
    ]
    assert all(e["override_reason"] is None for e in history)
    assert history[0]["policy_results"] == []  # staging is not a protected alias


def test_alias_errors(db: str, trained: TrainResult) -> None:
    lepton.register(trained.model, "credit-risk")
    with pytest.raises(InvalidParameterError, match="'latest' always means the newest version"):
        registry.set_alias("credit-risk", "latest", 1)
    with pytest.raises(InvalidParameterError, match="Invalid alias name 'pro duction'"):
        registry.set_alias("credit-risk", "pro duction", 1)
    with pytest.raises(ModelNotFoundError, match="No model named 'credit-risk:5'"):
        registry.set_alias("credit-risk", "staging", 5)
    with pytest.raises(ModelNotFoundError, match="No model named 'ghost'"):
        registry.set_alias("ghost", "staging", 1)
    with pytest.raises(InvalidParameterError, match="credit-risk has no alias 'staging' to remove"):
        registry.set_alias("credit-risk", "staging", None)
    assert get_workspace().alias_history("credit-risk") == []  # nothing half-written


# deleting -----------------------------------------------------------------------------------------
def test_delete_is_refused_while_an_alias_points_at_the_version(
    db: str, trained: TrainResult
) -> None:
    lepton.register(trained.model, "credit-risk")
    lepton.register(trained.model, "credit-risk")
    registry.set_alias("credit-risk", "staging", 2)
    with pytest.raises(
        VersionInUseError,
        match=r"credit-risk:2 cannot be deleted: the alias\(es\) staging point at it.*lepton models alias credit-risk@staging",
    ):
        registry.delete_version("credit-risk:2")
    assert [v.version for v in registry.list_versions("credit-risk")] == [1, 2]

    registry.set_alias("credit-risk", "staging", 1)
    registry.delete_version("credit-risk:2")
    assert [v.version for v in registry.list_versions("credit-risk")] == [1]
    with pytest.raises(ModelNotFoundError, match="No model named 'credit-risk:2'"):
        lepton.load_model("credit-risk:2")
    with pytest.raises(ModelNotFoundError, match="No model named 'credit-risk:2'"):
        registry.delete_version("credit-risk:2")


def test_version_numbers_are_never_reused(trained: TrainResult) -> None:
    lepton.register(trained.model, "credit-risk")
    lepton.register(trained.model, "credit-risk")
    registry.delete_version("credit-risk:2")
    assert lepton.register(trained.model, "credit-risk").version == 3


# export, verify, integrity ------------------------------------------------------------------------
def test_export_and_verify(db: str, trained: TrainResult, credit: Dataset, tmp_path: Path) -> None:
    version = lepton.register(trained.model, "credit-risk")
    exported = registry.export("credit-risk:1", tmp_path / "out" / "credit.lepton")
    assert exported == tmp_path / "out" / "credit.lepton"
    assert sha256(exported) == version.bundle_sha256
    assert np.allclose(
        lepton.load_model(exported).predict_proba(credit), trained.model.predict_proba(credit)
    )
    assert registry.verify("credit-risk:1") == {
        "ref": "credit-risk:1",
        "bundle_sha256": version.bundle_sha256,
        "model": "logistic_regression",
        "ok": True,
    }


@pytest.mark.local_only(reason="reads the bundle in the embedded artifact folder")
def test_a_changed_bundle_is_detected(db: str, trained: TrainResult, tmp_path: Path) -> None:
    version = lepton.register(trained.model, "credit-risk")
    stored = stored_bundle(version)
    stored.write_bytes(stored.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="credit-risk:1 does not match the sha256 recorded"):
        lepton.load_model("credit-risk:1")
    with pytest.raises(IntegrityError, match="does not match the sha256 recorded"):
        registry.verify("credit-risk:1")
    target = tmp_path / "exported.lepton"
    with pytest.raises(IntegrityError, match="does not match its recorded sha256; not exported"):
        registry.export("credit-risk:1", target)
    assert not target.exists()


# bad input ----------------------------------------------------------------------------------------
def test_invalid_model_names_are_refused() -> None:
    model = lepton.create_model("logistic_regression").fit(tiny_table(rows=40))
    for name in ["", "credit risk", "-credit", "a/b", "x" * 101, "café", None]:
        with pytest.raises(InvalidParameterError, match="Invalid model name .*letters, digits"):
            lepton.register(model, name)  # type: ignore[arg-type]
    assert registry.list_models() == []


def test_only_trained_models_can_be_registered(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="register takes a trained model.*got int"):
        lepton.register(42, "numbers")
    with pytest.raises(RuntimeError, match="has not been trained yet"):
        lepton.register(lepton.create_model("logistic_regression"), "untrained")
    not_a_bundle = tmp_path / "notes.lepton"
    not_a_bundle.write_text("hello")
    with pytest.raises(IntegrityError, match="is not a Lepton bundle"):
        lepton.register(str(not_a_bundle), "notes")
    assert registry.list_models() == []


# model cards --------------------------------------------------------------------------------------
class Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._inside = tag in ("h1", "h2")
        if self._inside:
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found[-1] += data


def test_model_card_generated_fields_and_missing_ones(credit: Dataset, tmp_path: Path) -> None:
    frame = credit.to_pandas()
    frame.loc[frame["sex"] == "female", "default"] = "yes"  # biased labels, sex a feature
    biased = Dataset.from_pandas(frame, target="default", name="biased")
    biased.register()
    trained = lepton.train(lepton.create_model("logistic_regression"), biased, verbose=0)
    report = evaluated(trained.model, biased)
    version = lepton.register(trained.model, "credit-risk", report=report)
    card = registry.model_card("credit-risk:1")
    assert card.ref == "credit-risk:1"
    assert card.missing == ["intended_use", "owners"]
    assert card.details["training run"] == trained.run_id
    assert card.details["bundle sha256"] == version.bundle_sha256
    assert card.training_data == [
        {"name": "biased", "version": biased.version, "role": "train", "rows": 400, "columns": 12}
    ]
    assert card.metrics == pytest.approx(report.metrics)
    assert card.fairness["sex"]["demographic_parity_difference"] > 0.1
    assert any("demographic parity" in item for item in card.generated_limitations)

    markdown = card.to_markdown()
    assert markdown.startswith("# Model card: credit-risk:1\n")
    assert "> Missing required fields: intended_use, owners." in markdown
    for section in (
        "## Model details",
        "## Intended use",
        "## Owners",
        "## Out of scope use",
        "## Ethical considerations",
        "## Training data",
        "## Metrics",
        "## Fairness by sex",
        "## Limitations found by the evaluation",
    ):
        assert f"\n{section}\n" in markdown, section
    assert "| roc_auc |" in markdown and "- biased (version " in markdown
    assert "400 rows" in markdown

    page = card.to_html(str(tmp_path / "card.html"))
    assert (tmp_path / "card.html").read_text(encoding="utf-8") == page
    parser = Headings()
    parser.feed(page)
    assert parser.found[0] == "Model card: credit-risk:1"
    assert {"Model details", "Intended use", "Metrics", "Fairness by sex"} <= set(parser.found)
    assert card.to_dict()["missing"] == ["intended_use", "owners"]


def test_update_card_fills_the_fields(trained: TrainResult) -> None:
    lepton.register(trained.model, "credit-risk")
    card = registry.update_card(
        "credit-risk:1", intended_use="Pre-screening of loans.", owners="risk@example.com"
    )
    assert card.missing == []
    assert card.fields == {"intended_use": "Pre-screening of loans.", "owners": "risk@example.com"}
    markdown = registry.model_card("credit-risk@latest").to_markdown()
    assert "Missing required fields" not in markdown
    assert "## Intended use\n\nPre-screening of loans.\n" in markdown
    # a later update keeps the other fields
    registry.update_card("credit-risk:1", caveats="Synthetic data.")
    assert registry.model_card("credit-risk:1").fields["owners"] == "risk@example.com"


def test_update_card_refuses_unknown_fields(trained: TrainResult) -> None:
    lepton.register(trained.model, "credit-risk")
    with pytest.raises(InvalidParameterError, match=r"Unknown model card field\(s\) \['purpose'\]"):
        registry.update_card("credit-risk:1", purpose="x")
    with pytest.raises(ModelNotFoundError, match="No model named 'credit-risk:4'"):
        registry.update_card("credit-risk:4", owners="x")


def test_required_card_fields_come_from_lepton_yaml(trained: TrainResult) -> None:
    lepton.register(trained.model, "credit-risk")
    Path("lepton.yaml").write_text(
        "model_card:\n  required: [intended_use, ethical_considerations]\n", encoding="utf-8"
    )
    registry.update_card("credit-risk:1", intended_use="Loans.")
    assert registry.model_card("credit-risk:1").missing == ["ethical_considerations"]

"""Governance policies: each rule passes and fails with its reason; policies from lepton.yaml or
use_policies; promotion to a protected alias is gated, and an override is recorded."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

import lepton
from lepton import registry
from lepton.data import Dataset
from lepton.demo._credit import credit_table
from lepton.errors import ConfigError, InvalidParameterError, PolicyViolationError
from lepton.evaluation import EvaluationReport
from lepton.governance import (
    Policy,
    PolicyReport,
    check_policies,
    configured_policies,
    protected_aliases,
    use_policies,
)
from lepton.models import Model
from lepton.registry import ModelVersion
from lepton.workspace import get_workspace

pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one:UserWarning")


def write_yaml(text: str) -> None:
    """lepton.yaml in the current folder: the project whose settings the SDK reads."""
    Path("lepton.yaml").write_text(text, encoding="utf-8")


def register(data: Dataset, name: str) -> ModelVersion:
    """Train on ``data`` (registered first, so the version's lineage names it) and register."""
    data.register()
    model = lepton.train(lepton.create_model("logistic_regression"), data, verbose=0).model
    return lepton.register(model, name)


@pytest.fixture(scope="module")
def evaluated() -> tuple[Model, EvaluationReport]:
    """A credit model and its evaluation, computed once (untracked: no workspace is touched)."""
    frame = credit_table(rows=400, seed=0)
    data = Dataset.from_pandas(frame, target="default", name="credit").exclude_features(
        "sex", "age_group"
    )
    model = lepton.create_model("logistic_regression").fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = lepton.evaluate(model, data, sensitive_features=["sex", "age_group"], track=False)
    return model, report


@pytest.fixture
def version(evaluated: tuple[Model, EvaluationReport]) -> ModelVersion:
    """credit-risk:1, registered with (a copy of) its evaluation report."""
    model, report = evaluated
    fresh = EvaluationReport.from_dict(report.to_dict(), report.plots)  # stored anew in this test
    return lepton.register(model, "credit-risk", report=fresh)


def outcome(version: ModelVersion, policy: Policy) -> tuple[bool, str]:
    [result] = check_policies(version.ref, [policy]).results
    assert result.policy == policy.name and result.rule == policy.rule
    return result.passed, result.reason


# each rule, pass and fail -------------------------------------------------------------------------
def test_min_metric(version: ModelVersion) -> None:
    auc = version.metrics["roc_auc"]
    assert outcome(version, Policy("min_metric", metric="roc_auc", value=0.5)) == (
        True,
        f"roc_auc = {auc:.4f} (meets the limit 0.5).",
    )
    assert outcome(version, Policy("min_metric", metric="roc_auc", value=0.99)) == (
        False,
        f"roc_auc = {auc:.4f} (breaks the limit 0.99).",
    )


def test_max_metric(version: ModelVersion) -> None:
    assert outcome(version, Policy("max_metric", metric="log_loss", value=5))[0]
    passed, reason = outcome(version, Policy("max_metric", metric="log_loss", value=0.01))
    assert not passed and "(breaks the limit 0.01)" in reason


def test_metric_the_evaluation_does_not_have(version: ModelVersion) -> None:
    passed, reason = outcome(version, Policy("min_metric", metric="r2", value=0.5))
    assert not passed
    assert reason.startswith("The evaluation has no metric 'r2'; it has accuracy, ")


def test_max_fairness_per_feature_and_over_all(version: ModelVersion) -> None:
    report = version.report()
    assert report is not None
    sex = report.fairness["sex"]["demographic_parity_difference"]
    ages = report.fairness["age_group"]["demographic_parity_difference"]
    assert 0 < sex < ages  # the credit data's age groups differ more than the sexes
    rule = "demographic_parity_difference"
    assert outcome(version, Policy("max_fairness", metric=rule, feature="sex", value=1.0)) == (
        True,
        f"{rule} by sex = {sex:.4f} (within the limit 1.0).",
    )
    assert outcome(version, Policy("max_fairness", metric=rule, feature="sex", value=0.0)) == (
        False,
        f"{rule} by sex = {sex:.4f} (above the limit 0.0).",
    )
    # without a feature, the worst feature decides
    passed, reason = outcome(version, Policy("max_fairness", metric=rule, value=sex))
    assert not passed and reason.startswith(f"{rule} by age_group = {ages:.4f}")


def test_max_fairness_for_a_feature_that_was_not_evaluated(version: ModelVersion) -> None:
    policy = Policy("max_fairness", metric="demographic_parity_difference", feature="race", value=1)
    passed, reason = outcome(version, policy)
    assert not passed
    assert reason == (
        "The evaluation has no fairness results for race; evaluate with sensitive_features=[...]."
    )
    passed, reason = outcome(version, Policy("max_fairness", metric="bias", value=1))
    assert not passed and reason == "The fairness results have no 'bias'."


def test_metric_rules_fail_without_an_evaluation_report(
    evaluated: tuple[Model, EvaluationReport],
) -> None:
    bare = lepton.register(evaluated[0], "bare")
    for policy in (
        Policy("min_metric", metric="roc_auc", value=0.5),
        Policy("max_fairness", metric="demographic_parity_difference", value=0.5),
    ):
        passed, reason = outcome(bare, policy)
        assert not passed
        assert reason.startswith("No evaluation report was registered with this version")


def test_card_field(version: ModelVersion) -> None:
    policy = Policy("card_field", field="intended_use")
    assert outcome(version, policy) == (
        False,
        "Card field 'intended_use' is empty; set it with "
        "`lepton models card credit-risk:1 --set intended_use=...`.",
    )
    registry.update_card(version.ref, intended_use="   ")
    assert not outcome(version, policy)[0]  # blank is empty
    registry.update_card(version.ref, intended_use="Pre-screening of loan applications.")
    assert outcome(version, policy) == (True, "Card field 'intended_use' is filled in")


def test_no_pii_features() -> None:
    frame = credit_table(rows=300, seed=1)
    frame["email"] = [f"customer{i}@example.com" for i in range(len(frame))]
    with_email = Dataset.from_pandas(frame, target="default", name="customers")
    leaky = register(with_email, "leaky")
    assert "email" in {c["name"] for c in leaky.info.input_schema["columns"]}  # type: ignore[index]
    assert outcome(leaky, Policy("no_pii_features")) == (
        False,
        "Features hold PII: {'customers': ['email']}. Drop those columns before training.",
    )
    # the same registered data, with the column kept out of the features
    clean = register(with_email.exclude_features("email"), "clean")
    assert clean.info.datasets == leaky.info.datasets
    assert outcome(clean, Policy("no_pii_features")) == (True, "No feature column holds PII.")


def test_no_pii_features_needs_registered_data() -> None:
    data = Dataset.from_pandas(credit_table(rows=200), target="default", name="loose")
    model = lepton.train(lepton.create_model("logistic_regression"), data, verbose=0).model
    version = lepton.register(model, "loose-model")
    passed, reason = outcome(version, Policy("no_pii_features"))
    assert not passed and "training data is not registered" in reason


def test_report_shapes(version: ModelVersion) -> None:
    report = check_policies(
        version.ref,
        [
            {"rule": "min_metric", "metric": "roc_auc", "value": 0.5},
            {"rule": "card_field", "field": "owners", "name": "owners named"},
        ],
    )
    assert isinstance(report, PolicyReport) and not report.passed
    assert [r.policy for r in report.failures] == ["owners named"]
    assert report.to_dict() == {
        "ref": "credit-risk:1",
        "passed": False,
        "results": [r.to_dict() for r in report.results],
    }
    assert set(report.to_dict()["results"][0]) == {"policy", "rule", "passed", "reason"}
    assert repr(report) == "PolicyReport('credit-risk:1', passed=False, failures=['owners named'])"
    assert "<b>FAIL</b>" in report._repr_html_()
    assert lepton.check_policies(version, []).passed  # no rules: nothing fails


# declaring policies -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "max_auc"}, r"Unknown policy rule 'max_auc'; rules: min_metric, max_metric"),
        ({"rule": "min_metric", "metric": "roc_auc"}, r"Policy min_metric needs value"),
        ({"rule": "max_fairness", "value": 0.1}, r"Policy max_fairness needs metric"),
        ({"rule": "card_field"}, r"Policy card_field needs field"),
    ],
)
def test_invalid_policies(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        Policy(**kwargs)


def test_policy_names_say_what_they_check() -> None:
    assert Policy("min_metric", metric="roc_auc", value=0.75).name == "roc_auc >= 0.75"
    assert (
        Policy("max_fairness", metric="equalized_odds_difference", feature="sex", value=0.1).name
        == "equalized_odds_difference <= 0.1 (sex)"
    )
    assert Policy("no_pii_features").name == "no PII features"
    assert Policy("card_field", field="owners").name == "card field owners"


def test_policies_from_lepton_yaml(version: ModelVersion) -> None:
    assert configured_policies() == []
    write_yaml(
        "policies:\n"
        "  - {rule: min_metric, metric: roc_auc, value: 0.5}\n"
        "  - {rule: max_fairness, metric: demographic_parity_difference, feature: sex, value: 0.5}\n"
        "  - {rule: card_field, field: intended_use}\n"
    )
    assert configured_policies() == [
        Policy("min_metric", metric="roc_auc", value=0.5),
        Policy("max_fairness", metric="demographic_parity_difference", feature="sex", value=0.5),
        Policy("card_field", field="intended_use"),
    ]
    report = lepton.check_policies(version.ref)
    assert [r.passed for r in report.results] == [True, True, False]
    registry.update_card(version.ref, intended_use="Loans.")
    assert lepton.check_policies("credit-risk@latest").passed


def test_use_policies_replaces_lepton_yaml_inside_the_block(version: ModelVersion) -> None:
    write_yaml("policies:\n  - {rule: min_metric, metric: roc_auc, value: 0.99}\n")
    assert not check_policies(version.ref).passed
    with use_policies([{"rule": "min_metric", "metric": "roc_auc", "value": 0.5}]) as rules:
        assert rules == [Policy("min_metric", metric="roc_auc", value=0.5)]
        assert check_policies(version.ref).passed
        with use_policies([]):
            assert configured_policies() == []
        assert configured_policies() == rules
    assert not check_policies(version.ref).passed


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("policies: {rule: min_metric}\n", r"'policies' must be a list of rules"),
        (
            "policies:\n  - {rule: min_metric, metric: roc_auc, value: 0.5, limit: 1}\n",
            r"has unknown keys \['limit'\]",
        ),
        (
            "policies:\n  - {rule: best_model}\n",
            r"Invalid policy .*Unknown policy rule 'best_model'",
        ),
        ("policies:\n  - {rule: min_metric, metric: roc_auc}\n", r"Invalid policy .*needs value"),
    ],
)
def test_invalid_policies_in_lepton_yaml(yaml_text: str, message: str) -> None:
    write_yaml(yaml_text)
    with pytest.raises(ConfigError, match=message):
        configured_policies()


def test_protected_aliases_come_from_lepton_yaml() -> None:
    assert protected_aliases() == ("production",)
    write_yaml("governance:\n  protected_aliases: [production, champion]\n")
    assert protected_aliases() == ("production", "champion")


# promotion ----------------------------------------------------------------------------------------
STRICT = [
    Policy("min_metric", metric="roc_auc", value=0.99),
    Policy("card_field", field="intended_use"),
]


def test_promotion_to_production_is_refused_when_policies_fail(version: ModelVersion) -> None:
    with use_policies(STRICT), pytest.raises(PolicyViolationError) as refused:
        registry.set_alias("credit-risk", "production", 1)
    message = str(refused.value)
    assert message.startswith("credit-risk:1 cannot promote to 'production': 2 policies failed (")
    assert "roc_auc >= 0.99: roc_auc = " in message
    assert "card field intended_use: Card field 'intended_use' is empty" in message
    assert "pass an override reason" in message
    assert isinstance(refused.value, PermissionError)
    assert registry.list_models()[0]["aliases"] == {}  # nothing moved
    assert get_workspace().alias_history("credit-risk") == []  # nothing recorded


def test_promotion_with_an_override_reason_is_recorded(version: ModelVersion) -> None:
    with use_policies(STRICT):
        moved = registry.set_alias(
            "credit-risk",
            "production",
            1,
            override_reason="Regulator deadline; reviewed by the risk board.",
            actor="carol",
        )
    assert moved is not None and moved.aliases == ["production"]
    [event] = get_workspace().alias_history("credit-risk")
    assert (
        event["alias"] == "production"
        and event["version"] == 1
        and event["actor"] in ("carol", "admin (for carol)")
    )
    assert event["override_reason"] == "Regulator deadline; reviewed by the risk board."
    assert [(r["policy"], r["passed"]) for r in event["policy_results"]] == [
        ("roc_auc >= 0.99", False),
        ("card field intended_use", False),
    ]
    assert all(r["reason"] for r in event["policy_results"])


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_override_reason_is_refused(version: ModelVersion, reason: str) -> None:
    with (
        use_policies(STRICT),
        pytest.raises(InvalidParameterError, match="An override reason must say why"),
    ):
        registry.set_alias("credit-risk", "production", 1, override_reason=reason)
    assert registry.list_models()[0]["aliases"] == {}


def test_promotion_of_a_passing_model_records_the_results(version: ModelVersion) -> None:
    registry.update_card(version.ref, intended_use="Loans.")
    with use_policies([Policy("min_metric", metric="roc_auc", value=0.5), STRICT[1]]):
        registry.set_alias("credit-risk", "production", 1)
    [event] = get_workspace().alias_history("credit-risk")
    assert event["override_reason"] is None
    assert [r["passed"] for r in event["policy_results"]] == [True, True]


def test_unprotected_aliases_are_not_gated(version: ModelVersion) -> None:
    with use_policies(STRICT):
        registry.set_alias("credit-risk", "staging", 1)
    [event] = get_workspace().alias_history("credit-risk")
    assert event["alias"] == "staging" and event["policy_results"] == []


def test_policies_in_lepton_yaml_gate_a_configured_protected_alias(version: ModelVersion) -> None:
    write_yaml(
        "governance:\n  protected_aliases: [champion]\n"
        "policies:\n  - {rule: min_metric, metric: roc_auc, value: 0.99}\n"
    )
    registry.set_alias("credit-risk", "production", 1)  # no longer protected here
    with pytest.raises(PolicyViolationError, match="cannot promote to 'champion': 1 policy failed"):
        registry.set_alias("credit-risk", "champion", 1)

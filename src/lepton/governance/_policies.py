"""Governance policies: rules a model version must pass before it is promoted or deployed.

Declared in ``lepton.yaml``::

    policies:
      - {rule: min_metric, metric: roc_auc, value: 0.75}
      - {rule: max_fairness, metric: demographic_parity_difference, feature: sex, value: 0.1}
      - {rule: no_pii_features}
      - {rule: card_field, field: intended_use}

or passed as ``Policy`` objects. Metric and fairness rules read the evaluation report that was
registered with the version; without one they fail and say how to add it.
"""

from __future__ import annotations

import contextlib
import contextvars
import html
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lepton.errors import ConfigError, InvalidParameterError, PolicyViolationError

if TYPE_CHECKING:
    from lepton.registry import ModelVersion

RULES = ("min_metric", "max_metric", "max_fairness", "no_pii_features", "card_field")
DEFAULT_PROTECTED = ("production",)


@dataclass(frozen=True)
class Policy:
    """One rule. ``rule`` is one of min_metric, max_metric, max_fairness, no_pii_features, card_field."""

    rule: str
    metric: str | None = None
    value: float | None = None
    feature: str | None = None  # max_fairness: one sensitive feature (default: every one)
    field: str | None = None  # card_field
    name: str = ""

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise InvalidParameterError(
                f"Unknown policy rule {self.rule!r}; rules: {', '.join(RULES)}."
            )
        needs = {
            "min_metric": ("metric", "value"),
            "max_metric": ("metric", "value"),
            "max_fairness": ("metric", "value"),
            "card_field": ("field",),
        }
        missing = [k for k in needs.get(self.rule, ()) if getattr(self, k) is None]
        if missing:
            raise InvalidParameterError(
                f"Policy {self.rule} needs {', '.join(missing)} (e.g. {{rule: {self.rule}, metric: roc_auc, value: 0.75}})."
            )
        for key in ("metric", "feature", "field", "name"):
            if getattr(self, key) is not None and not isinstance(getattr(self, key), str):
                raise InvalidParameterError(
                    f"Policy {self.rule}: {key} must be text, got {getattr(self, key)!r}."
                )
        if self.value is not None:
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise InvalidParameterError(
                    f"Policy {self.rule}: value must be a number, got {self.value!r}."
                )
            if not math.isfinite(self.value):
                raise InvalidParameterError(
                    f"Policy {self.rule}: value must be a finite number, got {self.value!r}."
                )
        if not self.name:
            label = {
                "card_field": f"card field {self.field}",
                "no_pii_features": "no PII features",
            }.get(
                self.rule,
                f"{self.metric} {'>=' if self.rule == 'min_metric' else '<='} {self.value}"
                + (f" ({self.feature})" if self.feature else ""),
            )
            object.__setattr__(self, "name", label)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        known = {"rule", "metric", "value", "feature", "field", "name"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"Policy {dict(data)} has unknown keys {sorted(unknown)}; keys: {', '.join(sorted(known))}."
            )
        if "rule" not in data:
            raise ConfigError(
                f"Policy {dict(data)} has no `rule`; expected e.g. "
                "{rule: max_metric, metric: demographic_parity_difference, value: 0.1}."
            )
        try:
            return cls(**{k: data[k] for k in data})
        except InvalidParameterError as exc:
            raise ConfigError(f"Invalid policy {dict(data)}: {exc}") from None


@dataclass
class PolicyResult:
    policy: str
    rule: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "rule": self.rule,
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass
class PolicyReport:
    ref: str
    results: list[PolicyResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[PolicyResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "passed": self.passed,
            "results": [r.to_dict() for r in self.results],
        }

    def __repr__(self) -> str:
        return f"PolicyReport({self.ref!r}, passed={self.passed}, failures={[r.policy for r in self.failures]})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'pass' if r.passed else '<b>FAIL</b>'}</td><td>{html.escape(r.policy)}</td><td>{html.escape(r.reason)}</td></tr>"
            for r in self.results
        )
        return f"<b>Policies for {html.escape(self.ref)}</b><table>{rows}</table>"


class _Evidence:
    """What the rules look at, fetched once and only when a rule needs it."""

    def __init__(self, version: ModelVersion) -> None:
        self.version = version

    @cached_property
    def report(self) -> Any:
        return self.version.report()

    @cached_property
    def card(self) -> Any:
        return self.version.card()

    @cached_property
    def pii_columns(self) -> dict[str, list[str]] | None:
        """Feature columns holding PII, per training dataset; None when the data is not registered."""
        from lepton.data import load_dataset

        schema = self.version.info.input_schema or {}
        features = {c["name"] for c in schema.get("columns", [])}
        found: dict[str, list[str]] = {}
        for item in self.version.info.datasets:
            try:
                data = load_dataset(item["name"], item["version"])
            except LookupError:
                return None
            found[item["name"]] = sorted({f.column for f in data.scan_pii().findings} & features)
        return found


def _check(policy: Policy, evidence: _Evidence) -> PolicyResult:
    def result(passed: bool, reason: str) -> PolicyResult:
        return PolicyResult(policy.name, policy.rule, passed, reason)

    if policy.rule in ("min_metric", "max_metric", "max_fairness") and evidence.report is None:
        return result(
            False,
            "No evaluation report was registered with this version; register with report=lepton.evaluate(...).",
        )
    if policy.rule in ("min_metric", "max_metric"):
        value = evidence.report.metrics.get(policy.metric)
        if value is None:
            return result(
                False,
                f"The evaluation has no metric {policy.metric!r}; it has {', '.join(evidence.report.metrics)}.",
            )
        ok = value >= policy.value if policy.rule == "min_metric" else value <= policy.value
        return result(
            ok,
            f"{policy.metric} = {value:.4f} ({'meets' if ok else 'breaks'} the limit {policy.value}).",
        )
    if policy.rule == "max_fairness":
        fairness = evidence.report.fairness
        features = [policy.feature] if policy.feature else list(fairness)
        if not features or any(f not in fairness for f in features):
            return result(
                False,
                f"The evaluation has no fairness results for {policy.feature or 'any feature'}; evaluate with sensitive_features=[...].",
            )
        worst = max(
            ((f, fairness[f].get(policy.metric)) for f in features),
            key=lambda fv: -1 if fv[1] is None else fv[1],
        )
        if worst[1] is None:
            return result(False, f"The fairness results have no {policy.metric!r}.")
        ok = worst[1] <= policy.value
        return result(
            ok,
            f"{policy.metric} by {worst[0]} = {worst[1]:.4f} ({'within' if ok else 'above'} the limit {policy.value}).",
        )
    if policy.rule == "no_pii_features":
        columns = evidence.pii_columns
        if columns is None:
            return result(
                False,
                "The training data is not registered, so its PII scan cannot be checked; register it with lepton data add.",
            )
        offending = {name: cols for name, cols in columns.items() if cols}
        if offending:
            return result(
                False, f"Features hold PII: {offending}. Drop those columns before training."
            )
        return result(True, "No feature column holds PII.")
    value = evidence.card.fields.get(policy.field or "", "")
    ok = bool(str(value).strip())
    return result(
        ok,
        f"Card field {policy.field!r} is {'filled in' if ok else 'empty'}"
        + (
            ""
            if ok
            else f"; set it with `lepton models card {evidence.version.ref} --set {policy.field}=...`."
        ),
    )


_in_use: contextvars.ContextVar[list[Policy] | None] = contextvars.ContextVar(
    "lepton_policies", default=None
)


@contextlib.contextmanager
def use_policies(policies: Iterable[Policy | Mapping[str, Any]]) -> Iterator[list[Policy]]:
    """Use these policies instead of ``lepton.yaml``'s inside the ``with`` block.

    Example:
        >>> with use_policies([Policy("min_metric", metric="roc_auc", value=0.8)]):
        ...     lepton.registry.set_alias("credit-risk", "production", 3)
    """
    rules = [p if isinstance(p, Policy) else Policy.from_dict(p) for p in policies]
    token = _in_use.set(rules)
    try:
        yield rules
    finally:
        _in_use.reset(token)


def configured_policies() -> list[Policy]:
    """The policies in force: those of ``use_policies``, else ``lepton.yaml``'s (maybe none).

    Connected to a team server, the policies the server keeps for the current project come
    first and always apply, ``use_policies`` or not: they are the team's rules, not this
    process's.
    """
    from lepton.workspace import current_settings

    active = _in_use.get()
    if active is not None:
        own = list(active)
    else:
        raw = current_settings().extra.get("policies") or []
        if not isinstance(raw, list):
            raise ConfigError(
                "lepton.yaml: 'policies' must be a list of rules, e.g. - {rule: min_metric, metric: roc_auc, value: 0.75}."
            )
        own = [Policy.from_dict(item) for item in raw]
    team = _server_policies()
    names = {p.name for p in team}
    return team + [p for p in own if p.name not in names]


def _server_policies() -> list[Policy]:
    """The current project's policies on the team server (none when not connected to one)."""
    from lepton.workspace import current_settings, get_workspace

    workspace = get_workspace()
    if not getattr(workspace, "remote", False):
        return []
    raw = workspace.project_policies(current_settings().project)  # type: ignore[attr-defined]
    return [Policy.from_dict(item) for item in raw]


def check_policies(
    model_ref: Any, policies: Iterable[Policy | Mapping[str, Any]] | None = None
) -> PolicyReport:
    """Which policies the version passes or fails, and why.

    Example:
        >>> lepton.check_policies("credit-risk:2").passed
    """
    from lepton.registry import ModelVersion, get_version

    version = model_ref if isinstance(model_ref, ModelVersion) else get_version(model_ref)
    rules = (
        configured_policies()
        if policies is None
        else [p if isinstance(p, Policy) else Policy.from_dict(p) for p in policies]
    )
    evidence = _Evidence(version)
    return PolicyReport(version.ref, [_check(p, evidence) for p in rules])


def protected_aliases() -> tuple[str, ...]:
    from lepton.workspace import current_settings

    configured = (current_settings().extra.get("governance") or {}).get("protected_aliases")
    return tuple(configured) if configured else DEFAULT_PROTECTED


def guard_promotion(
    version: ModelVersion, alias: str, override_reason: str | None, action: str = "promote"
) -> list[dict[str, Any]]:
    """Run the policies before ``version`` becomes ``alias`` (or is deployed).

    Returns the results to record. Raises PolicyViolationError when a policy fails and no
    override reason is given.
    """
    if override_reason is not None and not str(override_reason).strip():
        raise InvalidParameterError(
            "An override reason must say why the policies are overridden; it cannot be empty."
        )
    if alias not in protected_aliases() and action == "promote":
        return []
    report = check_policies(version)
    if report.failures and override_reason is None:
        lines = "; ".join(f"{r.policy}: {r.reason}" for r in report.failures)
        raise PolicyViolationError(
            f"{version.ref} cannot {action} to {alias!r}: {len(report.failures)} polic{'y' if len(report.failures) == 1 else 'ies'} failed ({lines}). "
            "Fix the model, or pass an override reason (override_reason=... / --override-reason), which is recorded."
        )
    return [r.to_dict() for r in report.results]

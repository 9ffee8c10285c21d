"""Governance: policies a model must pass before it is promoted or deployed."""

from lepton.governance._policies import (
    Policy,
    PolicyReport,
    PolicyResult,
    PolicyViolationError,
    check_policies,
    configured_policies,
    guard_promotion,
    protected_aliases,
    use_policies,
)

__all__ = [
    "Policy",
    "PolicyReport",
    "PolicyResult",
    "PolicyViolationError",
    "check_policies",
    "configured_policies",
    "guard_promotion",
    "protected_aliases",
    "use_policies",
]

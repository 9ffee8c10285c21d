"""Creating and listing alert rules (the SDK side; the control plane evaluates them)."""

from __future__ import annotations

from typing import Any

from lepton.monitoring._alerts import check_rule, parse_duration


def create_alert(
    deployment: str,
    metric: str,
    *,
    above: float | None = None,
    below: float | None = None,
    for_: str | float = 0,
    webhook: str | None = None,
) -> Any:
    """Alert when ``metric`` of ``deployment`` stays above (or below) a value for ``for_``.

    Example:
        >>> lepton.monitoring.create_alert("credit", "p99_latency_ms", above=200, for_="60s")
    """
    from lepton.errors import InvalidParameterError
    from lepton.workspace import get_workspace

    if (above is None) == (below is None):
        raise InvalidParameterError("Give exactly one of above= or below= (the threshold).")
    op, threshold = ("above", above) if above is not None else ("below", below)
    seconds = parse_duration(for_)
    check_rule(metric, op, threshold, seconds, webhook)  # type: ignore[arg-type]
    return get_workspace().create_alert(deployment, metric, op, float(threshold), seconds, webhook)  # type: ignore[arg-type]


def list_alerts(deployment: str | None = None) -> list[Any]:
    from lepton.workspace import get_workspace

    return list(get_workspace().list_alerts(deployment))


def delete_alert(rule_id: str) -> None:
    from lepton.workspace import get_workspace

    get_workspace().delete_alert(rule_id)


def alert_history(rule_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    from lepton.workspace import get_workspace

    return list(get_workspace().alert_events(rule_id, limit))

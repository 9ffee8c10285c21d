"""Deployments, their monitoring and alerts in ``RemoteWorkspace``.

The server's control plane runs the deployments: the SDK only writes desired state and reads
what the control plane recorded. The control plane's own writes (metric points, sampled
requests, alert states and events) happen inside the server and are refused here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lepton.errors import InvalidParameterError
from lepton.workspace._records import AlertRuleInfo, DeploymentInfo
from lepton.workspace._remote_http import segment as _seg

if TYPE_CHECKING:
    from lepton.workspace._remote_http import Transport

_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def _server_side(what: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Only the server's control plane writes {what}; a client connected to a Lepton server "
        "can read them (Deployment.metrics(), .drift(), lepton.monitoring.alert_history()) "
        "but not write them."
    )


class RemoteDeploymentsMixin:
    """The deployment and monitoring methods of :class:`RemoteWorkspace`."""

    http: Transport

    def _deployment(self, data: dict[str, Any]) -> DeploymentInfo:
        # a deployment bound to every interface of the server is reached at the server's name
        if data.get("host") in _WILDCARD_HOSTS:
            data = {**data, "host": urlsplit(self.http.url).hostname or "127.0.0.1"}
        return DeploymentInfo(**data)

    def save_deployment(self, name: str, project: str, values: dict[str, Any]) -> DeploymentInfo:
        """PUT the desired state. The server runs the project's policies on the version again,
        so ``values`` may carry the ``override_reason`` that ``lepton.deploy`` was given."""
        body = {k: v for k, v in values.items() if k != "host"}  # the server picks its address
        data = self.http.call(
            "PUT", f"/deployments/{_seg(name)}", json={"project": project, **body}
        )
        return self._deployment(data)

    def get_deployment(self, name: str) -> DeploymentInfo:
        return self._deployment(self.http.call("GET", f"/deployments/{_seg(name)}"))

    def deployment_key_hash(self, name: str) -> str | None:
        answer = self.http.call("GET", f"/deployments/{_seg(name)}/key-hash")
        return None if answer["key_hash"] is None else str(answer["key_hash"])

    def list_deployments(self) -> list[DeploymentInfo]:
        return [self._deployment(d) for d in self.http.call("GET", "/deployments")]

    def update_deployment(self, name: str, **values: Any) -> None:
        """PATCH the desired state (with ``override_reason`` when a new ``model_version`` fails
        the project's policies: the server checks them too)."""
        self.http.call("PATCH", f"/deployments/{_seg(name)}", json=values)

    def deployment_logs(self, name: str, replica: int | None = None, tail: int = 200) -> str:
        """The replica logs the server's control plane wrote (``Deployment.logs``)."""
        params: dict[str, Any] = {"tail": tail}
        if replica is not None:
            params["replica"] = replica
        with self.http.stream(f"/deployments/{_seg(name)}/logs", params=params) as response:
            return bytes(response.read()).decode("utf-8", errors="replace")

    # metrics and samples --------------------------------------------------------------------
    def add_deployment_point(
        self, name: str, resolution: int, ts: float, values: dict[str, float]
    ) -> None:
        raise _server_side("deployment metric points")

    def deployment_series(self, name: str, resolution: int, since: float) -> list[dict[str, Any]]:
        params = {"resolution": resolution, "since": max(0.0, since)}
        return list(self.http.call("GET", f"/deployments/{_seg(name)}/series", params=params))

    def prune_deployment_series(self, name: str, resolution: int, before: float) -> None:
        raise _server_side("(and prunes) deployment metric series")

    def add_request_samples(
        self, name: str, samples: list[dict[str, Any]], keep: int = 5000
    ) -> None:
        raise _server_side("sampled requests")

    def request_samples(
        self, name: str, since: float = 0.0, limit: int = 5000
    ) -> list[dict[str, Any]]:
        params = {"since": max(0.0, since), "limit": limit}
        return list(self.http.call("GET", f"/deployments/{_seg(name)}/samples", params=params))

    # alerts ---------------------------------------------------------------------------------
    def create_alert(
        self,
        deployment: str,
        metric: str,
        op: str,
        threshold: float,
        for_seconds: float,
        webhook: str | None,
    ) -> AlertRuleInfo:
        body = {
            "metric": metric,
            "op": op,
            "threshold": threshold,
            "for_seconds": for_seconds,
            "webhook": webhook,
        }
        data = self.http.call("POST", f"/deployments/{_seg(deployment)}/alerts", json=body)
        return AlertRuleInfo(**data)

    def list_alerts(self, deployment: str | None = None) -> list[AlertRuleInfo]:
        params = {"deployment": deployment} if deployment is not None else None
        return [AlertRuleInfo(**r) for r in self.http.call("GET", "/alerts", params=params)]

    def delete_alert(self, rule_id: str) -> None:
        self.http.call("DELETE", f"/alerts/{_seg(rule_id)}")

    def set_alert_state(self, rule_id: str, state: str, since: float | None) -> None:
        raise _server_side("alert states")

    def add_alert_event(
        self,
        rule_id: str,
        state: str,
        value: float | None,
        message: str,
        webhook_status: str | None,
    ) -> None:
        raise _server_side("alert events")

    def alert_events(self, rule_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if rule_id is not None:
            params["rule_id"] = rule_id
        return list(self.http.call("GET", "/alerts/events", params=params))

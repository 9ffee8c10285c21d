"""Deployments, metric series, sampled requests and alerts in the embedded workspace."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from lepton._validation import check_name
from lepton.errors import DeploymentNotFoundError, InvalidParameterError, NotFoundError
from lepton.store import MetadataStore
from lepton.store import _schema as t
from lepton.workspace._records import AlertRuleInfo, DeploymentInfo, ProjectInfo


class LocalDeploymentsMixin:
    meta: MetadataStore

    if TYPE_CHECKING:  # provided by LocalWorkspace

        def ensure_project(self, name: str) -> ProjectInfo: ...

    def _deployment_row(self, name: str) -> dict[str, Any]:
        found = self.meta.rows(t.deployments, name=name)
        if not found:
            names = [r["name"] for r in self.meta.rows(t.deployments)]
            raise DeploymentNotFoundError(
                name, names, hint="Deploy a model with lepton.deploy('model@production', name=...)."
            )
        return found[0]

    def save_deployment(self, name: str, project: str, values: dict[str, Any]) -> DeploymentInfo:
        """Create the deployment ``name`` or update its desired state."""
        check_name("deployment", name)
        now = time.time()
        existing = self.meta.rows(t.deployments, name=name)
        if existing:
            self.meta.update_row(t.deployments, "name", name, {**values, "updated_at": now})
        else:
            row = {
                "id": uuid.uuid4().hex,
                "name": name,
                "project_id": self.ensure_project(project).id,
                "state": {},
                "error": None,
                "created_at": now,
                "updated_at": now,
                **values,
            }
            self.meta.insert_row(t.deployments, row)
        return self.get_deployment(name)

    def get_deployment(self, name: str) -> DeploymentInfo:
        return DeploymentInfo.from_row(self._deployment_row(name))

    def deployment_key_hash(self, name: str) -> str | None:
        return self._deployment_row(name)["key_hash"]  # type: ignore[no-any-return]

    def list_deployments(self) -> list[DeploymentInfo]:
        return [DeploymentInfo.from_row(r) for r in self.meta.rows(t.deployments, order_by="name")]

    def update_deployment(self, name: str, **values: Any) -> None:
        self._deployment_row(name)
        self.meta.update_row(t.deployments, "name", name, {**values, "updated_at": time.time()})

    # metrics and samples -----------------------------------------------------------------------
    def add_deployment_point(
        self, name: str, resolution: int, ts: float, values: dict[str, float]
    ) -> None:
        row = self._deployment_row(name)
        self.meta.insert_row(
            t.deployment_metrics,
            {"deployment_id": row["id"], "resolution": resolution, "ts": ts, "values": values},
        )

    def deployment_series(self, name: str, resolution: int, since: float) -> list[dict[str, Any]]:
        return self.meta.series(self._deployment_row(name)["id"], resolution, since)

    def prune_deployment_series(self, name: str, resolution: int, before: float) -> None:
        self.meta.prune_series(self._deployment_row(name)["id"], resolution, before)

    def add_request_samples(
        self, name: str, samples: list[dict[str, Any]], keep: int = 5000
    ) -> None:
        deployment_id = self._deployment_row(name)["id"]
        self.meta.add_samples([{**s, "deployment_id": deployment_id} for s in samples], keep)

    def request_samples(
        self, name: str, since: float = 0.0, limit: int = 5000
    ) -> list[dict[str, Any]]:
        return self.meta.samples(self._deployment_row(name)["id"], since, limit)

    # alerts ---------------------------------------------------------------------------------------
    def _rule(self, row: dict[str, Any], names: dict[str, str]) -> AlertRuleInfo:
        fields = {k: row[k] for k in AlertRuleInfo.__dataclass_fields__ if k in row}
        return AlertRuleInfo(deployment=names.get(row["deployment_id"], "?"), **fields)

    def _names(self) -> dict[str, str]:
        return {r["id"]: r["name"] for r in self.meta.rows(t.deployments)}

    def create_alert(
        self,
        deployment: str,
        metric: str,
        op: str,
        threshold: float,
        for_seconds: float,
        webhook: str | None,
    ) -> AlertRuleInfo:
        row = self._deployment_row(deployment)
        rule = {
            "id": uuid.uuid4().hex,
            "deployment_id": row["id"],
            "metric": metric,
            "op": op,
            "threshold": float(threshold),
            "for_seconds": float(for_seconds),
            "webhook": webhook,
            "state": "ok",
            "since": None,
            "created_at": time.time(),
        }
        self.meta.insert_row(t.alert_rules, rule)
        return self._rule(rule, {row["id"]: deployment})

    def list_alerts(self, deployment: str | None = None) -> list[AlertRuleInfo]:
        where = {"deployment_id": self._deployment_row(deployment)["id"]} if deployment else {}
        names = self._names()
        return [
            self._rule(r, names)
            for r in self.meta.rows(t.alert_rules, order_by="created_at", **where)
        ]

    def _rule_row(self, rule_id: str) -> dict[str, Any]:
        found = (
            [r for r in self.meta.rows(t.alert_rules) if r["id"].startswith(rule_id)]
            if len(rule_id) >= 4
            else []
        )
        if len(found) != 1:
            raise NotFoundError(
                rule_id,
                [r["id"][:8] for r in self.meta.rows(t.alert_rules)],
                hint="List rules with `lepton alerts list`.",
            )
        return found[0]

    def delete_alert(self, rule_id: str) -> None:
        row = self._rule_row(rule_id)
        self.meta.delete_rows(t.alert_events, rule_id=row["id"])
        self.meta.delete_rows(t.alert_rules, id=row["id"])

    def set_alert_state(self, rule_id: str, state: str, since: float | None) -> None:
        if state not in ("ok", "pending", "firing"):
            raise InvalidParameterError(f"Unknown alert state {state!r}.")
        self.meta.update_row(t.alert_rules, "id", rule_id, {"state": state, "since": since})

    def add_alert_event(
        self,
        rule_id: str,
        state: str,
        value: float | None,
        message: str,
        webhook_status: str | None,
    ) -> None:
        self.meta.insert_row(
            t.alert_events,
            {
                "id": uuid.uuid4().hex,
                "rule_id": rule_id,
                "state": state,
                "value": value,
                "message": message,
                "webhook_status": webhook_status,
                "ts": time.time(),
            },
        )

    def alert_events(self, rule_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        where = {"rule_id": self._rule_row(rule_id)["id"]} if rule_id else {}
        return self.meta.rows(t.alert_events, order_by="-ts", limit=limit, **where)

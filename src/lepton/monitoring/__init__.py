"""Monitoring: metric series per deployment, drift against the training data, alerts."""

from lepton.monitoring._alerts import METRICS, OPS
from lepton.monitoring._drift import DriftReport, FeatureDrift
from lepton.monitoring._rules import alert_history, create_alert, delete_alert, list_alerts

__all__ = [
    "METRICS",
    "OPS",
    "DriftReport",
    "FeatureDrift",
    "alert_history",
    "create_alert",
    "delete_alert",
    "list_alerts",
]

"""The workspace: one interface over projects, runs, metrics and artifacts (DESIGN.md §4)."""

from lepton.workspace._base import Workspace
from lepton.workspace._current import (
    activate_project,
    connect,
    current_settings,
    get_workspace,
    reset,
)
from lepton.workspace._records import (
    DATASET_KINDS,
    RUN_STATUSES,
    AlertRuleInfo,
    ArtifactInfo,
    DatasetVersionInfo,
    DeploymentInfo,
    MetricPoint,
    ModelVersionInfo,
    ProjectInfo,
    RunInfo,
)

__all__ = [
    "DATASET_KINDS",
    "RUN_STATUSES",
    "AlertRuleInfo",
    "ArtifactInfo",
    "DatasetVersionInfo",
    "DeploymentInfo",
    "MetricPoint",
    "ModelVersionInfo",
    "ProjectInfo",
    "RunInfo",
    "Workspace",
    "activate_project",
    "connect",
    "current_settings",
    "get_workspace",
    "reset",
]

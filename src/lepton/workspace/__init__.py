"""The workspace: one interface over projects, runs, metrics and artifacts (DESIGN.md §4)."""

from lepton.workspace._base import Workspace
from lepton.workspace._current import activate_project, current_settings, get_workspace, reset
from lepton.workspace._records import RUN_STATUSES, ArtifactInfo, MetricPoint, ProjectInfo, RunInfo

__all__ = [
    "RUN_STATUSES",
    "ArtifactInfo",
    "MetricPoint",
    "ProjectInfo",
    "RunInfo",
    "Workspace",
    "activate_project",
    "current_settings",
    "get_workspace",
    "reset",
]

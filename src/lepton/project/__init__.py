"""Projects: scaffolded folders that group runs, datasets and models."""

from lepton.project._scaffold import Project, create_project, list_projects

__all__ = ["Project", "create_project", "list_projects"]

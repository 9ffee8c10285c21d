"""Run tracking: params, metrics, tags, artifacts and lineage of every run."""

from lepton.tracking._run import Run, active_run, start_run

__all__ = ["Run", "active_run", "start_run"]

"""``lepton demo``: the platform's main job, end to end, on generated data."""

from lepton.demo._flow import run_demo

__all__ = ["run_demo"]

"""``lepton demo``: the platform's main job, end to end, on generated data."""

from lepton.demo._credit import credit_table
from lepton.demo._flow import run_demo

__all__ = ["credit_table", "run_demo"]

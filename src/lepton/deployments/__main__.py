"""The background control plane: ``python -m lepton.deployments`` (started by lepton.deploy)."""

from lepton.deployments._daemon import run_foreground

run_foreground()

"""What a run records about where it came from: code version and environment."""

from __future__ import annotations

import copy
import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("lepton-ai-sdk", "numpy", "pandas", "scikit-learn", "lightgbm", "torch", "torchvision")


def git_sha(start: Path | None = None) -> str | None:
    """The commit of the git checkout holding ``start`` (default: cwd), or None outside one."""
    here = (start or Path.cwd()).resolve()
    if not any((folder / ".git").exists() for folder in (here, *here.parents)):
        return None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    return copy.deepcopy(_environment())


@functools.cache
def _environment() -> dict[str, Any]:
    # read once per process: package metadata lookups cost ~10 ms, and a tuning search starts
    # a run per trial
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }


def collect() -> dict[str, Any]:
    return {"git_sha": git_sha(), "environment": environment(), "command": sys.argv[:8]}

"""``drift_of`` measures a deployment's drift in the workspace it is given, not the process's:
the control plane and the team server read the store they serve (``lepton.deployments.drift``
is the same function over the process's workspace)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lepton
from lepton.deployments import _drift
from lepton.deployments._controlplane import _drift_psi
from lepton.deployments._drift import drift_of
from lepton.errors import DeploymentNotFoundError, IntegrityError


@dataclass
class Served:
    workspace: Any  # a LocalWorkspace over another LEPTON_HOME than the process's
    bundle: Path  # the registered version's bundle in that workspace's artifact folder


def shifted_samples(rows: int = 40) -> list[dict[str, Any]]:
    """Sampled requests (in the input schema's order x1, x2, color) whose x1 moved by +3 and
    whose color is always red."""
    rng = np.random.default_rng(5)
    return [
        {
            "ts": time.time(),
            "model_version": 1,
            "inputs": [float(rng.normal() + 3), float(rng.normal()), "red"],
            "prediction": "yes",
        }
        for _ in range(rows)
    ]


@pytest.fixture
def served(lepton_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A model, a deployment of it and its sampled requests in a workspace of its own; the
    process's workspace (``lepton_home``) holds none of them."""
    from lepton.testing import tiny_table
    from lepton.workspace import current_settings, get_workspace, reset
    from lepton.workspace._local import LocalWorkspace

    monkeypatch.setattr(_drift, "_MODELS", OrderedDict())  # each test loads its own model
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "served-home"))
    reset()
    result = lepton.train(lepton.create_model("logistic_regression"), tiny_table(), verbose=0)
    version = lepton.register(result.model, "credit")
    values = {
        "model_name": "credit",
        "model_version": version.version,
        "desired": "stopped",
        "status": "stopped",
        "replicas": 1,
        "host": "127.0.0.1",
        "port": 9,
        "key_hash": None,
        "options": {},
    }
    get_workspace().save_deployment("svc", "default", values)
    get_workspace().add_request_samples("svc", shifted_samples())
    settings = current_settings()
    workspace = LocalWorkspace(settings.db_url, settings.artifacts_url)
    bundle = Path(settings.artifacts_url) / version.info.bundle_key
    monkeypatch.setenv("LEPTON_HOME", str(lepton_home))
    reset()
    yield Served(workspace, bundle)
    workspace.close()


def test_drift_of_reads_the_workspace_it_is_given(served: Served) -> None:
    with pytest.raises(DeploymentNotFoundError, match="svc"):  # not in the process's workspace
        lepton.deployments.drift("svc")

    report = drift_of(served.workspace, "svc")
    assert report.samples == 40 and report.drifted[0] == "x1"
    assert {f.feature for f in report.features} == {"x1", "x2", "color"}
    assert report.prediction is not None  # the model came from that workspace too
    # the control plane's PSI for alerts comes from its own workspace the same way
    assert _drift_psi(served.workspace, "svc") == report.max_psi > 0.2
    later = drift_of(served.workspace, "svc", since=time.time() + 60)
    assert (later.samples, later.features) == (0, [])
    assert list(_drift._MODELS) == [
        ("credit", 1, served.workspace.get_model_version("credit").bundle_sha256)
    ]


def test_drift_of_refuses_a_changed_bundle(served: Served) -> None:
    served.bundle.write_bytes(served.bundle.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="credit:1 does not match the sha256 recorded"):
        drift_of(served.workspace, "svc")
    assert not _drift._MODELS  # nothing was kept

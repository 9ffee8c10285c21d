"""The same search on the embedded store and against a live team server (conftest runs this
file both ways): trials are child runs of the tuning run wherever runs are kept, and the study
file stays in the local LEPTON_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

import lepton
from lepton.workspace import current_settings, get_workspace

from ._data import noisy_linear


def test_tune_tracks_and_registers_through_the_workspace(workspace_kind: str) -> None:
    train, valid = noisy_linear().split(0.3, seed=0)
    result = lepton.tune("logistic_regression", train, valid, n_trials=4, verbose=0)

    workspace = get_workspace()
    assert type(workspace).__name__ == (
        "RemoteWorkspace" if workspace_kind == "server" else "LocalWorkspace"
    )
    kids = [r for r in workspace.list_runs("default") if r.parent_id == result.run_id]
    kinds = sorted(r.tags["lepton.kind"] for r in kids)
    assert kinds == ["baseline", "train", "trial", "trial", "trial", "trial"]
    assert {a.path for a in workspace.list_artifacts(result.run_id)} >= {"tuning/report.html"}
    version = lepton.register(result.best_model, "noisy-model")
    assert version.info.run_id == result.best_run_id
    study = Path(current_settings().home) / "studies" / f"{result.study}.journal"
    assert study.is_file()
    assert result.best_params["C"] == pytest.approx(lepton.load_model(result.model_uri).config.C)

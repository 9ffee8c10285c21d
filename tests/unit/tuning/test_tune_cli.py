"""``lepton tune``, run as a user runs it: a real subprocess over a registered dataset."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lepton
from lepton.registry import get_version
from lepton.workspace import get_workspace, reset

from ._data import noisy_linear

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def lepton_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([LEPTON, *args], env=env, capture_output=True, text=True, timeout=240)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    reset()  # the subprocess wrote to the same LEPTON_HOME
    return out


@pytest.fixture
def registered() -> str:
    noisy_linear().register()
    return "noisy"


def test_tune_from_flags_registers_the_best_model(registered: str, tmp_path: Path) -> None:
    out = lepton_cli(
        "tune",
        "--data",
        registered,
        "--model",
        "logistic_regression",
        "--trials",
        "5",
        "--register",
        "noisy-model",
        "--output",
        str(tmp_path / "report"),
    ).stdout
    assert "Best trials of 5 (val_roc_auc)" in out
    assert "Importance: " in out and "Registered noisy-model:1" in out
    assert "The model's own settings: " in out
    assert f"Report (plots and every trial): {tmp_path / 'report' / 'report.html'}" in out
    assert {p.name for p in (tmp_path / "report").iterdir()} == {
        "trials.csv",
        "history.png",
        "importance.png",
        "report.html",
    }
    version = get_version("noisy-model:1")
    assert version.info.tags["lepton.tune_run"]
    best_run = get_workspace().get_run(version.info.run_id)
    assert best_run.parent_id == version.info.tags["lepton.tune_run"]


def test_tune_from_a_yaml_spec_with_json_output(registered: str, tmp_path: Path) -> None:
    spec = tmp_path / "tune.yaml"
    spec.write_text(
        "data: noisy\n"
        "model: logistic_regression\n"
        "trials: 4\n"
        "metric: accuracy\n"
        "sampler: random\n"
        "search_space:\n"
        "  C: {loguniform: [0.001, 10]}\n"
        "  max_iter: 500\n",
        encoding="utf-8",
    )
    result = json.loads(lepton_cli("tune", str(spec), "--json").stdout)
    assert result["metric"] == "val_accuracy" and result["trials"]["complete"] == 4
    assert set(result["best_params"]) == {"C"}
    model = lepton.load_model(result["model_uri"])
    assert result["best_params"]["C"] == pytest.approx(model.config.C)
    assert model.config.max_iter == 500
    # the same command again resumes the stored study: nothing new to run
    again = json.loads(lepton_cli("tune", str(spec), "--json").stdout)
    assert again["study"] == result["study"] and again["best_value"] == result["best_value"]
    assert again["run_id"] == result["run_id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "logistic_regression", "--trials", "0"], "n_trials must be an int >= 1"),
        (["--model", "logistic_regression", "--metric", "rmse"], "can optimise: accuracy"),
        (["--model", "linear_regression"], "linear_regression has no default search space"),
    ],
)
def test_bad_requests_print_one_paragraph(registered: str, args: list[str], message: str) -> None:
    out = lepton_cli("tune", "--data", registered, *args, check=False)
    assert out.returncode != 0
    assert message in out.stderr + out.stdout
    assert "Traceback" not in out.stderr

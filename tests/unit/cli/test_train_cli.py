"""``lepton models zoo`` and ``lepton train``, run as a user runs them: real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lepton
from lepton.models import list_zoo
from lepton.testing import tiny_table
from lepton.workspace import get_workspace, reset

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def lepton_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([LEPTON, *args], env=env, capture_output=True, text=True, timeout=180)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    frame = tiny_table("classification", rows=200).to_pandas().rename(columns={"label": "y"})
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    return path


def test_models_zoo() -> None:
    table = lepton_cli("models", "zoo").stdout
    for name in ("lightgbm", "mlp", "cnn", "resnet50", "tfidf_logreg"):
        assert name in table
    assert "classification, regression" in table
    rows = json.loads(lepton_cli("models", "zoo", "--json").stdout)
    assert rows == list_zoo()


def test_train_a_csv_with_flags(csv: Path, tmp_path: Path) -> None:
    out = lepton_cli(
        "train",
        "--data",
        str(csv),
        "--target",
        "y",
        "--model",
        "lightgbm",
        "--json",
        "--output",
        str(tmp_path / "out" / "model.lepton"),
    )
    result = json.loads(out.stdout)  # stdout is only the JSON document
    assert result["model"] == "lightgbm" and result["metrics"]["val_roc_auc"] > 0.9
    assert result["model_uri"] == f"runs:/{result['run_id']}/model.lepton"
    reset()
    info = get_workspace().get_run(result["run_id"])
    assert info.status == "finished" and info.params["model"] == "lightgbm"
    assert info.params["train_rows"] == 160  # valid_size 0.2 of 200 rows
    for bundle in (result["model_path"], tmp_path / "out" / "model.lepton", result["model_uri"]):
        assert lepton.load_model(bundle).classes == ["no", "yes"]


def test_train_a_yaml_spec(csv: Path, tmp_path: Path) -> None:
    spec = tmp_path / "train.yaml"
    spec.write_text(
        f"data: {csv}\ntarget: y\nmodel: logistic_regression\nvalid_size: 0.25\nseed: 3\n"
        "config:\n  C: 0.5\n"
    )
    out = lepton_cli("train", str(spec), "--seed", "5")  # a flag overrides the file
    run_line, saved, load = out.stdout.splitlines()[-3:]
    assert run_line.startswith("Run ") and saved.startswith("Model saved: ")
    assert load.startswith("Load it with: lepton.load_model('runs:/")
    reset()
    [info] = get_workspace().list_runs("default")
    assert info.status == "finished" and info.params["model"] == "logistic_regression"
    assert info.params["config.C"] == 0.5 and info.params["config.seed"] == 5
    assert info.params["train_rows"] == 150  # valid_size 0.25 of 200 rows
    assert info.id[:8] in run_line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "lightgmb", "--target", "y"],
            r"No zoo model named 'lightgmb'\..* Did you mean 'lightgbm'\?",
        ),
        (["--model", "lightgbm"], r"Training on the file .*loans\.csv needs --target COLUMN\."),
        (["--target", "yy"], r"Target column 'yy' is not in the data.* Did you mean 'y'\?"),
        (
            ["--target", "y", "--epochs", "3"],
            r"epochs applies to torch models; lightgbm trains in one go",
        ),
        (["bad.yaml"], r"bad\.yaml is not valid YAML: .* at line 2, column 5\."),
        (["typo.yaml"], r"Invalid training settings: modle: Extra inputs are not permitted\."),
        (["nope.yaml"], r"Training config nope\.yaml does not exist\."),
    ],
    ids=[
        "unknown-model",
        "missing-target",
        "wrong-target",
        "epochs-on-lightgbm",
        "bad-yaml",
        "unknown-key",
        "no-file",
    ],
)
def test_errors_are_one_paragraph(args: list[str], message: str, csv: Path) -> None:
    import re

    Path("bad.yaml").write_text(f"model: [lightgbm\ndata: {csv}\n")
    Path("typo.yaml").write_text(f"modle: lightgbm\ndata: {csv}\n")
    data = [] if args[0].endswith(".yaml") else ["--data", str(csv)]
    out = lepton_cli("train", *args, *data, check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.startswith("Error: ") and "Traceback" not in out.stderr
    assert re.search(message, " ".join(out.stderr.split())), out.stderr

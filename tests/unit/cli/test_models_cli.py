"""``lepton models ...``, ``lepton eval`` and ``lepton policies check``, run as a user runs them:
real subprocesses over a workspace prepared with the SDK in the same LEPTON_HOME."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lepton as sdk
from lepton.data import Dataset
from lepton.demo._credit import credit_table
from lepton.registry import get_version
from lepton.workspace import current_settings, get_workspace, reset

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def lepton(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([LEPTON, *args], env=env, capture_output=True, text=True, timeout=180)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def refused(*args: str) -> str:
    """Run a command that must fail; return its error, checked to be one readable paragraph."""
    out = lepton(*args, check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.stderr
    return lines[0]


@pytest.fixture
def registered() -> str:
    """credit-risk:1, trained on the registered dataset "credit" (sex and age kept out)."""
    data = Dataset.from_pandas(credit_table(rows=300, seed=0), target="default", name="credit")
    data.register()
    features = data.exclude_features("sex", "age_group")
    model = sdk.train(sdk.create_model("logistic_regression"), features, verbose=0).model
    version = sdk.register(model, "credit-risk")
    reset()  # the subprocesses open the same LEPTON_HOME
    return version.ref


def test_list_when_nothing_is_registered() -> None:
    assert json.loads(lepton("models", "list", "--json").stdout) == []
    assert "No registered models yet" in lepton("models", "list").stdout


def test_list_and_show(registered: str) -> None:
    [listed] = json.loads(lepton("models", "list", "--json").stdout)
    assert listed["name"] == "credit-risk" and listed["latest"] == 1 and listed["versions"] == 1

    versions = json.loads(lepton("models", "show", "credit-risk", "--json").stdout)
    assert [v["version"] for v in versions] == [1]
    shown = json.loads(lepton("models", "show", "credit-risk:1", "--json").stdout)
    version = get_version("credit-risk:1")
    assert shown["bundle_sha256"] == version.bundle_sha256
    assert shown["datasets"] == [
        {"name": "credit", "version": version.info.datasets[0]["version"], "role": "train"}
    ]
    assert shown["metrics"]["roc_auc"] == pytest.approx(version.metrics["roc_auc"])
    text = lepton("models", "show", "credit-risk:1").stdout
    assert version.bundle_sha256 in text and "roc_auc" in text


def test_register_alias_and_delete(registered: str, tmp_path: Path) -> None:
    bundle = sdk.save_model(get_version("credit-risk:1").load(), tmp_path / "model.lepton")
    reset()
    added = json.loads(
        lepton("models", "register", str(bundle), "--name", "credit-risk", "--json").stdout
    )
    assert added["name"] == "credit-risk" and added["version"] == 2

    out = lepton("models", "alias", "credit-risk@staging", "2").stdout
    assert "credit-risk@staging -> version 2" in out
    error = refused("models", "delete", "credit-risk:2")
    assert "credit-risk:2 cannot be deleted: the alias(es) staging point at it" in error
    assert (
        "Removed credit-risk@staging"
        in lepton("models", "alias", "credit-risk@staging", "--delete").stdout
    )
    assert "Deleted credit-risk:2" in lepton("models", "delete", "credit-risk:2").stdout
    assert get_workspace().list_models()[0]["versions"] == 1
    assert get_workspace().alias_history("credit-risk")[-1]["version"] is None
    reset()
    assert "Use `lepton models alias NAME@ALIAS VERSION`" in refused(
        "models", "alias", "credit-risk@staging"
    )


def test_production_alias_is_gated_by_the_policies_of_lepton_yaml(registered: str) -> None:
    Path("lepton.yaml").write_text(
        "policies:\n  - {rule: card_field, field: intended_use}\n", encoding="utf-8"
    )
    error = refused("models", "alias", "credit-risk@production", "1")
    assert "credit-risk:1 cannot promote to 'production': 1 policy failed (card field" in error

    checked = lepton("policies", "check", "credit-risk:1", "--json", check=False)
    assert checked.returncode == 1
    result = json.loads(checked.stdout)
    assert result["ref"] == "credit-risk:1" and result["passed"] is False
    assert result["results"][0]["reason"].startswith("Card field 'intended_use' is empty")

    out = lepton(
        "models", "alias", "credit-risk@production", "1", "--override-reason", "Board approved."
    ).stdout
    assert "credit-risk@production -> version 1 (policies overridden: recorded)" in out
    [event] = get_workspace().alias_history("credit-risk")
    assert event["override_reason"] == "Board approved."
    assert event["policy_results"][0]["passed"] is False
    reset()

    lepton("models", "card", "credit-risk:1", "--set", "intended_use=Loan pre-screening")
    table = lepton("policies", "check", "credit-risk@production").stdout
    assert "pass" in table and "card field intended_use" in table


def test_card(registered: str, tmp_path: Path) -> None:
    card = json.loads(lepton("models", "card", "credit-risk:1", "--json").stdout)
    assert card["ref"] == "credit-risk:1" and card["missing"] == ["intended_use", "owners"]
    page = tmp_path / "card.html"
    out = lepton(
        "models",
        "card",
        "credit-risk:1",
        "--set",
        "intended_use=Pre-screening of loans",
        "--set",
        "owners=risk@example.com",
        "--html",
        str(page),
    ).stdout
    assert out.startswith("# Model card: credit-risk:1")
    assert "## Intended use\n\nPre-screening of loans" in out
    assert "Missing required fields" not in out and f"HTML written to {page}" in out
    assert "<h1>Model card: credit-risk:1</h1>" in page.read_text(encoding="utf-8")
    assert "Unknown model card field(s) ['purpose']" in refused(
        "models", "card", "credit-risk:1", "--set", "purpose=x"
    )


@pytest.mark.local_only(reason="changes the bundle in the embedded artifact folder")
def test_export_and_verify(registered: str, tmp_path: Path) -> None:
    sha = get_version("credit-risk:1").bundle_sha256
    out = lepton("models", "export", "credit-risk:1", str(tmp_path / "exported.lepton")).stdout
    assert "Wrote" in out
    assert hashlib.sha256((tmp_path / "exported.lepton").read_bytes()).hexdigest() == sha
    verified = json.loads(lepton("models", "verify", "credit-risk:1", "--json").stdout)
    assert verified == {
        "ref": "credit-risk:1",
        "bundle_sha256": sha,
        "model": "logistic_regression",
        "ok": True,
    }

    stored = Path(current_settings().artifacts_url) / get_version("credit-risk:1").info.bundle_key
    stored.write_bytes(stored.read_bytes()[:-10])
    reset()
    assert "does not match the sha256 recorded at registration" in refused(
        "models", "verify", "credit-risk:1"
    )
    assert "not exported" in refused("models", "export", "credit-risk:1", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_eval_json_and_html(registered: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    out = lepton(
        "eval",
        "credit-risk:1",
        "--data",
        "credit",
        "--sensitive",
        "sex",
        "--sensitive",
        "age",
        "--threshold",
        "0.4",
        "--json",
        "--html",
        str(page),
    )
    report = json.loads(out.stdout)
    assert list(report) == [
        "task",
        "model",
        "data",
        "threshold",
        "positive_label",
        "metrics",
        "per_class",
        "confusion_matrix",
        "calibration",
        "fairness",
        "plots",
        "notes",
        "run_id",
        "created_at",
    ]
    assert report["threshold"] == 0.4 and report["data"]["name"] == "credit"
    assert {"roc_auc", "accuracy", "f1"} <= set(report["metrics"])
    assert list(report["fairness"]) == ["sex", "age"]
    assert len(report["fairness"]["age"]["groups"]) == 4  # quartiles of a numeric column
    assert report["run_id"]  # stored on a run
    html = page.read_text(encoding="utf-8")
    assert "<h2>Fairness by sex</h2>" in html and "<h2>Fairness by age</h2>" in html
    assert "data:image/png;base64," in html


def test_errors_are_one_readable_paragraph(registered: str) -> None:
    assert "No model named 'nope'. Existing models: 'credit-risk'" in refused(
        "models", "show", "nope"
    )
    assert "No dataset named 'missing'" in refused("eval", "credit-risk:1", "--data", "missing")

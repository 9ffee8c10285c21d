"""The console script, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def lepton(
    *args: str, cwd: Path | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run(
        [LEPTON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_help_lists_commands() -> None:
    out = lepton("--help")
    for command in ("init", "projects", "runs", "demo", "env", "doctor"):
        assert command in out.stdout


def test_init_project_then_list(tmp_path: Path) -> None:
    out = lepton("init", "project", "credit", "--path", str(tmp_path / "credit"))
    assert "Created project credit" in out.stdout
    assert (tmp_path / "credit" / "lepton.yaml").exists()
    listed = json.loads(lepton("projects", "list", "--json", cwd=tmp_path / "credit").stdout)
    assert [p["name"] for p in listed] == ["credit"]


def test_init_existing_project_is_a_readable_error(tmp_path: Path) -> None:
    lepton("init", "project", "x", "--path", str(tmp_path / "x"))
    out = lepton("init", "project", "x", "--path", str(tmp_path / "x"), check=False)
    assert out.returncode == 1
    assert "Error:" in out.stderr and "already holds a Lepton project" in out.stderr
    assert "Traceback" not in out.stderr


def test_runs_list_and_show(tmp_path: Path) -> None:
    import lepton as sdk

    with sdk.start_run(name="cli-run", project="p") as run:
        run.log_params({"lr": 0.5})
        run.log_metric("loss", 0.25)
    from lepton.workspace import reset

    reset()  # the subprocess reads the same LEPTON_HOME
    runs = json.loads(lepton("runs", "list", "--json").stdout)
    assert [(r["name"], r["status"], r["metrics"]) for r in runs] == [
        ("cli-run", "finished", {"loss": 0.25})
    ]
    table = lepton("runs", "list").stdout
    assert run.id[:8] in table and "loss=0.25" in table
    shown = json.loads(lepton("runs", "show", run.id[:8], "--json").stdout)
    assert shown["id"] == run.id and shown["params"] == {"lr": 0.5}
    assert "lr" in lepton("runs", "show", run.id).stdout


def test_runs_empty_state_tells_what_to_do() -> None:
    assert "lepton demo" in lepton("runs", "list").stdout


def test_unknown_run_is_a_readable_error() -> None:
    out = lepton("runs", "show", "deadbeef", check=False)
    assert out.returncode == 1
    assert "No run named 'deadbeef'" in out.stderr and "Traceback" not in out.stderr


def test_bad_status_filter() -> None:
    out = lepton("runs", "list", "--status", "done", check=False)
    assert out.returncode == 1 and "Unknown run status 'done'" in out.stderr


def test_env_json_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_TOKEN", "lp_supersecret")
    monkeypatch.setenv("LEPTON_DB_URL", "postgresql+psycopg://bob:hunter2@127.0.0.1:1/db")
    out = lepton("env", "--json")
    report = json.loads(out.stdout)
    assert report["settings"]["token"] == "set"
    assert "hunter2" not in out.stdout and "lp_supersecret" not in out.stdout
    assert report["packages"]["lepton-ai-sdk"] == "0.1.0"
    assert report["devices"]["selected"] in ("cpu", "cuda", "mps")


def test_doctor_passes() -> None:
    out = lepton("doctor")
    assert "All checks passed" in out.stdout


@pytest.mark.slow
@pytest.mark.local_only(
    reason="the laptop story; tests/integration/test_team_server.py is the server's"
)
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """The main job: data, training, fairness, registry, policies, deployment, drift, alert."""
    from tests.services import stop_pid

    try:  # about a minute on a quiet machine; it waits for a drift check and an alert
        out = lepton("demo", "--once", "--folder", str(tmp_path / "demo"), timeout=300)
    finally:  # a demo that failed half-way leaves its background server: stop it by its pid
        pid_file = Path(os.environ["LEPTON_HOME"]) / "controlplane.pid"
        if pid_file.exists():
            stop_pid(int(pid_file.read_text()))
    for expected in (
        "Step 8/8",
        "credit-risk@production -> version 1",
        "Refused:",
        "DRIFT",
        "is firing",
        "Stopped the deployment",
    ):
        assert expected in out.stdout, expected
    runs = json.loads(lepton("runs", "list", "--json", cwd=tmp_path / "demo").stdout)
    assert {r["status"] for r in runs} == {"finished"}

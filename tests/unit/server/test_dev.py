"""The laptop's platform server: `lepton dashboard` starts it in the background and prints a
one-time sign-in link; `lepton dev` runs it in the foreground; `lepton dev --stop` stops it.
Real subprocesses on a fresh LEPTON_HOME; every process is stopped by its pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LEPTON = [sys.executable, "-m", "lepton.cli"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    for name in list(os.environ):
        if name.startswith("LEPTON_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEPTON_HOME", str(home))
    monkeypatch.setenv("LEPTON_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.chdir(tmp_path)
    yield home
    record = home / "server.json"
    pid_file = home / "controlplane.pid"
    for source in (record, pid_file):  # whatever is still running is stopped by its pid
        try:
            text = source.read_text()
            pid = json.loads(text)["pid"] if source == record else int(text)
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


def lepton(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    out = subprocess.run([*LEPTON, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def link_of(output: str) -> str:
    return next(word for word in output.split() if "/login?code=" in word)


def test_dashboard_link_signs_in_once_and_stop_cleans_up(home: Path) -> None:
    link = link_of(lepton("dashboard").stdout)
    assert link.startswith("http://127.0.0.1:")
    record = json.loads((home / "server.json").read_text())
    assert record["url"] == link.split("/login")[0]

    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        page = browser.get(link)
        assert page.status_code == 200 and "<h1>Overview</h1>" in page.text
        assert browser.cookies.get("lepton_session")
        assert browser.get(record["url"] + "/runs").status_code == 200
    with httpx.Client(follow_redirects=True, timeout=30) as stranger:
        again = stranger.get(link)  # the code works once
        assert again.status_code == 401
        assert "lepton_session" not in stranger.cookies

    # the background server writes its output to a log: no sign-in code may be there
    code = link.split("code=")[1]
    assert code not in (home / "controlplane.log").read_text()
    # a second link comes from the same server
    assert link_of(lepton("dashboard").stdout).split("/login")[0] == record["url"]

    busy = lepton("dev", check=False)
    assert busy.returncode != 0
    assert "already running" in busy.stdout + busy.stderr
    assert "Traceback" not in busy.stdout + busy.stderr

    assert "Stopped the local server" in lepton("dev", "--stop").stdout
    deadline = time.time() + 10
    while (home / "server.json").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not (home / "server.json").exists()
    assert "No local server was running" in lepton("dev", "--stop").stdout


def test_dev_refuses_a_port_in_use_and_a_bad_port(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = lepton("dev", "--port", str(port), check=False)
    assert out.returncode != 0
    assert f"Port {port} on 127.0.0.1 is in use" in out.stdout + out.stderr
    out = lepton("dev", "--port", "70000", check=False)
    assert out.returncode != 0 and "between 1 and 65535" in out.stdout + out.stderr


def test_dev_refuses_when_the_workspace_is_a_team_server(home: Path) -> None:
    env_out = subprocess.run(
        [*LEPTON, "dev"],
        env={**os.environ, "LEPTON_URL": "http://127.0.0.1:9", "LEPTON_TOKEN": "lp_x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_out.returncode != 0
    assert "team server" in env_out.stdout + env_out.stderr

"""A search killed mid-way continues when run again: finished trials are kept, the interrupted
one is retried, and the same parent run goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import lepton
from lepton.workspace import get_workspace

from ._data import checkerboard

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import lepton
    from tests.unit.tuning._data import checkerboard

    train, valid = checkerboard().split(0.3, seed=0)
    lepton.tune("lightgbm", train, valid, n_trials=200, study="resume-me", pruner="none",
                verbose=0)
    """
)


def stored(home: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """The journal's finished trials, and the start records of trials not finished."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = home / "studies" / "resume-me.journal"
    if not path.exists():
        return [], []
    try:
        study = optuna.load_study(
            study_name="resume-me", storage=JournalStorage(JournalFileBackend(str(path)))
        )
    except KeyError:  # the file exists but the study is not written yet
        return [], []
    finished = study.get_trials(deepcopy=False)
    slots = {t.user_attrs.get("slot") for t in finished}
    running = [
        v for k, v in study.user_attrs.items() if k.startswith("started.") and k[8:] not in slots
    ]
    return finished, running


def test_a_killed_search_continues_where_it_stopped(lepton_home: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, cwd=os.getcwd())
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            finished, running = stored(lepton_home)
            if len(finished) >= 3 and running:  # kill it inside a trial that has started
                break
            assert process.poll() is None, "the search ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the search did not finish 3 trials in 120 s")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    done, interrupted = stored(lepton_home)
    finished = {t.number: t for t in done}
    assert all(t.state.name == "COMPLETE" for t in done)
    assert len(interrupted) == 1, interrupted

    train, valid = checkerboard().split(0.3, seed=0)
    total = len(finished) + 2
    result = lepton.tune(
        "lightgbm", train, valid, n_trials=total, study="resume-me", pruner="none", verbose=0
    )

    trials = result.trials.set_index("number")
    for number, trial in finished.items():  # kept as they were, not re-run
        assert trials.loc[number, "state"] == "complete"
        assert trials.loc[number, "value"] == pytest.approx(trial.value)
    lost = interrupted[0]
    failed = trials[trials["state"] == "fail"]
    assert list(failed["run_id"]) == [lost["run_id"]]
    assert "interrupted" in failed["error"].iloc[0]
    retried = trials[trials["learning_rate"] == lost["params"]["learning_rate"]]
    assert len(retried) == 1 and retried["state"].iloc[0] == "complete", (
        "the interrupted trial's settings were not tried again"
    )
    assert (trials["state"] == "complete").sum() == total
    # one parent run, reopened: the killed process's trials and the new ones are its children
    workspace = get_workspace()
    parent = workspace.get_run(result.run_id)
    assert parent.status == "finished"
    kids = {r.id for r in workspace.list_runs("default", limit=500) if r.parent_id == parent.id}
    assert {t.user_attrs["run_id"] for t in done} <= kids
    assert workspace.get_run(lost["run_id"]).status == "killed"
    # a run of the same call after the study is done trains the winner without new trials
    again = lepton.tune(
        "lightgbm", train, valid, n_trials=total, study="resume-me", pruner="none", verbose=0
    )
    assert len(again.trials) == len(result.trials) and again.best_value == result.best_value
    assert lepton.__version__  # the package is importable from the subprocess's path too

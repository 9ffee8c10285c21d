"""Resume after a crash: a training process is SIGKILLed mid-epoch; another process continues
the same run from its last checkpoint and ends with exactly the weights of a run that was never
interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lepton
from lepton.workspace import get_workspace, reset

pytestmark = pytest.mark.slow

EPOCHS = 6
KILLED_IN = 3  # the process dies in epoch 3 (0-based), after the checkpoint of epoch 2
LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"

# The trainer, run as its own process: the uninterrupted reference run, then the same training
# dying. Callbacks run before the checkpoint lepton.train adds, so to die with the checkpoint of
# epoch KILLED_IN - 1 written, the crash comes inside the next epoch, on its third batch, as an
# out-of-memory kill or a power cut would.
SCRIPT = textwrap.dedent(
    f"""
    import os, signal, sys
    import lepton

    data = lepton.Dataset.from_csv(sys.argv[1], target="y")
    train, valid = data.split(test_size=0.2, seed=0)  # what `lepton train` does

    def model():
        return lepton.create_model("mlp", hidden_sizes=(32, 16), seed=0)

    reference = lepton.train(model(), train, valid, epochs={EPOCHS}, verbose=0)
    print(reference.run_id, flush=True)
    doomed = model()
    batches = doomed._batches

    def crash_in_epoch(data, *, train, epoch=0):
        for index, batch in enumerate(batches(data, train=train, epoch=epoch)):
            if train and epoch == {KILLED_IN} and index == 2:
                print(lepton.active_run().id, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch

    doomed._batches = crash_in_epoch
    lepton.train(doomed, train, valid, epochs={EPOCHS}, verbose=0)
    """
)


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 5))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    frame["y"] = np.where(x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.5, size=400) > 0, "a", "b")
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    (tmp_path / "trainer.py").write_text(SCRIPT)
    return path


def reference_and_killed_run(table: Path) -> tuple[str, str]:
    """Train the uninterrupted reference run, then a run that is SIGKILLed in epoch 3."""
    out = subprocess.run(
        [sys.executable, str(table.parent / "trainer.py"), str(table)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == -signal.SIGKILL, out.stdout + out.stderr
    reference, killed = out.stdout.split()
    reset()
    info = get_workspace().get_run(killed)
    # SIGKILL cannot be caught: the run is left "running", with the checkpoint of epoch 2
    assert info.status == "running" and info.tags["lepton.checkpoint_epoch"] == str(KILLED_IN - 1)
    assert [p.step for p in get_workspace().metric_history(killed, "loss")] == [0, 1, 2]
    return reference, killed


def assert_resumed(run_id: str, reference: str) -> None:
    reset()
    workspace = get_workspace()
    info = workspace.get_run(run_id)
    assert info.status == "finished" and info.error is None
    for key in ("loss", "val_loss", "val_accuracy"):  # every epoch once
        assert [p.step for p in workspace.metric_history(run_id, key)] == list(range(EPOCHS))
    expected = lepton.load_model(f"runs:/{reference}/model.lepton")
    resumed = lepton.load_model(f"runs:/{run_id}/model.lepton")
    want, got = expected.net.state_dict(), resumed.net.state_dict()
    assert list(want) == list(got)
    for name in want:
        assert bool((want[name] == got[name]).all()), f"{name} differs from the uninterrupted run"
    reference_loss = [p.value for p in workspace.metric_history(reference, "val_loss")]
    assert [p.value for p in workspace.metric_history(run_id, "val_loss")] == reference_loss


def test_sigkill_then_resume_true_continues_the_same_run(table: Path) -> None:
    reference, killed = reference_and_killed_run(table)
    # this test's process is the "next" process: it resumes what the killed one left
    data = lepton.Dataset.from_csv(table, target="y")
    train, valid = data.split(test_size=0.2, seed=0)
    model = lepton.create_model("mlp", hidden_sizes=(32, 16), seed=0)
    result = lepton.train(model, train, valid, epochs=EPOCHS, resume=True, verbose=0)
    assert result.run_id == killed  # the killed run itself continues, no new run
    assert [len(v) for v in result.history.values()] == [EPOCHS] * len(result.history)
    assert_resumed(killed, reference)
    assert len(get_workspace().list_runs("default")) == 2  # the reference and the resumed run


def test_sigkill_then_cli_resume(table: Path) -> None:
    reference, killed = reference_and_killed_run(table)
    spec = table.parent / "train.yaml"
    spec.write_text(
        f"data: {table}\ntarget: y\nmodel: mlp\nepochs: {EPOCHS}\nconfig:\n  hidden_sizes: [32, 16]\n"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    out = subprocess.run(
        [LEPTON, "train", str(spec), "--resume", killed, "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["run_id"] == killed and result["model_uri"] == f"runs:/{killed}/model.lepton"
    assert_resumed(killed, reference)

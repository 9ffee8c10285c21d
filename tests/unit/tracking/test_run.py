from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lepton
from lepton.errors import InvalidParameterError, RunNotFoundError, StoreError
from lepton.workspace import get_workspace


def test_run_records_params_metrics_tags_and_status() -> None:
    with lepton.start_run(name="r1", project="p", tags={"team": "risk"}) as run:
        assert lepton.active_run() is run
        run.log_params({"lr": 0.1, "layers": [64, 32], "np": np.float32(0.5), "flag": True})
        run.set_tag("stage", "dev")
        for step in range(10):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_metrics({"acc": 0.9, "f1": np.float64(0.8)}, step=3)
    assert lepton.active_run() is None
    info = get_workspace().get_run(run.id)
    assert info.status == "finished" and info.end_time is not None
    assert info.project == "p" and info.name == "r1"
    assert info.params == {"lr": 0.1, "layers": [64, 32], "np": 0.5, "flag": True}
    assert info.tags == {"team": "risk", "stage": "dev"}
    assert info.metrics == {"loss": 0.1, "acc": 0.9, "f1": 0.8}
    history = run.history("loss")
    assert [p.step for p in history] == list(range(10))
    assert history[-1].value == pytest.approx(0.1)


def test_steps_auto_increment_and_resume_continues() -> None:
    with lepton.start_run() as run:
        for value in (3.0, 2.0, 1.0):
            run.log_metric("loss", value)
    assert [p.step for p in run.history("loss")] == [0, 1, 2]
    with lepton.start_run(run_id=run.id) as resumed:
        resumed.log_metric("loss", 0.5)
        resumed.log_metric("new", 1.0)
    assert [p.step for p in resumed.history("loss")] == [0, 1, 2, 3]
    assert resumed.history("new")[0].step == 0
    assert resumed.status == "finished"


def test_exception_marks_run_failed_and_keeps_metrics() -> None:
    with pytest.raises(ZeroDivisionError), lepton.start_run() as run:
        run.log_metric("loss", 1.0)
        _ = 1 / 0
    info = get_workspace().get_run(run.id)
    assert info.status == "failed"
    assert "ZeroDivisionError" in (info.error or "")
    assert info.metrics == {"loss": 1.0}


def test_keyboard_interrupt_marks_run_killed() -> None:
    with pytest.raises(KeyboardInterrupt), lepton.start_run() as run:
        raise KeyboardInterrupt
    assert get_workspace().get_run(run.id).status == "killed"


def test_nested_runs_get_a_parent() -> None:
    with lepton.start_run(name="study") as parent, lepton.start_run(name="trial") as child:
        assert lepton.active_run() is child
    assert get_workspace().get_run(child.id).parent_id == parent.id
    children = get_workspace().list_runs("default", parent_id=parent.id)
    assert [c.name for c in children] == ["trial"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_non_finite_metric_is_refused(bad: float) -> None:
    with (
        lepton.start_run() as run,
        pytest.raises(InvalidParameterError, match="'loss' got .*finite"),
    ):
        run.log_metric("loss", bad)


def test_bad_metric_inputs() -> None:
    with lepton.start_run() as run:
        with pytest.raises(InvalidParameterError, match="must be a number, got str"):
            run.log_metric("loss", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError, match="Invalid metric key ''"):
            run.log_metric("", 1.0)
        with pytest.raises(InvalidParameterError, match="step must be an int"):
            run.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]


def test_non_serialisable_param_is_refused() -> None:
    with lepton.start_run() as run:
        with pytest.raises(
            InvalidParameterError, match="Param 'fn' cannot be stored.*str\\(value\\)"
        ):
            run.log_params({"fn": object()})
        with pytest.raises(InvalidParameterError, match="takes a dict"):
            run.log_params([("a", 1)])  # type: ignore[arg-type]


def test_logging_after_end_is_refused() -> None:
    with lepton.start_run() as run:
        pass
    with pytest.raises(InvalidParameterError, match="has ended"):
        run.log_metric("loss", 1.0)


def test_invalid_run_name() -> None:
    with pytest.raises(InvalidParameterError, match="run name"):
        lepton.start_run(name="   ")


def test_unknown_run_lists_existing() -> None:
    with lepton.start_run() as run:
        pass
    with pytest.raises(RunNotFoundError, match=f"No run named 'nope1234'.*{run.id}"):
        lepton.start_run(run_id="nope1234")


def test_artifacts_file_folder_and_text(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00" * 1000)
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "meta.json").write_text("{}")
    (tmp_path / "plot.png").write_bytes(b"png")
    with lepton.start_run() as run:
        run.log_artifact(tmp_path / "model")
        run.log_artifact(tmp_path / "plot.png", "plots/plot.png")
        run.log_dict({"a": 1}, "config.json")
    paths = [a.path for a in run.list_artifacts()]
    assert paths == ["config.json", "model/sub/meta.json", "model/weights.bin", "plots/plot.png"]
    out = run.download_artifacts("model", tmp_path / "back")
    assert (out / "weights.bin").read_bytes() == b"\x00" * 1000
    assert (out / "sub" / "meta.json").read_text() == "{}"
    with get_workspace().open_artifact(run.id, "config.json") as stream:
        assert b'"a": 1' in stream.read()


def test_missing_artifact_source(tmp_path: Path) -> None:
    from lepton.errors import ArtifactNotFoundError

    with (
        lepton.start_run() as run,
        pytest.raises(ArtifactNotFoundError, match="existing file or folder"),
    ):
        run.log_artifact(tmp_path / "nope.bin")


def test_lineage_is_recorded() -> None:
    with lepton.start_run() as run:
        pass
    lineage = get_workspace().get_run(run.id).lineage
    assert lineage["environment"]["python"] == sys.version.split()[0]
    assert "numpy" in lineage["environment"]["packages"]


def test_lineage_records_git_sha(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(tmp_path)
    with lepton.start_run() as run:
        pass
    assert get_workspace().get_run(run.id).lineage["git_sha"] == sha


def test_metrics_survive_exit_without_end(tmp_path: Path) -> None:
    """Points still buffered when the interpreter exits are written by the atexit flush."""
    code = (
        "import lepton\n"
        "run = lepton.start_run(name='no-end')\n"
        "for i in range(5000):\n    run.log_metric('loss', float(i))\n"
        "print(run.id)\n"
    )
    env = {"LEPTON_HOME": str(tmp_path / "h"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    from lepton.workspace._local import LocalWorkspace

    workspace = LocalWorkspace(
        f"sqlite:///{tmp_path / 'h' / 'lepton.db'}", str(tmp_path / "h" / "artifacts")
    )
    assert len(workspace.metric_history(out.stdout.strip(), "loss")) == 5000
    workspace.close()


def test_failed_background_write_is_reported() -> None:
    run = lepton.start_run()

    def broken(rows: object) -> None:
        raise RuntimeError("disk full")

    run._flusher._sink = broken
    run.log_metric("loss", 1.0)
    with pytest.raises(StoreError, match="1 metric points could not be written: disk full"):
        run.flush()
    run._flusher._sink = run.workspace.log_metrics
    run.end()


def test_buffer_is_bounded() -> None:
    with lepton.start_run() as run:
        run._flusher._max_pending = 1000
        run._flusher._batch_size = 500
        run._flusher._interval = 60
        for i in range(5000):
            run.log_metric("loss", float(i))
            assert len(run._flusher._pending) <= 1000
    assert len(run.history("loss")) == 5000


def test_repr_and_html() -> None:
    with lepton.start_run(name="shown") as run:
        run.log_param("lr", 0.1)
    assert "name='shown'" in repr(run)
    assert "<table>" in run._repr_html_() and "param lr" in run._repr_html_()

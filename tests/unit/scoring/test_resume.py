"""Resume by chunk: an interrupted run is finished by the next one, and outputs of different
scorings are never mixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lepton
from lepton.scoring import OutputConflictError
from lepton.testing import tiny_table


def parts(folder: str) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("part-"))


def test_a_rerun_scores_only_the_missing_chunks(bundle: Path, table: Any) -> None:
    first = lepton.predict_batch(bundle, table, output="scores", batch_size=25, workers=1)
    assert first.chunks == 5
    before = {name: Path("scores", name).stat().st_mtime_ns for name in parts("scores")}
    Path("scores/part-00001.parquet").unlink()
    Path("scores/part-00004.parquet").unlink()
    Path("scores/.part-00004.parquet-half").write_bytes(b"half a file")  # a crash mid-write

    again = lepton.predict_batch(bundle, table, output="scores", batch_size=25, workers=1)

    assert (again.chunks_scored, again.chunks_skipped, again.rows_scored) == (2, 3, 45)
    after = {name: Path("scores", name).stat().st_mtime_ns for name in parts("scores")}
    assert all(after[n] == before[n] for n in ("part-00000.parquet", "part-00002.parquet"))
    assert not Path("scores/.part-00004.parquet-half").exists()
    pd.testing.assert_frame_equal(again.to_pandas(), first.to_pandas())

    done = lepton.predict_batch(bundle, table, output="scores", batch_size=25, workers=1)
    assert (done.chunks_scored, done.chunks_skipped, done.rows_scored) == (0, 5, 0)


@pytest.mark.slow
def test_a_killed_run_is_finished_by_worker_processes(bundle: Path, table: Any) -> None:
    """A real crash: the scoring process dies (os._exit) right after writing its 2nd part; the
    next run, with two worker processes, scores the 4 other chunks, exactly as one process
    scoring everything would."""
    table.to_pandas().to_parquet("rows.parquet")
    script = textwrap.dedent(
        f"""
        import os
        import lepton
        from lepton.scoring._chunks import OutputFolder

        write, written = OutputFolder.write_part, []

        def write_then_die(self, index, frame):
            path = write(self, index, frame)
            written.append(index)
            if len(written) == 2:
                os._exit(17)
            return path

        OutputFolder.write_part = write_then_die
        lepton.predict_batch({str(bundle)!r}, "rows.parquet", output="scores", batch_size=20,
                             workers=1, verbose=0)
        """
    )
    crashed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    assert crashed.returncode == 17, crashed.stderr
    assert parts("scores") == ["part-00000.parquet", "part-00001.parquet"]
    assert json.loads(Path("scores/_lepton.json").read_text())["complete"] is False

    result = lepton.predict_batch(bundle, "rows.parquet", output="scores", batch_size=20, workers=2)

    assert (result.chunks_scored, result.chunks_skipped, result.workers) == (4, 2, 2)
    assert json.loads(Path("scores/_lepton.json").read_text())["complete"] is True
    whole = lepton.predict_batch(bundle, table.frame, output="whole", batch_size=20, workers=1)
    pd.testing.assert_frame_equal(result.to_pandas(), whole.to_pandas())
    assert parts("scores") == parts("whole")
    for name in parts("whole"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(Path("scores", name)), pd.read_parquet(Path("whole", name))
        )


def test_another_model_is_refused_then_replaced_with_resume_false(bundle: Path, table: Any) -> None:
    lepton.predict_batch(bundle, table, output="scores", batch_size=50, workers=1)
    other = lepton.create_model("random_forest", n_estimators=5).fit(table)
    with pytest.raises(OutputConflictError, match=r"model .*model\.lepton' there, "):
        lepton.predict_batch(other, table, output="scores", batch_size=50, workers=1)

    replaced = lepton.predict_batch(
        other, table, output="scores", batch_size=50, workers=1, resume=False
    )
    assert replaced.chunks_scored == 3 and replaced.chunks_skipped == 0
    manifest = json.loads(Path("scores/_lepton.json").read_text())
    assert manifest["model"]["ref"] == "random_forest (in memory)"


def test_other_data_and_another_batch_size_are_refused(bundle: Path, table: Any) -> None:
    lepton.predict_batch(bundle, table, output="scores", batch_size=50, workers=1)
    with pytest.raises(OutputConflictError, match=r"data 'tiny-classification' version .* now"):
        lepton.predict_batch(bundle, tiny_table(rows=90, seed=1), output="scores", batch_size=50)
    with pytest.raises(OutputConflictError, match=r"pass batch_size=50 to resume"):
        lepton.predict_batch(bundle, table, output="scores", batch_size=40, workers=1)
    with pytest.raises(OutputConflictError, match="--fresh on the CLI"):
        lepton.predict_batch(bundle, table, output="scores", batch_size=40, workers=1)
    assert parts("scores") == [f"part-0000{i}.parquet" for i in range(3)]  # left untouched


def test_a_model_object_cannot_resume_and_says_how(classifier: Any, table: Any) -> None:
    """A model object is saved anew on each call (not byte-stable): its parts are not mixed."""
    lepton.predict_batch(classifier, table, output="scores", batch_size=50, workers=1)
    with pytest.raises(
        OutputConflictError,
        match=r"there and now, but with other content.*"
        r"pass a bundle path \(lepton.save_model\) or a registered model",
    ):
        lepton.predict_batch(classifier, table, output="scores", batch_size=50, workers=1)


def test_foreign_files_are_never_touched(bundle: Path, table: Any) -> None:
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("keep me")
    with pytest.raises(
        OutputConflictError, match=r"holds files that are not batch predictions \(\['notes.txt'\]\)"
    ):
        lepton.predict_batch(bundle, table, output="mine", workers=1, resume=False)
    assert Path("mine/notes.txt").read_text() == "keep me"

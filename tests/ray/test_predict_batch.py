"""``lepton.predict_batch`` on ``backend="ray"``: Ray Data actors score, the driver writes the
same parts the local backend writes, and a resume picks up by chunk."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import lepton
from lepton.cli._app import app
from lepton.scoring import ScoringError
from lepton.testing import tiny_table


@pytest.fixture(scope="module")
def table() -> Any:
    return tiny_table("classification", rows=150, seed=0)


@pytest.fixture(scope="module")
def bundle(table: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = lepton.create_model("lightgbm", n_estimators=20).fit(table)
    return lepton.save_model(model, tmp_path_factory.mktemp("model") / "model.lepton")


def parts(folder: str) -> list[str]:
    return sorted(p.name for p in Path(folder).glob("part-*.parquet"))


def test_ray_scores_equal_local_scores(ray_backend: str, bundle: Path, table: Any) -> None:
    """LEPTON_BACKEND=ray is the only change: four chunks scored by up to two actors."""
    lepton.predict_batch(bundle, table, output="local", backend="local", batch_size=40, workers=1)
    on_ray = lepton.predict_batch(bundle, table, output="ray", batch_size=40, workers=2)

    assert on_ray.backend == "ray" and on_ray.workers == 2
    assert (on_ray.chunks, on_ray.chunks_scored, on_ray.rows_scored) == (4, 4, 150)
    assert parts("ray") == parts("local") == [f"part-0000{i}.parquet" for i in range(4)]
    for name in parts("local"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(Path("ray", name)), pd.read_parquet(Path("local", name)), rtol=1e-12
        )
    model = lepton.load_model(bundle)
    np.testing.assert_allclose(on_ray.to_pandas()["proba_yes"], model.predict_proba(table)[:, 1])


def test_a_resume_on_ray_scores_only_the_missing_chunks(
    ray_backend: str, bundle: Path, table: Any
) -> None:
    first = lepton.predict_batch(bundle, table, output="scores", batch_size=50, workers=1)
    Path("scores/part-00001.parquet").unlink()
    again = lepton.predict_batch(bundle, table, output="scores", batch_size=50, workers=1)
    assert (again.chunks_scored, again.chunks_skipped, again.rows_scored) == (1, 2, 50)
    pd.testing.assert_frame_equal(
        again.to_pandas(),
        first.to_pandas(),
    )


def test_the_cli_takes_backend_ray(ray_session: Any, bundle: Path, table: Any) -> None:
    table.to_pandas().to_parquet("rows.parquet")
    out = CliRunner().invoke(
        app,
        [
            "predict",
            str(bundle),
            "--data",
            "rows.parquet",
            "--output",
            "scores",
            "--backend",
            "ray",
            "--batch-size",
            "100",
            "--workers",
            "1",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["backend"] == "ray" and answer["chunks_scored"] == 2 and answer["rows"] == 150


def test_a_failing_chunk_on_ray_keeps_the_finished_ones(
    ray_backend: str, ray_session: Any, table: Any
) -> None:
    model = lepton.create_model("logistic_regression").fit(table)
    lepton.save_model(model, "model.lepton")
    frame = table.to_pandas()
    frame.loc[120, "x1"] = np.inf  # the scaler refuses infinity: the last chunk fails
    with pytest.raises(
        ScoringError,
        match=r"^Scoring on Ray failed: Rows 100-149 could not be scored: ValueError: "
        r"Input X contains infinity[^\n]*\. The chunks finished before it are kept",
    ):
        lepton.predict_batch("model.lepton", frame, output="scores", batch_size=50, workers=1)
    assert "part-00002.parquet" not in parts("scores")
    # and the failed execution's actors are gone: their CPUs are free for the next work
    deadline = time.monotonic() + 30
    while ray_session.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray_session.available_resources().get("CPU", 0) == 2

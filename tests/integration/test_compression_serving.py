"""ONNX bundles served for real: ``python -m lepton.serving`` replicas (as the control plane starts
them) answer with the predictions of the original models in this process.

Three bundles from ``lepton.compress``: a LightGBM model and an MLP exported to ONNX (tables),
and a CNN exported to ONNX (images as base64 JSON). Each replica is stopped by its pid.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.services import LOOPBACK, free_ports, stop_pid

import lepton
from lepton.serving import ServerOptions
from lepton.serving._server import serve_env
from lepton.testing import tiny_images, tiny_table

pytestmark = pytest.mark.slow

START_TIMEOUT = 120.0  # a replica imports onnxruntime, torch and sklearn; a busy machine is slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-serving")


@pytest.fixture(scope="module")
def models(folder: Path) -> dict[str, tuple[Any, Path]]:
    """name -> (the original model, the bundle of its ONNX export)."""
    table = tiny_table(rows=200)
    images = tiny_images(folder / "images", per_class=8, size=16)
    originals = {
        "lightgbm": lepton.create_model("lightgbm", n_estimators=30).fit(table),
        "mlp": lepton.create_model("mlp", epochs=3).fit(table),
        "cnn": lepton.create_model("cnn", epochs=2, num_workers=0).fit(images),  # no fork
    }
    from lepton.workspace import reset

    out = {}
    # compress tracks a run: into this module's own LEPTON_HOME (the per-test one comes later)
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("LEPTON_")]:
            patch.delenv(key)
        patch.setenv("LEPTON_HOME", str(folder / "sdk-home"))
        reset()
        try:
            for name, model in originals.items():
                result = lepton.compress(model, method="onnx", verbose=0)
                path = lepton.save_model(result.model, folder / f"{name}-onnx.lepton")
                out[name] = (model, path)
        finally:
            reset()
    return out


@pytest.fixture(scope="module")
def replicas(models: dict[str, tuple[Any, Path]], folder: Path) -> Iterator[dict[str, str]]:
    """name -> base URL of a replica serving the ONNX bundle."""
    started: dict[str, tuple[subprocess.Popen[bytes], str, Path]] = {}
    try:
        for (name, (_, bundle)), port in zip(models.items(), free_ports(len(models)), strict=True):
            env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
            env["LEPTON_HOME"] = str(folder / "home")
            env.update(serve_env(bundle, name, 1, None, ServerOptions()))
            env.update(LEPTON_SERVE_HOST=LOOPBACK, LEPTON_SERVE_PORT=str(port))
            log = folder / f"{name}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "lepton.serving"],
                    env=env,
                    cwd=folder,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            started[name] = (process, f"http://{LOOPBACK}:{port}", log)
        for process, base, log in started.values():
            _wait_ready(process, base, log)
        yield {name: base for name, (_, base, _) in started.items()}
    finally:
        for process, _, _ in started.values():
            stop_pid(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"replica exited at start:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(
        f"replica not ready in {START_TIMEOUT} s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def _predict(base: str, inputs: list[Any]) -> dict[str, Any]:
    response = httpx.post(f"{base}/v1/predict", json={"inputs": inputs}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("name", ["lightgbm", "mlp"])
def test_an_onnx_table_bundle_serves_the_original_predictions(
    name: str, models: dict[str, tuple[Any, Path]], replicas: dict[str, str]
) -> None:
    original, bundle = models[name]
    served_model = lepton.load_model(bundle)
    assert served_model.runtime is not None  # what the replica loaded runs on onnxruntime
    rows = tiny_table(rows=40, seed=7).X()
    records = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in rows.to_dict(orient="records")
    ]
    answer = _predict(replicas[name], records)
    assert answer["predictions"] == original.predict(rows).tolist()
    np.testing.assert_allclose(answer["probabilities"], original.predict_proba(rows), atol=1e-5)


def test_an_onnx_image_bundle_serves_the_original_predictions(
    models: dict[str, tuple[Any, Path]], replicas: dict[str, str], folder: Path
) -> None:
    from PIL import Image

    original, _ = models["cnn"]
    paths = sorted((folder / "images").glob("class*/img*.png"))[::3]
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in paths]
    answer = _predict(replicas["cnn"], encoded)
    images = [Image.open(io.BytesIO(p.read_bytes())) for p in paths]
    assert answer["predictions"] == original.predict(images).tolist()
    np.testing.assert_allclose(answer["probabilities"], original.predict_proba(images), atol=1e-5)

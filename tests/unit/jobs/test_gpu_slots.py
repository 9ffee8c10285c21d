"""On a machine with a CUDA GPU: a job holding a GPU slot trains on it, and a CPU job does not
see it at all (its process gets an empty CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from lepton.jobs import Scheduler
from lepton.jobs._spec import parse_job_spec

pytestmark = pytest.mark.gpu


def test_gpu_slots_give_jobs_their_gpus_and_only_those(lepton_home: Path) -> None:
    if not (shutil.which("nvidia-smi") or os.path.exists("/proc/driver/nvidia/version")):
        pytest.skip("needs a CUDA GPU")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU that torch can use")
    import numpy as np
    import pandas as pd

    from lepton.data import Dataset
    from lepton.workspace import get_workspace

    x = np.random.default_rng(0).normal(size=(400, 4))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": (x[:, 0] > 0).astype(int)})
    Dataset.from_pandas(frame, target="y", name="good").register("p")
    scheduler = Scheduler(get_workspace(), lepton_home, cpu_slots=2, gpu_slots=1)
    # device="cuda" fails where no GPU is visible, instead of falling back to the CPU
    config = {"device": "cuda", "epochs": 2}
    jobs = {
        name: scheduler.queue.add(
            parse_job_spec(
                {"data": "good", "model": "mlp", "project": "p", "config": config, **extra}
            ),
            submitted_by="test",
        )
        for name, extra in {"gpu": {"resources": {"gpu": 1}}, "cpu": {}}.items()
    }
    deadline = time.monotonic() + 300
    while not all(scheduler.queue.get(j.id).done for j in jobs.values()):
        assert time.monotonic() < deadline, "the jobs did not end"
        scheduler.tick()
        time.sleep(0.1)
    on_gpu, on_cpu = scheduler.queue.get(jobs["gpu"].id), scheduler.queue.get(jobs["cpu"].id)
    assert on_gpu.status == "succeeded", on_gpu.error
    assert on_cpu.status == "failed"
    assert on_cpu.error is not None and "no CUDA GPU is visible" in on_cpu.error

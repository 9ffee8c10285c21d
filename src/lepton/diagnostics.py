"""What ``lepton env`` reports and what ``lepton doctor`` checks."""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

_PACKAGES = (
    "lepton-ai-sdk",
    "numpy",
    "pandas",
    "sqlalchemy",
    "alembic",
    "scikit-learn",
    "lightgbm",
    "torch",
    "torchvision",
    "fastapi",
    "uvicorn",
    "psycopg",
    "boto3",
    "ray",
)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _hide_password(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://")[0] + "://***"


def _devices() -> dict[str, Any]:
    if util.find_spec("torch") is None:
        return {"torch": "not installed", "selected": "cpu"}
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {
        "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else "none",
        "mps": mps,
        "selected": "cuda" if cuda else "mps" if mps else "cpu",
    }


def environment_report() -> dict[str, dict[str, Any]]:
    """Versions, devices and resolved settings. Passwords and tokens are never included."""
    from lepton.workspace import current_settings

    settings = current_settings()
    return {
        "system": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "executable": sys.executable,
        },
        "packages": {name: _version(name) for name in _PACKAGES},
        "devices": _devices(),
        "settings": {
            "LEPTON_HOME": str(settings.home),
            "project": settings.project,
            "project_root": str(settings.project_root) if settings.project_root else None,
            "db_url": _hide_password(settings.db_url),
            "artifacts_url": settings.artifacts_url,
            "backend": settings.backend,
            "server_url": settings.url,
            "token": "set" if settings.token else "not set",
        },
    }


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _check(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}")


def self_test() -> Iterator[Check]:
    """Exercise the store and tracking in a throwaway workspace, then look at optional parts."""
    from lepton.workspace import current_settings
    from lepton.workspace._local import LocalWorkspace

    with tempfile.TemporaryDirectory(prefix="lepton-doctor-") as folder:
        workspace = LocalWorkspace(f"sqlite:///{folder}/doctor.db", f"{folder}/artifacts")

        def tracking() -> str:
            run = workspace.create_run("doctor", "self-test")
            workspace.log_params(run.id, {"lr": 0.1})
            rows = [(run.id, "loss", i, time.time(), 1.0 / (i + 1)) for i in range(1000)]
            workspace.log_metrics(rows)
            workspace.end_run(run.id, "finished")
            back = workspace.get_run(run.id)
            if back.status != "finished" or back.metrics.get("loss") != 1.0 / 1000:
                raise RuntimeError(f"read back {back.status}, {back.metrics}")
            return "a run with 1,000 metric points written and read back"

        def artifacts() -> str:
            run = workspace.create_run("doctor", "artifacts")
            file = Path(folder) / "hello.txt"
            file.write_text("hello")
            info = workspace.log_artifact(run.id, file)[0]
            with workspace.open_artifact(run.id, "hello.txt") as stream:
                if stream.read() != b"hello":
                    raise RuntimeError("artifact content changed")
            return f"artifact stored and read back (sha256 {info.sha256[:12]})"

        yield _check("metadata store + tracking", tracking)
        yield _check("artifact store", artifacts)
        workspace.close()

    def home() -> str:
        settings = current_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        probe = settings.home / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
        return f"{settings.home} is writable"

    yield _check("LEPTON_HOME", home)
    for extra, module in (("torch", "torch"), ("serve", "fastapi"), ("server", "boto3")):
        found = util.find_spec(module) is not None
        yield Check(
            f"optional: {extra}",
            True,
            "installed" if found else f'not installed (pip install "lepton-ai-sdk[{extra}]")',
        )

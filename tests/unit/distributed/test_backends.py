"""Choosing a backend, and the errors of the Ray backend that need no Ray cluster."""

from __future__ import annotations

import sys

import pytest

import lepton
from lepton.distributed import LocalBackend, RayBackend, get_backend
from lepton.distributed._ray_session import check_version, connect
from lepton.errors import BackendError, ConfigError, InvalidParameterError, MissingDependencyError


def test_the_configured_backend_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(get_backend(), LocalBackend)
    monkeypatch.setenv("LEPTON_BACKEND", "ray")
    lepton.workspace.reset()
    assert isinstance(get_backend(), RayBackend)
    given = RayBackend(num_workers=3)
    assert get_backend(given) is given


def test_ray_settings_come_from_lepton_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "work" / "lepton.yaml").write_text(
        "backend: ray\nray:\n  address: 127.0.0.1:6390\n  workers: 4\n  gpus_per_worker: 1\n"
    )
    lepton.workspace.reset()
    backend = get_backend()
    assert isinstance(backend, RayBackend)
    assert (backend.address, backend.num_workers, backend.use_gpu) == ("127.0.0.1:6390", 4, True)
    monkeypatch.setenv("LEPTON_RAY_ADDRESS", "10.0.0.1:6379")
    assert RayBackend().address == "10.0.0.1:6379"


@pytest.mark.parametrize(
    "kwargs",
    [{"num_workers": 0}, {"num_workers": 1.5}, {"cpus_per_worker": 0}, {"max_failures": -1}],
)
def test_bad_ray_backend_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError, match=next(iter(kwargs))):
        RayBackend(**kwargs)


def test_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="local, ray"):
        get_backend("spark")
    monkeypatch.setenv("LEPTON_BACKEND", "spark")
    lepton.workspace.reset()
    with pytest.raises(ConfigError, match="LEPTON_BACKEND"):
        get_backend()


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like to import
    with pytest.raises(MissingDependencyError, match=r"lepton-ai-sdk\[ray\]"):
        connect()


@pytest.mark.parametrize("version", ["2.9.3", "1.13.0", "3.0.0", "2.39.1"])
def test_unsupported_ray_versions_are_refused(version: str) -> None:
    with pytest.raises(BackendError, match=rf"Ray {version} is installed.*>=2.40,<3"):
        check_version(version)


@pytest.mark.parametrize("version", ["2.40.0", "2.60.0", "2.99.1rc1"])
def test_supported_ray_versions_pass(version: str) -> None:
    check_version(version)


def test_no_cluster_at_the_address_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason='Ray is not installed: pip install "lepton-ai-sdk[ray]"')
    from tests.live_server import free_port

    monkeypatch.setenv("LEPTON_RAY_ADDRESS", f"127.0.0.1:{free_port()}")
    with pytest.raises(
        BackendError, match="No Ray cluster answered at 127.0.0.1:.*ray start --head"
    ):
        connect()
    with pytest.raises(ConfigError, match="not host:port"):
        connect("nonsense")


def test_a_ray_section_that_is_not_a_mapping_is_refused(tmp_path) -> None:
    (tmp_path / "work" / "lepton.yaml").write_text("backend: ray\nray: 127.0.0.1:6379\n")
    lepton.workspace.reset()
    with pytest.raises(ConfigError, match=r"'ray' in lepton.yaml must be a mapping"):
        get_backend()

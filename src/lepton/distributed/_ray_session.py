"""Joining a Ray cluster: the one place that imports ray, checks its version and its resources.

``connect()`` joins the cluster at ``LEPTON_RAY_ADDRESS`` (or ``ray.address`` in lepton.yaml, or
an explicit address), or starts a local one the way ``ray.init()`` does. Ray itself retries an
unreachable address for minutes, so the address is probed first and refused in two seconds.
"""

from __future__ import annotations

import os
import socket
from types import ModuleType
from typing import Any

from lepton.errors import BackendError, ConfigError, MissingDependencyError

#: Ray versions Lepton is tested with: the lower bound has Train V2 and Serve's batching API
SUPPORTED_RAY = ((2, 40), (3, 0))
SUPPORTED_TEXT = ">=2.40,<3"
INSTALL_HINT = 'pip install "lepton-ai-sdk[ray]"'


def ray_module() -> ModuleType:
    """``import ray``, with the install hint and the version check."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            f"backend='ray' needs Ray, which is not installed ({exc}). Install it with: "
            f"{INSTALL_HINT}, or use backend='local'."
        ) from exc
    check_version(ray.__version__)
    return ray


def check_version(version: str) -> None:
    """Refuse a Ray outside :data:`SUPPORTED_RAY` with the command that installs a good one."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    found = tuple(parts + [0] * (2 - len(parts)))
    low, high = SUPPORTED_RAY
    if not low <= found < high:
        raise BackendError(
            f"Ray {version} is installed, but Lepton supports Ray {SUPPORTED_TEXT}. Install a "
            f'supported version with: pip install "ray[default,train,tune,serve]{SUPPORTED_TEXT}" '
            f"(or {INSTALL_HINT})."
        )


def ray_settings() -> dict[str, Any]:
    """The ``ray:`` mapping of lepton.yaml, with ``LEPTON_RAY_ADDRESS`` over its address."""
    from lepton.workspace import current_settings

    section = current_settings().extra.get("ray") or {}
    if not isinstance(section, dict):
        raise ConfigError(
            f"'ray' in lepton.yaml must be a mapping (address:, workers:, gpus_per_worker:), "
            f"got {type(section).__name__}."
        )
    settings = dict(section)
    if os.environ.get("LEPTON_RAY_ADDRESS"):
        settings["address"] = os.environ["LEPTON_RAY_ADDRESS"]
    return settings


LOOPBACK = "127.0.0.1"


def connect(address: str | None = None) -> ModuleType:
    """Join the Ray cluster (``address``, else the configured one, else a new local one).

    Joining twice is free; the driver stays connected for the rest of the process, as with
    ``ray.init()``.
    """
    ray = ray_module()
    if ray.is_initialized():
        return ray
    address = address or ray_settings().get("address") or None
    # Ray would write a token under ~/.ray and demand it from every client unless told not to
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address and address != "auto" and not address.startswith("ray://"):
        _probe(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            # a cluster of our own listens on loopback only, as Lepton's servers do by default
            ray.init(
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                _node_ip_address=LOOPBACK,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise BackendError(
            f"Could not join a Ray cluster {where}: {exc}. Start one with `ray start --head`, "
            "set LEPTON_RAY_ADDRESS to its address (host:port), or unset it to start a local one."
        ) from exc
    return ray


def _probe(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"Ray address {address!r} is not host:port (e.g. 127.0.0.1:6379); set "
            "LEPTON_RAY_ADDRESS or ray.address in lepton.yaml to the head node's address."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            pass
    except OSError as exc:
        raise BackendError(
            f"No Ray cluster answered at {address} ({exc.strerror or exc}). Start one there with "
            f"`ray start --head --port={port}`, or fix LEPTON_RAY_ADDRESS / ray.address in "
            "lepton.yaml (unset it to start a local cluster)."
        ) from exc


def require_resources(*, cpus: float = 0, gpus: float = 0, what: str = "this work") -> None:
    """Refuse work the cluster can never place, instead of letting Ray wait for it forever."""
    ray = connect()
    total = ray.cluster_resources()
    have_gpus = float(total.get("GPU", 0))
    if gpus > have_gpus:
        raise BackendError(
            f"{what} asks for {gpus:g} GPU(s) but the Ray cluster has {have_gpus:g}. Add GPU "
            "nodes to the cluster, or ask for fewer (use_gpu=False trains on CPUs)."
        )
    have_cpus = float(total.get("CPU", 0))
    if cpus > have_cpus:
        raise BackendError(
            f"{what} asks for {cpus:g} CPU(s) but the Ray cluster has {have_cpus:g}. Ask for "
            "fewer workers (num_workers=) or CPUs per worker, or add nodes to the cluster."
        )


def busy_notice(*, cpus: float = 0, gpus: float = 0, what: str = "this work") -> str | None:
    """A line for the user when other work holds resources this work needs now (None: free).

    Ray waits for them without a word (Ray Train retries its worker group forever), so a fit
    on a busy cluster would look stuck.
    """
    free = connect().available_resources()
    short = [
        f"{need:g} {name}(s) ({float(free.get(name, 0)):g} free now)"
        for name, need in (("CPU", cpus), ("GPU", gpus))
        if need > float(free.get(name, 0))
    ]
    if not short:
        return None
    return (
        f"{what} waits for {' and '.join(short)}: other work on the Ray cluster holds them; it "
        "starts when they are free (interrupt to stop)."
    )

"""Deployments: the local control plane, its proxy and replicas, and the Python client."""

from lepton.deployments._client import (
    Client,
    InvalidInputError,
    OverloadedError,
    ServingError,
    UnauthorizedError,
    UnavailableError,
)
from lepton.deployments._daemon import stop as stop_control_plane
from lepton.deployments._deploy import (
    Deployment,
    DeploymentError,
    deploy,
    drift,
    get_deployment,
    list_deployments,
)

__all__ = [
    "Client",
    "Deployment",
    "DeploymentError",
    "InvalidInputError",
    "OverloadedError",
    "ServingError",
    "UnauthorizedError",
    "UnavailableError",
    "deploy",
    "drift",
    "get_deployment",
    "list_deployments",
    "stop_control_plane",
]

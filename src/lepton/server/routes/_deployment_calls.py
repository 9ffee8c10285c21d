"""What the server does with a deployment on a caller's behalf: send it a prediction (the
dashboard's "try it") and measure the drift of its recent inputs.

A prediction goes to the deployment's own address, like any client's, with the control
plane's in-memory token instead of the deployment's API key (the server stores only the key's
hash); the replicas accept both. Drift is ``lepton.deployments.drift`` computed over the
server's own store: the model comes from the registry there, the samples from the scrapes.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse

from lepton.errors import IntegrityError
from lepton.server._errors import error_body
from lepton.workspace._records import DeploymentInfo, ModelVersionInfo

PREDICT_TIMEOUT = 10.0  # seconds; a replica's own request timeout is 10 s by default
LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}


def unavailable(message: str) -> JSONResponse:
    return JSONResponse(
        error_body("deployment_unavailable", message), status_code=503, headers={"retry-after": "5"}
    )


def check_inputs(version: ModelVersionInfo, options: dict[str, Any], inputs: list[Any]) -> None:
    """Refuse inputs the replicas would refuse, with their message, before any forwarding (the
    same RequestSchema as the replicas, from the version's input schema)."""
    from lepton.serving._app import ServerOptions
    from lepton.serving._schema import RequestSchema

    if not version.input_schema:
        return  # nothing to check against here: the replica has the last word
    limit = ServerOptions(**options).max_rows_per_request
    RequestSchema(version.input_schema, max_rows=limit).rows({"inputs": inputs})


def input_error(status: int, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(error_body("invalid_input", message, {"field": field}), status_code=status)


async def forward(info: DeploymentInfo, token: str, inputs: list[Any]) -> JSONResponse:
    """POST ``{"inputs": inputs}`` to the deployment; its answer and status come back as they
    are (errors in the server's error shape), or 503/504 when it cannot be reached in time."""
    import httpx

    host = LOOPBACK.get(info.host, info.host)  # a wildcard bind is reachable on loopback
    url = f"http://{host}:{info.port}/v1/predict"
    try:
        async with httpx.AsyncClient(timeout=PREDICT_TIMEOUT) as client:
            reply = await client.post(
                url, json={"inputs": inputs}, headers={"authorization": f"Bearer {token}"}
            )
    except httpx.TimeoutException:
        return JSONResponse(
            error_body(
                "timeout",
                f"Deployment {info.name!r} did not answer within {PREDICT_TIMEOUT:g} s. "
                f"See `lepton deployments logs {info.name}`.",
            ),
            status_code=504,
        )
    except httpx.TransportError as exc:
        return unavailable(
            f"Deployment {info.name!r} could not be reached at {info.url} ({type(exc).__name__}). "
            f"Check `lepton deployments status {info.name}`."
        )
    try:
        answer = reply.json()
    except ValueError:
        answer = None
    if reply.status_code < 400 and isinstance(answer, dict):
        return JSONResponse(answer, status_code=reply.status_code)
    if reply.status_code in (401, 403):  # never the caller's fault: their key was checked here
        return JSONResponse(
            error_body(
                "bad_gateway",
                f"Deployment {info.name!r} refused the server's token: its replicas were not "
                f"started by this server's control plane. Restart the server, or check "
                f"`lepton deployments status {info.name}`.",
            ),
            status_code=502,
        )
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        error = {"code": "bad_gateway", "message": f"The deployment answered {reply.status_code}."}
    details = {"field": error["field"]} if "field" in error else {}
    return JSONResponse(
        error_body(str(error.get("code", "error")), str(error.get("message", "")), details),
        status_code=reply.status_code,
        headers={"retry-after": reply.headers["retry-after"]}
        if "retry-after" in reply.headers
        else None,
    )


# drift ------------------------------------------------------------------------------------------
_MODELS: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
_MODELS_KEPT = 4  # loaded models stay for the next drift request; a few, they can be large
_LOADING = threading.Lock()


def drift(workspace: Any, name: str, since: float) -> Any:
    """The DriftReport of deployment ``name`` over the samples since ``since`` (a timestamp)."""
    from lepton.monitoring._drift import DriftReport, compare
    from lepton.serving._predictor import Predictor

    info = workspace.get_deployment(name)
    version = workspace.get_model_version(info.model_name, version=info.model_version)
    model = _model(workspace, version)
    samples = workspace.request_samples(name, since=since)
    if model.reference is None:
        return DriftReport(
            name,
            len(samples),
            note="The model has no training reference (only table models keep one); drift "
            "cannot be measured.",
        )
    columns = [c["name"] for c in (model.input_schema or {}).get("columns", [])]
    predictor = Predictor(model)
    return compare(
        name, model.reference, columns, samples, predict=lambda rows: predictor.predict(rows)[0]
    )


def _model(workspace: Any, version: ModelVersionInfo) -> Any:
    """The model of ``version`` from the store, verified by hash, kept for the next call."""
    from lepton.data._io import file_sha256
    from lepton.models._bundle import load_bundle

    key = (version.name, version.version, version.bundle_sha256)
    with _LOADING:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        with tempfile.TemporaryDirectory(prefix="lepton-drift-") as tmp:
            path = workspace.download_model_bundle(
                version.name, version.version, Path(tmp) / "model.lepton"
            )
            if file_sha256(path) != version.bundle_sha256:
                raise IntegrityError(
                    f"The stored bundle of {version.ref} does not match the sha256 recorded at "
                    "registration: it was changed in the artifact store. Run `lepton models "
                    "verify` and re-register it."
                )
            model = load_bundle(path)
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
        return model

"""What the server does with a deployment on a caller's behalf: send it a prediction (the
dashboard's "try it").

A prediction goes to the deployment's own address, like any client's, with the control
plane's in-memory token instead of the deployment's API key (the server stores only the key's
hash); the replicas accept both.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

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

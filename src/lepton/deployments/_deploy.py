"""``lepton.deploy`` and the ``Deployment`` handle: desired state in the store, the control
plane makes it so."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton._validation import check_name
from lepton.deployments._client import Client
from lepton.errors import InvalidParameterError, LeptonError

if TYPE_CHECKING:
    from lepton.monitoring import DriftReport


class DeploymentError(LeptonError, RuntimeError):
    code = "deployment_failed"


def _workspace() -> Any:
    from lepton.workspace import get_workspace

    return get_workspace()


class Deployment:
    """A deployed model: status, scale, update, stop, logs, metrics, drift and a client."""

    def __init__(self, name: str, api_key: str | None = None) -> None:
        self.name = name
        self.api_key = api_key  # only known right after creation: shown once

    @property
    def info(self) -> Any:
        return _workspace().get_deployment(self.name)

    @property
    def url(self) -> str:
        return str(self.info.url)

    def status(self) -> dict[str, Any]:
        info = self.info
        replicas = info.state.get("replicas", [])
        return {
            "name": info.name,
            "status": info.status,
            "desired": info.desired,
            "model": info.model_ref,
            "served_versions": info.state.get("served_versions", []),
            "replicas": info.replicas,
            "ready": sum(1 for r in replicas if r["status"] == "ready"),
            "restarts": info.state.get("restarts", 0),
            "url": info.url,
            "backend": (info.options or {}).get("backend", "local"),
            "public": info.public,
            "error": info.error,
            "replica_details": replicas,
        }

    def wait(self, timeout: float = 300.0) -> Deployment:
        """Block until every replica serves the desired version (or raise with the reason)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.info
            if info.status == "failed":
                raise DeploymentError(
                    f"Deployment {self.name!r} failed: {info.error}. Logs: lepton deployments logs {self.name}"
                )
            served = info.state.get("served_versions", [])
            replicas = info.state.get("replicas", [])
            # the status may predate a change just asked for (scale keeps it "running"), so the
            # replicas themselves must match: as many as desired, all ready
            expected = info.state.get("target_replicas", info.replicas)  # Ray autoscaling
            settled = len(replicas) == expected and all(r["status"] == "ready" for r in replicas)
            if info.status == "running" and served == [info.model_version] and settled:
                return self
            time.sleep(0.2)
        raise DeploymentError(
            f"Deployment {self.name!r} is not ready after {timeout:.0f} s (status {self.info.status}). "
            f"See `lepton deployments logs {self.name}`."
        )

    def scale(self, replicas: int, wait: bool = True) -> Deployment:
        _check_replicas(replicas)
        if ((self.info.options or {}).get("ray") or {}).get("autoscaling"):
            raise InvalidParameterError(
                f"Deployment {self.name!r} autoscales on Ray Serve (config['ray']['autoscaling']); "
                "change its min_replicas/max_replicas by deploying again with a new config."
            )
        _workspace().update_deployment(self.name, replicas=replicas)
        return self.wait() if wait else self

    def update(
        self, model_ref: str, *, override_reason: str | None = None, wait: bool = True
    ) -> Deployment:
        """Roll the replicas to another model version, one at a time, without failed requests."""
        version = _checked_version(model_ref, override_reason)
        if version.name != self.info.model_name:
            raise InvalidParameterError(
                f"Deployment {self.name!r} serves {self.info.model_name}; deploy {version.name} under another name."
            )
        workspace = _workspace()
        workspace.update_deployment(
            self.name,
            model_version=version.version,
            status="updating",
            **_for_the_server(workspace, override_reason),
        )
        return self.wait() if wait else self

    def stop(self, wait: bool = True, timeout: float = 60.0) -> None:
        _workspace().update_deployment(self.name, desired="stopped")
        deadline = time.time() + timeout
        while wait and time.time() < deadline and self.info.status != "stopped":
            time.sleep(0.2)

    def logs(self, replica: int | None = None, tail: int = 200) -> str:
        """The last ``tail`` lines each replica wrote (from the server, when connected to one)."""
        workspace = _workspace()
        if getattr(workspace, "remote", False):
            return str(workspace.deployment_logs(self.name, replica, tail))
        from lepton.workspace import current_settings

        folder = current_settings().home / "deployments" / self.name
        return replica_logs(folder, self.name, replica, tail)

    def metrics(self, since: str | None = "1h") -> list[dict[str, Any]]:
        """The deployment's metric series (QPS, error rate, latency percentiles, batch size...)."""
        from lepton.monitoring._series import series

        return series(_workspace(), self.name, since)

    def drift(self, since: str | None = None) -> DriftReport:
        return drift(self.name, since)

    def client(self, api_key: str | None = None, **options: Any) -> Client:
        return Client(self.url, api_key or self.api_key, **options)

    def __repr__(self) -> str:
        return f"Deployment({self.name!r}, url={self.url!r})"

    def _repr_html_(self) -> str:
        status = self.status()
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in status.items()
            if k != "replica_details"
        )
        return f"<b>Deployment {html.escape(self.name)}</b><table>{rows}</table>"


def _check_replicas(replicas: Any) -> None:
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 1 <= replicas <= 64:
        raise InvalidParameterError(f"replicas must be an int from 1 to 64, got {replicas!r}.")


def replica_logs(folder: Path, name: str, replica: int | None, tail: int) -> str:
    """The last ``tail`` lines of each replica log the control plane wrote in ``folder``."""

    def slot(path: Path) -> int:
        return int(path.stem.split("-")[1])

    files = sorted(folder.glob("replica-*.log"), key=slot)
    if replica is not None:
        files = [f for f in files if slot(f) == replica]
        if not files:
            raise InvalidParameterError(
                f"No logs for replica {replica} of {name!r}; replicas with logs: "
                f"{sorted(slot(p) for p in folder.glob('replica-*.log'))}."
            )
    lines: list[str] = []
    for file in files:
        lines += [
            f"[{file.stem}] {line}"
            for line in file.read_text(errors="replace").splitlines()[-tail:]
        ]
    return "\n".join(lines[-tail * max(1, len(files)) :])


_SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def _check_secrets(secrets: Any) -> list[str]:
    """The secret names of ``lepton.deploy(secrets=...)``, without duplicates."""
    if secrets is None:
        return []
    if isinstance(secrets, str) or not isinstance(secrets, list | tuple):
        raise InvalidParameterError(
            f"secrets must be a list of secret names, e.g. secrets=['DB_PASSWORD'], got {secrets!r}."
        )
    bad = [s for s in secrets if not isinstance(s, str) or not _SECRET_NAME.match(s)]
    if bad:
        raise InvalidParameterError(
            f"Invalid secret name(s) {bad!r}: a secret name has 1-200 letters, digits, '_', '.' "
            "or '-' (see `lepton secrets list`)."
        )
    return list(dict.fromkeys(secrets))


def missing_secrets(meta: Any, project: str, names: list[str]) -> list[str]:
    """The names among ``names`` that project ``project`` has no secret for."""
    if not names:
        return []
    from lepton.store import _schema as t

    stored = {r["name"] for r in meta.rows(t.secrets, project=project)}
    return [n for n in names if n not in stored]


def _for_the_server(workspace: Any, override_reason: str | None) -> dict[str, Any]:
    """What a team server needs besides the desired state: it runs the project's policies on
    the version again, so an override reason given here must reach it (and it records it)."""
    remote = bool(getattr(workspace, "remote", False))
    return {"override_reason": override_reason} if remote and override_reason is not None else {}


def _checked_version(model_ref: str, override_reason: str | None) -> Any:
    """The registered version, after the governance policies allow it to be deployed."""
    from lepton.governance import guard_promotion
    from lepton.registry import get_version

    version = get_version(model_ref)
    guard_promotion(version, "deployment", override_reason, action="deploy")
    return version


def deploy(
    model_ref: str,
    *,
    name: str | None = None,
    replicas: int = 1,
    backend: str | None = None,
    config: dict[str, Any] | None = None,
    port: int | None = None,
    public: bool = False,
    override_reason: str | None = None,
    secrets: list[str] | None = None,
    wait: bool = True,
) -> Deployment:
    """Deploy a registered model behind one protected, batched, monitored address.

    The local control plane (started in the background when none runs) starts ``replicas``
    processes behind a proxy on ``127.0.0.1:port``, restarts any that die, and rolls updates.
    Connected to a team server (``lepton login`` / ``LEPTON_URL``), the server's control plane
    does it, on the server (which picks a free port unless ``port`` is given).
    Unless ``public``, a new API key is created and returned once as ``deployment.api_key``.
    Governance policies run first; a failing model needs ``override_reason``. ``secrets`` names
    secrets of the project (``lepton secrets set``) the replicas get as environment variables.
    ``backend="ray"`` (or ``LEPTON_BACKEND=ray``) runs the replicas on Ray Serve at
    ``LEPTON_RAY_ADDRESS`` behind the same address and HTTP contract; ``config={"ray": {...}}``
    holds its settings (``num_cpus``, ``num_gpus``, ``max_ongoing_requests``, ``autoscaling``).

    Example:
        >>> dep = lepton.deploy("credit-risk@production", name="credit", replicas=2)
        >>> dep.client().predict(rows)
    """
    from lepton.deployments._daemon import ensure_running
    from lepton.distributed import get_backend
    from lepton.security import generate_key, hash_key
    from lepton.serving._app import ServerOptions
    from lepton.serving._server import free_port
    from lepton.workspace import current_settings

    where = get_backend(backend).name
    _check_replicas(replicas)
    secret_names = _check_secrets(secrets)
    settings = dict(config or {})
    ray_settings = settings.pop("ray", None)
    options = ServerOptions(**settings)  # unknown settings fail here, naming themselves
    stored = dict(vars(options))
    workspace = _workspace()
    remote = bool(getattr(workspace, "remote", False))
    if where == "ray":
        stored.update(_ray_options(ray_settings, remote))
    elif ray_settings is not None:
        raise InvalidParameterError(
            "config['ray'] holds Ray Serve settings, which only a backend='ray' deployment "
            "uses; pass backend='ray' (or set LEPTON_BACKEND=ray), or leave config['ray'] out."
        )
    version = _checked_version(model_ref, override_reason)
    name = check_name("deployment", name or version.name)
    project = current_settings().project
    try:
        existing = workspace.get_deployment(name)
    except LookupError:
        existing = None
    key = None
    if existing is None or existing.public != public:
        key = None if public else generate_key()
        key_hash = hash_key(key) if key else None
    else:
        key_hash = workspace.deployment_key_hash(name)  # the key given out before stays valid
    if not remote:  # a server checks them itself, in the project the deployment lives in
        missing = missing_secrets(workspace.meta, project, secret_names)
        if missing:
            raise InvalidParameterError(
                f"Project {project!r} has no secret(s) {', '.join(missing)}. Set them first "
                "with `lepton secrets set NAME`, or leave them out of secrets=[...]."
            )
    values: dict[str, Any] = {
        "model_name": version.name,
        "model_version": version.version,
        "desired": "running",
        "status": "pending",
        "replicas": replicas,
        "key_hash": key_hash,
        "options": stored,
        "secrets": secret_names,
    }
    if remote:  # the server decides where its deployments listen
        values["port"] = port or (existing.port if existing else None)
        values.update(_for_the_server(workspace, override_reason))
    else:
        values["host"] = "127.0.0.1"
        values["port"] = port or (existing.port if existing else free_port())
    workspace.save_deployment(name, project, values)
    if not remote:
        ensure_running()
    deployment = Deployment(name, key)
    return deployment.wait() if wait else deployment


def _ray_options(settings: Any, remote: bool) -> dict[str, Any]:
    """What a Ray Serve deployment stores besides the serving options, after refusing one that
    cannot run (no cluster at the configured address, GPUs the cluster lacks)."""
    from lepton.distributed._ray_serve import check_deployable, check_ray_options

    if remote:
        raise InvalidParameterError(
            "backend='ray' deployments are run by a local control plane in this version; a "
            "team server's control plane serves backend='local' only. Deploy without LEPTON_URL "
            "(or `lepton logout`), or use backend='local'."
        )
    ray_options = check_ray_options(settings)
    check_deployable(ray_options)
    return {"backend": "ray", "ray": ray_options}


def get_deployment(name: str) -> Deployment:
    _workspace().get_deployment(name)
    return Deployment(name)


def list_deployments() -> list[dict[str, Any]]:
    return [Deployment(d.name).status() for d in _workspace().list_deployments()]


def drift(name: str, since: str | None = None) -> DriftReport:
    """Drift of a deployment's recent inputs (and predictions) against its training data.

    ``since``: how far back the samples go (``"1h"``, ``"2d"``; default: every sample kept).
    """
    from lepton.deployments._drift import drift_of
    from lepton.monitoring._series import parse_since

    # the window counts from the call: loading the model first would shorten it by seconds
    window = time.time() - parse_since(since) if since else 0.0
    return drift_of(_workspace(), name, window)

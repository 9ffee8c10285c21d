"""``lepton.deploy(..., backend="ray")``: a deployment's replicas as a Ray Serve application.

The control plane stays what it is for a local deployment: it owns the deployment's one address
(its proxy on ``host:port``), reconciles the desired state from the store, scrapes metrics and
evaluates alerts. Only the replicas move: they are the replicas of one Serve application (one
per Lepton deployment), which the control plane (a Ray driver, joined through
``_ray_session.connect()``) creates, scales, rolls to a new model version and deletes.

The proxy reaches the replicas through a Serve handle (:class:`ServeUpstream`), not through
Serve's HTTP proxy, which Lepton starts disabled: the deployment's address is the only thing
that listens, on loopback unless told otherwise, and its paths, bodies, status codes and API-key
check are those of a local deployment because each replica runs Lepton's inference app.

Metrics: every replica pushes its Prometheus text and sampled requests each second to a small
collector actor of the deployment (owned by the control plane, so it goes with it), which the
scrape loop reads instead of scraping replica ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.deployments._http import Message, Upstream
from lepton.errors import BackendError, InvalidParameterError

#: the Ray-only settings a deployment's ``config={"ray": {...}}`` may hold
RAY_SETTINGS = ("num_cpus", "num_gpus", "max_ongoing_requests", "autoscaling")
AUTOSCALING_SETTINGS = (
    "min_replicas",
    "max_replicas",
    "initial_replicas",
    "target_ongoing_requests",
    "upscale_delay_s",
    "downscale_delay_s",
)
#: defaults: half a CPU per replica lets a rolling update start the new replicas beside the old
#: ones on a small cluster; Serve's default of 5 requests in flight per replica makes it reject
#: and retry under concurrent load (../shared ENVIRONMENT: ~10 req/s at 64 clients)
DEFAULT_CPUS = 0.5
DEFAULT_MAX_ONGOING = 128
FRESH_SECONDS = 10.0  # a replica that pushed nothing for this long no longer counts as ready
NAMESPACE = "lepton"


def check_ray_options(options: Any) -> dict[str, Any]:
    """The validated ``config["ray"]`` of a deployment (``{}`` when absent)."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise InvalidParameterError(
            f"config['ray'] must be a mapping of Ray settings ({', '.join(RAY_SETTINGS)}), "
            f"got {type(options).__name__}."
        )
    unknown = sorted(set(options) - {*RAY_SETTINGS, "address"})
    if unknown:
        raise InvalidParameterError(
            f"Unknown Ray serving setting(s) {', '.join(unknown)} in config['ray']; "
            f"settings: {', '.join(RAY_SETTINGS)}."
        )
    for key in ("num_cpus", "num_gpus"):
        value = options.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidParameterError(
                f"config['ray']['{key}'] must be a number >= 0 (per replica), got {value!r}."
            )
    ongoing = options.get("max_ongoing_requests", DEFAULT_MAX_ONGOING)
    if isinstance(ongoing, bool) or not isinstance(ongoing, int) or ongoing < 1:
        raise InvalidParameterError(
            f"config['ray']['max_ongoing_requests'] must be a whole number >= 1, got {ongoing!r}."
        )
    scaling = options.get("autoscaling")
    if scaling is not None:
        if not isinstance(scaling, dict):
            raise InvalidParameterError(
                "config['ray']['autoscaling'] must be a mapping such as "
                "{'min_replicas': 1, 'max_replicas': 4}, got "
                f"{type(scaling).__name__}."
            )
        bad = sorted(set(scaling) - set(AUTOSCALING_SETTINGS))
        if bad:
            raise InvalidParameterError(
                f"Unknown autoscaling setting(s) {', '.join(bad)}; settings: "
                f"{', '.join(AUTOSCALING_SETTINGS)}."
            )
        low, high = scaling.get("min_replicas", 1), scaling.get("max_replicas", 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not (
            0 <= low <= high
        ):
            raise InvalidParameterError(
                "config['ray']['autoscaling'] needs whole numbers 0 <= min_replicas <= "
                f"max_replicas, got min_replicas={low!r}, max_replicas={high!r}."
            )
    checked = dict(options)
    # the cluster this process would use: the control plane serves there, whatever its own
    # environment says (it may have been started before LEPTON_RAY_ADDRESS was set)
    from lepton.distributed._ray_session import ray_settings

    address = ray_settings().get("address") or _joined_address()
    if address:
        checked["address"] = str(address)
    return checked


def _joined_address() -> str | None:
    """The cluster this process already joined with ``ray.init()`` (a notebook's), if any."""
    import sys

    ray = sys.modules.get("ray")  # never imported here just to ask
    if ray is None or not ray.is_initialized():
        return None
    return str(ray.get_runtime_context().gcs_address)


def check_deployable(options: dict[str, Any]) -> None:
    """Refuse, in the caller's process, a Ray deployment that could never run: no cluster at
    the configured address, or more GPUs per replica than the cluster has.

    Only a GPU request joins the cluster from here (the control plane is the driver that
    serves); otherwise the address is only probed, which takes milliseconds.
    """
    from lepton.distributed._ray_session import _probe, ray_module, require_resources

    ray_module()  # the install hint when Ray is missing
    address = options.get("address")
    if address and address != "auto" and not str(address).startswith("ray://"):
        _probe(str(address))
    gpus = float(options.get("num_gpus", 0) or 0)
    if gpus:
        require_resources(
            cpus=float(options.get("num_cpus", DEFAULT_CPUS)),
            gpus=gpus,
            what="Each replica of this deployment",
        )


def app_name(store: str, name: str) -> str:
    """The Serve application of deployment ``name``: distinct per Lepton store, since two
    workspaces (a laptop and a team server) may serve on one cluster."""
    digest = hashlib.sha256(store.encode()).hexdigest()[:8]
    return f"lepton-{digest}-{name}"


@dataclass
class ServeSpec:
    """What one Serve application must look like (from the deployment's stored state)."""

    name: str
    version: int
    bundle: Path
    key_hash: str | None
    options: dict[str, Any]  # the deployment's ServerOptions, backend and ray settings included
    replicas: int
    internal_hash: str
    config: str  # model version, key and options: a change rolls the replicas


class Collector:
    """A deployment's metrics mailbox (a Ray actor): replicas push, the control plane takes."""

    def __init__(self) -> None:
        self.replicas: dict[str, dict[str, Any]] = {}
        self.samples: list[dict[str, Any]] = []

    def push(self, report: dict[str, Any]) -> None:
        if report.get("gone"):
            self.replicas.pop(report["replica_id"], None)
        else:
            self.replicas[report["replica_id"]] = {**report, "seen": time.time(), "samples": []}
        version = report.get("version")
        self.samples.extend({**s, "version": version} for s in report.get("samples", []))
        del self.samples[:-2000]  # bounded while nobody collects

    def take(self) -> dict[str, Any]:
        now = time.time()
        replicas = [
            {**r, "age": now - r["seen"]}
            for r in self.replicas.values()
            if now - r["seen"] < 60  # replicas killed without a word are forgotten
        ]
        samples, self.samples = self.samples, []
        return {"replicas": replicas, "samples": samples}


class ServeUpstream(Upstream):
    """The proxy's one upstream for a Ray deployment: requests go through a Serve handle, which
    picks a replica (and queues while none is free); its answer comes back as an HTTP message."""

    def __init__(self, handle: Any) -> None:
        super().__init__("ray-serve", 0)
        self.handle = handle
        self._http = handle.options(method_name="http")  # once, not per request

    async def request(self, raw: bytes, timeout: float = 60.0) -> Message:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        method, target = lines[0].split(b" ")[:2]
        headers = []
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            headers.append((key.strip().lower(), value.strip()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for delay in RETRY_DELAYS:
            try:
                status, out_headers, out = await asyncio.wait_for(
                    self._http.remote(method, target, headers, body), deadline - loop.time()
                )
                break
            except TimeoutError as exc:  # it got the request and did not answer: no retry
                raise ConnectionError(f"Ray Serve did not answer in {timeout:.0f} s") from exc
            except Exception as exc:  # no answer (its replica died, its node went away)
                # a prediction is safe to send again, as the proxy does between local replicas;
                # Serve's router needs a moment to learn a replica is gone
                if delay is None or loop.time() + delay >= deadline:
                    raise ConnectionError(f"Ray Serve: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(delay)
        kept = [(k, v) for k, v in out_headers if k.lower() not in (b"content-length",)]
        raw_head = (
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Status"))
            + b"".join(k + b": " + v + b"\r\n" for k, v in kept)
            + b"content-length: %d\r\n\r\n" % len(out)
        )
        return Message(raw_head.split(b"\r\n", 1)[0], kept, out, raw_head)

    async def get(self, path: str, token: str | None = None, timeout: float = 5.0) -> Message:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        raw = f"GET {path} HTTP/1.1\r\nHost: lepton\r\n{auth}\r\n".encode()
        return await self.request(raw, timeout)

    def close(self) -> None:
        return None


RETRY_DELAYS = (0.2, 0.5, 1.0, None)  # seconds before each new try; None: the last try
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
    422: b"Unprocessable Entity",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


@dataclass
class ServeApp:
    """The control plane's side of one Serve application. Every method blocks (Ray calls):
    the control plane runs them in a thread."""

    name: str  # the Lepton deployment
    app: str  # the Serve application
    applied: tuple[str, int] | None = None  # (config, replicas) last sent to Serve
    upstream: ServeUpstream | None = None
    previous: dict[str, Any] = field(default_factory=dict)  # replica id -> last scrape snapshot
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # replica id -> latest
    samples: list[dict[str, Any]] = field(default_factory=list)  # not yet taken by a scrape
    _actor: Any = None

    @property
    def collector_name(self) -> str:
        return f"{self.app}-metrics"

    def _collector(self) -> Any:
        """The deployment's collector actor, created on the control plane's node (it dies with
        the control plane, and a new one is made when it is gone)."""
        from lepton.distributed._ray_session import connect

        if self._actor is not None:
            return self._actor
        ray = connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        actor = ray.remote(num_cpus=0, max_restarts=0)(Collector)
        self._actor = actor.options(
            name=self.collector_name,
            namespace=NAMESPACE,
            get_if_exists=True,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
        ).remote()
        return self._actor

    def apply(self, spec: ServeSpec) -> None:
        """Create, scale or roll the application to ``spec`` (returns before it is running)."""
        from lepton.distributed._ray_session import require_resources

        address = (spec.options.get("ray") or {}).get("address")
        joined(address)
        from ray import serve

        from lepton.distributed._ray_serve_replica import LeptonReplica

        ray_options = dict(spec.options.get("ray") or {})
        cpus = float(ray_options.get("num_cpus", DEFAULT_CPUS))
        gpus = float(ray_options.get("num_gpus", 0) or 0)
        require_resources(cpus=cpus, gpus=gpus, what=f"Each replica of deployment {self.name!r}")
        serve.start(proxy_location="Disabled", http_options={"host": "127.0.0.1"})
        self._collector()
        server = {k: v for k, v in spec.options.items() if k not in ("backend", "ray")}
        scaling = ray_options.get("autoscaling")
        settings: dict[str, Any] = {
            "max_ongoing_requests": int(
                ray_options.get("max_ongoing_requests", DEFAULT_MAX_ONGOING)
            ),
            "ray_actor_options": {"num_cpus": cpus, "num_gpus": gpus},
            "user_config": {"internal_hash": spec.internal_hash},
            # old replicas serve until their replacements are ready: no failed request
            "max_surge_percent": 100,
            "graceful_shutdown_timeout_s": float(server.get("request_timeout", 10.0)) + 5,
            # a model that cannot load fails the deployment in seconds, not after 20 tries
            "max_constructor_retry_count": 3,
        }
        if scaling:
            settings["autoscaling_config"] = dict(scaling)
        else:
            settings["num_replicas"] = spec.replicas
        replica: Any = LeptonReplica  # a serve.Deployment (the decorator hides it from mypy)
        deployment = _versioned(replica.options(**settings), spec.config)
        application = deployment.bind(
            _bundle_bytes(spec.bundle),
            spec.name,
            spec.version,
            spec.key_hash,
            server,
            (self.collector_name, NAMESPACE),
        )
        serve._run(application, _blocking=False, name=self.app, route_prefix=None)
        self.applied = (spec.config, spec.replicas)
        if self.upstream is None:
            self.upstream = ServeUpstream(serve.get_app_handle(self.app))

    def observe(self) -> dict[str, Any]:
        """Serve's view of the application and the replicas' latest reports (one call each)."""
        from lepton.distributed._ray_session import connect

        ray = connect()
        from ray import serve

        status = serve.status().applications.get(self.app)
        try:
            taken = ray.get(self._collector().take.remote(), timeout=10.0)
        except Exception:  # a lost collector (its node went away) is made again next time
            self._actor = None
            taken = {"replicas": [], "samples": []}
        self.reports = {r["replica_id"]: r for r in taken["replicas"]}
        self.samples = (self.samples + taken["samples"])[-5000:]
        observed: dict[str, Any] = {"app": None, "message": "", "states": {}, **taken}
        if status is not None:
            observed["app"] = _text(status.status)
            observed["message"] = status.message
            for overview in status.deployments.values():
                observed["states"] = {_text(k): v for k, v in overview.replica_states.items()}
                observed["message"] = observed["message"] or overview.message
        return observed

    def take_metrics(self) -> dict[str, str]:
        """Replica id -> Prometheus text of each replica that reported lately."""
        fresh = {
            key: str(report["metrics"])
            for key, report in self.reports.items()
            if report["age"] < FRESH_SECONDS and "metrics" in report
        }
        self.previous = {k: v for k, v in self.previous.items() if k in fresh}
        return fresh

    def take_samples(self) -> list[dict[str, Any]]:
        """The sampled requests pushed since the last call (each with its model version)."""
        taken, self.samples = self.samples, []
        return taken

    def delete(self) -> None:
        """Delete the application (replicas finish in-flight requests) and its collector."""
        from lepton.distributed._ray_session import connect

        ray = connect()
        from ray import serve

        serve.delete(self.app, _blocking=True)
        with contextlib.suppress(ValueError):  # no collector: nothing to stop
            ray.kill(ray.get_actor(self.collector_name, namespace=NAMESPACE))
        self.applied, self.upstream, self._actor = None, None, None


def joined(address: str | None) -> Any:
    """The ``ray`` module joined to the cluster at ``address`` (default: the configured one).

    A process joins one cluster for its life: a deployment asking for another one than the
    control plane serves on is refused with the way out.
    """
    from lepton.distributed._ray_session import connect

    ray = connect(address)
    if address and ":" in address and not address.startswith("ray://"):
        current = str(ray.get_runtime_context().gcs_address)
        if current != address:
            raise BackendError(
                f"This deployment asks for the Ray cluster at {address}, but the control plane "
                f"already serves on the one at {current}; a control plane joins one cluster. "
                "Stop it (`lepton dev --stop`) and deploy again, or deploy with "
                f"LEPTON_RAY_ADDRESS={current}."
            )
    return ray


def lepton_state(
    observed: dict[str, Any], desired_version: int, desired_count: int, autoscaled: bool
) -> tuple[str, dict[str, Any], str | None]:
    """The deployment's status, the state the control plane stores, and an error (or None),
    from what :meth:`ServeApp.observe` saw."""
    fresh = [r for r in observed["replicas"] if r["age"] < FRESH_SECONDS]
    replicas = [
        {
            "slot": i,
            "replica_id": r["replica_id"],
            "pid": r.get("pid"),
            "port": None,
            "node": r.get("node"),
            "node_id": r.get("node_id"),
            "version": r.get("version"),
            "status": "ready",
            "started_at": r.get("started_at"),
        }
        for i, r in enumerate(sorted(fresh, key=lambda r: r.get("started_at") or 0))
    ]
    states = observed["states"]
    starting = sum(int(states.get(s, 0)) for s in ("STARTING", "UPDATING", "RECOVERING"))
    for i in range(starting):
        replicas.append(
            {
                "slot": len(replicas) + i,
                "replica_id": None,
                "pid": None,
                "port": None,
                "node": None,
                "node_id": None,
                "version": desired_version,
                "status": "starting",
                "started_at": None,
            }
        )
    versions = sorted({r["version"] for r in replicas if r["status"] == "ready"})
    running = int(states.get("RUNNING", 0))
    target = running if autoscaled else desired_count
    state: dict[str, Any] = {
        "replicas": replicas,
        "served_versions": versions,
        "backend": "ray",
        "serve_status": observed["app"],
        "serve_replicas": states,
    }
    if autoscaled:
        state["target_replicas"] = max(target, 1)
    app = observed["app"]
    if app == "DEPLOY_FAILED" or app == "UNHEALTHY":
        return "failed", state, f"Ray Serve: {app}: {observed['message']}".strip()
    ready = [r for r in replicas if r["status"] == "ready"]
    if (
        app == "RUNNING"
        and len(ready) >= target
        and running == len(ready)
        and versions == [desired_version]
    ):
        return "running", state, None
    if ready and any(r["version"] != desired_version for r in ready):
        return "updating", state, None
    return ("starting" if not ready else "scaling"), state, None


def _text(value: Any) -> str:
    """An enum member's value or the string Serve already gave."""
    return str(getattr(value, "value", value))


def _versioned(deployment: Any, version: str) -> Any:
    """The deployment with a fixed code version: a change of replica count then scales in
    place, and only a new model, key or setting (a new version) rolls the replicas. Serve's
    public options no longer take a version; without it, every change rolls them."""
    try:
        return deployment.options(version=version, _internal=True)
    except (TypeError, ValueError):
        return deployment


def _bundle_bytes(path: Path) -> bytes:
    """The bundle as bytes (replicas may run on other machines; they get no store access)."""
    if path.is_file():
        return path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in sorted(path.rglob("*")):
            if item.is_file():
                archive.write(item, item.relative_to(path).as_posix())
    return buffer.getvalue()

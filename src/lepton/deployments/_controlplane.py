"""The control plane: makes every deployment in the store look like its desired state.

Each tick it starts, health-checks and restarts replicas, rolls a new model version through
them one at a time, scales, and stops; every few seconds it scrapes the replicas' metrics
and sampled requests into the store and evaluates alert rules. Its state lives in the store,
so a restarted control plane picks every deployment up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.deployments._proxy import Proxy
from lepton.deployments._replicas import Replica, start_replica
from lepton.monitoring import _alerts, _scrape, _series
from lepton.security import hash_key

TICK = 0.5
READY_TIMEOUT = 180.0
FAILED_CHECKS = 3


@dataclass
class Runtime:
    """What the control plane holds for one deployment."""

    name: str
    port: int
    proxy: Proxy
    folder: Path
    # scrapes and the server's forwarded predictions; in memory only, new at each start
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    replicas: list[Replica] = field(default_factory=list)
    restarts: int = 0
    next_slot: int = 0
    snapshots: dict[int, _scrape.Snapshot] = field(default_factory=dict)
    last_scrape: float = 0.0
    drift_psi: float = 0.0
    last_drift: float = 0.0
    backend: str = "local"
    # backend "ray": the Serve application of the deployment (lepton.distributed._ray_serve)
    serve: Any = None
    serve_state: dict[str, Any] = field(default_factory=dict)


def backend_of(info: Any) -> str:
    """Where the deployment's replicas run: "local" (processes here) or "ray" (Ray Serve)."""
    return str((info.options or {}).get("backend", "local"))


class ControlPlane:
    def __init__(self, workspace: Any, home: Path, scrape_interval: float = 5.0) -> None:
        self.workspace = workspace
        self.home = home
        self.scrape_interval = scrape_interval
        self.runtimes: dict[str, Runtime] = {}
        self._stopping = False
        self._last_rollup = 0.0

    # lifecycle ------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while not self._stopping:
                await self.tick()
                await asyncio.sleep(TICK)
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stopping = True

    async def shutdown(self) -> None:
        """Stop serving: replicas finish in-flight requests; desired states stay in the store."""
        for name, runtime in list(self.runtimes.items()):
            await self._teardown(runtime)
            with contextlib.suppress(Exception):
                self.workspace.update_deployment(
                    name,
                    status="stopped" if self._desired(name) == "stopped" else "pending",
                    state=self._state(runtime),
                )
        self.runtimes.clear()

    def internal_token(self, name: str) -> str | None:
        """The token the replicas of ``name`` accept besides the deployment's own key (None:
        not running here). The server forwards the dashboard's predictions with it."""
        runtime = self.runtimes.get(name)
        return runtime.token if runtime is not None else None

    def _desired(self, name: str) -> str:
        try:
            return str(self.workspace.get_deployment(name).desired)
        except LookupError:
            return "stopped"

    # reconcile ------------------------------------------------------------------------------------
    async def tick(self) -> None:
        infos = {d.name: d for d in self.workspace.list_deployments()}
        for name, runtime in list(self.runtimes.items()):
            if name not in infos or infos[name].desired == "stopped":
                await self._teardown(runtime)
                del self.runtimes[name]
                if name in infos:
                    self.workspace.update_deployment(
                        name, status="stopped", state={**self._state(runtime), "replicas": []}
                    )
        for name, info in infos.items():
            if info.desired != "running":
                continue
            try:
                await self._reconcile(info)
            except Exception as exc:  # one broken deployment must not stop the others
                self.workspace.update_deployment(
                    name, status="failed", error=f"{type(exc).__name__}: {exc}"
                )
        now = time.time()
        for runtime in self.runtimes.values():
            if now - runtime.last_scrape >= self.scrape_interval:
                await self._scrape(runtime, now)
        if now - self._last_rollup >= 60:
            self._last_rollup = now
            for name in self.runtimes:
                _series.rollup(self.workspace, name, now)

    async def _reconcile(self, info: Any) -> None:
        runtime = self.runtimes.get(info.name)
        backend = backend_of(info)
        if runtime is None or runtime.port != info.port or runtime.backend != backend:
            if runtime is not None:
                await self._teardown(runtime)
            proxy = Proxy(info.host, info.port)
            try:
                await proxy.start()
            except OSError as exc:
                self.workspace.update_deployment(
                    info.name,
                    status="failed",
                    error=f"Port {info.port} is not free ({exc}); pick another with port=...",
                )
                return
            runtime = Runtime(info.name, info.port, proxy, self.home / "deployments" / info.name)
            # a restarted control plane goes on counting where the last one stopped
            runtime.restarts = int(info.state.get("restarts", 0))
            runtime.backend = backend
            self.runtimes[info.name] = runtime
        if backend == "ray":
            await self._reconcile_serve(runtime, info)
            return
        desired_version, desired_count = int(info.model_version), int(info.replicas)
        config = _config_id(info, self.workspace.deployment_key_hash(info.name))
        # 1. replicas that died are replaced (a crash loop backs off)
        for replica in list(runtime.replicas):
            if not replica.alive:
                runtime.replicas.remove(replica)
                runtime.restarts += 1
                with open(replica.log, "a") as log:
                    log.write(
                        f"--- replica {replica.slot} exited with code {replica.process.returncode}; restarting\n"
                    )
        # 2. health checks of the others
        for replica in runtime.replicas:
            await self._check(replica)
        current = [r for r in runtime.replicas if r.config == config]
        old = [r for r in runtime.replicas if r.config != config]
        starting = [r for r in current if not r.ready]
        # 3. start what is missing; while rolling from an old version, one replica at a time,
        #    and retire one old replica per new one that is ready
        missing = desired_count - len(current)
        if missing > 0 and not (old and starting):
            for _ in range(1 if old else missing):
                runtime.replicas.append(self._start(runtime, info, desired_version, config))
        ready_current = [r for r in current if r.ready]
        while old and len(ready_current) + len(old) > desired_count:
            self._retire(runtime, old.pop(0))
        # 4. scale down
        extra = len(current) - desired_count
        for replica in sorted(current, key=lambda r: r.ready)[: max(extra, 0)]:
            self._retire(runtime, replica)
        runtime.proxy.set_upstreams([r.upstream for r in runtime.replicas if r.ready])
        ready = [r for r in runtime.replicas if r.ready]
        if len(ready) >= desired_count and all(
            r.version == desired_version for r in runtime.replicas
        ):
            status = "running"
        elif ready and any(r.version != desired_version for r in runtime.replicas):
            status = "updating"
        else:
            status = "starting" if not ready else "scaling"
        self.workspace.update_deployment(
            info.name, status=status, error=None, state=self._state(runtime)
        )

    async def _reconcile_serve(self, runtime: Runtime, info: Any) -> None:
        """A Ray deployment: Ray Serve keeps the replicas (restarts, rolling updates, scaling);
        here the desired state is sent to it when it changed, and its view is stored."""
        from lepton.distributed._ray_serve import ServeApp, ServeSpec, app_name, lepton_state

        if runtime.serve is None:
            runtime.serve = ServeApp(info.name, app_name(str(self.home), info.name))
        serve = runtime.serve
        version, count = int(info.model_version), int(info.replicas)
        key_hash = self.workspace.deployment_key_hash(info.name)
        config = _config_id(info, key_hash)
        if serve.applied != (config, count):
            bundle = runtime.folder / f"model-v{version}.lepton"
            if not bundle.exists():
                bundle.parent.mkdir(parents=True, exist_ok=True)
                await asyncio.to_thread(
                    self.workspace.download_model_bundle, info.model_name, version, bundle
                )
            spec = ServeSpec(
                name=info.name,
                version=version,
                bundle=bundle,
                key_hash=key_hash,
                options=dict(info.options or {}),
                replicas=count,
                internal_hash=hash_key(runtime.token),
                config=config,
            )
            await asyncio.to_thread(serve.apply, spec)
        observed = await asyncio.to_thread(serve.observe)
        autoscaled = bool(((info.options or {}).get("ray") or {}).get("autoscaling"))
        status, state, error = lepton_state(observed, version, count, autoscaled)
        runtime.serve_state = state
        ready = any(r["status"] == "ready" for r in state["replicas"])
        runtime.proxy.set_upstreams([serve.upstream] if ready and serve.upstream else [])
        self.workspace.update_deployment(
            info.name, status=status, error=error, state=self._state(runtime)
        )

    def _start(self, runtime: Runtime, info: Any, version: int, config: str) -> Replica:
        from lepton.security._secrets import deployment_secret_env
        from lepton.serving._app import ServerOptions
        from lepton.serving._server import free_port, serve_env

        bundle = runtime.folder / f"model-v{version}.lepton"
        if not bundle.exists():
            self.workspace.download_model_bundle(info.model_name, version, bundle)
        options = ServerOptions(**(info.options or {}))
        env = {
            # the deployment's secrets, read at each start (a changed value reaches replicas
            # started after the change); Lepton's own variables come last and win
            **deployment_secret_env(self.workspace, info.name),
            "LEPTON_MASTER_KEY": "",  # replicas serve a local bundle: user code gets no key
            **serve_env(
                bundle,
                info.name,
                version,
                self.workspace.deployment_key_hash(info.name),
                options,
                hash_key(runtime.token),
            ),
        }
        slot = runtime.next_slot
        runtime.next_slot += 1
        return start_replica(
            slot, version, config, free_port(), env, runtime.folder / f"replica-{slot}.log"
        )

    async def _check(self, replica: Replica) -> None:
        try:
            reply = await replica.upstream.get("/readyz", timeout=2.0)
            ok = reply.status == 200
        except ConnectionError:
            ok = False
        if ok:
            replica.ready, replica.failures = True, 0
        elif replica.ready:
            replica.failures += 1
            if replica.failures >= FAILED_CHECKS:  # hung: kill it, the next tick replaces it
                replica.ready = False
                replica.kill()
        elif time.time() - replica.started_at > READY_TIMEOUT:
            replica.kill()

    def _retire(self, runtime: Runtime, replica: Replica) -> None:
        """Out of the proxy first, then SIGTERM: no new request reaches it, in-flight ones finish."""
        if replica in runtime.replicas:
            runtime.replicas.remove(replica)
        runtime.proxy.set_upstreams([r.upstream for r in runtime.replicas if r.ready])
        replica.terminate()
        asyncio.get_running_loop().create_task(_reap(replica))

    async def _teardown(self, runtime: Runtime) -> None:
        await runtime.proxy.stop()
        for replica in runtime.replicas:
            replica.terminate()
        await asyncio.gather(*(_reap(r) for r in runtime.replicas))
        runtime.replicas.clear()
        if runtime.serve is not None:
            try:
                await asyncio.to_thread(runtime.serve.delete)
            except Exception as exc:  # the cluster went away: nothing is left to stop there
                runtime.folder.mkdir(parents=True, exist_ok=True)
                with open(runtime.folder / "controlplane-ray.log", "a") as log:
                    log.write(f"{time.ctime()} deleting the Serve application failed: {exc}\n")
            runtime.serve_state = {}

    def _state(self, runtime: Runtime) -> dict[str, Any]:
        versions = sorted({r.version for r in runtime.replicas if r.ready})
        return {
            "replicas": [r.describe() for r in runtime.replicas],
            "served_versions": versions,
            **runtime.serve_state,  # a Ray deployment: Serve's replicas instead
            "restarts": runtime.restarts,
            "proxy_retries": runtime.proxy.retries,
            "drift_psi": runtime.drift_psi,
        }

    # monitoring -------------------------------------------------------------------------------------
    async def _scrape(self, runtime: Runtime, now: float) -> None:
        seconds = now - runtime.last_scrape if runtime.last_scrape else self.scrape_interval
        runtime.last_scrape = now
        pairs, samples = [], []
        if runtime.serve is not None:  # the replicas pushed theirs to the deployment's collector
            for key, text in runtime.serve.take_metrics().items():
                snapshot = _scrape.parse(text)
                pairs.append((snapshot, runtime.serve.previous.get(key)))
                runtime.serve.previous[key] = snapshot
            for sample in runtime.serve.take_samples():
                samples += _mask_samples({"samples": [sample]}, sample.get("version"))
        for replica in runtime.replicas:
            if not replica.ready:
                continue
            try:
                text = (await replica.upstream.get("/metrics", runtime.token)).body.decode()
                taken = await replica.upstream.get("/v1/samples", runtime.token)
            except ConnectionError:
                continue
            snapshot = _scrape.parse(text)
            pairs.append((snapshot, runtime.snapshots.get(replica.slot)))
            runtime.snapshots[replica.slot] = snapshot
            samples += _mask_samples(_json(taken.body), replica.version)
        if samples:
            self.workspace.add_request_samples(runtime.name, samples)
        if now - runtime.last_drift >= 30:
            runtime.last_drift = now
            runtime.drift_psi = await asyncio.to_thread(_drift_psi, self.workspace, runtime.name)
        point = _scrape.aggregate(pairs, seconds)
        point.update(
            replica_restarts=float(runtime.restarts),
            drift_psi=runtime.drift_psi,
            replicas=float(len(pairs)),
        )
        self.workspace.add_deployment_point(runtime.name, _series.RAW, now, point)
        await asyncio.to_thread(_alerts.evaluate, self.workspace, runtime.name, point, now)


def _config_id(info: Any, key_hash: str | None) -> str:
    import hashlib
    import json

    blob = json.dumps([info.model_version, key_hash, info.options], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


async def _reap(replica: Replica, grace: float = 30.0) -> None:
    deadline = time.time() + grace
    while replica.alive and time.time() < deadline:
        await asyncio.sleep(0.1)
    replica.kill()


def _json(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}


def _mask_samples(payload: Any, version: int) -> list[dict[str, Any]]:
    """Sampled requests, one row each, with PII in any text value masked."""
    from lepton.data._pii import mask_text

    rows = []
    for sample in payload.get("samples", []) if isinstance(payload, dict) else []:
        for inputs, prediction in zip(
            sample.get("inputs", []), sample.get("predictions", []), strict=False
        ):
            clean = [mask_text(v) if isinstance(v, str) else v for v in inputs]
            rows.append(
                {
                    "ts": sample.get("time", time.time()),
                    "model_version": version,
                    "inputs": clean,
                    "prediction": prediction,
                }
            )
    return rows


def _drift_psi(workspace: Any, name: str) -> float:
    """The largest PSI of the deployment's sampled requests, from the control plane's own
    store (inside a team server, the process's workspace is not the one it serves)."""
    from lepton.deployments._drift import drift_of

    try:
        return drift_of(workspace, name).max_psi
    except Exception:  # drift is best effort for alerts; `lepton deployments drift` shows errors
        return 0.0

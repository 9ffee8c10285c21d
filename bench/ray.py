"""Ray backend costs: the same Lepton calls on ``backend="ray"`` against ``backend="local"``.

Everything runs in one process on one machine, against one local Ray cluster that the script
starts (``ray.init(num_cpus=2, include_dashboard=False)``, ``RAY_AUTH_MODE=disabled``), and
every Ray measurement has its local baseline on the same data, model and seed in the same run.
Each part alternates local and Ray ``--repeat`` times (after one small untimed warm-up of each,
so imports are not timed) and reports medians:

1. **Training.** The torch MLP on a generated table (``--rows`` rows x 20 features, a binary
   label, ``--epochs`` epochs, batch 32) with ``lepton.train``: local (one process) against
   ``RayBackend(num_workers=2)`` (Ray Train, DDP over 2 CPU workers). Reported: the whole call,
   the time to the first epoch's metrics (start-up: the run, preprocessing and, on Ray, the
   worker group) and the seconds per later epoch, both read from the timestamps of the run's
   ``val_loss`` points. Then LightGBM on the same table: local against a Ray task.
2. **Tuning.** ``lepton.tune("lightgbm", ...)`` on the credit table (``--tune-rows`` rows),
   ``--trials`` trials, no pruning, one trial at a time, local against ``backend="ray"`` (Ray
   Tune): seconds per trial over the search phase (first trial start to last trial end, from
   the study's journal) and the Ray overhead per trial; the whole call too.
3. **Batch scoring.** ``lepton.predict_batch`` of a logistic regression over ``--score-rows``
   rows (chunks of ``--chunk`` rows): local ``workers=1`` (in process), local ``workers=2``
   (spawned processes) and Ray ``workers=2`` (Ray Data ``map_batches`` over an actor pool),
   in rows per second of the whole call (start-up included).
4. **Serving.** The same logistic regression deployed twice with ``lepton.deploy``: a local
   deployment (one replica process behind the control plane's proxy) and a Ray deployment
   (one Ray Serve replica with 0.5 CPU, reached through the control plane's address), both
   with an API key. ``wrk`` (one thread, ``--latency``, one record per POST) runs
   ``--duration`` seconds at 16 and 64 connections against each in turn, after 1 s of
   warm-up; requests/s, p50 and p99, and wrk's non-2xx and socket errors, which are reported,
   never hidden.

The control plane of the serving part is a process of its own: it joins the script's cluster
through ``LEPTON_RAY_ADDRESS`` (the cluster's GCS address), as a user's would. Every process
the script starts is stopped by pid at the end (the control plane, its replica processes);
the Ray cluster ends with the script. Ray opens ports on every interface: on a shared machine
run the script inside a loopback-only network namespace (see the docs).

Usage: ``.venv/bin/python bench/ray.py [--repeat 2] [--parts train,tune,score,serve]``
"""

from __future__ import annotations

import os
import sys

# This file is called ray.py: Python puts its folder first on sys.path, where ``import ray``
# would find this script instead of Ray (and Ray would hand that folder to its workers).
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

RESULTS = Path(_HERE) / "results" / "ray.json"
COLUMNS = [f"f{i}" for i in range(20)]
SEED = 0
CONNECTIONS = (16, 64)
PARTS = ("train", "tune", "score", "serve")


# data ----------------------------------------------------------------------------------------
def make_table(rows: int, seed: int = SEED) -> Any:
    """20 float columns and a binary label that depends on all of them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(COLUMNS)))
    weights = np.random.default_rng(SEED + 1).normal(size=len(COLUMNS))
    frame = pd.DataFrame(x, columns=COLUMNS)
    frame["label"] = (x @ weights + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return frame


def dataset(frame: Any, name: str) -> Any:
    import lepton

    return lepton.Dataset.from_pandas(frame, target="label", name=name)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def alternate(
    runs: dict[str, Callable[[], dict[str, float]]], repeat: int, failures: list[str]
) -> dict[str, Any]:
    """Each run ``repeat`` times, in turn, so drift in the machine's speed hits all alike.

    A run that raises a LeptonError is tried again (twice at most) and the failure is kept in
    ``failures``, printed and written to the results: a flaky backend shows, it is not hidden.
    """
    from lepton.errors import LeptonError

    seen: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    for round_ in range(repeat):
        for name, run in runs.items():
            for attempt in range(3):
                try:
                    seen[name].append(run())
                    break
                except LeptonError as exc:
                    failures.append(f"{name}, round {round_ + 1}: {type(exc).__name__}: {exc}")
                    print(f"  FAILED {failures[-1]}", flush=True)
                    if attempt == 2:
                        raise
            shown = ", ".join(f"{k} {v:,.2f}" for k, v in seen[name][-1].items())
            print(f"  round {round_ + 1}/{repeat} {name}: {shown}", flush=True)
    return {
        name: {
            "runs": values,
            "median": {key: median([v[key] for v in values]) for key in values[0]},
        }
        for name, values in seen.items()
    }


def warm_imports() -> None:
    """Import what the parts use in this process, untimed: the first round of each part would
    otherwise pay for it. (Ray's worker processes import on their own, in every round.)"""
    for name in (
        "lightgbm",
        "optuna",
        "ray.data",
        "ray.serve",
        "ray.train.torch",
        "ray.tune",
        "sklearn.linear_model",
        "torch",
        "lepton.distributed._ray_data",
        "lepton.distributed._ray_train",
        "lepton.distributed._ray_tune",
        "lepton.scoring",
        "lepton.training",
        "lepton.tuning",
    ):
        importlib.import_module(name)


# 1. training ---------------------------------------------------------------------------------
def timed_train(
    model_name: str, train: Any, valid: Any, backend: Any, epochs: int, batch: int = 32
) -> Any:
    """Wall seconds of one ``lepton.train`` call, and for torch models the epochs' timing."""
    import lepton
    from lepton.workspace import get_workspace

    def run() -> dict[str, float]:
        params = {"seed": SEED}
        if model_name == "mlp":
            params |= {"amp": "off", "train_batch_size": batch}
        model = lepton.create_model(model_name, **params)
        started_at, started = time.time(), time.perf_counter()
        extra = {"epochs": epochs} if model_name == "mlp" else {}
        result = lepton.train(model, train, valid, backend=backend, verbose=0, **extra)
        total = time.perf_counter() - started
        out = {"total_s": total}
        if model_name == "mlp":
            points = get_workspace().metric_history(result.run_id, "val_loss")
            stamps = sorted(p.timestamp for p in points)
            if len(stamps) != epochs:
                raise SystemExit(f"expected {epochs} val_loss points, got {len(stamps)}")
            out["first_epoch_s"] = stamps[0] - started_at
            out["per_epoch_s"] = (stamps[-1] - stamps[0]) / max(1, epochs - 1)
            out["after_last_epoch_s"] = started_at + total - stamps[-1]
        return out

    return run


def bench_training(args: argparse.Namespace) -> dict[str, Any]:
    from lepton.distributed import RayBackend

    train = dataset(make_table(args.rows), "ray-bench-train")
    valid = dataset(make_table(max(200, args.rows // 10), seed=SEED + 2), "ray-bench-valid")
    ray2 = RayBackend(num_workers=2)
    print(f"training: MLP, {args.rows:,} rows x 20 features x {args.epochs} epochs", flush=True)
    mlp = alternate(
        {
            "local": timed_train("mlp", train, valid, "local", args.epochs, args.batch),
            "ray": timed_train("mlp", train, valid, ray2, args.epochs, args.batch),
        },
        args.repeat,
        args.failures,
    )
    print(f"training: LightGBM, {args.rows:,} rows", flush=True)
    lgbm = alternate(
        {
            "local": timed_train("lightgbm", train, valid, "local", 0),
            "ray": timed_train("lightgbm", train, valid, RayBackend(), 0),
        },
        args.repeat,
        args.failures,
    )
    return {
        "rows": args.rows,
        "valid_rows": len(valid),
        "epochs": args.epochs,
        "batch_size": args.batch,
        "ray_workers": 2,
        "mlp": mlp,
        "lightgbm": lgbm,
    }


# 2. tuning -----------------------------------------------------------------------------------
def timed_tune(train: Any, valid: Any, trials: int, backend: str, tag: str) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    import lepton
    from lepton.workspace import current_settings

    count = [0]

    def run() -> dict[str, float]:
        count[0] += 1
        study = f"{tag}-{count[0]}"
        started = time.perf_counter()
        result = lepton.tune(
            "lightgbm",
            train,
            valid,
            n_trials=trials,
            n_jobs=1,
            pruner="none",
            seed=SEED,
            study=study,
            backend=backend,
            verbose=0,
        )
        total = time.perf_counter() - started
        path = current_settings().home / "studies" / f"{study}.journal"
        stored = optuna.load_study(
            study_name=study, storage=JournalStorage(JournalFileBackend(str(path)))
        )
        done = [t for t in stored.get_trials(deepcopy=False) if t.datetime_complete]
        if len(done) != trials:
            raise SystemExit(f"{backend} search finished {len(done)} of {trials} trials")
        first = min(t.datetime_start for t in done if t.datetime_start)
        last = max(t.datetime_complete for t in done if t.datetime_complete)
        search = (last - first).total_seconds()
        return {
            "total_s": total,
            "search_s": search,
            "per_trial_ms": search / trials * 1000,
            "best": float(result.best_value),
        }

    return run


def bench_tuning(args: argparse.Namespace) -> dict[str, Any]:
    import lepton
    from lepton.demo._credit import credit_table

    data = lepton.Dataset.from_pandas(
        credit_table(rows=args.tune_rows), target="default", name="credit"
    )
    train, valid = data.split(0.25, seed=SEED)
    print(f"tuning: LightGBM, {args.trials} trials, one at a time", flush=True)
    runs = alternate(
        {
            "local": timed_tune(train, valid, args.trials, "local", "local"),
            "ray": timed_tune(train, valid, args.trials, "ray", "ray"),
        },
        args.repeat,
        args.failures,
    )
    local, ray = runs["local"]["median"], runs["ray"]["median"]
    return {
        "rows": args.tune_rows,
        "trials": args.trials,
        "n_jobs": 1,
        **runs,
        "overhead_ms_per_trial": ray["per_trial_ms"] - local["per_trial_ms"],
        "ratio": ray["per_trial_ms"] / local["per_trial_ms"],
    }


# 3. batch scoring ----------------------------------------------------------------------------
def bench_scoring(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import lepton

    model = lepton.create_model("logistic_regression", seed=SEED)
    model.fit(dataset(make_table(5_000), "ray-bench-fit"))
    bundle = root / "scoring.lepton"
    lepton.save_model(model, bundle)
    rows = make_table(args.score_rows, seed=SEED + 3).drop(columns=["label"])
    count = [0]

    def scorer(backend: str, workers: int, frame: Any = rows, chunk: int = args.chunk) -> Any:
        def run() -> dict[str, float]:
            count[0] += 1
            started = time.perf_counter()
            result = lepton.predict_batch(
                str(bundle),
                frame,
                output=root / f"scores-{count[0]}",
                backend=backend,
                batch_size=chunk,
                workers=workers,
                resume=False,
                verbose=0,
            )
            seconds = time.perf_counter() - started
            if result.rows_scored != len(frame):
                raise SystemExit(f"{backend} scored {result.rows_scored} of {len(frame)} rows")
            shutil.rmtree(result.output, ignore_errors=True)
            return {"seconds": seconds, "rows_per_s": len(frame) / seconds}

        return run

    print(f"scoring: {args.score_rows:,} rows, chunks of {args.chunk:,}", flush=True)
    runs = alternate(
        {
            "local, workers=1": scorer("local", 1),
            "local, workers=2": scorer("local", 2),
            "ray, workers=2": scorer("ray", 2),
        },
        args.repeat,
        args.failures,
    )
    return {"rows": args.score_rows, "chunk": args.chunk, "model": "logistic_regression", **runs}


# 4. serving ----------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise SystemExit(f"could not read wrk's latency {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, p50/p99 (ms), requests, non-2xx and socket errors from ``wrk --latency``."""
    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (requests and rps and p50 and p99):
        raise SystemExit(f"could not parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": int(requests.group(1)),
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, sockets.groups())) if sockets else 0,
    }


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    command += ["--latency", "-s", str(script), f"{url}/v1/predict"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


def lua_script(folder: Path, name: str, body: str, key: str) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{body}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n',
        encoding="utf-8",
    )
    return path


def check_answer(url: str, body: str, key: str) -> None:
    import httpx

    response = httpx.post(
        f"{url}/v1/predict",
        content=body,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        timeout=30,
    )
    if response.status_code != 200 or len(response.json().get("predictions", [])) != 1:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")


def bench_serving(args: argparse.Namespace, root: Path, pids: set[int]) -> dict[str, Any]:
    import lepton

    frame = make_table(2_000)
    model = lepton.create_model("logistic_regression", seed=SEED).fit(dataset(frame, "serve"))
    version = lepton.register(model, "ray-bench").version
    body = json.dumps({"inputs": [{c: float(frame[c].iloc[0]) for c in COLUMNS}]})
    print("serving: deploying (local: 1 replica process; ray: 1 Serve replica)", flush=True)
    started = time.perf_counter()
    local = lepton.deploy(f"ray-bench:{version}", name="bench-local", backend="local")
    local_s = time.perf_counter() - started
    pids.update(r["pid"] for r in local.status()["replica_details"] if r.get("pid"))
    started = time.perf_counter()
    on_ray = lepton.deploy(
        f"ray-bench:{version}", name="bench-ray", backend="ray", config={"ray": {"num_cpus": 0.5}}
    )
    ray_s = time.perf_counter() - started
    targets = {}
    for name, dep in (("local", local), ("ray", on_ray)):
        assert dep.api_key, "a protected deployment returns its key"
        check_answer(dep.url, body, dep.api_key)
        targets[name] = (dep.url, lua_script(root, name, body, dep.api_key))

    def load(name: str, connections: int) -> Callable[[], dict[str, float]]:
        url, script = targets[name]

        def run() -> dict[str, float]:
            wrk(url, script, connections, 1)  # warm-up: connections, batching
            cell = wrk(url, script, connections, args.duration)
            return {k: float(v) for k, v in cell.items()}

        return run

    cells = {}
    for c in CONNECTIONS:
        print(f"serving: wrk, {c} connections, {args.duration:g} s", flush=True)
        cells[c] = alternate({name: load(name, c) for name in targets}, args.repeat, args.failures)
    with contextlib.suppress(Exception):
        on_ray.stop()
    with contextlib.suppress(Exception):
        local.stop()
    return {
        "model": "logistic_regression",
        "duration_s": args.duration,
        "deploy_s": {"local": local_s, "ray": ray_s},
        "ray_num_cpus_per_replica": 0.5,
        "connections": {str(c): cells[c] for c in CONNECTIONS},
    }


# processes -----------------------------------------------------------------------------------
def _is_lepton(pid: int) -> bool:
    try:
        return b"lepton" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def shutdown_deployments(home: Path, pids: set[int]) -> None:
    """Stop the control plane (it stops its replicas), then SIGKILL what is left, by pid."""
    from lepton.deployments import _daemon
    from lepton.workspace import get_workspace

    with contextlib.suppress(Exception):
        for info in get_workspace().list_deployments():
            pids.update(r["pid"] for r in info.state.get("replicas", []) if r.get("pid"))
    plane = _daemon.running_pid(home)
    if plane is None:
        return
    with contextlib.suppress(Exception):
        _daemon.stop(timeout=60)
    for pid in {p for p in (plane, *pids) if p and p > 0}:
        if _is_lepton(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# the run -------------------------------------------------------------------------------------
def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_benchmark(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import lepton

    ray = importlib.import_module("ray")  # not ``import ray``: linters take this file for it
    # Ray's unix socket paths must stay under 108 characters: a short temp dir of its own
    ray_temp = tempfile.mkdtemp(prefix="lrb-", dir="/tmp")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _temp_dir=ray_temp,
    )
    # the control plane of the serving part is a separate process: it joins this cluster
    os.environ["LEPTON_RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    result: dict[str, Any] = {
        "benchmark": "ray",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "ray": ray.__version__,
            "lepton": lepton.__version__,
            "load_average_start": load_average(),
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("output", "failures")},
    }
    pids: set[int] = set()
    home = Path(os.environ["LEPTON_HOME"])
    args.failures = []
    warm_imports()
    started = time.perf_counter()
    try:
        if "train" in args.parts:
            result["training"] = bench_training(args)
        if "tune" in args.parts:
            result["tuning"] = bench_tuning(args)
        if "score" in args.parts:
            result["scoring"] = bench_scoring(args, root)
        if "serve" in args.parts:
            result["serving"] = bench_serving(args, root, pids)
    finally:
        shutdown_deployments(home, pids)
        ray.shutdown()
        shutil.rmtree(ray_temp, ignore_errors=True)
    result["seconds"] = time.perf_counter() - started
    result["failures"] = args.failures
    result["machine"]["load_average_end"] = load_average()
    return result


# report --------------------------------------------------------------------------------------
def print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    caption = (
        f"{m['cpus']} CPUs {m['arch']}, Python {m['python']}, Ray {m['ray']}, median of "
        f"{result['settings']['repeat']}; load average (1/5/15 min) {m['load_average_start']} "
        f"-> {m['load_average_end']}"
    )
    console = Console(width=max(Console().width, 120))

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "-"

    if "training" in result:
        t = result["training"]
        table = Table(
            title=f"Training: {t['rows']:,} rows x 20 features, local vs Ray", caption=caption
        )
        for column in ("model", "backend", "total s", "first epoch s", "s / epoch", "ray/local"):
            table.add_column(column, justify="left" if column in ("model", "backend") else "right")
        mlp_l, mlp_r = t["mlp"]["local"]["median"], t["mlp"]["ray"]["median"]
        epochs = f"MLP, {t['epochs']} epochs"
        table.add_row(
            epochs,
            "local (1 process)",
            f"{mlp_l['total_s']:.2f}",
            f"{mlp_l['first_epoch_s']:.2f}",
            f"{mlp_l['per_epoch_s']:.2f}",
            "",
        )
        table.add_row(
            "",
            "ray, 2 DDP workers",
            f"{mlp_r['total_s']:.2f}",
            f"{mlp_r['first_epoch_s']:.2f}",
            f"{mlp_r['per_epoch_s']:.2f}",
            ratio(mlp_r["total_s"], mlp_l["total_s"]),
        )
        lg_l, lg_r = t["lightgbm"]["local"]["median"], t["lightgbm"]["ray"]["median"]
        table.add_row("LightGBM", "local", f"{lg_l['total_s']:.2f}", "", "", "")
        table.add_row(
            "",
            "ray task",
            f"{lg_r['total_s']:.2f}",
            "",
            "",
            ratio(lg_r["total_s"], lg_l["total_s"]),
        )
        console.print(table)
    if "tuning" in result:
        t = result["tuning"]
        table = Table(
            title=f"Tuning LightGBM: {t['trials']} trials, one at a time, {t['rows']:,} rows",
            caption=caption,
        )
        for column in ("backend", "ms / trial", "search s", "whole call s", "best AUC"):
            table.add_column(column, justify="left" if column == "backend" else "right")
        for name, label in (("local", "local (Optuna)"), ("ray", "ray (Ray Tune)")):
            row = t[name]["median"]
            table.add_row(
                label,
                f"{row['per_trial_ms']:,.0f}",
                f"{row['search_s']:.2f}",
                f"{row['total_s']:.2f}",
                f"{row['best']:.4f}",
            )
        table.add_row(
            "ray overhead", f"+{t['overhead_ms_per_trial']:,.0f} ({t['ratio']:.2f}x)", "", "", ""
        )
        console.print(table)
    if "scoring" in result:
        s = result["scoring"]
        table = Table(
            title=f"Batch scoring: {s['rows']:,} rows, {s['model']}, chunks of {s['chunk']:,}",
            caption=caption,
        )
        for column in ("backend", "seconds", "rows/s", "vs local workers=1"):
            table.add_column(column, justify="left" if column == "backend" else "right")
        base = s["local, workers=1"]["median"]["rows_per_s"]
        for name in ("local, workers=1", "local, workers=2", "ray, workers=2"):
            row = s[name]["median"]
            table.add_row(
                name,
                f"{row['seconds']:.2f}",
                f"{row['rows_per_s']:,.0f}",
                ratio(row["rows_per_s"], base),
            )
        console.print(table)
    if "serving" in result:
        s = result["serving"]
        table = Table(
            title=(
                f"Serving {s['model']}, 1 replica, wrk {s['duration_s']:g} s per cell "
                f"(deploy: local {s['deploy_s']['local']:.1f} s, ray {s['deploy_s']['ray']:.1f} s)"
            ),
            caption=caption,
        )
        for column in (
            "connections",
            "backend",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "ray/local",
        ):
            table.add_column(column, justify="left" if column == "backend" else "right")
        for c, cell in s["connections"].items():
            local = cell["local"]["median"]
            for name in ("local", "ray"):
                row = cell[name]["median"]
                errors = sum(r["non_2xx"] + r["socket_errors"] for r in cell[name]["runs"])
                table.add_row(
                    c if name == "local" else "",
                    "local (proxy + replica process)" if name == "local" else "ray (Serve replica)",
                    f"{row['rps']:,.0f}",
                    f"{row['p50_ms']:.1f}",
                    f"{row['p99_ms']:.1f}",
                    f"{errors:.0f}",
                    ratio(row["rps"], local["rps"]) if name == "ray" else "",
                )
        console.print(table)
    for failure in result["failures"]:
        print(f"failed and retried: {failure}")
    print(f"total {result['seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS)
    )
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds of each part")
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--epochs", type=int, default=3, help="MLP epochs")
    parser.add_argument("--batch", type=int, default=256, help="MLP batch size (per step)")
    parser.add_argument("--trials", type=int, default=8, help="tuning trials")
    parser.add_argument("--tune-rows", type=int, default=3_000, help="rows of the credit table")
    parser.add_argument("--score-rows", type=int, default=200_000, help="rows to batch-score")
    parser.add_argument("--chunk", type=int, default=20_000, help="batch_size of predict_batch")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of wrk per cell")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown or not args.parts:
        parser.error(f"--parts takes {', '.join(PARTS)}; got {', '.join(sorted(unknown))}.")
    if args.repeat < 1 or args.epochs < 2 or args.trials < 2 or args.rows < 500:
        parser.error("--repeat must be >= 1, --epochs and --trials >= 2, --rows >= 500.")
    if "serve" in args.parts and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian).")
    # a fresh home and working folder: nothing from ~/.lepton or a project folder leaks in
    for name in [n for n in os.environ if n.startswith("LEPTON_")]:
        del os.environ[name]
    os.environ["RAY_AUTH_MODE"] = "disabled"
    output = args.output.resolve()
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as cwd:
        os.chdir(cwd)
        try:
            os.environ["LEPTON_HOME"] = str(Path(cwd) / "home")
            result = run_benchmark(args, Path(cwd))
        finally:
            os.chdir(here)
    print_tables(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``lepton deploy``, ``lepton deployments ...``, ``lepton alerts ...`` and ``lepton dev``."""

from __future__ import annotations

from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table, when

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
app = typer.Typer(
    help="Deployments: status, logs, metrics, drift, scale, update, stop.", no_args_is_help=True
)
alerts_app = typer.Typer(help="Alert rules on deployment metrics.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="Deployment name.")]


def deploy(
    model: Annotated[str, typer.Argument(help="A registered model: NAME[:VERSION|@ALIAS].")],
    name: Annotated[
        str | None, typer.Option(help="Deployment name (default: the model name).")
    ] = None,
    replicas: Annotated[int, typer.Option(help="Replica processes.")] = 1,
    port: Annotated[int | None, typer.Option(help="Port of the deployment's address.")] = None,
    public: Annotated[bool, typer.Option("--public", help="No API key.")] = False,
    override_reason: Annotated[
        str | None, typer.Option(help="Deploy despite failing policies; recorded.")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Where the replicas run: local or ray (Ray Serve on LEPTON_RAY_ADDRESS); "
            "default: LEPTON_BACKEND / backend in lepton.yaml."
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Deploy a registered model behind one address (the control plane starts if needed)."""
    import lepton

    dep = lepton.deploy(
        model,
        name=name,
        replicas=replicas,
        port=port,
        public=public,
        override_reason=override_reason,
        backend=backend,
    )
    if json:
        print_json({**dep.status(), "api_key": dep.api_key})
        return
    console.print(
        f"Deployed [bold]{dep.name}[/] ({dep.info.model_ref}, {replicas} replica(s)) at {dep.url}"
    )
    if dep.api_key:
        console.print(f"API key (shown once): {dep.api_key}", highlight=False)
    console.print(
        f"Try: curl -X POST {dep.url}/v1/predict -H 'authorization: Bearer <key>' -d '{{\"inputs\": [...]}}'  (form: {dep.url}/docs)",
        highlight=False,
    )


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """Every deployment with its status."""
    from lepton.deployments import list_deployments

    rows = list_deployments()
    if json:
        print_json(rows)
        return
    print_table(
        "Deployments",
        ["name", "status", "model", "replicas", "restarts", "url"],
        [
            (
                r["name"],
                r["status"],
                r["model"],
                f"{r['ready']}/{r['replicas']}",
                r["restarts"],
                r["url"],
            )
            for r in rows
        ],
        empty="No deployments yet. Deploy a registered model with: lepton deploy NAME@production --name NAME",
    )


@app.command("status")
def status(name: Name, json: JsonFlag = False) -> None:
    """Replicas, restarts, model version and address of a deployment."""
    from lepton.deployments import get_deployment

    info = get_deployment(name).status()
    if json:
        print_json(info)
        return
    console.print(
        f"[bold]{info['name']}[/] {info['status']}  model {info['model']}  {info['ready']}/{info['replicas']} ready  restarts {info['restarts']}  {info['url']}"
    )
    if info["error"]:
        console.print(f"[red]error:[/] {info['error']}", highlight=False)
    print_table(
        "Replicas",
        ["slot", "pid", "port", "version", "status", "started"],
        [
            (r["slot"], r["pid"], r["port"], r["version"], r["status"], when(r["started_at"]))
            for r in info["replica_details"]
        ],
        empty="",
    )


@app.command("logs")
def logs(
    name: Name,
    replica: Annotated[int | None, typer.Option(help="Only this replica slot.")] = None,
    tail: Annotated[int, typer.Option(help="Lines per replica.")] = 100,
) -> None:
    """The last lines each replica wrote."""
    from lepton.deployments import get_deployment

    console.print(get_deployment(name).logs(replica, tail), markup=False, highlight=False)


@app.command("metrics")
def metrics(
    name: Name,
    since: Annotated[str, typer.Option(help="How far back: 15m, 1h, 2d.")] = "1h",
    json: JsonFlag = False,
) -> None:
    """QPS, error rate, latency percentiles and batch size over time."""
    from lepton.deployments import get_deployment

    points = get_deployment(name).metrics(since)
    if json:
        print_json(points)
        return
    print_table(
        f"Metrics of {name} (last {since})",
        ["time", "qps", "errors", "p50 ms", "p95 ms", "p99 ms", "batch", "restarts"],
        [
            (
                when(p["ts"]),
                f"{p.get('qps', 0):.1f}",
                f"{p.get('error_rate', 0):.2%}",
                f"{p.get('p50_latency_ms', 0):.1f}",
                f"{p.get('p95_latency_ms', 0):.1f}",
                f"{p.get('p99_latency_ms', 0):.1f}",
                f"{p.get('batch_size', 0):.1f}",
                int(p.get("replica_restarts", 0)),
            )
            for p in points[-30:]
        ],
        empty="No metrics yet: send some requests, then wait a few seconds.",
    )


@app.command("drift")
def drift(
    name: Name,
    since: Annotated[str | None, typer.Option(help="Only requests of the last 15m, 1h...")] = None,
    json: JsonFlag = False,
) -> None:
    """PSI and KS of recent inputs (and predictions) against the training data."""
    from lepton.deployments import drift as measure

    report = measure(name, since)
    if json:
        print_json(report.to_dict())
        return
    if report.note:
        console.print(report.note)
    rows = [
        (
            f.feature,
            f"{f.psi:.3f}",
            "-" if f.ks_pvalue is None else f"{f.ks_pvalue:.3g}",
            "DRIFT" if f.drifted else "",
        )
        for f in report.features
    ]
    if report.prediction is not None:
        rows.append(
            (
                "(prediction)",
                f"{report.prediction.psi:.3f}",
                "-",
                "DRIFT" if report.prediction.drifted else "",
            )
        )
    print_table(
        f"Drift of {name} ({report.samples} sampled requests)",
        ["feature", "PSI", "KS p-value", ""],
        rows,
        empty="",
    )


@app.command("scale")
def scale(name: Name, replicas: Annotated[int, typer.Argument(help="Replica count.")]) -> None:
    """Change the number of replicas."""
    from lepton.deployments import get_deployment

    get_deployment(name).scale(replicas)
    console.print(f"{name}: {replicas} replica(s) ready")


@app.command("update")
def update(
    name: Name,
    model: Annotated[str, typer.Argument(help="NAME:VERSION or NAME@ALIAS to roll to.")],
    override_reason: Annotated[
        str | None, typer.Option(help="Deploy despite failing policies; recorded.")
    ] = None,
) -> None:
    """Roll the replicas to another model version, one at a time."""
    from lepton.deployments import get_deployment

    dep = get_deployment(name).update(model, override_reason=override_reason)
    console.print(f"{name} now serves {dep.info.model_ref}")


@app.command("stop")
def stop(name: Name) -> None:
    """Stop a deployment (in-flight requests finish)."""
    from lepton.deployments import get_deployment

    get_deployment(name).stop()
    console.print(f"Stopped {name}")


@alerts_app.command("create")
def create(
    deployment: Annotated[str, typer.Option(help="Deployment name.")],
    metric: Annotated[
        str, typer.Option(help="p99_latency_ms, error_rate, qps, drift_psi, replica_restarts...")
    ],
    above: Annotated[float | None, typer.Option(help="Fire when the metric is above this.")] = None,
    below: Annotated[float | None, typer.Option(help="Fire when the metric is below this.")] = None,
    for_: Annotated[str, typer.Option("--for", help="For how long, e.g. 60s or 5m.")] = "0s",
    webhook: Annotated[str | None, typer.Option(help="POST firing/resolved events here.")] = None,
    json: JsonFlag = False,
) -> None:
    """Create an alert rule, evaluated by the control plane after each scrape."""
    from lepton.monitoring import create_alert

    rule = create_alert(deployment, metric, above=above, below=below, for_=for_, webhook=webhook)
    if json:
        print_json(rule.to_dict())
        return
    console.print(f"Alert {rule.id[:8]}: {rule.deployment} {rule.describe()}")


@alerts_app.command("list")
def list_rules(
    deployment: Annotated[str | None, typer.Option(help="Only this deployment.")] = None,
    json: JsonFlag = False,
) -> None:
    """Alert rules and their state (ok, pending, firing)."""
    from lepton.monitoring import list_alerts

    rules = list_alerts(deployment)
    if json:
        print_json([r.to_dict() for r in rules])
        return
    print_table(
        "Alert rules",
        ["id", "deployment", "rule", "state", "webhook"],
        [(r.id[:8], r.deployment, r.describe(), r.state, r.webhook or "-") for r in rules],
        empty="No alert rules. Create one with: lepton alerts create --deployment NAME --metric p99_latency_ms --above 200 --for 60s",
    )


@alerts_app.command("history")
def history(
    rule: Annotated[str | None, typer.Argument(help="A rule id (first characters).")] = None,
    json: JsonFlag = False,
) -> None:
    """Firing and resolved events, newest first."""
    from lepton.monitoring import alert_history

    events = alert_history(rule)
    if json:
        print_json(events)
        return
    print_table(
        "Alert history",
        ["time", "state", "message", "webhook"],
        [(when(e["ts"]), e["state"], e["message"], e["webhook_status"] or "-") for e in events],
        empty="No alert has fired yet.",
    )


@alerts_app.command("delete")
def delete(rule: Annotated[str, typer.Argument(help="A rule id (first characters).")]) -> None:
    """Delete an alert rule and its history."""
    from lepton.monitoring import delete_alert

    delete_alert(rule)
    console.print(f"Deleted alert {rule}")


def dev(
    project: Annotated[
        str | None, typer.Argument(help="A project folder (default: the current one).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 (default 8400, else a free one).")
    ] = None,
    stop_: Annotated[
        bool, typer.Option("--stop", help="Stop the local server running in the background.")
    ] = False,
) -> None:
    """Run the local platform server in the foreground: the dashboard, the REST API and the
    control plane of deployments, metrics and alerts."""
    from pathlib import Path

    from lepton.deployments._daemon import stop
    from lepton.errors import InvalidParameterError
    from lepton.server._dev import run_dev
    from lepton.workspace import activate_project

    if project is not None:
        root = Path(project).resolve()
        if not (root / "lepton.yaml").exists():
            raise InvalidParameterError(
                f"{root} is not a Lepton project (no lepton.yaml). Create one with: lepton init project NAME"
            )
        activate_project(root)
    if stop_:
        console.print("Stopped the local server." if stop() else "No local server was running.")
        return
    if port is not None and not 0 < port < 65536:
        raise InvalidParameterError(f"--port must be between 1 and 65535, not {port}.")
    run_dev(port, announce=console.print)


def dashboard(
    open_: Annotated[
        bool, typer.Option("--open", help="Open the link in the web browser too.")
    ] = False,
) -> None:
    """Print a sign-in link to the dashboard (starting the local server when needed)."""
    from lepton.server._dev import dashboard_link

    link = dashboard_link()
    console.print(f"Dashboard: {link}", highlight=False, soft_wrap=True)
    if open_:
        import webbrowser

        webbrowser.open(link)

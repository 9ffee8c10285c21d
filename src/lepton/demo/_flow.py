"""The demo flow. Each step calls the public SDK, exactly as a user's notebook would."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console

from lepton.config import PROJECT_FILE

console = Console()


def _step(number: int, total: int, title: str) -> None:
    console.print(f"\n[bold cyan]Step {number}/{total}[/] {title}")


def run_demo(folder: str | Path = "lepton-demo", once: bool = True) -> dict[str, object]:
    """Run the demo in ``folder`` (created, or reused when it already holds the demo project)."""
    import lepton
    from lepton.errors import PolicyViolationError
    from lepton.governance import Policy, check_policies, use_policies
    from lepton.monitoring import create_alert
    from lepton.registry import set_alias, update_card
    from lepton.workspace import activate_project, get_workspace

    root = Path(folder).resolve()
    total = 8
    _step(1, total, "Project")
    if (root / PROJECT_FILE).exists():
        activate_project(root)
        project_name = get_workspace().ensure_project(root.name).name
        console.print(f"Using the existing demo project in {root}")
    else:
        project_name = lepton.create_project(root.name, root, "The Lepton demo.").name
        console.print(f"Created project [bold]{project_name}[/] in {root}")

    _step(2, total, "A credit-risk table: generate, register, profile, scan for PII")
    from lepton.demo._credit import credit_table

    table = root / "data" / "credit.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    credit_table().to_csv(table, index=False)
    data = lepton.Dataset.from_csv(table, target="default", name="credit")
    stored = data.register(project_name)
    console.print(
        f"Registered dataset [bold]credit[/] version {stored.version[:12]} ({len(data):,} rows)"
    )
    console.print(data.profile())
    pii = data.scan_pii()
    console.print(f"PII scan: {len(pii.findings)} finding(s)")

    _step(3, total, "Train LightGBM and an MLP (sex and age group are kept out of the features)")
    fair_data = data.exclude_features("sex", "age_group")
    train, valid = fair_data.split(test_size=0.25, seed=0)
    results = {}
    plans: list[tuple[str, dict[str, Any]]] = [("lightgbm", {}), ("mlp", {"epochs": 15})]
    for name, settings in plans:
        model = lepton.create_model(name, **settings)
        result = lepton.train(model, train, valid)
        bundle = lepton.save_model(result.model, root / "models" / f"credit-{name}.lepton")
        results[name] = result
        console.print(
            f"  {name:<9} run {result.run_id[:8]}  saved {bundle.relative_to(root)}",
            highlight=False,
        )

    _step(4, total, "Evaluate both, with fairness by sex and age group")
    reports = {}
    for name, result in results.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small-group notes are in the report itself
            reports[name] = lepton.evaluate(
                result.model, valid, sensitive_features={"sex": None, "age": [18, 26, 41, 61, 120]}
            )
        metrics = reports[name].metrics
        console.print(
            f"  {name:<9} ROC AUC {metrics['roc_auc']:.3f}  accuracy {metrics['accuracy']:.3f}  F1 {metrics['f1']:.3f}",
            highlight=False,
        )
    best = max(reports, key=lambda n: reports[n].metrics["roc_auc"])
    console.print(reports[best])
    reports[best].to_html(root / "reports" / f"credit-{best}.html")
    console.print(f"HTML report: {root / 'reports' / f'credit-{best}.html'}")

    _step(
        5, total, f"Register the better model ({best}), fill in its card, promote it to production"
    )
    registered = lepton.register(results[best].model, "credit-risk", report=reports[best])
    card = update_card(
        registered.ref,
        intended_use="Pre-screening of consumer loan applications; a person decides.",
        owners="risk-analytics@example.com",
    )
    console.print(
        f"Registered [bold]{registered.ref}[/]; card fields missing: {card.missing or 'none'}"
    )
    policies = [
        Policy("min_metric", metric="roc_auc", value=0.7),
        Policy("max_fairness", metric="demographic_parity_difference", feature="sex", value=0.1),
        Policy("card_field", field="intended_use"),
    ]
    for outcome in check_policies(registered.ref, policies).results:
        console.print(
            f"  {'pass' if outcome.passed else 'FAIL'}  {outcome.policy}: {outcome.reason}",
            highlight=False,
        )
    with use_policies(policies):
        set_alias("credit-risk", "production", registered.version)
    console.print(f"credit-risk@production -> version {registered.version}")

    _step(6, total, "A deliberately unfair model is stopped by the policy")
    biased = _biased(data)
    b_train, b_valid = biased.split(test_size=0.25, seed=0)
    unfair = lepton.train(lepton.create_model("lightgbm"), b_train, b_valid, verbose=0).model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unfair_report = lepton.evaluate(unfair, b_valid, sensitive_features=["sex"])
    unfair_version = lepton.register(unfair, "credit-risk", report=unfair_report)
    gap = unfair_report.fairness["sex"]["demographic_parity_difference"]
    console.print(
        f"Registered {unfair_version.ref} (trained on historically biased labels): demographic parity difference by sex {gap:.3f}"
    )
    try:
        with use_policies(policies):
            set_alias("credit-risk", "production", unfair_version.version)
    except PolicyViolationError as exc:
        console.print(f"[red]Refused:[/] {exc}", highlight=False)

    _step(7, total, "Deploy credit-risk@production: 2 replicas, API key, batching, monitoring")
    from lepton.deployments import _daemon

    with use_policies(policies):  # deploying runs the policies too
        deployment = lepton.deploy("credit-risk@production", name="credit", replicas=2)
    console.print(f"Serving at [bold]{deployment.url}[/] (form: {deployment.url}/docs)")
    alert = create_alert("credit", "drift_psi", above=0.2, for_=0)
    console.print(f"Alert {alert.id[:8]}: {alert.describe()}")

    _step(8, total, "Traffic: real applications, then a batch whose incomes are shifted")
    client = deployment.client()
    records = valid.X().replace({float("nan"): None}).to_dict(orient="records")
    for start in range(0, len(records), 25):
        client.predict(records[start : start + 25])
    shifted = [{**r, "income": (r["income"] or 40_000) * 4} for r in records[:300]]
    for start in range(0, len(shifted), 25):
        client.predict(shifted[start : start + 25])
    console.print(f"Sent {len(records) + len(shifted)} predictions; waiting for a scrape...")
    time.sleep(12)  # the control plane scrapes every 5 s and checks drift every 30 s
    points = deployment.metrics("15m")
    if points:
        last = max(points, key=lambda p: p.get("requests", 0))
        console.print(
            f"  busiest scrape: {last['qps']:.0f} req/s, p50 {last['p50_latency_ms']:.1f} ms, p99 {last['p99_latency_ms']:.1f} ms, mean batch {last['batch_size']:.1f}",
            highlight=False,
        )
    drift = deployment.drift()
    for feature in drift.features[:4]:
        console.print(
            f"  drift {feature.feature:<22} PSI {feature.psi:6.3f}  {'DRIFT' if feature.drifted else ''}",
            highlight=False,
        )
    fired = _wait_for_alert(alert.id, timeout=60)
    console.print(f"Alert on drift: {fired or 'not fired yet (see lepton alerts history)'}")

    console.print(
        f"\nRuns: [bold]cd {root} && lepton runs list[/]; model: [bold]lepton models show credit-risk@production[/]"
    )
    link = None
    if once:
        deployment.stop()
        _daemon.stop()
        console.print("Stopped the deployment and the control plane (--once).")
    else:
        console.print(f"\nThe deployment keeps running at [bold]{deployment.url}[/]")
        console.print(f"API key (shown once): {deployment.api_key}", highlight=False)
        console.print(
            f"Try: curl -X POST {deployment.url}/v1/predict -H 'authorization: Bearer <key>' -d '{{\"inputs\": [...]}}'",
            highlight=False,
        )
        console.print(
            f"Stop it with: cd {root} && lepton deployments stop credit && lepton dev --stop"
        )
        from lepton.server._dev import sign_in_link
        from lepton.workspace import current_settings

        link = sign_in_link(current_settings().home)
        console.print(
            "\nWalk data → run → model → deployment → alert in the dashboard (the link signs you "
            f"in once within 15 minutes; `cd {root} && lepton dashboard` prints a new one):"
        )
        console.print(f"[bold]Dashboard:[/] {link}", highlight=False, soft_wrap=True)
    return {
        "project": project_name,
        "folder": str(root),
        "runs": {k: r.run_id for k, r in results.items()},
        "production": registered.ref,
        "url": deployment.url,
        "dashboard": link,
    }


def _wait_for_alert(rule_id: str, timeout: float) -> str | None:
    from lepton.monitoring import alert_history

    deadline = time.time() + timeout
    while time.time() < deadline:
        events = alert_history(rule_id)
        if events:
            return str(events[0]["message"])
        time.sleep(1)
    return None


def _biased(data: Any) -> Any:
    """The credit table with historical bias: past decisions marked many women as defaulters."""
    import numpy as np

    import lepton

    frame = data.to_pandas().copy()
    rng = np.random.default_rng(1)
    flip = (frame["sex"] == "female") & (rng.random(len(frame)) < 0.3)
    frame.loc[flip, "default"] = "yes"
    return lepton.Dataset.from_pandas(frame, target="default", name="credit-biased")

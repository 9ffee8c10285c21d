"""Real data for the browser suite, made the way ``lepton demo`` makes it: the SDK of this
process talks to the live server (remote mode), so every row the pages show went through the
REST API. Smaller than the demo (fewer rows, few epochs) so the whole suite stays fast."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PROJECT = "credit"
MODEL = "credit-risk"
DEPLOYMENT = "credit"
EPOCHS = 3  # the MLP logs one point per epoch: the run page's chart must show exactly these
PASSWORD = "correct horse battery"  # >= 10 characters, as the password rules ask


@dataclass
class User:
    name: str
    role: str
    key: str
    password: str = PASSWORD


@dataclass
class Seeded:
    """What the suite's tests look for: names, ids and the users who sign in."""

    project: str = PROJECT
    dataset: str = "credit"
    model: str = MODEL
    deployment: str = DEPLOYMENT
    runs: dict[str, str] = field(default_factory=dict)  # lightgbm, mlp, failed -> run id
    production: int = 0  # the version credit-risk@production points at
    second: int = 0  # a later version that fails the project's card policy
    alert_id: str = ""
    job: str = ""  # a queued training job
    users: dict[str, User] = field(default_factory=dict)  # admin, developer, viewer


@dataclass
class Site:
    """The seeded server: its address, the admin's key, the data the tests look for."""

    url: str
    live: Any  # tests.live_server.LiveServer
    data: Seeded

    def api(self, user: str = "admin") -> httpx.Client:
        """An API client with the key of ``user`` (admin, developer or viewer)."""
        key = self.data.users[user].key
        return httpx.Client(
            base_url=f"{self.url}/api/v1", headers={"authorization": f"Bearer {key}"}, timeout=30
        )


def seed(live: Any, work: Path) -> Seeded:
    """Fill the server ``live`` with a project, data, runs, models, a deployment and users."""
    from tests.live_server import sdk_using

    with sdk_using(live, work / "client-home") as patch:
        patch.chdir(work)
        seeded = _flow(live, work)
    seeded.users = _users(live)
    return seeded


def _flow(live: Any, work: Path) -> Seeded:
    import lepton
    from lepton.demo import credit_table
    from lepton.monitoring import create_alert
    from lepton.registry import set_alias, update_card

    seeded = Seeded()
    lepton.create_project(PROJECT, work / PROJECT, "Credit risk, seeded by the browser suite.")
    data = lepton.Dataset.from_pandas(credit_table(rows=800), target="default", name="credit")
    data.register(PROJECT)

    # sex and age group stay out of the features; fairness is measured on them afterwards
    train, valid = data.exclude_features("sex", "age_group").split(test_size=0.25, seed=0)
    results, reports = {}, {}
    for kind, settings in (("lightgbm", {}), ("mlp", {"epochs": EPOCHS})):
        result = lepton.train(lepton.create_model(kind, **settings), train, valid, verbose=0)
        results[kind] = result
        seeded.runs[kind] = result.run_id
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small-group notes are in the report itself
            reports[kind] = lepton.evaluate(
                result.model, valid, sensitive_features={"sex": None, "age": [18, 41, 120]}
            )
    best = max(reports, key=lambda k: reports[k].metrics["roc_auc"])
    other = "mlp" if best == "lightgbm" else "lightgbm"

    version = lepton.register(results[best].model, MODEL, report=reports[best])
    update_card(
        version.ref,
        intended_use="Pre-screening of loan applications; a person decides.",
        owners="risk-analytics@example.com",
    )
    _set_policies(live, reports[best].metrics["roc_auc"])
    set_alias(MODEL, "production", version.version)  # the SDK runs the project's policies
    seeded.production = version.version
    # started now, so the replica loads while the rest is seeded
    lepton.deploy(f"{MODEL}@production", name=DEPLOYMENT, replicas=1, wait=False)

    # the second version has no card: the project's card policy refuses its promotion
    seeded.second = lepton.register(results[other].model, MODEL, report=reports[other]).version
    seeded.alert_id = create_alert(DEPLOYMENT, "drift_psi", above=0.2, for_=0).id
    seeded.runs["failed"] = _failed_run()
    seeded.job = _queued_job(live)
    return seeded


def _admin_api(live: Any) -> httpx.Client:
    return httpx.Client(
        base_url=f"{live.url}/api/v1", headers={"authorization": f"Bearer {live.admin_token}"}
    )


def _queued_job(live: Any) -> str:
    """A training job; the suite's server runs no scheduler, so it stays queued."""
    spec = {"project": PROJECT, "name": "nightly-credit", "data": "credit", "model": "lightgbm"}
    with _admin_api(live) as api:
        reply = api.post("/jobs", json=spec)
    reply.raise_for_status()
    return str(reply.json()["id"])


def _set_policies(live: Any, roc_auc: float) -> None:
    """The project's rules: a quality floor the registered model passes, and a filled card."""
    policies = [
        {"rule": "min_metric", "metric": "roc_auc", "value": round(min(roc_auc, 0.9) - 0.05, 3)},
        {"rule": "card_field", "field": "intended_use"},
    ]
    with _admin_api(live) as api:
        api.put(f"/projects/{PROJECT}/policies", json={"policies": policies}).raise_for_status()


def _failed_run() -> str:
    """A run whose code raised: the run ends ``failed``, with the error, as a user's would."""
    import lepton

    with (
        contextlib.suppress(ValueError),
        lepton.start_run(name="broken-features", project=PROJECT) as run,
    ):
        run.log_params({"learning_rate": 0.1})
        run.log_metric("loss", 0.9, step=0)
        raise ValueError("Column 'income' has no values in this batch.")
    return str(run.id)


def _users(live: Any) -> dict[str, User]:
    """The bootstrap admin, a developer and a viewer of the project, each with a password."""
    security = live.state.security
    users = {"admin": User("admin", "admin", live.admin_token)}
    for role in ("developer", "viewer"):
        name = f"{role}-1"
        security.create_user(name, role=role, project=PROJECT)
        _, key = security.create_key(name, "browser tests")
        users[role] = User(name, role, key)
    for user in users.values():
        security.set_password(user.name, user.password)
    return users

"""The Typer application: command groups are registered here, defined in their own modules."""

from __future__ import annotations

import typer

from lepton.cli import (
    _compress,
    _data,
    _demo,
    _deployments,
    _env,
    _jobs,
    _models,
    _predict,
    _projects,
    _runs,
    _secrets,
    _security,
    _serve,
    _server,
    _train,
    _tune,
)

app = typer.Typer(
    name="lepton",
    help="Lepton: data -> training -> evaluation -> registry -> deployment -> monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.add_typer(_projects.init_app, name="init")
app.add_typer(_projects.projects_app, name="projects")
app.add_typer(_runs.app, name="runs")
app.add_typer(_data.app, name="data")
app.add_typer(_train.models_app, name="models")
app.add_typer(_models.policies_app, name="policies")
app.command("train")(_train.train)
app.command("tune")(_tune.tune)
app.command("compress")(_compress.compress)
app.command("predict")(_predict.predict)
app.command("eval")(_models.evaluate)
app.command("serve")(_serve.serve)
app.command("deploy")(_deployments.deploy)
app.add_typer(_deployments.app, name="deployments")
app.add_typer(_deployments.alerts_app, name="alerts")
app.command("dev")(_deployments.dev)
app.command("dashboard")(_deployments.dashboard)
app.command("demo")(_demo.demo)
app.command("env")(_env.env)
app.command("doctor")(_env.doctor)
app.add_typer(_server.server_app, name="server")
app.command("login")(_server.login)
app.command("logout")(_server.logout)
app.add_typer(_security.users_app, name="users")
app.add_typer(_security.tokens_app, name="tokens")
app.add_typer(_security.audit_app, name="audit")
app.add_typer(_secrets.secrets_app, name="secrets")
app.add_typer(_secrets.keys_app, name="keys")
app.add_typer(_jobs.app, name="jobs")

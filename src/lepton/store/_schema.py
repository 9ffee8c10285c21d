"""The metadata tables, as SQLAlchemy Core. Alembic migrations create and change them.

Portable types only (no SQLite- or PostgreSQL-only SQL): times are UTC epoch seconds as
doubles, ids are 32-character hex strings, free-form values are JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("path", Text, nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Double, nullable=False),
    Column("end_time", Double, nullable=True),
    Column("error", Text, nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    # lineage: git sha, environment (package versions, python, platform), dataset versions...
    Column("lineage", JSON, nullable=False, default=dict),
    Index("ix_runs_project_start", "project_id", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),  # JSON text of the value as logged
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Double, nullable=False),
    Column("value", Double, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1000), primary_key=True),  # path inside the run, e.g. "model/lepton.json"
    Column("store_key", String(1200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # "dataset", "model"...
    Column("name", String(250), nullable=False),
    Column("version", String(64), nullable=False),
    UniqueConstraint("run_id", "kind", "name", "version"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", String(32), ForeignKey("datasets.id"), nullable=False),
    Column("version", String(64), nullable=False),  # sha256 hex of the content
    Column("kind", String(16), nullable=False),  # "table", "images", "texts"
    Column("target", String(250), nullable=True),
    Column("schema", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("files", JSON, nullable=False),  # [{"path", "size", "sha256"}]
    Column("store_prefix", String(1200), nullable=False),  # artifact key prefix of the files
    Column("created_at", Double, nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
    Index("ix_dataset_versions_version", "version"),
)

models = Table(
    "models",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("project_id", String(32), ForeignKey("projects.id"), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
    # the highest version ever given: deleting the newest version never frees its number
    Column("last_version", Integer, nullable=False, server_default="0"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", String(32), ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), nullable=True),  # the training run (may live in another store)
    Column("bundle_key", String(1200), nullable=False),
    Column("bundle_sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("model", String(100), nullable=False),  # zoo name
    Column("family", String(32), nullable=False),
    Column("task", String(32), nullable=True),
    Column("datasets", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("input_schema", JSON, nullable=True),
    Column("evaluation_run_id", String(32), nullable=True),
    Column("card", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", String(32), ForeignKey("models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Double, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", String(32), ForeignKey("models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=True),  # None: the alias was removed
    Column("previous_version", Integer, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("override_reason", Text, nullable=True),
    Column("policy_results", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("project_id", String(32), ForeignKey("projects.id"), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", Integer, nullable=False),  # what should be served
    Column("desired", String(16), nullable=False),  # "running" or "stopped"
    Column(
        "status", String(16), nullable=False
    ),  # what is: pending, starting, running, updating, stopped, failed
    Column("replicas", Integer, nullable=False),  # desired count
    Column("host", String(100), nullable=False),
    Column("port", Integer, nullable=False),
    Column("key_hash", String(64), nullable=True),  # None: public
    Column("options", JSON, nullable=False),  # serving options (batching, limits)
    Column(
        "state", JSON, nullable=False
    ),  # the control plane's view: replicas, restarts, served version
    Column("error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("secrets", JSON, nullable=True),  # names of secrets injected as env variables
)

deployment_metrics = Table(
    "deployment_metrics",
    metadata,
    Column("deployment_id", String(32), ForeignKey("deployments.id"), nullable=False),
    Column("resolution", Integer, nullable=False),  # seconds per point: 10, 60 or 600
    Column("ts", Double, nullable=False),  # start of the interval
    Column(
        "values", JSON, nullable=False
    ),  # qps, error_rate, p50/p95/p99_latency_ms, batch_size...
    Index("ix_deployment_metrics_lookup", "deployment_id", "resolution", "ts"),
)

request_samples = Table(
    "request_samples",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("deployment_id", String(32), ForeignKey("deployments.id"), nullable=False),
    Column("ts", Double, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("inputs", JSON, nullable=False),  # one row, PII masked
    Column("prediction", JSON, nullable=True),
    Index("ix_request_samples_deployment_ts", "deployment_id", "ts"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("deployment_id", String(32), ForeignKey("deployments.id"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("op", String(8), nullable=False),  # "above" or "below"
    Column("threshold", Double, nullable=False),
    Column("for_seconds", Double, nullable=False),
    Column("webhook", Text, nullable=True),
    Column("state", String(16), nullable=False),  # ok, pending, firing
    Column("since", Double, nullable=True),  # when the condition started to hold
    Column("created_at", Double, nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("rule_id", String(32), ForeignKey("alert_rules.id"), nullable=False),
    Column("state", String(16), nullable=False),  # "firing" or "resolved"
    Column("value", Double, nullable=True),
    Column("message", Text, nullable=False),
    Column("webhook_status", String(100), nullable=True),
    Column("ts", Double, nullable=False),
)

# --- the team server ---------------------------------------------------------------------

_seq = BigInteger().with_variant(Integer, "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("email", String(250), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
    # for the dashboard's sign-in: scrypt$n$r$p$salt$hash (see security/_passwords.py); None:
    # the user signs in with an API key only
    Column("password_hash", String(255), nullable=True),
)

memberships = Table(  # a user's role in a project; project "*" means every project
    "memberships",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("project", String(200), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer, developer or admin
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),  # the first characters, to recognise a key
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
    Column("last_used_at", Double, nullable=True),
)

web_sessions = Table(  # signed-in dashboard users; the cookie's token is kept only as a hash
    "web_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the token
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("last_seen_at", Double, nullable=False),
)

signin_codes = Table(  # one-time sign-in links (``/login?code=...``), kept only as hashes
    "signin_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
)

audit_log = Table(  # a hash chain: each entry's hash covers its fields and the previous hash
    "audit_log",
    metadata,
    Column("seq", _seq, primary_key=True, autoincrement=False),
    Column("ts", Double, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(200), nullable=False),
    Column("target", Text, nullable=False),
    Column("project", String(200), nullable=True),
    Column("source", String(100), nullable=False),  # client address
    Column("outcome", String(16), nullable=False),  # ok, denied, failed
    Column("status_code", Integer, nullable=False),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(  # the last entry, so that deleting the newest entries is detected too
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", _seq, nullable=False),
    Column("hash", String(64), nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("project", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("master_key_id", String(16), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

object_keys = Table(  # per-object data keys, wrapped by the master key (envelope encryption)
    "object_keys",
    metadata,
    Column("key", String(1024), primary_key=True),
    Column("master_key_id", String(16), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # train (tune joins with the tuning issue)
    Column("spec", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, succeeded, failed, cancelled
    Column("cpu", Integer, nullable=False),
    Column("gpu", Integer, nullable=False),
    Column("max_retries", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("secrets", JSON, nullable=False),
    Column("submitted_by", String(100), nullable=False),
    Column("pid", Integer, nullable=True),
    Column("run_id", String(32), nullable=True),
    Column("model_ref", String(250), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double, nullable=True),
    Column("ended_at", Double, nullable=True),
    Index("ix_jobs_status_created", "status", "created_at"),
)

project_settings = Table(  # server-side settings of a project, e.g. its governance policies
    "project_settings",
    metadata,
    Column("project", String(200), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
)

"""Opening the metadata database: engine settings per dialect, and migrations.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE``: several processes may write at once, and a writer waits for the lock
instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from lepton.errors import ConfigError, StoreError

HEAD_REVISION = "0007"  # bump with each new migration in migrations/versions/
_MIGRATIONS = Path(__file__).with_name("migrations")
_migrate_lock = threading.Lock()


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``), migrated to head."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(
            f"Invalid database URL {url!r}: {exc}. Expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB."
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError(
                f"Use the psycopg 3 driver for PostgreSQL: postgresql+psycopg://..., got {url!r}."
            )
        from lepton._optional import require

        require("psycopg", purpose="use a PostgreSQL metadata store")
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    else:
        raise ConfigError(
            f"Unsupported database {parsed.get_backend_name()!r} in {url!r}; "
            "Lepton supports SQLite (sqlite:///PATH) and PostgreSQL (postgresql+psycopg://...)."
        )
    migrate(engine)
    return engine


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below (pysqlite's own
        # implicit BEGIN would be DEFERRED, which deadlocks concurrent writers).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: never corrupt, fast commits
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("lepton_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:
            return None


def migrate(engine: Engine) -> None:
    """Bring the schema to the head revision; cheap when it is already there.

    Alembic is imported only when there is work to do. Concurrent first opens are serialised
    (a file lock for SQLite, an advisory lock for PostgreSQL) so two processes never both
    create the tables.
    """
    if current_revision(engine) == HEAD_REVISION:
        return
    with _migrate_lock, _cross_process_lock(engine) as conn:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except Exception as exc:
            raise StoreError(
                f"Could not migrate the metadata database {engine.url!r} to revision "
                f"{HEAD_REVISION}: {exc}"
            ) from exc


@contextlib.contextmanager
def _cross_process_lock(engine: Engine) -> Iterator[Any]:
    if engine.dialect.name == "sqlite":
        lock_path = Path(engine.url.database or "lepton.db").with_suffix(".migrate.lock")
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                with engine.connect() as conn:
                    yield conn
                    conn.commit()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(4242)"))
            try:
                yield conn
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(4242)"))
                conn.commit()

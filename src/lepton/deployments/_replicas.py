"""Replica processes of a deployment: start, health-check, retire gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton.deployments._http import Upstream


@dataclass
class Replica:
    slot: int
    version: int
    config: str  # model version, key and options it was started with: a change rolls it
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    failures: int = 0  # consecutive failed health checks
    upstream: Upstream = field(init=False)

    def __post_init__(self) -> None:
        self.upstream = Upstream("127.0.0.1", self.port)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def describe(self) -> dict[str, Any]:
        status = "ready" if self.ready else "starting" if self.alive else "exited"
        return {
            "slot": self.slot,
            "pid": self.process.pid,
            "port": self.port,
            "version": self.version,
            "status": status,
            "started_at": self.started_at,
        }

    def terminate(self) -> None:
        """SIGTERM: the replica refuses new requests (503) and finishes those in flight."""
        self.upstream.close()
        if self.alive:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.alive:
            self.process.kill()


def start_replica(
    slot: int, version: int, config: str, port: int, env: dict[str, str], log: Path
) -> Replica:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(
            f"--- replica {slot} starting, model version {version}, port {port}, {time.ctime()}\n".encode()
        )
        out.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "lepton.serving"],
            env={
                **os.environ,
                **env,
                "LEPTON_SERVE_PORT": str(port),
                "LEPTON_SERVE_HOST": "127.0.0.1",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches the control plane only
        )
    return Replica(slot, version, config, port, process, log)

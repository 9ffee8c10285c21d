"""Studies kept in the workspace, so a killed search continues where it stopped.

Trials run against an in-memory Optuna study (sampling and pruning at memory speed); each
trial also leaves two records in a journal file under ``LEPTON_HOME/studies/``: one when it
starts (its settings, run and process) and one when it ends (the whole finished trial). An
append-only journal is safe for parallel trials, and two writes per trial keep the cost of
durability (each write is fsync'ed) to a few milliseconds. On resume the finished trials are
loaded back into a new in-memory study; a started trial whose process is gone is recorded as
failed and its settings are queued again.

The study's name is derived from what defines the search — model, data version, space, metric,
sampler, seed — so re-running the same ``lepton.tune`` call finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from lepton.errors import InvalidParameterError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_STARTED = "started."  # study attribute prefix of a trial's start record


def study_name(identity: dict[str, Any], name: str | None) -> str:
    if name is not None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidParameterError(
                f"study name {name!r} is invalid: use 1-100 letters, digits, '.', '_' or '-'."
            )
        return name
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"{identity['model']}-{identity['data']}-{digest[:10]}"


def study_path(home: Path, name: str) -> Path:
    return home / "studies" / f"{name}.journal"


class StudyRecord:
    """The durable side of a study: finished trials and start records in a journal file."""

    def __init__(self, path: Path, name: str, direction: str, *, fresh: bool) -> None:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh and path.exists():
            path.unlink()
        self.path, self.name = path, name
        self.study = optuna.create_study(
            storage=JournalStorage(JournalFileBackend(str(path))),
            study_name=name,
            direction="maximize" if direction == "maximize" else "minimize",
            load_if_exists=True,
        )
        stored = self.study.direction.name.lower()
        if stored != direction:
            raise InvalidParameterError(
                f"The stored study {name!r} {stored[:-1]}es, not {direction[:-1]}es; "
                "name another study or pass resume=False to start over."
            )
        self._lock = threading.Lock()

    @property
    def parent_run_id(self) -> str | None:
        return self.study.user_attrs.get("parent_run_id")

    @parent_run_id.setter
    def parent_run_id(self, run_id: str) -> None:
        self.study.set_user_attr("parent_run_id", run_id)

    @property
    def baseline(self) -> float | None:
        """The metric of the model's own settings, measured once per study."""
        return self.study.user_attrs.get("baseline")

    @baseline.setter
    def baseline(self, value: float) -> None:
        self.study.set_user_attr("baseline", value)

    def finished_trials(self) -> list[Any]:
        return list(self.study.get_trials(deepcopy=False))

    def started(self, trial: Any, run_id: str) -> None:
        """Record that ``trial`` runs now, with its settings, run and process (one write)."""
        token = uuid.uuid4().hex
        trial.set_user_attr("slot", token)
        record = {"params": trial.params, "run_id": run_id, "number": trial.number, **owner()}
        with self._lock:
            self.study.set_user_attr(_STARTED + token, record)

    def finished(self, trial: Any) -> None:
        """Record a finished (complete, pruned or failed) trial of the live study (one write)."""
        import optuna

        copy = optuna.trial.create_trial(
            state=trial.state,
            values=trial.values,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=trial.user_attrs,
            intermediate_values=trial.intermediate_values,
        )
        copy.datetime_start, copy.datetime_complete = trial.datetime_start, trial.datetime_complete
        with self._lock:
            self.study.add_trial(copy)

    def interrupted(self) -> list[dict[str, Any]]:
        """Start records of trials that never finished and whose process is gone.

        Each is recorded as a failed trial, so it is reported once; the caller retries it.
        """
        import optuna
        from optuna.trial import TrialState

        ended = {t.user_attrs.get("slot") for t in self.study.get_trials(deepcopy=False)}
        lost = []
        for key, record in self.study.user_attrs.items():
            token = key.removeprefix(_STARTED)
            if key.startswith(_STARTED) and token not in ended and not _alive(record):
                lost.append(record)
                self.study.add_trial(
                    optuna.trial.create_trial(
                        state=TrialState.FAIL,
                        user_attrs={
                            "slot": token,
                            "run_id": record.get("run_id", ""),
                            "error": "interrupted: the tuning process stopped during this trial",
                        },
                    )
                )
        return lost


def owner() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _alive(record: dict[str, Any]) -> bool:
    if record.get("host") != socket.gethostname():
        return True  # another machine's trial: not ours to judge
    pid = int(record.get("pid") or 0)
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def counts(trials: list[Any]) -> dict[str, int]:
    """Trials by state: complete, pruned, fail, running, waiting."""
    result: dict[str, int] = {}
    for trial in trials:
        key = trial.state.name.lower()
        result[key] = result.get(key, 0) + 1
    return result

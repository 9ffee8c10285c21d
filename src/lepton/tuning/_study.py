"""Studies kept in the workspace, so a killed search continues where it stopped.

Each study is an Optuna journal file under ``LEPTON_HOME/studies/``: an append-only log (cheap
per trial, safe for parallel trials in one process and across processes on one machine).
Its name is derived from what defines the search — model, data version, space, metric, sampler,
seed — so re-running the same ``lepton.tune`` call finds it. A trial left ``RUNNING`` by a
process that no longer exists is marked failed and its parameters are queued again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

from lepton.errors import InvalidParameterError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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


def open_study(
    path: Path, name: str, *, direction: str, sampler: Any, pruner: Any, fresh: bool
) -> Any:
    """Create or load the study stored at ``path`` (``fresh`` deletes a previous one first)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh and path.exists():
        path.unlink()
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize" if direction == "maximize" else "minimize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise InvalidParameterError(
            f"The stored study {name!r} {study.direction.name.lower()}s, not {direction}s; "
            "name another study or pass resume=False to start over."
        )
    return study


def owner_tags() -> dict[str, Any]:
    """Who runs a trial: trials left RUNNING by a dead owner are retried on resume."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _owner_alive(attrs: dict[str, Any]) -> bool:
    if attrs.get("host") != socket.gethostname():
        return True  # another machine's trial: not ours to judge
    pid = int(attrs.get("pid") or 0)
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


def recover_orphans(study: Any) -> list[Any]:
    """Mark trials of dead processes failed and queue their parameters again; return them."""
    from optuna.trial import TrialState

    orphans = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not _owner_alive(t.user_attrs)
    ]
    for trial in orphans:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(trial.params, skip_if_exists=False)
    return orphans


def counts(study: Any) -> dict[str, int]:
    """Trials by state: complete, pruned, fail, running, waiting."""
    result: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        key = trial.state.name.lower()
        result[key] = result.get(key, 0) + 1
    return result

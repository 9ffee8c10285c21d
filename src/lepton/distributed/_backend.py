"""Execution backends: where training (and later tuning, serving, scoring) actually runs.

``backend="local"`` runs in this process; ``backend="ray"`` on a Ray cluster. The user API
never changes with the backend, and this package is the only one allowed to import ray.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lepton.errors import ConfigError

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.models import FitContext, Model

BACKENDS = ("local", "ray")


class Backend(ABC):
    name: str

    @abstractmethod
    def fit(self, model: Model, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        """Train ``model`` in place, reporting through ``ctx``."""

    @abstractmethod
    def search(
        self,
        study: Any,
        objective: Callable[[Any], float],
        *,
        n_trials: int,
        timeout: float | None,
        n_jobs: int,
        callbacks: Sequence[Callable[[Any, Any], None]] = (),
    ) -> None:
        """Run up to ``n_trials`` trials of the Optuna ``study`` with ``objective``.

        The objective samples its settings from the trial, fits, reports intermediate values
        and returns the metric; a backend decides where trials run and how many at once.
        """


class LocalBackend(Backend):
    """Runs in this process: threads and worker processes of this machine."""

    name = "local"

    def fit(self, model: Model, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        model._prepare(train, valid)
        model._fit(train, valid, ctx)

    def search(
        self,
        study: Any,
        objective: Callable[[Any], float],
        *,
        n_trials: int,
        timeout: float | None,
        n_jobs: int,
        callbacks: Sequence[Callable[[Any, Any], None]] = (),
    ) -> None:
        if n_trials <= 0:
            return
        # a failing trial is recorded (state FAIL, its error in the trial's attributes) and the
        # search goes on; tune() raises only when no trial completed
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            catch=(Exception,),
            callbacks=list(callbacks),
        )


def get_backend(name: str | Backend | None = None) -> Backend:
    """The backend named ``name`` (or given as an object, e.g. ``RayBackend(num_workers=4)``),
    or the configured one (``LEPTON_BACKEND`` / ``backend:`` in ``lepton.yaml``)."""
    if isinstance(name, Backend):
        return name
    if name is None:
        from lepton.workspace import current_settings

        name = current_settings().backend
    if name == "local":
        return LocalBackend()
    if name == "ray":
        from lepton.distributed._ray import RayBackend

        return RayBackend()
    raise ConfigError(f"Unknown backend {name!r}; expected one of {', '.join(BACKENDS)}.")

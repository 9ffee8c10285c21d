"""Execution backends: where training (and later tuning, serving, scoring) actually runs.

``backend="local"`` runs in this process; ``backend="ray"`` on a Ray cluster. The user API
never changes with the backend, and this package is the only one allowed to import ray.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lepton.errors import ConfigError

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.models import FitContext, Model

BACKENDS = ("local", "ray")


class TrialPlan(Protocol):
    """The trials of a search, as a backend runs them (``lepton.tuning``'s ``TrialSetup``).

    In this process a trial is one Optuna objective call. Elsewhere (a Ray worker) it is split:
    ``remote_fit()`` computes where the backend places it, and the driver writes the trial's
    child run through ``start_trial``.
    """

    prune: bool  # whether trials report intermediate values (an early-stopping rule reads them)
    warmup_steps: int  # no trial is stopped before this epoch / boosting round
    startup_trials: int  # nor before this many trials reached the step compared

    @property
    def direction(self) -> str:
        """``"maximize"`` or ``"minimize"`` the searched metric."""

    def objective(self) -> Callable[[Any], float]:
        """The Optuna objective of a trial that runs in this process."""

    def sample(self, trial: Any) -> dict[str, Any]:
        """The settings of a trial, sampled on the Optuna ``trial``."""

    def remote_fit(self) -> Callable[..., float]:
        """``fit(settings, log, report) -> metric``: a picklable fit of one trial."""

    def start_trial(self, trial: Any, settings: Mapping[str, Any]) -> Any:
        """The driver's child run of ``trial``: ``log``, ``report``, ``complete``, ``pruned``,
        ``failed(error, detail)``, ``killed``."""


class Backend(ABC):
    name: str

    @abstractmethod
    def fit(self, model: Model, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        """Train ``model`` in place, reporting through ``ctx``."""

    def prepare_search(self) -> None:
        """Refuse, before any run starts, a search whose trials cannot run here."""
        return None  # trials run in this process: nothing to check

    @abstractmethod
    def search(
        self,
        study: Any,
        trials: TrialPlan,
        *,
        n_trials: int,
        timeout: float | None,
        n_jobs: int,
        callbacks: Sequence[Callable[[Any, Any], None]] = (),
    ) -> None:
        """Run up to ``n_trials`` trials of the Optuna ``study``, ``n_jobs`` at once.

        Each trial samples its settings, fits, reports intermediate values and ends complete,
        pruned or failed (a failure is recorded and the search goes on); every finished trial
        is passed to each callback as ``callback(study, frozen_trial)``.
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
        trials: TrialPlan,
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
            trials.objective(),
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

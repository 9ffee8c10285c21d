"""``backend="ray"``: training and tuning on a Ray cluster, with the same user code.

The driver (the user's process) keeps every write to the Lepton workspace; Ray workers only
compute and send back metrics, checkpoints and fitted models. So a run, its metrics and its
artifacts look the same whichever backend produced them, and workers need no credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lepton.distributed._backend import Backend, TrialPlan
from lepton.errors import InvalidParameterError

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.models import FitContext, Model


class RayBackend(Backend):
    """Runs on the Ray cluster at ``address`` (default: ``LEPTON_RAY_ADDRESS``, ``ray.address``
    in lepton.yaml, or a local cluster started on first use).

    Args:
        address: ``host:port`` of the head node.
        num_workers: training workers for torch models (DDP); default ``ray.workers`` or 2.
        use_gpu: one GPU per worker; default: when ``ray.gpus_per_worker`` is set.
        cpus_per_worker: CPUs Ray reserves for each worker or task.
        max_failures: how many times a training whose worker died restarts from its last
            checkpoint before the run fails.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_workers: int | None = None,
        use_gpu: bool | None = None,
        cpus_per_worker: float = 1.0,
        max_failures: int = 2,
    ) -> None:
        from lepton.distributed._ray_session import ray_settings

        settings = ray_settings()
        self.address = address or settings.get("address") or None
        self.num_workers = _positive_int(
            "num_workers", num_workers if num_workers is not None else settings.get("workers", 2)
        )
        self.use_gpu = bool(
            use_gpu if use_gpu is not None else float(settings.get("gpus_per_worker") or 0) > 0
        )
        if not isinstance(cpus_per_worker, int | float) or cpus_per_worker <= 0:
            raise InvalidParameterError(
                f"cpus_per_worker must be a positive number, got {cpus_per_worker!r}."
            )
        self.cpus_per_worker = float(cpus_per_worker)
        if not isinstance(max_failures, int) or max_failures < 0:
            raise InvalidParameterError(
                f"max_failures must be a whole number >= 0, got {max_failures!r}."
            )
        self.max_failures = max_failures

    def connect(self) -> Any:
        """The ``ray`` module, joined to this backend's cluster."""
        from lepton.distributed._ray_session import connect

        return connect(self.address)

    def fit(self, model: Model, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        from lepton.distributed._ray_train import fit_on_ray

        fit_on_ray(self, model, train, valid, ctx)

    def prepare_search(self) -> None:
        from lepton.distributed._ray_tune import check_resources

        check_resources(self)

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
        from lepton.distributed._ray_tune import search_on_ray

        search_on_ray(
            self,
            study,
            trials,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            callbacks=callbacks,
        )


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(
            f"{name} must be a whole number >= 1, got {value!r} (from the argument or ray.{name} "
            "in lepton.yaml)."
        )
    return value

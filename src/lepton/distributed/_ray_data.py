"""Batch scoring on a Ray cluster with Ray Data: ``map_batches`` over a pool of actors.

Each actor builds the scorer once (it loads the model bundle it was given as bytes, so a node
that does not share the driver's disk can score too) and then transforms batch after batch.
Results stream back to the driver, which writes them: the driver owns the output, workers
only compute. The scorer class comes from the caller, so this package knows nothing of models.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from lepton.distributed._ray import RayBackend


def score_on_ray(
    backend: RayBackend,
    batches: Sequence[pd.DataFrame],
    scorer: type,
    scorer_args: Sequence[Any],
    *,
    workers: int,
    on_batch: Callable[[pd.DataFrame], None],
) -> None:
    """Call ``scorer(*scorer_args)(batch)`` on every batch on the cluster, ``workers`` actors
    at most; ``on_batch`` gets every output (any order, any split) back in the driver.

    Raises:
        BackendError: no cluster, or one too small for a single scoring actor.
    """
    from lepton.distributed._ray_session import require_resources

    ray = backend.connect()
    require_resources(cpus=backend.cpus_per_worker, what="A batch-scoring worker")
    with _quiet(ray):
        failure = _run(ray, backend, batches, scorer, scorer_args, workers, on_batch)
    if failure is not None:
        # a failed execution keeps its actors, and their CPUs, while anything refers to their
        # handles: its frames are gone with _run and the error's tracebacks, the rest is cycles
        gc.collect()
        raise failure


def _run(
    ray: Any,
    backend: RayBackend,
    batches: Sequence[pd.DataFrame],
    scorer: type,
    scorer_args: Sequence[Any],
    workers: int,
    on_batch: Callable[[pd.DataFrame], None],
) -> BaseException | None:
    """Score every batch; what failed, without its tracebacks (returned, not raised)."""
    # one block per input batch: Ray hands each actor whole chunks where it can
    dataset = ray.data.from_pandas(list(batches))
    scored = dataset.map_batches(
        scorer,
        fn_constructor_args=tuple(scorer_args),
        batch_format="pandas",
        batch_size=max(len(b) for b in batches),
        # start with one actor and grow to ``workers`` as CPUs allow: a fixed pool would wait
        # forever for CPUs that other work on the cluster holds
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=backend.cpus_per_worker,
    )
    try:
        for batch in scored.iter_batches(batch_format="pandas", batch_size=None):
            on_batch(batch)
    except Exception as exc:
        error: BaseException | None = exc
        while error is not None:
            error.__traceback__ = None
            error = error.__cause__ or error.__context__
        return exc
    return None


@contextmanager
def _quiet(ray: Any) -> Iterator[None]:
    """Lepton draws its own progress bar: Ray Data's bars and banners would interleave."""
    context = ray.data.DataContext.get_current()
    saved = (context.enable_progress_bars, context.print_on_execution_start)
    context.enable_progress_bars, context.print_on_execution_start = False, False
    # ...and Ray Data would warn that its bars are off (which is the point), and log its
    # operators' metrics to the console, where they would break `lepton predict --json`
    loggers = [logging.getLogger(n) for n in ("ray.data", "ray.data._internal.progress")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)

"""``lepton.tune(..., backend="ray")``: the trials of a search run as Ray Tune trials.

Ray Tune schedules the trials on the cluster, Optuna samples them (``OptunaSearch``, over the
search's own study, so the sampler, the trial numbers and the retried settings of an interrupted
search are the same as locally) and an early-stopping scheduler stops the hopeless ones
(``MedianStoppingRule``, the counterpart of Optuna's median pruner, with the same warm-up).

A trial's fit runs in a Ray worker and only computes: it sends the metrics of each epoch or
boosting round back with its reports. The driver, in Tune callbacks, writes everything else
exactly as a local search does: the trial's child run, its metrics and tags, the trial's record
in the study (its journal, for resuming) and the progress line.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lepton.errors import LeptonError

if TYPE_CHECKING:
    from lepton.distributed._backend import TrialPlan
    from lepton.distributed._ray import RayBackend

# keys of the results a trial reports to Tune (besides Tune's own)
VALUE = "lepton_value"  # the searched metric: intermediate, or the final one
STEP = "lepton_step"  # the model's epoch or boosting round the value belongs to
LOGS = "lepton_logs"  # [(metrics, step), ...] logged since the previous report
FINAL = "lepton_final"  # set on the last report of a trial that ran to its end
ERROR = "lepton_error"  # "Type: message" of a trial whose fit raised
DETAIL = "lepton_detail"  # the message its run ends with (a short traceback)

# Tune's newer console reporter prints a configuration box and trial tables even at verbose=0,
# and its default loggers write CSV and TensorBoard files nobody reads: Lepton prints its own
# progress and keeps results in its runs. Ctrl+C interrupts the search as it does locally
# (Tune's own handler would end it quietly and stop the running trials as if pruned).
_TUNE_ENV = {
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}


def search_on_ray(
    backend: RayBackend,
    study: Any,
    trials: TrialPlan,
    *,
    n_trials: int,
    timeout: float | None,
    n_jobs: int,
    callbacks: Sequence[Callable[[Any, Any], None]] = (),
) -> None:
    """Run up to ``n_trials`` trials of the Optuna ``study`` on the Ray cluster.

    ``n_jobs`` trials run at once (each with ``backend.cpus_per_worker`` CPUs); no trial starts
    after ``timeout`` seconds. Every finished trial is in ``study`` (complete, pruned or failed)
    and was passed to each of ``callbacks`` as ``callback(study, frozen_trial)``.
    """
    if n_trials <= 0:
        return
    check_resources(backend)
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback
    from ray.tune.schedulers import FIFOScheduler, MedianStoppingRule

    mode = "max" if trials.direction == "maximize" else "min"
    deadline = time.monotonic() + timeout if timeout is not None else None
    book = TrialBook(study, trials, callbacks, deadline)
    scheduler = (
        MedianStoppingRule(
            time_attr=STEP,
            metric=VALUE,
            mode=mode,
            grace_period=trials.warmup_steps,
            min_samples_required=trials.startup_trials,
            # a trial without enough others to compare with runs on: pausing a function trial
            # would restart it from scratch, having no checkpoint
            min_time_slice=math.inf,  # type: ignore[arg-type]
        )
        if trials.prune
        else FIFOScheduler()
    )
    resources = {"cpu": backend.cpus_per_worker, **({"gpu": 1} if backend.use_gpu else {})}
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, fit=trials.remote_fit()), resources
    )
    with tempfile.TemporaryDirectory(prefix="lepton-tune-") as storage, _tune_env():
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=_searcher(book, study, trials.sample, mode),
                scheduler=scheduler,
                num_samples=n_trials,
                max_concurrent_trials=n_jobs,
                # not reused: Tune gives a stopped trial's fit 2 s to reach its next report
                # before reusing its process, and fails the next trial when it does not
                reuse_actors=False,
                trial_name_creator=lambda trial: f"lepton-{trial.trial_id}",
                trial_dirname_creator=lambda trial: trial.trial_id,
            ),
            run_config=tune.RunConfig(
                name="lepton-tune",
                storage_path=storage,
                verbose=0,
                # Tune reads its results back from result.json when it ends (and warns without)
                callbacks=[_callback(book), JsonLoggerCallback()],
                # a failed trial is a result of the search (recorded, the search goes on)
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        try:
            tuner.fit()
        finally:
            book.close()


def check_resources(backend: RayBackend) -> None:
    """Join the cluster and refuse a trial it can never place (before any run starts)."""
    from lepton.distributed._ray_session import require_resources

    backend.connect()
    require_resources(
        cpus=backend.cpus_per_worker,
        gpus=1 if backend.use_gpu else 0,
        what="A tuning trial (cpus_per_worker CPUs, one GPU with use_gpu)",
    )


# the worker's side ---------------------------------------------------------------------------
def run_trial(config: dict[str, Any], fit: Any = None) -> None:
    """One trial, in a Ray worker: fit with the sampled settings, reporting to the driver.

    ``fit(settings, log, report)`` (the search's ``remote_fit()``) calls ``log`` for every
    epoch or round and ``report`` at the steps the scheduler may stop the trial; the metrics
    logged in between travel with the next report. An error is reported, not raised: it is the
    trial's outcome (recorded, the search goes on), not a crash of the worker.
    """
    from ray import tune

    pending: list[tuple[dict[str, float], int]] = []
    last = [0]

    def log(metrics: Mapping[str, float], step: int) -> None:
        pending.append(({k: float(v) for k, v in metrics.items()}, int(step)))
        # the scheduler's clock only moves forward (a booster logs its final metrics at its best
        # round, before the last one)
        last[0] = max(last[0], int(step))

    def send(value: float, **extra: Any) -> None:
        logs = list(pending)
        pending.clear()
        tune.report({VALUE: float(value), STEP: last[0], LOGS: logs, **extra})

    def report(value: float, step: int) -> None:
        last[0] = max(last[0], int(step))
        send(value)

    try:
        value = fit(dict(config), log, report)
    except Exception as exc:
        detail = (
            str(exc)
            if isinstance(exc, LeptonError)
            else "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
        )
        send(
            math.nan,
            **{ERROR: f"{type(exc).__name__}: {exc}", DETAIL: f"{type(exc).__name__}: {detail}"},
        )
        return
    send(value, **{FINAL: True})


# the driver's side ---------------------------------------------------------------------------
class TrialBook:
    """The driver's account of the trials: their Optuna trials, child runs and outcomes.

    Tune's searcher and callback (thin Ray subclasses below) hand every event to it; it writes
    the child runs and tells the study how each trial ended, as ``study.optimize`` does locally.
    """

    def __init__(
        self,
        study: Any,
        plan: TrialPlan,
        callbacks: Sequence[Callable[[Any, Any], None]],
        deadline: float | None,
    ) -> None:
        self.study, self.plan, self.callbacks, self.deadline = study, plan, callbacks, deadline
        self.trials: dict[str, Any] = {}  # Tune's trial id -> the Optuna trial
        self.children: dict[str, Any] = {}  # Tune's trial id -> its child run (plan.start_trial)

    def may_start(self) -> bool:
        """Whether another trial may start: not after the timeout, nor when a grid is done."""
        import optuna
        from optuna.trial import TrialState

        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        if not isinstance(self.study.sampler, optuna.samplers.GridSampler):
            return True
        # settings queued again after an interrupted search still run
        if self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return True
        # once every point has a trial (running or ended) the grid sampler would evaluate one
        # again; study.optimize stops there, and so does this search
        started = [
            t.system_attrs
            for t in self.study.get_trials(deepcopy=False)
            if "grid_id" in t.system_attrs and "search_space" in t.system_attrs
        ]
        if not started:
            return True
        size = math.prod(len(values) for values in started[0]["search_space"].values())
        return len({attrs["grid_id"] for attrs in started}) < size

    def asked(self, trial_id: str, trial: Any) -> None:
        self.trials[trial_id] = trial

    def started(self, trial_id: str, settings: Mapping[str, Any]) -> None:
        if trial_id in self.trials and trial_id not in self.children:
            self.children[trial_id] = self.plan.start_trial(self.trials[trial_id], dict(settings))

    def result(self, trial_id: str, result: Mapping[str, Any]) -> None:
        child = self.children.get(trial_id)
        if child is None:
            return
        for metrics, step in result.get(LOGS) or ():
            child.log(metrics, step)
        value = result.get(VALUE)
        intermediate = not result.get(FINAL) and not result.get(ERROR)
        if self.plan.prune and intermediate and value is not None and math.isfinite(value):
            child.report(float(value), int(result[STEP]))

    def ended(self, trial_id: str, last: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        """Tune ended the trial: it ran to its end, failed in its fit, or was stopped early."""
        from optuna.trial import TrialState

        if trial_id not in self.trials:
            return
        if last.get(ERROR):
            self.failed(trial_id, str(last[ERROR]), str(last.get(DETAIL) or last[ERROR]), settings)
        elif last.get(FINAL):
            self.started(trial_id, settings)
            self.children.pop(trial_id).complete()
            self._finish(trial_id, TrialState.COMPLETE, float(last[VALUE]))
        else:  # the scheduler stopped it
            self.started(trial_id, settings)
            self.children.pop(trial_id).pruned()
            self._finish(trial_id, TrialState.PRUNED, None)

    def failed(self, trial_id: str, error: str, detail: str, settings: Mapping[str, Any]) -> None:
        from optuna.trial import TrialState

        if trial_id not in self.trials:
            return
        self.started(trial_id, settings)  # a trial whose worker never started still gets a run
        self.children.pop(trial_id).failed(error, detail)
        self._finish(trial_id, TrialState.FAIL, None)

    def close(self) -> None:
        """Runs of trials Tune never ended (the driver was interrupted) end as killed."""
        from optuna.trial import TrialState

        for trial_id, trial in list(self.trials.items()):
            child = self.children.pop(trial_id, None)
            if child is not None:
                child.killed()
            with contextlib.suppress(Exception):  # closing up; the first error is raised
                self.study.tell(trial, state=TrialState.FAIL)
        self.trials.clear()

    def _finish(self, trial_id: str, state: Any, value: float | None) -> None:
        import optuna

        trial = self.trials.pop(trial_id)
        try:
            frozen = self.study.tell(trial, value, state=state)
        except RuntimeError:
            # the grid sampler asks study.optimize's loop to stop once the grid is done; there
            # is no such loop here (may_start stops the search) and the trial is recorded
            if not isinstance(self.study.sampler, optuna.samplers.GridSampler):
                raise
            frozen = self.study.get_trials(deepcopy=False)[trial.number]
        for callback in self.callbacks:
            callback(self.study, frozen)


def _searcher(book: TrialBook, study: Any, sample: Callable[[Any], Any], mode: str) -> Any:
    """``OptunaSearch`` over ``study`` itself: its storage, sampler and queued settings."""
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    class StudySearch(OptunaSearch):
        def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
            if trial_id not in self._ot_trials and not book.may_start():
                return Searcher.FINISHED  # type: ignore[no-any-return]
            config = super().suggest(trial_id)
            book.asked(trial_id, self._ot_trials[trial_id])
            return config  # type: ignore[no-any-return]

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            """Intermediate values go to the study at the model's own steps (TrialBook)."""

        def on_trial_complete(
            self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
        ) -> None:
            """The TrialBook tells the study: it knows whether the scheduler stopped the trial."""

        def save(self, checkpoint_path: str) -> None:
            """Nothing to save: the study's journal is what a resumed search starts from."""

        def __reduce__(self) -> tuple[Any, ...]:
            return _not_restorable, ("the searcher",)

    # the shared storage makes the searcher's study the search's own (same trials, same numbers)
    return StudySearch(
        space=sample,
        metric=VALUE,
        mode=mode,
        sampler=study.sampler,
        study_name=study.study_name,
        storage=study._storage,
    )


def _callback(book: TrialBook) -> Any:
    from ray import tune

    class TrialEvents(tune.Callback):
        def on_trial_start(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            book.started(trial.trial_id, trial.config)

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            book.result(trial.trial_id, result)

        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            book.ended(trial.trial_id, trial.last_result or {}, trial.config)

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            # the worker died (run_trial reports the errors of a fit itself)
            error = _error_of(trial)
            book.failed(trial.trial_id, error, error, trial.config)

        def __reduce__(self) -> tuple[Any, ...]:
            return _not_restorable, ("the trial callback",)

    return TrialEvents()


def _not_restorable(what: str) -> None:
    """What Tune's saved experiment holds instead of the driver's objects (which hold the
    study, its journal and open runs): a Lepton search resumes from its journal, never through
    ``Tuner.restore``."""
    return None


def _error_of(trial: Any) -> str:
    exc: BaseException | None = None
    with contextlib.suppress(Exception):
        exc = trial.get_pickled_error()
    cause = getattr(exc, "cause", None) or exc
    if cause is None:
        return "The Ray worker running this trial stopped (see the Ray logs of the cluster)."
    return f"{type(cause).__name__}: {cause}"[:2000]


@contextlib.contextmanager
def _tune_env() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _TUNE_ENV}
    os.environ.update(_TUNE_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

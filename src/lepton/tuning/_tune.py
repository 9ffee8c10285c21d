"""``lepton.tune``: search a zoo model's hyper-parameters, then train the winner.

    result = lepton.tune("lightgbm", train, valid, n_trials=30)
    result.best_params, result.best_value, result.trials, result.best_model

Optuna samples (TPE by default, random or grid on request) and prunes hopeless trials from the
metrics each model already streams per epoch or boosting iteration. Every trial is a child run
of one parent run; the study lives in the workspace, so re-running the same call after a crash
continues it. Trials run through the execution backend's ``search`` (threads on this machine
for ``backend="local"``), the seam where Ray Tune plugs in.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import InvalidParameterError
from lepton.tuning._goal import Goal, resolve_goal
from lepton.tuning._outcome import (
    best_trial,
    param_importances,
    trials_frame,
    values_of,
)
from lepton.tuning._result import TuneResult
from lepton.tuning._space import Distribution, parse_space, space_to_dict
from lepton.tuning._study import StudyRecord, counts, study_name, study_path
from lepton.tuning._trial import TrialSetup, fit_child

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.distributed import Backend
    from lepton.models import Model
    from lepton.tracking import Run

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
#: no trial is pruned before this many trials reached the step compared (locally and on Ray)
PRUNE_STARTUP_TRIALS = 5


def tune(
    model_or_name: Model | str,
    train: Dataset,
    valid: Dataset | None = None,
    *,
    search_space: Mapping[str, Any] | None = None,
    n_trials: int = 20,
    metric: str | None = None,
    direction: str | None = None,
    timeout: float | None = None,
    n_jobs: int = 1,
    sampler: str = "tpe",
    pruner: str = "median",
    seed: int = 0,
    study: str | None = None,
    resume: bool = True,
    baseline: bool = True,
    backend: str | Backend | None = None,
    verbose: Any = "auto",
) -> TuneResult:
    """Search hyper-parameters of a zoo model; return the best settings and a model trained with them.

    Args:
        model_or_name: a zoo name (``"lightgbm"``) or an untrained model whose config is the
            starting point (settings not searched keep its values).
        train, valid: Datasets. Each trial fits on ``train`` and is scored on ``valid``
            (default: 20 % of ``train``, split with ``seed``).
        search_space: name -> ``uniform`` / ``loguniform`` / ``intrange`` / ``choice`` (or the
            same as a YAML-style dict); plain values are fixed. Default: the model's own space.
        n_trials: trials to finish (complete or pruned), counting those of a resumed study.
        metric: validation metric to optimise (``roc_auc``, ``accuracy``, ``log_loss``, ``rmse``,
            ``mae``, ``r2``, ``loss``); default roc_auc (2 classes), accuracy, or rmse.
        direction: ``"maximize"``/``"minimize"``; default (and only allowed) the metric's own.
        timeout: stop starting new trials after this many seconds.
        n_jobs: trials run at once on this machine (threads; ``-1``: one per CPU).
        sampler: ``"tpe"`` (default), ``"random"`` or ``"grid"`` (choice/intrange only).
        pruner: ``"median"`` stops a trial whose intermediate metric is worse than the median of
            earlier trials at the same step; ``"none"`` never stops one.
        seed: seeds the sampler, the split and every model.
        study: a name for the stored study; default derived from model, data, space and metric.
        resume: continue a stored study of the same name (default); False starts it over.
        baseline: also fit the model with its own settings once, to show what tuning gained.
        backend: ``"local"`` (default, or ``LEPTON_BACKEND``), or ``"ray"``: trials run as Ray
            Tune trials on the cluster (Optuna samples them, a median stopping rule stops the
            hopeless ones), and the winner trains on Ray.
        verbose: ``"auto"`` (a bar on a terminal), 0 to silence, 2 for plain lines.

    Raises:
        InvalidParameterError: an empty or invalid space, an unknown metric, a contradicting
            direction, n_trials < 1, ...
        TuningError: no trial finished (the message gives the first trial's error).

    Example:
        >>> result = lepton.tune("lightgbm", train, valid, n_trials=20)
    """
    from lepton._optional import require
    from lepton.distributed import get_backend
    from lepton.models import TorchConfig

    require("optuna", purpose="tune hyper-parameters")
    from lepton.training._progress import Progress
    from lepton.training._train import _check_datasets, local_artifact_path

    _check_arguments(n_trials, timeout, n_jobs, seed, sampler, pruner)
    template = _template(model_or_name)
    _check_datasets(train, valid)
    if valid is None:
        train, valid = train.split(0.2, seed=seed)
    progress = Progress(f"tune {template.name}", verbose)
    runner = get_backend(backend)
    task = template.task or train.task or "classification"
    classes = len(train.classes) if task == "classification" else 0
    is_torch = isinstance(template.config, TorchConfig)
    goal = resolve_goal(metric, direction, task, classes, is_torch)
    searched, fixed = parse_space(search_space, template.name, template.config)
    base_config = {**template.config.to_dict(), "seed": seed}
    versions = (str(train.version), str(valid.version))
    identity = {
        "model": template.name,
        "data": train.name,
        "versions": versions,
        "space": space_to_dict(searched, fixed),
        "metric": goal.metric,
        "sampler": sampler,
        "pruner": pruner,
        "seed": seed,
        "config": base_config,
    }
    name = study_name(identity, study)
    chosen = _sampler(sampler, searched, seed, n_trials)
    runner.prepare_search()  # e.g. no Ray cluster there: refused before any run starts
    record, live, lost = _open_study(name, goal, chosen, _pruner(pruner, is_torch), resume)
    run = _parent_run(record, template.name, train.name)
    with run:
        record.parent_run_id = run.id
        run.log_params(
            {
                "model": template.name,
                "metric": goal.metric,
                "direction": goal.direction,
                "n_trials": n_trials,
                "sampler": sampler,
                "pruner": pruner,
                "seed": seed,
                "study": name,
                "backend": runner.name,
                "search_space": space_to_dict(searched, fixed),
            }
        )
        setup = TrialSetup(
            model_name=template.name,
            base_config=base_config,
            model_args={
                "task": template.task,
                "input_shape": template.input_shape,
                "num_classes": template.num_classes,
            },
            searched=searched,
            fixed=fixed,
            train=train,
            valid=valid,
            goal=goal,
            parent_run_id=run.id,
            backend=runner,
            record=record,
            prune=pruner != "none",
            data_inputs=[
                ("dataset", train.name, versions[0]),
                ("dataset", valid.name, versions[1]),
            ],
            warmup_steps=_warmup_steps(is_torch),
            startup_trials=PRUNE_STARTUP_TRIALS,
        )
        before = counts(live.get_trials(deepcopy=False))
        finished = before.get("complete", 0) + before.get("pruned", 0)
        if finished and not progress.silent:
            print(
                f"Resuming study {name}: {finished} of {n_trials} trials already finished"
                + (f", {len(lost)} interrupted trial(s) queued again." if lost else "."),
                flush=True,
            )
        if baseline and record.baseline is None:
            own = _baseline(setup, progress)
            record.baseline = own
            run.log_metrics({f"baseline_{goal.metric}": own})
        remaining = max(0, n_trials - finished)
        try:
            runner.search(
                live,
                setup,
                n_trials=remaining,
                timeout=timeout,
                n_jobs=(os.cpu_count() or 1) if n_jobs == -1 else n_jobs,
                callbacks=[_Reporter(run, record, goal, progress, n_trials, finished)],
            )
        finally:
            progress.close()
        trials = trials_frame(live, searched)
        best = best_trial(live, trials)
        best_params = values_of(searched, best.params)
        importances = param_importances(live, seed)
        run.log_metrics({f"best_{goal.metric}": float(best.value)})
        run.log_params({f"best.{k}": v for k, v in best_params.items()})
        result = _train_best(template.name, setup, best_params, verbose, backend)
        tuned = TuneResult(
            best_params=best_params,
            best_model=result.model,
            best_value=float(best.value),
            trials=trials,
            importances=importances,
            metric=goal.metric,
            direction=goal.direction,
            model_name=template.name,
            study=name,
            run_id=run.id,
            train_result=result,
            counts=counts(live.get_trials(deepcopy=False)),
            baseline_value=record.baseline if baseline else None,
        )
        with tempfile.TemporaryDirectory(prefix="lepton-tune-") as tmp:
            tuned.save_report(Path(tmp) / "tuning")
            run.log_artifact(Path(tmp) / "tuning", "tuning")
        tuned.report_path = local_artifact_path(run, "tuning/report.html")
        run.set_tag("lepton.best_run", result.run_id)
    return tuned


def _check_arguments(
    n_trials: Any, timeout: Any, n_jobs: Any, seed: Any, sampler: Any, pruner: Any
) -> None:
    if sampler not in SAMPLERS:
        raise InvalidParameterError(
            f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}."
        )
    if pruner not in PRUNERS:
        raise InvalidParameterError(f"pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}.")

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not is_int(n_trials) or n_trials < 1:
        raise InvalidParameterError(f"n_trials must be an int >= 1, got {n_trials!r}.")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise InvalidParameterError(
            f"timeout must be a positive number of seconds or None, got {timeout!r}."
        )
    if not is_int(n_jobs) or (n_jobs < 1 and n_jobs != -1):
        raise InvalidParameterError(
            f"n_jobs must be an int >= 1 (or -1 for one per CPU), got {n_jobs!r}."
        )
    if not is_int(seed):
        raise InvalidParameterError(f"seed must be an int, got {seed!r}.")


def _sampler(kind: str, searched: Mapping[str, Distribution], seed: int, n_trials: int) -> Any:
    import optuna

    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler({n: d.grid() for n, d in searched.items()}, seed=seed)
    # TPE models the space from random trials first; with few trials, start modelling sooner
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, n_trials // 3)))


def _pruner(kind: str, is_torch: bool) -> Any:
    import optuna

    if kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=_warmup_steps(is_torch)
    )


def _warmup_steps(is_torch: bool) -> int:
    """Steps before a trial may be pruned: boosting iterations are many and noisy at first;
    epochs are few."""
    return 1 if is_torch else 30


def _template(model_or_name: Any) -> Model:
    from lepton.models import Model, create_model

    if isinstance(model_or_name, str):
        return create_model(model_or_name)  # type: ignore[no-any-return]
    if isinstance(model_or_name, Model):
        return model_or_name
    raise InvalidParameterError(
        f"tune takes a zoo model name or a Lepton model, got {type(model_or_name).__name__}. "
        "Example: lepton.tune('lightgbm', train, valid)."
    )


def _open_study(
    name: str, goal: Goal, sampler: Any, pruner: Any, resume: bool
) -> tuple[StudyRecord, Any, list[dict[str, Any]]]:
    """The stored record, the in-memory study trials run against (holding every finished trial
    of the record, and the interrupted ones queued again first), and the interrupted trials."""
    import optuna

    from lepton.workspace import current_settings

    record = StudyRecord(
        study_path(current_settings().home, name), name, goal.direction, fresh=not resume
    )
    lost = record.interrupted()
    live = optuna.create_study(
        study_name=name,
        direction="maximize" if goal.direction == "maximize" else "minimize",
        sampler=sampler,
        pruner=pruner,
    )
    live.add_trials(record.finished_trials())
    for trial in lost:
        if trial["params"]:
            live.enqueue_trial(trial["params"])
    _close_lost_runs(lost)
    return record, live, lost


def _close_lost_runs(lost: list[dict[str, Any]]) -> None:
    """The child runs of trials whose process died are marked killed (their trial is retried)."""
    from lepton.errors import RunNotFoundError
    from lepton.workspace import get_workspace

    workspace = get_workspace()
    for trial in lost:
        run_id = trial.get("run_id")
        if not run_id:
            continue
        try:
            if workspace.get_run(run_id).status == "running":
                workspace.end_run(
                    run_id,
                    "killed",
                    "The tuning process stopped during this trial; it is run again.",
                )
        except RunNotFoundError:
            pass


def _parent_run(record: StudyRecord, model_name: str, data_name: str) -> Run:
    from lepton.errors import RunNotFoundError
    from lepton.tracking import start_run

    previous = record.parent_run_id
    if previous:
        try:
            return start_run(run_id=previous)
        except RunNotFoundError:
            pass  # the study outlived its run (another workspace, or a deleted run)
    return start_run(
        name=f"tune-{model_name}-{data_name}",
        tags={"lepton.kind": "tune", "lepton.model": model_name},
        parent=None,
    )


class _Reporter:
    """After each trial: its durable record, the parent run's metric curves, the progress bar."""

    def __init__(
        self, run: Run, record: StudyRecord, goal: Goal, progress: Any, total: int, done: int
    ) -> None:
        self.run, self.record, self.goal = run, record, goal
        self.progress, self.total, self.done = progress, total, done
        self.lock = threading.Lock()

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        self.record.finished(trial)
        with self.lock:
            if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
                self.done += 1
            if trial.state == TrialState.COMPLETE:
                best = study.best_value
                self.run.log_metrics(
                    {self.goal.metric: float(trial.value), f"best_{self.goal.metric}": float(best)},
                    step=trial.number,
                )
            elif trial.state == TrialState.FAIL and not self.progress.silent:
                print(
                    f"trial {trial.number} failed: {trial.user_attrs.get('error', '?')}", flush=True
                )
            logs = {}
            with contextlib.suppress(ValueError):  # no complete trial yet
                logs[f"best {self.goal.metric}"] = float(study.best_value)
            self.progress.step(min(self.done, self.total), self.total, logs, every=1, unit="trial")


def _baseline(setup: TrialSetup, progress: Any) -> float:
    """The validation metric of the model as configured before tuning (a child run)."""
    if not progress.silent:
        print(
            f"Fitting {setup.model_name} with its own settings first, for comparison.", flush=True
        )
    return fit_child(setup, dict(setup.fixed), name="baseline", tags={"lepton.kind": "baseline"})


def _train_best(
    model_name: str,
    setup: TrialSetup,
    best: Mapping[str, Any],
    verbose: Any,
    backend: str | Backend | None,
) -> Any:
    """Train the winner on ``train`` (validated on ``valid``) as a child run with its bundle,
    on the search's backend."""
    from lepton.models import create_model
    from lepton.training import train

    model = create_model(model_name, **setup.model_args)
    model.config.update({**setup.base_config, **setup.fixed, **best})
    return train(
        model,
        setup.train,
        setup.valid,
        backend=backend,
        verbose=0 if verbose in (0, False) else 2,
    )

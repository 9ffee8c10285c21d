"""One trial: build the model with the sampled settings, fit it as a child run, report, prune.

The model streams its metrics through ``FitContext.log`` each epoch (torch) or boosting
iteration (LightGBM); the tracked metric goes to Optuna as an intermediate value there, and
when the pruner says the trial is hopeless it stops right away with ``TrialPruned``.

On a backend that fits trials elsewhere (``backend="ray"``) a trial is split in two: the fit
(:class:`RemoteFit`, shipped to a worker) only computes and streams its metrics back, and the
driver writes the child run (:class:`ChildTrial`) with the same name, tags, params and metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lepton.errors import LeptonError
from lepton.tuning._goal import Goal
from lepton.tuning._space import Distribution

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.distributed import Backend
    from lepton.models import FitContext, Model
    from lepton.tracking import Run
    from lepton.tuning._study import StudyRecord

Log = Callable[[Mapping[str, float], int], None]


def _reported(step: int) -> bool:
    """Steps sent to the pruner: each of the first 10 (epochs), then every 10th, then every 50th.

    Always the same steps in every trial (the median pruner compares trials step by step), and a
    few dozen at most for a booster of thousands of iterations.
    """
    return step < 10 or (step < 100 and step % 10 == 0) or step % 50 == 0


def intermediate(
    goal: Goal, metrics: Mapping[str, float], step: int, sent: set[int]
) -> float | None:
    """The value the pruner sees at ``step`` (once per step), or None at other steps."""
    value = next((metrics[n] for n in goal.intermediate_names if n in metrics), None)
    if value is None or step in sent or not _reported(step):
        return None
    sent.add(step)
    return float(value)


@dataclass
class TrialSetup:
    """Everything a trial needs, shared by all trials of a search."""

    model_name: str
    base_config: dict[str, Any]
    model_args: dict[str, Any]  # task, input_shape, num_classes
    searched: Mapping[str, Distribution]
    fixed: Mapping[str, Any]
    train: Dataset
    valid: Dataset
    goal: Goal
    parent_run_id: str
    backend: Backend
    record: StudyRecord
    prune: bool  # report intermediate values (only a pruner reads them)
    data_inputs: list[tuple[str, str, str]]
    warmup_steps: int = 0  # the pruner leaves every trial alone before this step
    startup_trials: int = 0  # ... and stops none before this many trials reached a step

    @property
    def direction(self) -> str:
        return self.goal.direction

    def objective(self) -> Callable[[Any], float]:
        return lambda trial: run_trial(self, trial)

    def sample(self, trial: Any) -> dict[str, Any]:
        """The settings of ``trial`` (an Optuna trial), sampled from the space."""
        return sample(self, trial)

    def remote_fit(self) -> RemoteFit:
        """The fit of a trial, to run where the backend places it (a Ray worker)."""
        return RemoteFit(
            self.model_name,
            self.model_args,
            self.base_config,
            self.train,
            self.valid,
            self.goal,
            self.prune,
        )

    def start_trial(self, trial: Any, settings: Mapping[str, Any]) -> ChildTrial:
        """The child run of a trial whose fit runs elsewhere, started by the driver."""
        return ChildTrial(self, trial, settings)


def sample(setup: TrialSetup, trial: Any) -> dict[str, Any]:
    """The settings of this trial: the sampled ones over the fixed ones."""
    return {**setup.fixed, **{n: d.suggest(trial, n) for n, d in setup.searched.items()}}


def run_trial(setup: TrialSetup, trial: Any) -> float:
    """The Optuna objective: sample, fit as a child run, report for pruning, return the metric."""
    import optuna

    sent: set[int] = set()

    def started(run_id: str) -> None:
        trial.set_user_attr("run_id", run_id)
        setup.record.started(trial, run_id)

    def report(metrics: Mapping[str, float], step: int) -> None:
        if not setup.prune:
            return
        value = intermediate(setup.goal, metrics, step, sent)
        if value is None:
            return
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} ({setup.goal.metric}={value:.6g})")

    try:
        return fit_child(
            setup,
            sample(setup, trial),
            name=f"trial-{trial.number}",
            tags={"lepton.kind": "trial", "lepton.trial": trial.number},
            started=started,
            report=report,
        )
    except optuna.TrialPruned:
        raise
    except Exception as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
        raise


def fit_child(
    setup: TrialSetup,
    settings: Mapping[str, Any],
    *,
    name: str,
    tags: Mapping[str, Any],
    started: Callable[[str], None] = lambda run_id: None,
    report: Log = lambda metrics, step: None,
) -> float:
    """Fit the model with ``settings`` as a child run of the search; return its metric."""
    import optuna

    from lepton.models import FitContext

    model, run = _open_child(setup, settings, name=name, tags=tags)
    started(run.id)

    def log(metrics: Mapping[str, float], step: int) -> None:
        run.log_metrics(metrics, step=step)
        report(metrics, step)

    with run:
        _describe(setup, run, model)
        ctx = FitContext(log=log, epochs=getattr(model.config, "epochs", None))
        try:
            setup.backend.fit(model, setup.train, setup.valid, ctx)
        except optuna.TrialPruned:
            # stopping a hopeless trial is the search working, not the run failing
            run.set_tag("lepton.trial_state", "pruned")
            run.end("finished")
            raise
        value = _final(ctx, setup.goal, name)
        run.set_tag("lepton.trial_state", "complete")
        return value


def _build(
    model_name: str,
    model_args: Mapping[str, Any],
    base_config: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> Model:
    from lepton.models import create_model

    model: Model = create_model(model_name, **model_args)
    model.config.update({**base_config, **settings})
    return model


def _open_child(
    setup: TrialSetup, settings: Mapping[str, Any], *, name: str, tags: Mapping[str, Any]
) -> tuple[Model, Run]:
    from lepton.tracking import start_run

    model = _build(setup.model_name, setup.model_args, setup.base_config, settings)
    run = start_run(
        name=name, parent=setup.parent_run_id, tags={**tags, "lepton.model": model.name}
    )
    return model, run


def _describe(setup: TrialSetup, run: Run, model: Model) -> None:
    run.log_params({f"config.{k}": v for k, v in model.config.to_dict().items()})
    run.log_params({"model": model.name})
    run.add_inputs(*setup.data_inputs)


def _final(ctx: FitContext, goal: Goal, name: str) -> float:
    values = ctx.history.get(goal.metric)
    if not values or not math.isfinite(values[-1]):
        raise LeptonError(
            f"{name} reported no finite {goal.metric} (logged: {', '.join(sorted(ctx.history))})."
        )
    return float(values[-1])


@dataclass(frozen=True)
class RemoteFit:
    """A trial's fit where the backend runs it: it computes and streams, the driver writes."""

    model_name: str
    model_args: dict[str, Any]
    base_config: dict[str, Any]
    train: Dataset
    valid: Dataset
    goal: Goal
    prune: bool

    def __call__(
        self, settings: Mapping[str, Any], log: Log, report: Callable[[float, int], None]
    ) -> float:
        """Fit with ``settings`` here; ``log`` gets every step's metrics, ``report`` the
        pruner's value at the steps a pruner compares. Returns the searched metric."""
        from lepton.distributed import LocalBackend
        from lepton.models import FitContext

        model = _build(self.model_name, self.model_args, self.base_config, settings)
        sent: set[int] = set()

        def on_log(metrics: Mapping[str, float], step: int) -> None:
            log(metrics, step)
            value = intermediate(self.goal, metrics, step, sent) if self.prune else None
            if value is not None:
                report(value, step)

        ctx = FitContext(log=on_log, epochs=getattr(model.config, "epochs", None))
        LocalBackend().fit(model, self.train, self.valid, ctx)
        return _final(ctx, self.goal, "The trial")


class ChildTrial:
    """The child run of a trial that runs elsewhere, written by the driver as fit_child does."""

    def __init__(self, setup: TrialSetup, trial: Any, settings: Mapping[str, Any]) -> None:
        self.trial = trial
        model, self.run = _open_child(
            setup,
            settings,
            name=f"trial-{trial.number}",
            tags={"lepton.kind": "trial", "lepton.trial": trial.number},
        )
        trial.set_user_attr("run_id", self.run.id)
        setup.record.started(trial, self.run.id)
        try:
            _describe(setup, self.run, model)
        except BaseException as exc:
            self.run.end("failed", f"{type(exc).__name__}: {exc}")
            raise

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log_metrics(metrics, step=step)

    def report(self, value: float, step: int) -> None:
        """An intermediate value, kept in the study as a local trial's would be."""
        self.trial.report(value, step)

    def complete(self) -> None:
        self.run.set_tag("lepton.trial_state", "complete")
        self.run.end("finished")

    def pruned(self) -> None:
        # stopping a hopeless trial is the search working, not the run failing
        self.run.set_tag("lepton.trial_state", "pruned")
        self.run.end("finished")

    def failed(self, error: str, detail: str) -> None:
        self.trial.set_user_attr("error", error[:500])
        self.run.end("failed", detail[:10_000])

    def killed(self) -> None:
        self.run.end("killed", "The tuning process stopped during this trial; it is run again.")

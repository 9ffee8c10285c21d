"""One trial: build the model with the sampled settings, fit it as a child run, report, prune.

The model streams its metrics through ``FitContext.log`` each epoch (torch) or boosting
iteration (LightGBM); the tracked metric goes to Optuna as an intermediate value there, and
when the pruner says the trial is hopeless it stops right away with ``TrialPruned``.
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
    from lepton.tuning._study import StudyRecord


def _reported(step: int) -> bool:
    """Steps sent to the pruner: each of the first 10 (epochs), then every 10th, then every 50th.

    Always the same steps in every trial (the median pruner compares trials step by step), and a
    few dozen at most for a booster of thousands of iterations.
    """
    return step < 10 or (step < 100 and step % 10 == 0) or step % 50 == 0


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

    def objective(self) -> Callable[[Any], float]:
        return lambda trial: run_trial(self, trial)


def sample(setup: TrialSetup, trial: Any) -> dict[str, Any]:
    """The settings of this trial: the sampled ones over the fixed ones."""
    return {**setup.fixed, **{n: d.suggest(trial, n) for n, d in setup.searched.items()}}


def run_trial(setup: TrialSetup, trial: Any) -> float:
    """The Optuna objective: sample, fit as a child run, report for pruning, return the metric."""
    import optuna

    reported: set[int] = set()

    def started(run_id: str) -> None:
        trial.set_user_attr("run_id", run_id)
        setup.record.started(trial, run_id)

    def report(metrics: Mapping[str, float], step: int) -> None:
        if not setup.prune:
            return
        value = next((metrics[n] for n in setup.goal.intermediate_names if n in metrics), None)
        if value is None or step in reported or not _reported(step):
            return
        reported.add(step)
        trial.report(float(value), step)
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
    report: Callable[[Mapping[str, float], int], None] = lambda metrics, step: None,
) -> float:
    """Fit the model with ``settings`` as a child run of the search; return its metric."""
    import optuna

    from lepton.models import FitContext, create_model
    from lepton.tracking import start_run

    model = create_model(setup.model_name, **setup.model_args)
    model.config.update({**setup.base_config, **settings})
    run = start_run(
        name=name, parent=setup.parent_run_id, tags={**tags, "lepton.model": model.name}
    )
    started(run.id)

    def log(metrics: Mapping[str, float], step: int) -> None:
        run.log_metrics(metrics, step=step)
        report(metrics, step)

    with run:
        run.log_params({f"config.{k}": v for k, v in model.config.to_dict().items()})
        run.log_params({"model": model.name})
        run.add_inputs(*setup.data_inputs)
        ctx = FitContext(log=log, epochs=getattr(model.config, "epochs", None))
        try:
            setup.backend.fit(model, setup.train, setup.valid, ctx)
        except optuna.TrialPruned:
            # stopping a hopeless trial is the search working, not the run failing
            run.set_tag("lepton.trial_state", "pruned")
            run.end("finished")
            raise
        values = ctx.history.get(setup.goal.metric)
        if not values or not math.isfinite(values[-1]):
            raise LeptonError(
                f"{name} reported no finite {setup.goal.metric} "
                f"(logged: {', '.join(sorted(ctx.history))})."
            )
        run.set_tag("lepton.trial_state", "complete")
        return float(values[-1])

"""Reading a finished search back: the trial table, the best trial, parameter importance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lepton.errors import LeptonError
from lepton.tuning._space import Choice, Distribution
from lepton.tuning._study import counts

if TYPE_CHECKING:
    import pandas as pd


class TuningError(LeptonError, RuntimeError):
    code = "tuning_failed"


def trials_frame(study: Any, searched: Mapping[str, Distribution]) -> pd.DataFrame:
    """One row per trial: number, state, value, seconds, parameters (as values), run id, error."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else float("nan")
        )
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": float(t.value) if t.value is not None else float("nan"),
                "seconds": duration,
                **values_of(searched, t.params),
                "run_id": t.user_attrs.get("run_id", ""),
                "error": t.user_attrs.get("error", ""),
            }
        )
    columns = ["number", "state", "value", "seconds", *searched, "run_id", "error"]
    return pd.DataFrame(rows, columns=columns)


def values_of(searched: Mapping[str, Distribution], params: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna's stored parameters as the values the model takes (choice labels mapped back)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        dist = searched.get(name)
        if isinstance(dist, Choice) and value in dist.labels:
            value = dist.values[dist.labels.index(value)]
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def best_trial(study: Any, trials: pd.DataFrame) -> Any:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        errors = [e for e in trials["error"] if e]
        detail = f" The first error: {errors[0]}" if errors else ""
        raise TuningError(
            f"No trial of study {study.study_name!r} completed ({len(trials)} trials: "
            f"{', '.join(f'{k} {v}' for k, v in counts(study.get_trials(deepcopy=False)).items()) or 'none ran'}).{detail} "
            "Fix the cause (or narrow the search space) and run again: finished trials are kept."
        )
    return study.best_trial


def param_importances(study: Any, seed: int) -> dict[str, float]:
    """fANOVA importance of each parameter; empty until two trials with different values finish."""
    import optuna

    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError):
        return {}
    return {k: float(v) for k, v in values.items()}

"""A search described as data: ``lepton tune CONFIG.yaml`` and the CLI flags share this spec.

data: credit                 # a registered dataset, or a CSV/Parquet path with target:
model: lightgbm
trials: 50
metric: roc_auc
search_space:
  learning_rate: {loguniform: [0.01, 0.3]}
  num_leaves: {intrange: [8, 128], log: true}
register: credit-risk        # register the best model under this name
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lepton.tuning._result import TuneResult


class TuneSpec(BaseModel):
    """What to search on what. YAML keys and CLI flags have the same names."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    data: str = Field(description="A registered dataset NAME[:VERSION] or a CSV/Parquet path.")
    model: str = Field(default="lightgbm", description="A zoo model name.")
    target: str | None = Field(default=None, description="Target column (needed for files).")
    valid_size: float = Field(default=0.2, gt=0, lt=1, description="Validation share.")
    trials: int = Field(default=20, description="Trials to finish.")
    metric: str | None = None
    direction: str | None = None
    timeout: float | None = None
    jobs: int = Field(default=1, description="Trials at once (-1: one per CPU).")
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    study: str | None = None
    resume: bool = True
    config: dict[str, Any] = Field(default_factory=dict, description="Fixed model settings.")
    search_space: dict[str, Any] | None = None
    input_shape: tuple[int, int, int] | None = None
    # `register:` in YAML; the attribute is named apart from pydantic's own BaseModel members
    register_as: str | None = Field(
        default=None, alias="register", description="Register the best model as NAME."
    )
    output: str | None = Field(default=None, description="Also write the report files here.")


def load_tune_spec(path: str | Path, overrides: dict[str, Any]) -> TuneSpec:
    """Read a YAML spec and apply CLI overrides (flags left unset do not override)."""
    from lepton.training._spec import load_yaml_spec

    return load_yaml_spec(TuneSpec, path, overrides, "tuning")


def run_tune_spec(spec: TuneSpec, verbose: Any = "auto") -> tuple[TuneResult, Any]:
    """Load and split the data, search, and register the winner when asked: ``lepton tune``."""
    from lepton.models import create_model
    from lepton.training._spec import TrainSpec, _dataset
    from lepton.tuning._tune import tune

    data = _dataset(TrainSpec(data=spec.data, target=spec.target, input_shape=spec.input_shape))
    train, valid = data.split(test_size=spec.valid_size, seed=spec.seed)
    template = create_model(
        spec.model, input_shape=tuple(spec.input_shape) if spec.input_shape else None, **spec.config
    )
    result = tune(
        template,
        train,
        valid,
        search_space=spec.search_space,
        n_trials=spec.trials,
        metric=spec.metric,
        direction=spec.direction,
        timeout=spec.timeout,
        n_jobs=spec.jobs,
        sampler=spec.sampler,
        pruner=spec.pruner,
        seed=spec.seed,
        study=spec.study,
        resume=spec.resume,
        verbose=verbose,
    )
    if spec.output:
        result.save_report(spec.output)
    version = None
    if spec.register_as:
        from lepton.registry import register

        version = register(
            result.best_model,
            spec.register_as,
            tags={"lepton.tune_run": result.run_id, "lepton.study": result.study},
            description=f"Best of {len(result.trials)} {spec.model} trials "
            f"({result.metric} {result.best_value:.4g}).",
        )
    return result, version

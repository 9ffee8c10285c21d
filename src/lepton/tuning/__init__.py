"""Hyper-parameter search (Optuna) over the model zoo: ``lepton.tune`` and its search spaces."""

from lepton.tuning._outcome import TuningError
from lepton.tuning._result import TuneResult
from lepton.tuning._space import (
    Choice,
    Distribution,
    IntRange,
    LogUniform,
    Uniform,
    choice,
    default_space,
    intrange,
    loguniform,
    uniform,
)
from lepton.tuning._tune import tune

__all__ = [
    "Choice",
    "Distribution",
    "IntRange",
    "LogUniform",
    "TuneResult",
    "TuningError",
    "Uniform",
    "choice",
    "default_space",
    "intrange",
    "loguniform",
    "tune",
    "uniform",
]

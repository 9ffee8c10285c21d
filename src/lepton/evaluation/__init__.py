"""Evaluation: metrics equal to scikit-learn's, fairness equal to fairlearn's, plots, HTML."""

from lepton.evaluation._evaluate import evaluate, load_report
from lepton.evaluation._report import EvaluationReport

__all__ = ["EvaluationReport", "evaluate", "load_report"]

"""Batch scoring: a model over a large table, in parallel, into resumable Parquet parts.

result = lepton.predict_batch("credit@production", "applications.parquet", output="scores/")
"""

from lepton.scoring._errors import OutputConflictError, ScoringError
from lepton.scoring._predict_batch import predict_batch
from lepton.scoring._result import BatchPrediction

__all__ = ["BatchPrediction", "OutputConflictError", "ScoringError", "predict_batch"]

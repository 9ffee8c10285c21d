"""The errors batch scoring raises beyond the shared ones in ``lepton.errors``."""

from __future__ import annotations

from lepton.errors import AlreadyExistsError, LeptonError


class ScoringError(LeptonError, RuntimeError):
    """A chunk could not be scored; the chunks written before it are kept for a resume."""

    code = "scoring_error"


class OutputConflictError(AlreadyExistsError):
    """The output folder holds another scoring's results (another model, data or chunk size),
    or files that are not batch-prediction output at all."""

    code = "output_conflict"

"""Scoring one batch of rows with a model loaded once: what a worker process or a Ray actor
holds for its whole life, so the bundle is read once per worker, not once per chunk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from lepton.models import Model

ROW = "row"  # the input row each prediction belongs to (0-based)
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
ID_COLUMN = "id"  # an input column of this name is copied to the output, to join on


def output_columns(model: Model, keep_id: bool) -> list[str]:
    """The columns of every part: row, [id], prediction, then one probability per class."""
    columns = [ROW, *([ID_COLUMN] if keep_id else []), PREDICTION]
    if model.task == "classification":
        columns += [f"{PROBA_PREFIX}{c}" for c in model.classes]
    return columns


class ChunkScorer:
    """Calls the model on a DataFrame holding a ``row`` column and the model's inputs.

    Args:
        bundle: a bundle path (a worker on this machine), the bundle's bytes (a Ray actor,
            which may not share this disk) or the model itself (scoring in-process).
        keep_id: copy the input's ``id`` column into the output.
    """

    def __init__(self, bundle: str | bytes | Model, keep_id: bool = False) -> None:
        self.model = _load(bundle)
        self.keep_id = keep_id

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from lepton.scoring._errors import ScoringError

        try:
            return self._score(batch)
        except Exception as exc:
            # one line naming the rows: it must survive a trip through Ray's error wrapping
            rows = batch[ROW]
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise ScoringError(
                f"Rows {rows.min()}-{rows.max()} could not be scored: {detail}"
            ) from exc

    def _score(self, batch: pd.DataFrame) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        model = self.model
        out = pd.DataFrame({ROW: batch[ROW].to_numpy(dtype=np.int64)})
        if self.keep_id:
            out[ID_COLUMN] = batch[ID_COLUMN].to_numpy()
        inputs = batch.drop(columns=[ROW])
        if model.task == "classification":
            proba = np.asarray(model.predict_proba(inputs), dtype=np.float64)
            classes = model.classes
            # the label the way Model.predict picks it, without calling the model twice
            labels = np.asarray(
                classes, dtype=object if any(isinstance(c, str) for c in classes) else None
            )
            out[PREDICTION] = labels[proba.argmax(axis=1)]
            for k, name in enumerate(classes):
                out[f"{PROBA_PREFIX}{name}"] = proba[:, k]
        else:
            out[PREDICTION] = np.asarray(model.predict(inputs), dtype=np.float64)
        return out


def _load(bundle: str | bytes | Model) -> Model:
    from lepton.models import Model
    from lepton.models._bundle import load_bundle

    if isinstance(bundle, Model):
        return bundle
    if isinstance(bundle, bytes):
        fd, name = tempfile.mkstemp(prefix="lepton-score-", suffix=".lepton")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(bundle)
            return load_bundle(name)
        finally:
            Path(name).unlink(missing_ok=True)
    return load_bundle(bundle)


def limit_threads() -> None:
    """One math thread per worker process: N workers x N threads each would oversubscribe the
    cores and run slower than one process. Called before the model's libraries load."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")

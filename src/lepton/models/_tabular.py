"""What every table model shares: the preprocessing pipeline and target encoding."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.models._base import Model, as_frame

if TYPE_CHECKING:
    from lepton.data import Dataset, Pipeline


class TabularModel(Model):
    """A model on tables: raw columns -> ``Pipeline`` (impute, scale, encode) -> estimator.

    The fitted pipeline is saved in the bundle, so serving applies exactly this transform.
    """

    data_kinds = ("table",)
    pipeline: Pipeline | None = None

    @property
    def feature_columns(self) -> list[str]:
        assert self.input_schema is not None
        return [c["name"] for c in self.input_schema["columns"]]

    def _fit_pipeline(self, train: Dataset) -> np.ndarray:
        from lepton.data import Pipeline
        from lepton.monitoring._drift import reference_profile

        pipeline = Pipeline.from_schema(train.schema, train.features, task=self.task)
        features = pipeline.fit_transform(train.X(), train.y())
        self.pipeline = pipeline
        types = {c: train.schema[c].type for c in train.features}
        self.reference = reference_profile(train.X(), train.features, types, seed=self.config.seed)
        return features

    def _features(self, x: Any) -> np.ndarray:
        self._check_fitted()
        assert self.pipeline is not None
        return self.pipeline.transform(as_frame(x, self.feature_columns))

    def _target(self, data: Dataset) -> np.ndarray:
        """Class indices (in ``classes_`` order) for classifiers, floats for regressors."""
        y = data.y()
        assert y is not None
        if self.task == "classification":
            index = {c: i for i, c in enumerate(self.classes_ or [])}
            return np.array([index.get(v, -1) for v in y], dtype=np.int64)
        return np.asarray(y, dtype=np.float64)

    def _save_pipeline(self, folder: Path) -> list[str]:
        assert self.pipeline is not None
        return self.pipeline.save(folder)

    def _load_pipeline(self, folder: Path) -> None:
        from lepton.data import Pipeline

        self.pipeline = Pipeline.load(folder)

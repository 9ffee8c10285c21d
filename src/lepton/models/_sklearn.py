"""scikit-learn models: logistic/linear regression, random forest, TF-IDF text classifier.

Saved with skops (never pickle) and loaded only when every type in the file is a
scikit-learn/numpy/scipy type.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton import _skops
from lepton.errors import InvalidParameterError
from lepton.models._base import FitContext, Model
from lepton.models._config import LinearConfig, RandomForestConfig, TextLinearConfig
from lepton.models._metrics import score
from lepton.models._tabular import TabularModel

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.models._onnx import OnnxRuntime

_ESTIMATOR_FILE = "estimator.skops"


class _EstimatorMixin:
    estimator: Any = None
    task: str | None
    name: str
    runtime: OnnxRuntime | None

    def _output(self, features: Any) -> np.ndarray:
        if self.runtime is not None:  # an ONNX export (lepton.compress): same outputs
            out = self.runtime.run(np.asarray(features, dtype=np.float32)).astype(np.float64)
            return out if self.task == "classification" else out.reshape(-1)
        if self.task == "classification":
            return np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        return np.asarray(self.estimator.predict(features), dtype=np.float64)

    def _report(self, ctx: FitContext, pairs: list[tuple[str, Any, np.ndarray]]) -> None:
        metrics: dict[str, float] = {}
        for prefix, features, y in pairs:
            metrics.update(score(self.task, y, self._output(features), prefix))
        ctx.report(metrics, 0)


class SklearnTableModel(_EstimatorMixin, TabularModel):
    family = "sklearn"

    def _build(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
        from sklearn.linear_model import LinearRegression, LogisticRegression

        c = self.config
        if self.name == "logistic_regression":
            assert isinstance(c, LinearConfig)
            if self.task != "classification":
                raise InvalidParameterError(
                    "logistic_regression is a classifier but the target is numeric (regression). "
                    "Use linear_regression, random_forest or lightgbm."
                )
            return LogisticRegression(
                C=c.C, max_iter=c.max_iter, class_weight=c.class_weight, random_state=c.seed
            )
        if self.name == "linear_regression":
            if self.task != "regression":
                raise InvalidParameterError(
                    "linear_regression predicts numbers but the target is categorical "
                    "(classification). Use logistic_regression."
                )
            return LinearRegression()
        assert isinstance(c, RandomForestConfig)
        kwargs = dict(
            n_estimators=c.n_estimators,
            max_depth=c.max_depth,
            min_samples_leaf=c.min_samples_leaf,
            max_features=c.max_features,
            random_state=c.seed,
            n_jobs=-1,
        )
        if self.task == "classification":
            return RandomForestClassifier(class_weight=c.class_weight, **kwargs)
        return RandomForestRegressor(**kwargs)

    def _fit(self, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        features = self._fit_pipeline(train)
        y = self._target(train)
        self.estimator = self._build()
        if ctx.progress is not None:
            ctx.progress.status(f"fitting {self.name} on {len(y):,} rows")
        self.estimator.fit(features, y)
        pairs = [("", features, y)]
        if valid is not None:
            pairs.append(("val_", self._features(valid), self._target(valid)))
        self._report(ctx, pairs)

    def _predict_raw(self, x: Any) -> np.ndarray:
        return self._output(self._features(x))

    def _save_weights(self, folder: Path) -> list[str]:
        if self.runtime is not None:
            return [*self.runtime.save(folder), *self._save_pipeline(folder)]
        _skops.dump(self.estimator, folder / _ESTIMATOR_FILE)
        return [_ESTIMATOR_FILE, *self._save_pipeline(folder)]

    def _load_weights(self, folder: Path) -> None:
        from lepton.models._onnx import OnnxRuntime

        self.runtime = OnnxRuntime.load(folder)
        if self.runtime is None:
            self.estimator = _skops.load(folder / _ESTIMATOR_FILE)
        self._load_pipeline(folder)


class TfidfTextModel(_EstimatorMixin, Model):
    """TF-IDF n-grams and a logistic regression: a strong, fast text classifier baseline."""

    family = "sklearn"
    data_kinds = ("texts",)
    config_class = TextLinearConfig

    def _texts(self, x: Any) -> list[str]:
        from lepton.models._text import texts_of

        self._check_fitted()
        assert self.input_schema is not None
        return texts_of(x, self.input_schema["column"])

    def _fit(self, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        if self.task != "classification":
            raise InvalidParameterError(
                "tfidf_logreg classifies texts; the target must be categorical."
            )
        c = self.config
        assert isinstance(c, TextLinearConfig)
        self.estimator = make_pipeline(
            TfidfVectorizer(
                max_features=c.max_features, ngram_range=(1, c.ngram_max), sublinear_tf=True
            ),
            LogisticRegression(C=c.C, max_iter=c.max_iter, random_state=c.seed),
        )
        index = {k: i for i, k in enumerate(self.classes_ or [])}
        y = np.array([index[v] for v in train.y()])  # type: ignore[union-attr]
        self.estimator.fit(train.texts, y)
        pairs: list[tuple[str, Any, np.ndarray]] = [("", train.texts, y)]
        if valid is not None:
            pairs.append(("val_", valid.texts, np.array([index.get(v, -1) for v in valid.y()])))  # type: ignore[union-attr]
        self._report(ctx, pairs)

    def _predict_raw(self, x: Any) -> np.ndarray:
        return self._output(self._texts(x))

    def _save_weights(self, folder: Path) -> list[str]:
        _skops.dump(self.estimator, folder / _ESTIMATOR_FILE)
        return [_ESTIMATOR_FILE]

    def _load_weights(self, folder: Path) -> None:
        self.estimator = _skops.load(folder / _ESTIMATOR_FILE)

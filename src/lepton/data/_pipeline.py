"""Tabular preprocessing chosen from the schema, fitted on training data, saved with the model.

Numeric columns are imputed with the median and standardised; booleans become 0/1;
categorical columns are imputed with the most frequent value and one-hot encoded (ordinal
encoded above 50 categories); datetimes become year, month, day and day-of-week numbers;
free-text and image columns are left to the text and image models. Optional feature
selection (k best by F-test) and PCA follow. The fitted transform is saved as JSON (the spec)
plus a skops file, which is loaded only when it holds nothing but scikit-learn, NumPy and
SciPy types, so loading a model bundle never runs arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lepton import _skops
from lepton._fs import atomic_write_bytes, atomic_write_text
from lepton.data._build import infer_task
from lepton.data._schema import BOOL_WORDS
from lepton.errors import (
    ArtifactNotFoundError,
    DataError,
    IntegrityError,
    InvalidParameterError,
)

FORMAT = 1
MAX_ONEHOT = 50  # more categories than this are ordinal-encoded (encode="auto")
DATE_PARTS = ("year", "month", "day", "dayofweek")
SPEC_FILE, MODEL_FILE = "pipeline.json", "pipeline.skops"
_IMPUTE = ("auto", "median", "mean", "most_frequent", None)
_ENCODE = ("auto", "onehot", "ordinal")
_TASKS = ("classification", "regression", None)
_DROP_REASON = {
    "text": "it holds free text, which text models read rather than this pipeline",
    "image": "it holds image paths, which image models read rather than this pipeline",
}


def _check_option(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise InvalidParameterError(
            f"{name}={value!r} is not supported; expected one of "
            f"{', '.join(repr(a) for a in allowed)}."
        )


def _positive_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"{name} must be None or an int >= 1, got {value!r}.")
    return value


def _to_bool(series: pd.Series) -> pd.Series:
    def convert(value: Any) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        if isinstance(value, str):
            word = BOOL_WORDS.get(value.strip().lower())
            return np.nan if word is None else float(word)
        return float(bool(value))

    return series.map(convert).astype("float64")


def _to_datetime(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    if parsed.isna().sum() > series.isna().sum():  # not all ISO 8601: let pandas guess
        parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    return parsed


def _date_parts(stamps: pd.Series) -> tuple[pd.Series, ...]:
    return stamps.dt.year, stamps.dt.month, stamps.dt.day, stamps.dt.day_of_week


class Pipeline:
    """Preprocessing of a table into a float32 matrix. Build with :meth:`from_schema`."""

    def __init__(
        self,
        *,
        numeric: Sequence[str] = (),
        boolean: Sequence[str] = (),
        categorical: Sequence[str] = (),
        datetime: Sequence[str] = (),
        dropped: Mapping[str, str] | None = None,
        impute: str | None = "auto",
        scale: bool = True,
        encode: str = "auto",
        pca: int | None = None,
        select_k: int | None = None,
        task: str | None = None,
    ) -> None:
        _check_option("impute", impute, _IMPUTE)
        _check_option("encode", encode, _ENCODE)
        _check_option("task", task, _TASKS)
        self.numeric, self.boolean = list(numeric), list(boolean)
        self.categorical, self.datetime = list(categorical), list(datetime)
        self.dropped = dict(dropped or {})
        if not self.input_columns:
            raise DataError(
                "No column can be preprocessed: every feature is free text or an image path "
                f"({', '.join(self.dropped) or 'none given'}). Use a text or image model, or "
                "pass numeric, categorical, boolean or datetime features."
            )
        self.options: dict[str, Any] = {
            "impute": impute,
            "scale": bool(scale),
            "encode": encode,
            "pca": _positive_or_none("pca", pca),
            "select_k": _positive_or_none("select_k", select_k),
            "task": task,
        }
        self.onehot: list[str] = []
        self.ordinal: list[str] = []
        self.feature_names_out: list[str] = []
        self._model: Any = None

    @classmethod
    def from_schema(
        cls,
        schema: Mapping[str, Any],
        features: Sequence[str],
        *,
        impute: str | None = "auto",
        scale: bool = True,
        encode: str = "auto",
        pca: int | None = None,
        select_k: int | None = None,
        task: str | None = None,
    ) -> Pipeline:
        """The default preprocessing for ``features``, chosen from their schema types."""
        unknown = [f for f in features if f not in schema]
        if unknown:
            raise DataError(
                f"Feature(s) {', '.join(map(repr, unknown))} are not in the schema; its "
                f"columns are {', '.join(schema)}."
            )
        groups: dict[str, list[str]] = {t: [] for t in ("numeric", "boolean", "categorical")}
        groups["datetime"] = []
        dropped = {}
        for name in features:
            kind = schema[name].type
            if kind in _DROP_REASON:
                dropped[name] = _DROP_REASON[kind]
            else:
                groups[kind].append(name)
        return cls(
            **groups,
            dropped=dropped,
            impute=impute,
            scale=scale,
            encode=encode,
            pca=pca,
            select_k=select_k,
            task=task,
        )

    @property
    def input_columns(self) -> list[str]:
        """The columns ``transform`` reads (others are ignored)."""
        return [*self.numeric, *self.boolean, *self.datetime, *self.categorical]

    @property
    def notes(self) -> list[str]:
        """Why columns were left out, one sentence each."""
        return [f"Column {name!r} is not used: {why}." for name, why in self.dropped.items()]

    @property
    def fitted(self) -> bool:
        return self._model is not None

    # transforming ------------------------------------------------------------------------------
    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise InvalidParameterError(
                f"The pipeline takes a pandas DataFrame, got {type(frame).__name__}."
            )
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"The data is missing column(s) {', '.join(map(repr, missing))} that the "
                f"preprocessing needs; expected columns: {', '.join(self.input_columns)}. "
                "Pass data with the same columns as the training data."
            )
        parts: dict[str, Any] = {}
        for name in self.numeric:
            parts[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        for name in self.boolean:
            parts[name] = _to_bool(frame[name])
        for name in self.datetime:
            stamps = _to_datetime(frame[name])
            for part, values in zip(DATE_PARTS, _date_parts(stamps), strict=True):
                parts[f"{name}_{part}"] = values.astype("float64")
        for name in self.categorical:
            values = frame[name]
            text = values.astype(str).astype(object)
            text[values.isna().to_numpy()] = np.nan
            parts[name] = text
        return pd.DataFrame(parts, index=frame.index)

    def _column_transformer(self, prepared: pd.DataFrame) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline as SkPipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

        impute, encode = self.options["impute"], self.options["encode"]
        if encode == "auto":
            self.ordinal = [c for c in self.categorical if prepared[c].nunique() > MAX_ONEHOT]
        else:
            self.ordinal = list(self.categorical) if encode == "ordinal" else []
        self.onehot = [c for c in self.categorical if c not in self.ordinal]

        def chain(strategy: str, *last: tuple[str, Any]) -> Any:
            steps: list[tuple[str, Any]] = []
            if impute is not None:
                steps.append(("impute", SimpleImputer(strategy=strategy, keep_empty_features=True)))
            steps.extend(last)
            return SkPipeline(steps) if steps else "passthrough"

        numbers = [*self.numeric, *(f"{d}_{p}" for d in self.datetime for p in DATE_PARTS)]
        scale = [("scale", StandardScaler())] if self.options["scale"] else []
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        parts = [
            ("numeric", chain("median" if impute == "auto" else str(impute), *scale), numbers),
            ("boolean", chain("most_frequent"), self.boolean),
            ("onehot", chain("most_frequent", ("encode", onehot)), self.onehot),
            ("ordinal", chain("most_frequent", ("encode", ordinal)), self.ordinal),
        ]
        return ColumnTransformer(
            [p for p in parts if p[2]], verbose_feature_names_out=False, sparse_threshold=0.0
        )

    def _task_of(self, y: pd.Series) -> str:
        if self.options["task"] is not None:
            return str(self.options["task"])
        numeric = pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y)
        return infer_task(y, "numeric" if numeric else "categorical")

    def fit(self, frame: pd.DataFrame, y: Any = None) -> Pipeline:
        """Learn the imputation values, scales, categories (and selection, PCA) from ``frame``."""
        from sklearn.pipeline import Pipeline as SkPipeline

        prepared = self._prepare(frame)
        if len(prepared) == 0:
            raise DataError("Cannot fit the preprocessing on 0 rows; pass the training data.")
        columns = self._column_transformer(prepared)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            matrix = columns.fit_transform(prepared)
        names = [str(n) for n in columns.get_feature_names_out()]
        steps: list[tuple[str, Any]] = [("columns", columns)]
        if self.options["select_k"] is not None:
            matrix, names = self._fit_select(matrix, names, y, steps)
        if self.options["pca"] is not None:
            from sklearn.decomposition import PCA

            components = min(self.options["pca"], matrix.shape[1], matrix.shape[0])
            pca = PCA(n_components=components, random_state=0).fit(matrix)
            names = [f"pca{i}" for i in range(components)]
            steps.append(("pca", pca))
        self._model = SkPipeline(steps)
        self.feature_names_out = names
        return self

    def _fit_select(
        self, matrix: np.ndarray, names: list[str], y: Any, steps: list[tuple[str, Any]]
    ) -> tuple[np.ndarray, list[str]]:
        from sklearn.feature_selection import SelectKBest, f_classif, f_regression

        if y is None:
            raise InvalidParameterError(
                "select_k= keeps the features most related to the target, so fit() needs y: "
                "pipeline.fit(train.X(), train.y())."
            )
        target = pd.Series(np.asarray(y))
        if len(target) != matrix.shape[0] or target.isna().any():
            raise DataError(
                f"y must hold one non-missing target per row: got {len(target)} values "
                f"({int(target.isna().sum())} missing) for {matrix.shape[0]} rows."
            )
        classify = self._task_of(target) == "classification"
        score = f_classif if classify else f_regression
        labels = target.astype(str).to_numpy() if classify else target.astype(float).to_numpy()
        k = min(int(self.options["select_k"]), matrix.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            select = SelectKBest(score, k=k).fit(matrix, labels)
        steps.append(("select", select))
        keep = select.get_support()
        return select.transform(matrix), [n for n, kept in zip(names, keep, strict=True) if kept]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """``frame`` as a float32 matrix, with exactly the transform learnt by ``fit``.

        Categories not seen in training become all-zero one-hot columns (or -1 ordinals).
        Raises DataError when a column the pipeline needs is missing.
        """
        if self._model is None:
            raise InvalidParameterError(
                "This Pipeline is not fitted yet; call pipeline.fit(train.X(), train.y()) first."
            )
        prepared = self._prepare(frame)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*unknown categories.*")
            warnings.simplefilter("ignore", RuntimeWarning)
            matrix = self._model.transform(prepared)
        return np.asarray(matrix, dtype=np.float32)

    def numeric_affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(fill, mean, scale)`` when the fitted transform is only "impute numeric columns,
        then standardise" (so ``transform`` is ``(where(nan, fill, x) - mean) / scale``), else None.

        Serving uses it to skip scikit-learn's per-call overhead on the hot path.
        """
        if self._model is None or self.boolean or self.categorical or self.datetime:
            return None
        if (
            len(self._model.steps) != 1
            or self.options["impute"] is None
            or not self.options["scale"]
        ):
            return None
        columns = self._model.steps[0][1]
        fitted = [t for t in columns.transformers_ if t[0] != "remainder"]
        if len(fitted) != 1 or list(fitted[0][2]) != self.numeric:
            return None
        imputer, scaler = fitted[0][1].named_steps["impute"], fitted[0][1].named_steps["scale"]
        return (
            np.asarray(imputer.statistics_, dtype=np.float64),
            np.asarray(scaler.mean_, dtype=np.float64),
            np.asarray(scaler.scale_, dtype=np.float64),
        )

    def fit_transform(self, frame: pd.DataFrame, y: Any = None) -> np.ndarray:
        return self.fit(frame, y).transform(frame)

    # saving ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The pipeline's specification as JSON data (what it reads, does and produces)."""
        import sklearn

        return {
            "format": FORMAT,
            "numeric": self.numeric,
            "boolean": self.boolean,
            "categorical": self.categorical,
            "datetime": self.datetime,
            "dropped": self.dropped,
            "options": dict(self.options),
            "fitted": self.fitted,
            "onehot": self.onehot,
            "ordinal": self.ordinal,
            "input_columns": self.input_columns,
            "feature_names_out": self.feature_names_out,
            "sklearn_version": sklearn.__version__,
        }

    def save(self, folder: str | Path) -> list[str]:
        """Write ``pipeline.json`` and ``pipeline.skops`` into ``folder``; returns their names."""
        if self._model is None:
            raise InvalidParameterError("Only a fitted Pipeline can be saved; call fit() first.")
        folder = Path(folder)
        data = _skops.dumps(self._model)
        atomic_write_bytes(folder / MODEL_FILE, data)
        spec = {**self.to_dict(), "skops_sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_text(folder / SPEC_FILE, json.dumps(spec, indent=2))
        return [SPEC_FILE, MODEL_FILE]

    @classmethod
    def load(cls, folder: str | Path) -> Pipeline:
        """Read a pipeline written by :meth:`save`, refusing changed or unsafe files.

        Raises:
            IntegrityError: the skops file does not match its recorded sha256, or it holds
                types other than scikit-learn, NumPy and SciPy ones.
        """
        folder = Path(folder)
        for name in (SPEC_FILE, MODEL_FILE):
            if not (folder / name).is_file():
                raise ArtifactNotFoundError(
                    str(folder / name), hint="Save a fitted pipeline there with pipeline.save()."
                )
        spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        if spec.get("format") != FORMAT:
            raise InvalidParameterError(
                f"{folder / SPEC_FILE} has pipeline format {spec.get('format')!r}; this version "
                f"of Lepton reads format {FORMAT}. Upgrade Lepton or re-save the pipeline."
            )
        data = (folder / MODEL_FILE).read_bytes()
        if hashlib.sha256(data).hexdigest() != spec.get("skops_sha256"):
            raise IntegrityError(
                f"{folder / MODEL_FILE} does not match the sha256 recorded in {SPEC_FILE}: the "
                "file was changed or damaged after it was saved. It was not loaded."
            )
        pipeline = cls(
            numeric=spec["numeric"],
            boolean=spec["boolean"],
            categorical=spec["categorical"],
            datetime=spec["datetime"],
            dropped=spec["dropped"],
            **spec["options"],
        )
        pipeline._model = _skops.loads(data, str(folder / MODEL_FILE))
        pipeline.onehot, pipeline.ordinal = spec["onehot"], spec["ordinal"]
        pipeline.feature_names_out = spec["feature_names_out"]
        return pipeline

    def __repr__(self) -> str:
        groups = ", ".join(
            f"{kind}={len(cols)}"
            for kind, cols in (
                ("numeric", self.numeric),
                ("boolean", self.boolean),
                ("categorical", self.categorical),
                ("datetime", self.datetime),
            )
            if cols
        )
        state = f"{len(self.feature_names_out)} outputs" if self.fitted else "not fitted"
        return f"Pipeline({groups}, {state})"

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(', '.join(v) or '-')}</td></tr>"
            for k, v in (
                ("numeric (impute, scale)", self.numeric),
                ("boolean (0/1)", self.boolean),
                ("one-hot", self.onehot if self.fitted else self.categorical),
                ("ordinal", self.ordinal),
                ("datetime (y/m/d/dow)", self.datetime),
                ("not used", list(self.dropped)),
            )
        )
        return f"<b>{html.escape(repr(self))}</b><table>{rows}</table>"

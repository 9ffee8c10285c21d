"""The one contract every model follows (DESIGN.md §5), whatever library is underneath.

``fit`` / ``predict`` / ``predict_proba`` / ``config`` / ``input_schema`` / ``task``. Inputs to
``predict`` may be a Dataset, a DataFrame, a numpy array, a list of records (dicts) or rows
(lists); outputs are numpy arrays. Families (sklearn, LightGBM, torch) implement ``_fit``,
``_predict_raw`` and their own save/load of weights; everything else lives here, once.
"""

from __future__ import annotations

import html
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lepton.errors import InvalidParameterError, LeptonError
from lepton.models._config import Config

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from lepton.data import Dataset
    from lepton.models._onnx import OnnxRuntime

TASKS = ("classification", "regression")


class ModelNotFittedError(LeptonError, RuntimeError):
    code = "not_fitted"


@dataclass
class FitContext:
    """What a training run hands to a model's ``_fit``: where to report, when to stop.

    ``model.fit()`` uses a silent context; ``lepton.train`` one that streams metrics to a run,
    drives callbacks and a progress bar, and restores a checkpoint on resume.
    """

    log: Callable[[Mapping[str, float], int], None] = lambda metrics, step: None
    callbacks: Sequence[Any] = ()
    progress: Any = None  # a training._progress.Progress, or None for silence
    epochs: int | None = None
    checkpoint: Callable[[dict[str, Any], int], None] | None = None  # save(state, epoch)
    resume_state: dict[str, Any] | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    # set on the workers of a distributed fit (backend="ray"): where the net lives, how it is
    # wrapped for DDP and which batches this rank trains on (_torch_loop.DistributedSeam)
    distributed: Any = None

    def report(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(float(value))
        self.log(metrics, step)


class Model(ABC):
    """A trainable model from the zoo. Build with :func:`lepton.create_model`."""

    family: ClassVar[str]
    #: the kinds of Dataset this model trains on: "table", "images", "texts"
    data_kinds: ClassVar[tuple[str, ...]]
    config_class: ClassVar[type[Config]]

    def __init__(
        self,
        name: str,
        config: Config,
        *,
        task: str | None = None,
        input_shape: tuple[int, ...] | None = None,
        num_classes: int | None = None,
    ) -> None:
        if task is not None and task not in TASKS:
            raise InvalidParameterError(
                f"Unknown task {task!r}; expected one of {', '.join(TASKS)}."
            )
        self.name = name
        self.config = config
        self.task = task
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.num_classes = num_classes
        self.classes_: list[Any] | None = None
        self.input_schema: dict[str, Any] | None = None
        self.metrics: dict[str, float] = {}
        self.lineage: dict[str, Any] = {}
        # a sample of training inputs, kept so deployments can measure drift (table models)
        self.reference: dict[str, Any] | None = None
        # set by lepton.compress: the ONNX graph that replaces the native weights at predict time
        self.runtime: OnnxRuntime | None = None
        self.compression: dict[str, Any] = {}  # method, parent, parity: see lepton.compression

    # the contract ---------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.input_schema is not None

    def fit(self, train: Dataset, valid: Dataset | None = None) -> Model:
        """Train on ``train`` (early-stopping on ``valid`` where the model supports it), untracked.

        ``lepton.train(model, train, valid)`` does the same with tracking, progress and
        checkpoints; use it unless you need a bare fit.
        """
        self._prepare(train, valid)
        self._fit(train, valid, FitContext(epochs=getattr(self.config, "epochs", None)))
        return self

    def predict(self, x: Any) -> np.ndarray:
        """Predicted labels (classification) or values (regression), one per input row."""
        import numpy as np

        raw = self._predict_raw(x)
        if self.task == "classification":
            assert self.classes_ is not None
            return np.asarray(self.classes_, dtype=object if _has_strings(self.classes_) else None)[
                raw.argmax(axis=1)
            ]
        return raw.reshape(-1)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, one row per input, columns in the order of ``model.classes_``."""
        if self.task != "classification":
            raise InvalidParameterError(
                f"{self.name} is a {self.task} model: predict_proba needs a classifier. Use predict()."
            )
        return self._predict_raw(x)

    @property
    def classes(self) -> list[Any]:
        return list(self.classes_ or [])

    # what families implement ----------------------------------------------------------------
    @abstractmethod
    def _fit(self, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        """Train; report metrics through ``ctx``. Called after ``_prepare``."""

    @abstractmethod
    def _predict_raw(self, x: Any) -> np.ndarray:
        """Probabilities (n, k) for classifiers, values (n,) for regressors."""

    @abstractmethod
    def _save_weights(self, folder: Path) -> list[str]:
        """Write weights (and fitted preprocessing) into ``folder``; return the file names."""

    @abstractmethod
    def _load_weights(self, folder: Path) -> None:
        """Read back what ``_save_weights`` wrote."""

    # shared machinery -----------------------------------------------------------------------
    def _prepare(self, train: Dataset, valid: Dataset | None) -> None:
        """Check the data fits this model and settle task, classes and input schema."""
        from lepton.data import Dataset

        for role, data in (("train", train), ("valid", valid)):
            if data is None and role == "valid":
                continue
            if not isinstance(data, Dataset):
                raise InvalidParameterError(
                    f"{role} must be a lepton Dataset, got {type(data).__name__}. Wrap a table with "
                    "lepton.Dataset.from_pandas(frame, target='label') (or from_csv/from_images)."
                )
            if data.kind not in self.data_kinds:
                raise InvalidParameterError(
                    f"{self.name} trains on {' or '.join(self.data_kinds)} data, but {role} dataset "
                    f"{data.name!r} holds {data.kind}. Pick a zoo model for {data.kind} "
                    "(see `lepton models zoo`)."
                )
        train.check_trainable()
        task = train.task
        if self.task is None:
            self.task = task
        elif task is not None and task != self.task:
            raise InvalidParameterError(
                f"{self.name} was created for {self.task}, but the target {train.target!r} of "
                f"{train.name!r} looks like {task}. Create the model with task={task!r}, or fix the target."
            )
        self.config.validate()
        if self.task == "classification":
            classes = list(train.classes)
            if self.num_classes is not None and len(classes) > self.num_classes:
                raise InvalidParameterError(
                    f"{self.name} was created with num_classes={self.num_classes}, but {train.name!r} "
                    f"has {len(classes)} classes ({classes[:10]}). Create it with num_classes={len(classes)}."
                )
            self.classes_ = classes
            self.num_classes = self.num_classes or len(classes)
        if train.kind == "images":
            shape = tuple(train.input_shape or ())
            if self.input_shape is not None and shape and shape != self.input_shape:
                raise InvalidParameterError(
                    f"{self.name} expects images of shape {self.input_shape} (H, W, C) but "
                    f"{train.name!r} is resized to {shape}. Build the dataset with input_shape="
                    f"{self.input_shape}, or create the model with input_shape={shape}."
                )
            self.input_shape = self.input_shape or shape
        self.input_schema = _schema_of(train)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ModelNotFittedError(
                f"{self.name} has not been trained yet. Train it first: lepton.train(model, dataset)."
            )

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "classes": self.classes,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "fitted": self.fitted,
            "config": self.config.to_dict(),
            "metrics": dict(self.metrics),
        }

    def __repr__(self) -> str:
        state = "trained" if self.fitted else "untrained"
        return f"{type(self).__name__}(name={self.name!r}, task={self.task!r}, {state})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.summary().items()
        )
        return f"<b>Model {html.escape(self.name)}</b><table>{rows}</table>"


def _has_strings(values: Sequence[Any]) -> bool:
    return any(isinstance(v, str) for v in values)


def _schema_of(data: Dataset) -> dict[str, Any]:
    """The input schema recorded in the bundle: it drives request validation when serving."""
    if data.kind == "images":
        return {"kind": "images", "input_shape": list(data.input_shape or ())}
    if data.kind == "texts":
        return {"kind": "texts", "column": data.features[0]}
    return {
        "kind": "table",
        "columns": [{"name": c, "type": data.schema[c].type} for c in data.features],
        "target": data.target,
    }


# input conversion, shared by the families ----------------------------------------------------
def as_frame(x: Any, columns: Sequence[str]) -> pd.DataFrame:
    """Turn prediction input into a DataFrame with ``columns`` (extra columns are ignored)."""
    import numpy as np
    import pandas as pd

    from lepton.data import Dataset
    from lepton.errors import DataError

    if isinstance(x, Dataset):
        frame = x.to_pandas()
    elif isinstance(x, pd.DataFrame):
        frame = x
    elif isinstance(x, Mapping):
        frame = pd.DataFrame([x])
    elif isinstance(x, np.ndarray) or (
        isinstance(x, list | tuple) and x and not isinstance(x[0], Mapping)
    ):
        rows = np.asarray(x, dtype=object)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2 or rows.shape[1] != len(columns):
            raise DataError(
                f"Expected rows of {len(columns)} values in the order {list(columns)}, got an "
                f"array of shape {rows.shape}. Pass records (dicts) to name the columns."
            )
        frame = pd.DataFrame(rows, columns=list(columns)).infer_objects()
    elif isinstance(x, list | tuple):
        frame = pd.DataFrame.from_records(list(x))
    else:
        raise InvalidParameterError(
            f"Cannot predict on {type(x).__name__}: pass a Dataset, a DataFrame, a numpy array, "
            "a list of records (dicts) or a list of rows."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"Input is missing the column(s) {missing} that the model was trained on. "
            f"Expected columns: {list(columns)}; got: {list(frame.columns)[:30]}."
        )
    return frame

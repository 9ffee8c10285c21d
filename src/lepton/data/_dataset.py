"""Datasets: a table, a folder of images or a table of texts, with a schema, a target and a
content-hash version.

    train = lepton.Dataset.from_csv("loans.csv", target="default")
    train, test = train.split(test_size=0.2, seed=0)
    images = lepton.Dataset("train", "train.csv", "train_images/", (32, 32, 3))
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lepton._validation import check_name
from lepton.data import _images, _storage
from lepton.data._build import (
    TableLike,
    cache_folder,
    check_columns,
    default_name,
    infer_task,
    read,
)
from lepton.data._io import check_not_empty, file_sha256
from lepton.data._pii import PIIReport, scan_frame
from lepton.data._profile import Profile, compute_profile
from lepton.data._render import html_table
from lepton.data._schema import Schema, infer_schema
from lepton.data._storage import Origin
from lepton.errors import DataError, InvalidParameterError

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from lepton.workspace import DatasetVersionInfo


class Dataset:
    """A named dataset: a table, images, or texts, with a schema and an optional target.

    Args:
        name: a name for the dataset (letters, digits, '.', '_', '-').
        table: a CSV/Parquet path or a pandas DataFrame. With ``images``, a table of image
            file names and labels (columns like ``filename,label``).
        images: a folder (or ``.zip``) of images; without ``table``, its sub-folders are the
            classes (``cat/1.png``, ``dog/2.png``).
        input_shape: ``(height, width, channels)`` images are resized to; default (224, 224, 3).
        target: the column to predict (images: default the label column).
        schema: per-column type overrides, e.g. ``{"zip": "categorical"}``, or a Schema.
        text_column: makes this a text dataset with the texts in this column.

    Raises:
        DataError: the data is empty, a named column is missing, image files are missing.

    Example:
        >>> train = lepton.Dataset("train", "train.csv", "train_images/", (32, 32, 3))
    """

    def __init__(
        self,
        name: str,
        table: TableLike | None = None,
        images: str | os.PathLike[str] | None = None,
        input_shape: Sequence[int] | None = None,
        *,
        target: str | None = None,
        schema: Mapping[str, Any] | None = None,
        text_column: str | None = None,
    ) -> None:
        check_name("dataset", name)
        if images is not None:
            if text_column is not None:
                raise InvalidParameterError(
                    "text_column= is for text datasets; a dataset with images= is an image "
                    "dataset. Pass one or the other."
                )
            shape = _images.check_input_shape(input_shape or _images.DEFAULT_INPUT_SHAPE)
            root = _images.images_root(images, cache_folder("zips"), with_table=table is not None)
            if table is None:
                frame, label = _images.frame_from_folders(root)
                if target is not None and label is not None and target != label:
                    frame = frame.rename(columns={label: target})
                    label = target
            else:
                frame, label = _images.frame_from_table(table, root, target)
            self._init(name, "images", frame, label, schema, Origin(image_root=root), shape)
            return
        if table is None:
            raise InvalidParameterError(
                "A Dataset needs data: a table (CSV/Parquet path or DataFrame) and/or images= "
                "a folder. For example Dataset.from_csv('data.csv', target='label') or "
                "Dataset('train', 'train.csv', 'train_images/', (32, 32, 3))."
            )
        if input_shape is not None:
            raise InvalidParameterError(
                "input_shape= is for image datasets; pass images= the folder of images too."
            )
        frame, origin = read(table)
        kind = "texts" if text_column is not None else "table"
        self._init(name, kind, frame, target, schema, origin, None, text_column)

    # construction ------------------------------------------------------------------------------
    def _init(
        self,
        name: str,
        kind: str,
        frame: pd.DataFrame,
        target: str | None,
        schema: Mapping[str, Any] | None,
        origin: Origin,
        input_shape: tuple[int, int, int] | None = None,
        text_column: str | None = None,
        known_schema: Schema | None = None,
    ) -> None:
        check_not_empty(frame, f"Dataset {name!r}")
        frame = frame.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        forced = check_columns(frame, kind, target, text_column)
        self._name = name
        self._kind = kind
        self._frame = frame
        self._target = target
        self._origin = origin
        self._input_shape = input_shape
        self._text_column = text_column
        self._schema = known_schema or infer_schema(frame, schema, forced=forced)
        self._task: str | None = None
        self._excluded: tuple[str, ...] = ()  # kept in the frame, not used as model inputs
        self._project: str | None = None  # the project a loaded dataset came from
        # a file is hashed now, so later edits to it cannot make the version lie
        self._version = file_sha256(origin.source) if origin.source is not None else None

    @classmethod
    def _make(cls, name: str, kind: str, frame: pd.DataFrame, **options: Any) -> Dataset:
        dataset = cls.__new__(cls)
        target = options.pop("target", None)
        schema = options.pop("schema", None)
        origin = options.pop("origin", Origin())
        dataset._init(name, kind, frame, target, schema, origin, **options)
        return dataset

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        target: str | None = None,
        name: str | None = None,
        schema: Mapping[str, Any] | None = None,
        **read_csv_kwargs: Any,
    ) -> Dataset:
        """A table from a CSV file; extra keyword arguments go to ``pandas.read_csv``."""
        frame, origin = read(path, "csv", read_csv_kwargs)
        return cls._make(
            name or default_name(path), "table", frame, target=target, schema=schema, origin=origin
        )

    @classmethod
    def from_parquet(
        cls,
        path: str | os.PathLike[str],
        *,
        target: str | None = None,
        name: str | None = None,
        schema: Mapping[str, Any] | None = None,
        **read_parquet_kwargs: Any,
    ) -> Dataset:
        """A table from a Parquet file; extra keyword arguments go to ``pandas.read_parquet``."""
        frame, origin = read(path, "parquet", read_parquet_kwargs)
        return cls._make(
            name or default_name(path), "table", frame, target=target, schema=schema, origin=origin
        )

    @classmethod
    def from_pandas(
        cls,
        frame: pd.DataFrame,
        *,
        target: str | None = None,
        name: str = "data",
        schema: Mapping[str, Any] | None = None,
    ) -> Dataset:
        """A table from a DataFrame (its version is a hash of its columns and values)."""
        if not isinstance(frame, pd.DataFrame):
            raise InvalidParameterError(
                f"from_pandas takes a pandas DataFrame, got {type(frame).__name__}."
            )
        check_name("dataset", name)
        return cls._make(name, "table", frame, target=target, schema=schema)

    @classmethod
    def from_images(
        cls,
        folder: str | os.PathLike[str],
        *,
        labels: TableLike | None = None,
        input_shape: Sequence[int] = _images.DEFAULT_INPUT_SHAPE,
        name: str | None = None,
        target: str | None = None,
    ) -> Dataset:
        """Images from ``folder`` (or a .zip): labelled by ``labels`` (a table of
        ``filename,label``) or, without it, by class sub-folders (``cat/1.png``)."""
        return cls(name or default_name(folder), labels, folder, input_shape, target=target)

    @classmethod
    def from_texts(
        cls,
        table: TableLike,
        *,
        text_column: str = "text",
        target: str | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Texts in a column of a table (CSV/Parquet path or DataFrame), with an optional target."""
        default = "texts" if isinstance(table, pd.DataFrame) else default_name(table)
        return cls(name or default, table, target=target, text_column=text_column)

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        target: str | None = None,
        images: str | os.PathLike[str] | None = None,
        input_shape: Sequence[int] | None = None,
        text_column: str | None = None,
    ) -> Dataset:
        """The dataset a path holds: a folder or .zip of images, or a CSV/Parquet table (of
        image file names with ``images=``, of texts with ``text_column=``)."""
        source = Path(path)
        name = name or default_name(source)
        if source.is_dir() or source.suffix.lower() == ".zip":
            return cls(name, None, source, input_shape, target=target)
        if images is not None:
            return cls(name, source, images, input_shape, target=target)
        return cls(name, source, target=target, text_column=text_column)

    # what it holds -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        """``"table"``, ``"images"`` or ``"texts"``."""
        return self._kind

    @property
    def target(self) -> str | None:
        return self._target

    @property
    def schema(self) -> Schema:
        return self._schema

    @property
    def features(self) -> list[str]:
        """The input columns: all but the target (images: ``["image"]``, texts: the text)."""
        if self._kind == "images":
            return [_images.IMAGE_COLUMN]
        if self._kind == "texts":
            return [str(self._text_column)]
        return [c for c in self._frame.columns if c != self._target and c not in self._excluded]

    def exclude_features(self, *columns: str) -> Dataset:
        """The same data with ``columns`` kept but not used as model inputs.

        Typical for sensitive attributes: a credit model should not see ``sex``, while
        ``lepton.evaluate(..., sensitive_features=["sex"])`` still needs the column.
        """
        unknown = [c for c in columns if c not in self._frame.columns or c == self._target]
        if unknown:
            raise DataError(
                f"Cannot exclude {unknown} from {self._name!r}: not feature columns. "
                f"Feature columns: {self.features}."
            )
        view = self._subset(range(len(self._frame)), self._name)
        view._excluded = tuple(dict.fromkeys((*self._excluded, *columns)))
        view._version, view._origin = self._version, self._origin
        return view

    @property
    def text_column(self) -> str | None:
        return self._text_column

    @property
    def task(self) -> str | None:
        """``"classification"``, ``"regression"``, or None without a target."""
        if self._target is None:
            return None
        if self._task is None:
            column = self._frame[self._target]
            self._task = infer_task(column, self._schema[self._target].type)
        return self._task

    @property
    def classes(self) -> list[Any]:
        """The sorted distinct target values of a classification dataset, else []."""
        if self.task != "classification":
            return []
        values = self._frame[str(self._target)].dropna().unique().tolist()
        try:
            return sorted(values)
        except TypeError:
            return sorted(values, key=str)

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """``(height, width, channels)`` for images, else None."""
        return self._input_shape

    @property
    def frame(self) -> pd.DataFrame:
        """The table (images: an ``image`` column of absolute paths, and the label)."""
        return self._frame

    def to_pandas(self) -> pd.DataFrame:
        """A copy of the table."""
        return self._frame.copy()

    def X(self) -> pd.DataFrame:
        """The input columns (``frame[features]``)."""
        return self._frame[self.features]

    def y(self) -> np.ndarray | None:
        """The target values, or None without a target."""
        return None if self._target is None else self._frame[self._target].to_numpy()

    @property
    def image_paths(self) -> list[Path]:
        self._require("images", "image_paths")
        return [Path(p) for p in self._frame[_images.IMAGE_COLUMN]]

    @property
    def texts(self) -> list[str]:
        self._require("texts", "texts")
        return self._frame[str(self._text_column)].fillna("").astype(str).tolist()

    @property
    def version(self) -> str:
        """The sha256 of the content: the same bytes always give the same version."""
        if self._version is None:
            self._version = _storage.content_version(self)
        return self._version

    def __len__(self) -> int:
        return len(self._frame)

    def _require(self, kind: str, what: str) -> None:
        if self._kind != kind:
            raise InvalidParameterError(
                f"{what} is for {kind} datasets; {self._name!r} is a {self._kind} dataset."
            )

    # subsets -----------------------------------------------------------------------------------
    def _subset(self, rows: Iterable[int], name: str) -> Dataset:
        frame = self._frame.iloc[sorted(rows)]
        origin = Origin(image_root=self._origin.image_root)
        subset = self._make(
            name,
            self._kind,
            frame,
            target=self._target,
            origin=origin,
            input_shape=self._input_shape,
            text_column=self._text_column,
            known_schema=self._schema,
        )
        subset._excluded = self._excluded
        return subset

    def split(
        self, test_size: float | int = 0.2, *, stratify: bool = True, seed: int = 0
    ) -> tuple[Dataset, Dataset]:
        """Split into ``(train, test)``, reproducibly for a given ``seed``.

        Classification datasets are stratified by default: each class keeps its share in both
        parts. Raises DataError when a class has too few rows to be split that way.
        """
        from lepton.data._target import split_rows

        train, test = split_rows(self, test_size, stratify=stratify, seed=seed)
        return self._subset(train, f"{self._name}-train"), self._subset(test, f"{self._name}-test")

    def sample(self, n: int, *, seed: int = 0) -> Dataset:
        """A random subset of ``n`` rows (in their original order)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self):
            raise InvalidParameterError(
                f"sample(n) needs 1 <= n <= {len(self)} (the number of rows), got {n!r}."
            )
        rows = np.random.default_rng(seed).choice(len(self), size=n, replace=False)
        return self._subset(rows.tolist(), f"{self._name}-sample")

    def head(self, n: int = 5) -> pd.DataFrame:
        return self._frame.head(n).copy()

    # looking at it -----------------------------------------------------------------------------
    def profile(self) -> Profile:
        """Per-column statistics: missing values, distinct counts, distributions."""
        return compute_profile(self._frame, self._schema, self._name, self._target, self.task)

    def scan_pii(self) -> PIIReport:
        """Columns holding e-mails, phone numbers, card numbers, IBANs or national IDs."""
        return scan_frame(self._frame, self._name)

    def check_trainable(self) -> None:
        """Raise DataError when a model cannot be trained on this dataset, saying why."""
        from lepton.data._target import check_trainable

        check_trainable(self)

    # storing it --------------------------------------------------------------------------------
    def register(self, project: str | None = None) -> DatasetVersionInfo:
        """Store this version in the workspace; the same content is stored once.

        ``project`` defaults to the project the dataset was loaded from, else the current one.
        Returns the stored record (the existing one when this content is already there).
        """
        from lepton.data._registry import register

        return register(self, project)

    # images ------------------------------------------------------------------------------------
    def image_loader(
        self,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        augment: Iterable[str] | None = None,
        num_workers: int | None = None,
        seed: int = 0,
        classes: Sequence[Any] | None = None,
        normalize: bool = True,
    ) -> DataLoader[Any]:
        """Batches ``(images, labels)`` streamed from disk by worker processes.

        ``images`` is a float32 tensor ``(N, C, H, W)`` resized to ``input_shape``, scaled to
        [0, 1] and, with ``normalize=True``, standardised with the ImageNet mean and std;
        ``labels`` is an int64 tensor of indices into ``classes`` (default ``self.classes``;
        -1 for unlabelled images). ``augment`` takes ``"flip"`` (random horizontal flip) and
        ``"crop"`` (random crop after a 15 % enlargement).
        """
        from lepton.data._loader import image_loader

        return image_loader(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            augment=augment,
            num_workers=num_workers,
            seed=seed,
            classes=classes,
            normalize=normalize,
        )

    # display -----------------------------------------------------------------------------------
    def _facts(self) -> list[tuple[str, Any]]:
        facts: list[tuple[str, Any]] = [("kind", self._kind), ("rows", len(self))]
        if self._target is not None:
            facts += [("target", self._target), ("task", self.task)]
            if self.task == "classification":
                facts.append(("classes", len(self.classes)))
        facts.append(("features", len(self.features)))
        if self._input_shape is not None:
            facts.append(("input_shape", self._input_shape))
        if self._version is not None:
            facts.append(("version", self._version[:12]))
        return facts

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._facts())
        return f"Dataset({self._name!r}, {inner})"

    def _repr_html_(self) -> str:
        facts = ", ".join(f"{k} {html.escape(str(v))}" for k, v in self._facts())
        missing = self._frame.isna().sum()
        rows = [(c.name, c.type, c.dtype, int(missing[c.name])) for c in self._schema.values()]
        table = html_table("Columns", ["column", "type", "dtype", "missing"], rows)
        return f"<b>Dataset {html.escape(self._name)}</b> <span>({facts})</span>{table}"

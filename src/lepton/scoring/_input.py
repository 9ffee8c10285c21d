"""The rows to score: a Dataset, a DataFrame, a CSV/Parquet path or a registered dataset,
as one table with a version that says whether two runs scored the same rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import DataError, InvalidParameterError

if TYPE_CHECKING:
    import pandas as pd

    from lepton.models import Model

_DATA_KINDS = (
    "a lepton Dataset, a pandas DataFrame, a CSV/Parquet path or a registered dataset "
    "'NAME[:VERSION]'"
)


_TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".tsv", ".txt")


@dataclass(frozen=True)
class ScoringInput:
    """The table to score (index 0..n-1), named and versioned by content."""

    frame: pd.DataFrame
    name: str
    version: str

    @property
    def rows(self) -> int:
        return len(self.frame)


def open_data(data: Any) -> ScoringInput:
    """The table ``data`` names.

    Raises:
        InvalidParameterError: ``data`` is of no kind that holds rows.
        DatasetNotFoundError: a name that is neither a file nor a registered dataset.
        DataError: the table is empty, or images (not scored in batch yet).
    """
    import pandas as pd

    from lepton.data import Dataset

    if isinstance(data, str | os.PathLike):
        data = _named(os.fspath(data))
    if isinstance(data, Dataset):
        if data.kind == "images":
            raise DataError(
                f"Dataset {data.name!r} holds images; predict_batch scores tables and texts. "
                "Score images with model.predict(dataset)."
            )
        return ScoringInput(data.frame.reset_index(drop=True), data.name, data.version)
    if isinstance(data, pd.DataFrame):
        from lepton.data._io import frame_sha256

        if data.empty:
            raise DataError("The DataFrame to score has no rows; pass a table with rows.")
        frame = data.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return ScoringInput(frame, "dataframe", frame_sha256(frame))
    raise InvalidParameterError(f"predict_batch scores {_DATA_KINDS}; got {type(data).__name__}.")


def _named(text: str) -> Any:
    from lepton.data import Dataset, load_dataset

    if not text.strip():
        raise InvalidParameterError(f"The data reference is empty. Pass {_DATA_KINDS}.")
    if Path(text).exists():
        return Dataset.from_path(text)
    if "/" in text or os.sep in text or Path(text).suffix.lower() in _TABLE_SUFFIXES:
        from lepton.data import list_datasets
        from lepton.errors import DatasetNotFoundError

        raise DatasetNotFoundError(
            text,
            [info.name for info in list_datasets()],
            hint="No file exists at that path. Pass a CSV/Parquet path or a registered "
            "dataset NAME[:VERSION].",
        )
    return load_dataset(text)


def check_inputs(model: Model, frame: pd.DataFrame, ref: str) -> list[str]:
    """The columns the model reads; DataError naming those the table lacks."""
    schema = model.input_schema or {}
    kind = schema.get("kind")
    if kind == "images":
        raise InvalidParameterError(
            f"{ref} is an image model; predict_batch scores table and text models. "
            "Score images with model.predict(dataset)."
        )
    if kind == "texts":
        needed = [str(schema["column"])]
    else:
        needed = [str(c["name"]) for c in schema.get("columns", [])]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"The data lacks the column(s) {missing} that {ref} reads. Expected columns: "
            f"{needed}; the data has: {list(frame.columns)[:30]}. Rename or add them."
        )
    return needed

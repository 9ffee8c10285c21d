"""Data: datasets (tables, images, texts), schemas, profiles, PII scans and preprocessing.

    from lepton.data import Dataset, Pipeline

    data = Dataset.from_csv("loans.csv", target="default")
    train, test = data.split(test_size=0.2, seed=0)
    pipeline = Pipeline.from_schema(data.schema, data.features, task=data.task)
    X = pipeline.fit_transform(train.X(), train.y())

Names load on first use, so listing registered datasets does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_LAZY = {
    "COLUMN_TYPES": "lepton.data._schema",
    "ColumnInfo": "lepton.data._schema",
    "ColumnProfile": "lepton.data._profile",
    "Dataset": "lepton.data._dataset",
    "PIIFinding": "lepton.data._pii",
    "PIIReport": "lepton.data._pii",
    "Pipeline": "lepton.data._pipeline",
    "Profile": "lepton.data._profile",
    "Schema": "lepton.data._schema",
    "dataset_info": "lepton.data._registry",
    "images_to_tensor": "lepton.data._images",
    "list_datasets": "lepton.data._registry",
    "list_versions": "lepton.data._registry",
    "load_dataset": "lepton.data._registry",
}

__all__ = [
    "COLUMN_TYPES",
    "ColumnInfo",
    "ColumnProfile",
    "Dataset",
    "PIIFinding",
    "PIIReport",
    "Pipeline",
    "Profile",
    "Schema",
    "dataset_info",
    "images_to_tensor",
    "list_datasets",
    "list_versions",
    "load_dataset",
]

if TYPE_CHECKING:
    from lepton.data._dataset import Dataset
    from lepton.data._images import images_to_tensor
    from lepton.data._pii import PIIFinding, PIIReport
    from lepton.data._pipeline import Pipeline
    from lepton.data._profile import ColumnProfile, Profile
    from lepton.data._registry import dataset_info, list_datasets, list_versions, load_dataset
    from lepton.data._schema import COLUMN_TYPES, ColumnInfo, Schema


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'lepton.data' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

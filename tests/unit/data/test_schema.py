"""Schema inference for every column type, and user overrides."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lepton.data import COLUMN_TYPES, ColumnInfo, Dataset, Schema
from lepton.data._schema import infer_schema, infer_type
from lepton.errors import DataError, InvalidParameterError


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3], "numeric"),
        ([1.5, None, 2.0], "numeric"),
        ([True, False, True], "boolean"),
        (["yes", "no", "Yes", None], "boolean"),
        (["TRUE", "false", "true"], "boolean"),
        (["red", "green", "red", "blue"], "categorical"),
        (["2024-01-05", "2023-12-31", None], "datetime"),
        (["2024-01-05T10:00:00Z", "2024-02-01 08:30"], "datetime"),
        (["a.png", "b.JPG", "sub/c.jpeg"], "image"),
        (
            ["the film was great fun", "a dull and slow story", "loved every single minute"],
            "text",
        ),
        ([None, None], "categorical"),
    ],
)
def test_infer_type(values: list[object], expected: str) -> None:
    assert infer_type(pd.Series(values)) == expected


def test_datetime_and_category_dtypes() -> None:
    assert infer_type(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))) == "datetime"
    assert infer_type(pd.Series(["x", "y"], dtype="category")) == "categorical"


def test_csv_columns_are_inferred(tmp_path, mixed_frame: pd.DataFrame) -> None:
    mixed_frame.to_csv(tmp_path / "mixed.csv", index=False)
    data = Dataset.from_csv(tmp_path / "mixed.csv", target="label")
    assert data.schema.types == {
        "age": "numeric",
        "income": "numeric",
        "city": "categorical",
        "member": "boolean",
        "joined": "datetime",
        "bio": "text",
        "label": "categorical",
    }
    assert all(c.inferred for c in data.schema.values())
    assert data.schema.columns_of("numeric") == ["age", "income"]


def test_overrides_win_and_are_marked(mixed_frame: pd.DataFrame) -> None:
    data = Dataset.from_pandas(
        mixed_frame, schema={"age": "categorical", "bio": ColumnInfo("bio", "categorical", "str")}
    )
    assert data.schema["age"].type == "categorical" and not data.schema["age"].inferred
    assert data.schema["bio"].type == "categorical"
    assert data.schema["income"].inferred


def test_a_schema_can_be_reused_as_overrides(mixed_frame: pd.DataFrame) -> None:
    first = Dataset.from_pandas(mixed_frame, schema={"age": "categorical"})
    second = Dataset.from_pandas(mixed_frame.head(6), schema=first.schema)
    assert second.schema.types == first.schema.types


def test_unknown_override_type() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"Unknown type 'float' for column 'a'.*numeric"
    ):
        infer_schema(pd.DataFrame({"a": [1]}), {"a": "float"})


def test_override_of_missing_column() -> None:
    with pytest.raises(DataError, match=r"schema= names column\(s\) 'b'.*columns are: a"):
        infer_schema(pd.DataFrame({"a": [1]}), {"b": "numeric"})


def test_round_trip_and_display(mixed_frame: pd.DataFrame) -> None:
    schema = Dataset.from_pandas(mixed_frame).schema
    data = json.loads(json.dumps(schema.to_dict()))
    assert Schema.from_dict(data) == schema
    assert "'city': 'categorical'" in repr(schema)
    assert "<table>" in schema._repr_html_() and "joined" in str(schema)
    assert schema.__rich__().row_count == len(mixed_frame.columns)
    assert set(schema.types.values()) <= set(COLUMN_TYPES)
    with pytest.raises(KeyError, match="No column 'nope'"):
        schema["nope"]

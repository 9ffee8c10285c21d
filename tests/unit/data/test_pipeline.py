"""Pipeline: defaults from the schema, exact transforms after save/load, safe loading."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lepton.data import Dataset, Pipeline
from lepton.errors import ArtifactNotFoundError, DataError, IntegrityError, InvalidParameterError


@pytest.fixture
def data(mixed_frame: pd.DataFrame) -> Dataset:
    return Dataset.from_pandas(mixed_frame, target="label")


def fitted(data: Dataset, **options: object) -> Pipeline:
    pipeline = Pipeline.from_schema(data.schema, data.features, task=data.task, **options)  # type: ignore[arg-type]
    return pipeline.fit(data.X(), data.y())


def test_defaults_from_the_schema(data: Dataset) -> None:
    pipeline = fitted(data)
    assert pipeline.numeric == ["age", "income"] and pipeline.boolean == ["member"]
    assert pipeline.categorical == ["city"] and pipeline.datetime == ["joined"]
    assert pipeline.input_columns == ["age", "income", "member", "joined", "city"]
    assert pipeline.notes == [
        "Column 'bio' is not used: it holds free text, which text models read rather than "
        "this pipeline."
    ]
    assert pipeline.feature_names_out == [
        "age",
        "income",
        "joined_year",
        "joined_month",
        "joined_day",
        "joined_dayofweek",
        "member",
        "city_oslo",
        "city_paris",
        "city_rome",
    ]
    matrix = pipeline.transform(data.X())
    assert matrix.dtype == np.float32 and matrix.shape == (12, 10)
    assert not np.isnan(matrix).any()
    # numeric columns are standardised, missing ages became the median
    assert matrix[:, 1].mean() == pytest.approx(0, abs=1e-6)
    assert matrix[:, 1].std() == pytest.approx(1, abs=1e-3)
    ages = data.frame["age"]
    median = (ages.median() - ages.fillna(ages.median()).mean()) / ages.fillna(ages.median()).std(
        ddof=0
    )
    assert matrix[2, 0] == pytest.approx(median, abs=1e-5)
    # the missing city became the most frequent one
    assert matrix[3, 7:].tolist() in ([0, 1, 0], [0, 0, 1])


def test_datetime_parts(data: Dataset) -> None:
    matrix = fitted(data, scale=False).transform(data.X())
    joined = pd.to_datetime(data.frame["joined"])
    assert matrix[:, 2].tolist() == joined.dt.year.tolist()
    assert matrix[:, 5].tolist() == joined.dt.day_of_week.tolist()


def test_unseen_categories_and_bool_words(data: Dataset) -> None:
    pipeline = fitted(data)
    new = data.X().head(2).copy()
    new["city"] = ["tokyo", "rome"]
    new["member"] = ["yes", "no"]
    matrix = pipeline.transform(new)
    assert matrix[0, 7:].tolist() == [0, 0, 0]
    assert matrix[1, 7:].tolist() == [0, 0, 1]
    assert matrix[:, 6].tolist() == [1, 0]


def test_extra_columns_are_ignored_and_missing_ones_named(data: Dataset) -> None:
    pipeline = fitted(data)
    pipeline.transform(data.frame)  # the target column is extra: ignored
    with pytest.raises(
        DataError, match=r"missing column\(s\) 'age', 'city' that the preprocessing"
    ):
        pipeline.transform(data.X().drop(columns=["city", "age"]))


def test_many_categories_are_ordinal() -> None:
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(60)], "y": [0, 1] * 30})
    data = Dataset.from_pandas(frame, target="y", schema={"id": "categorical"})
    pipeline = fitted(data)
    assert pipeline.ordinal == ["id"] and pipeline.onehot == []
    unseen = pipeline.transform(pd.DataFrame({"id": ["u3", "nobody"]}))
    assert unseen[:, 0].tolist() == [float(sorted(frame["id"]).index("u3")), -1.0]
    assert fitted(data, encode="onehot").transform(data.X()).shape == (60, 60)


def test_encode_ordinal_and_no_imputation(data: Dataset) -> None:
    pipeline = fitted(data, encode="ordinal", impute=None, scale=False)
    assert pipeline.feature_names_out[-1] == "city"
    matrix = pipeline.transform(data.X())
    assert np.isnan(matrix[2, 0])  # no imputation: the missing age stays missing


def test_pca_and_feature_selection(data: Dataset) -> None:
    selected = fitted(data, select_k=3)
    assert len(selected.feature_names_out) == 3
    assert set(selected.feature_names_out) <= set(fitted(data).feature_names_out)
    reduced = fitted(data, pca=2)
    assert reduced.feature_names_out == ["pca0", "pca1"]
    assert reduced.transform(data.X()).shape == (12, 2)
    regression = Dataset.from_pandas(data.frame, target="income")
    assert len(fitted(regression, select_k=2).feature_names_out) == 2


def test_feature_selection_needs_y(data: Dataset) -> None:
    pipeline = Pipeline.from_schema(data.schema, data.features, select_k=2)
    with pytest.raises(InvalidParameterError, match="select_k= .* so fit\\(\\) needs y"):
        pipeline.fit(data.X())


def test_save_load_gives_identical_output(data: Dataset, tmp_path: Path) -> None:
    pipeline = fitted(data, pca=3)
    assert pipeline.save(tmp_path) == ["pipeline.json", "pipeline.skops"]
    loaded = Pipeline.load(tmp_path)
    new = data.X().copy()
    new.loc[0, "city"] = "unseen"
    np.testing.assert_array_equal(loaded.transform(new), pipeline.transform(new))
    assert loaded.to_dict() == pipeline.to_dict()
    spec = json.loads((tmp_path / "pipeline.json").read_text())
    assert spec["input_columns"] == pipeline.input_columns and spec["options"]["pca"] == 3


def test_tampered_skops_file_is_refused(data: Dataset, tmp_path: Path) -> None:
    fitted(data).save(tmp_path)
    blob = bytearray((tmp_path / "pipeline.skops").read_bytes())
    blob[-40] ^= 0xFF
    (tmp_path / "pipeline.skops").write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="does not match the sha256 recorded"):
        Pipeline.load(tmp_path)


class Sneaky:
    """Stands for arbitrary code an attacker would like a loader to run."""

    def __init__(self) -> None:
        self.payload = "x"


def test_unsafe_types_are_refused_even_with_a_matching_hash(data: Dataset, tmp_path: Path) -> None:
    import skops.io as sio

    fitted(data).save(tmp_path)
    blob = sio.dumps({"model": Sneaky()})
    (tmp_path / "pipeline.skops").write_bytes(blob)
    spec = json.loads((tmp_path / "pipeline.json").read_text())
    spec["skops_sha256"] = hashlib.sha256(blob).hexdigest()
    (tmp_path / "pipeline.json").write_text(json.dumps(spec))
    with pytest.raises(IntegrityError, match=r"holds types outside scikit-learn.*Sneaky"):
        Pipeline.load(tmp_path)


def test_load_errors(tmp_path: Path, data: Dataset) -> None:
    with pytest.raises(ArtifactNotFoundError, match="pipeline.json"):
        Pipeline.load(tmp_path)
    fitted(data).save(tmp_path)
    spec = json.loads((tmp_path / "pipeline.json").read_text())
    (tmp_path / "pipeline.json").write_text(json.dumps({**spec, "format": 99}))
    with pytest.raises(InvalidParameterError, match="pipeline format 99"):
        Pipeline.load(tmp_path)


def test_usage_errors(data: Dataset) -> None:
    pipeline = Pipeline.from_schema(data.schema, data.features)
    with pytest.raises(InvalidParameterError, match="not fitted yet"):
        pipeline.transform(data.X())
    with pytest.raises(InvalidParameterError, match="Only a fitted Pipeline can be saved"):
        pipeline.save(".")
    with pytest.raises(InvalidParameterError, match="impute='zero' is not supported"):
        Pipeline.from_schema(data.schema, data.features, impute="zero")
    with pytest.raises(InvalidParameterError, match="pca must be None or an int >= 1, got 0"):
        Pipeline.from_schema(data.schema, data.features, pca=0)
    with pytest.raises(DataError, match=r"Feature\(s\) 'nope' are not in the schema"):
        Pipeline.from_schema(data.schema, ["nope"])
    with pytest.raises(DataError, match="every feature is free text or an image path .*bio"):
        Pipeline.from_schema(data.schema, ["bio"])
    with pytest.raises(InvalidParameterError, match="takes a pandas DataFrame, got ndarray"):
        fitted(data).transform(np.zeros((2, 2)))  # type: ignore[arg-type]


def test_repr(data: Dataset) -> None:
    pipeline = fitted(data)
    assert repr(pipeline) == (
        "Pipeline(numeric=2, boolean=1, categorical=1, datetime=1, 10 outputs)"
    )
    assert "one-hot" in pipeline._repr_html_() and "bio" in pipeline._repr_html_()

"""Tables and texts: constructors, what a Dataset exposes, and how it shows itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lepton.data
from lepton.data import Dataset
from lepton.errors import InvalidParameterError


def test_public_names() -> None:
    assert set(lepton.data.__all__) >= {
        "Dataset",
        "Pipeline",
        "Schema",
        "ColumnInfo",
        "Profile",
        "PIIReport",
        "load_dataset",
        "list_datasets",
    }


def test_from_csv(tmp_path: Path, mixed_frame: pd.DataFrame) -> None:
    mixed_frame.to_csv(tmp_path / "Loans 2024.csv", index=False)
    data = Dataset.from_csv(tmp_path / "Loans 2024.csv", target="label")
    assert data.name == "Loans-2024" and data.kind == "table" and len(data) == 12
    assert data.features == ["age", "income", "city", "member", "joined", "bio"]
    assert data.task == "classification" and data.classes == ["a", "b"]
    assert list(data.X().columns) == data.features
    assert list(data.y()) == ["a", "b"] * 6  # type: ignore[arg-type]
    assert data.input_shape is None
    pd.testing.assert_frame_equal(data.head(3), data.frame.head(3))
    copy = data.to_pandas()
    copy.loc[0, "age"] = -1
    assert data.frame.loc[0, "age"] == 23


def test_read_csv_options_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("a;b\n1;x\n2;y\n")
    assert list(Dataset.from_csv(tmp_path / "semi.csv", sep=";").frame.columns) == ["a", "b"]
    (tmp_path / "t.tsv").write_text("a\tb\n1\tx\n")
    assert Dataset("t", tmp_path / "t.tsv").frame.shape == (1, 2)


def test_from_parquet_and_positional_table(tmp_path: Path, mixed_frame: pd.DataFrame) -> None:
    mixed_frame.to_parquet(tmp_path / "m.parquet")
    a = Dataset.from_parquet(tmp_path / "m.parquet", target="income")
    b = Dataset("m", tmp_path / "m.parquet", target="income")
    assert a.task == b.task == "regression" and a.classes == []
    assert a.version == b.version


def test_from_pandas(mixed_frame: pd.DataFrame) -> None:
    data = Dataset.from_pandas(mixed_frame.set_index("city"), target="member", name="members")
    assert data.name == "members" and data.frame.index.equals(pd.RangeIndex(12))
    assert data.task == "classification" and data.classes == [False, True]
    with pytest.raises(InvalidParameterError, match="takes a pandas DataFrame, got list"):
        Dataset.from_pandas([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 2, 1], "classification"),
        ([0.0, 1.0, 1.0, 0.0], "classification"),
        (list(range(30)), "regression"),
        ([0.5, 1.5, 2.5, 3.5], "regression"),
    ],
)
def test_task_inference(values: list[float], task: str) -> None:
    frame = pd.DataFrame({"x": range(len(values)), "y": values})
    assert Dataset.from_pandas(frame, target="y").task == task


def test_no_target() -> None:
    data = Dataset.from_pandas(pd.DataFrame({"a": [1, 2]}))
    assert data.target is None and data.task is None and data.classes == [] and data.y() is None


def test_from_texts(tmp_path: Path) -> None:
    frame = pd.DataFrame({"review": ["good film", "bad film", None], "label": ["+", "-", "+"]})
    data = Dataset.from_texts(frame, text_column="review", target="label")
    assert data.kind == "texts" and data.features == ["review"] and data.name == "texts"
    assert data.texts == ["good film", "bad film", ""]
    assert data.schema["review"].type == "text"
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    assert Dataset.from_texts(tmp_path / "reviews.csv", text_column="review").name == "reviews"


def test_kind_specific_attributes() -> None:
    data = Dataset.from_pandas(pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidParameterError, match="texts is for texts datasets"):
        _ = data.texts
    with pytest.raises(InvalidParameterError, match="image_paths is for images datasets"):
        _ = data.image_paths
    with pytest.raises(InvalidParameterError, match="image_loader is for images datasets"):
        data.image_loader()


def test_sample_and_head(mixed_frame: pd.DataFrame) -> None:
    data = Dataset.from_pandas(mixed_frame, target="label")
    a, b = data.sample(5, seed=3), data.sample(5, seed=3)
    assert len(a) == 5 and a.frame.equals(b.frame) and a.name == "data-sample"
    assert not a.frame.equals(data.sample(5, seed=4).frame)
    assert a.schema == data.schema
    assert len(data.head()) == 5
    with pytest.raises(InvalidParameterError, match=r"sample\(n\) needs 1 <= n <= 12"):
        data.sample(13)


def test_repr_and_html(mixed_frame: pd.DataFrame) -> None:
    data = Dataset.from_pandas(mixed_frame, target="label", name="loans")
    text = repr(data)
    assert text.startswith("Dataset('loans'") and "rows=12" in text and "classes=2" in text
    page = data._repr_html_()
    assert "<b>Dataset loans</b>" in page and "<td style='text-align:left'>bio</td>" in page


def test_bad_constructor_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="A Dataset needs data"):
        Dataset("x")
    with pytest.raises(InvalidParameterError, match="Invalid dataset name 'bad name'"):
        Dataset("bad name", pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidParameterError, match="input_shape= is for image datasets"):
        Dataset("x", pd.DataFrame({"a": [1]}), input_shape=(8, 8, 3))
    with pytest.raises(InvalidParameterError, match="table must be a CSV/Parquet path"):
        Dataset("x", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="text_column and target are both 't'"):
        Dataset.from_texts(pd.DataFrame({"t": ["a"]}), text_column="t", target="t")


def test_y_is_numpy(mixed_frame: pd.DataFrame) -> None:
    assert isinstance(Dataset.from_pandas(mixed_frame, target="age").y(), np.ndarray)


def test_imports_stay_light() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from lepton.data import list_datasets, dataset_info\n"
        "light = [m for m in ('pandas', 'torch', 'sklearn') if m in sys.modules]\n"
        "import pandas as pd\n"
        "from lepton.data import Dataset\n"
        "Dataset.from_pandas(pd.DataFrame({'a': [1, 2]})).profile()\n"
        "tables = [m for m in ('torch', 'sklearn') if m in sys.modules]\n"
        "print(json.dumps([light, tables]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [[], []]

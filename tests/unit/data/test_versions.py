"""Content-hash versions, registering in the workspace, and loading back."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import lepton
from lepton.data import Dataset, dataset_info, list_datasets, list_versions, load_dataset
from lepton.data._io import file_sha256
from lepton.errors import DataError, DatasetNotFoundError, IntegrityError, InvalidParameterError
from lepton.workspace import get_workspace


@pytest.fixture
def csv(tmp_path: Path, mixed_frame: pd.DataFrame) -> Path:
    mixed_frame.to_csv(tmp_path / "loans.csv", index=False)
    return tmp_path / "loans.csv"


def test_same_bytes_same_version(csv: Path, tmp_path: Path) -> None:
    copy = shutil.copy(csv, tmp_path / "copy.csv")
    version = Dataset.from_csv(csv).version
    assert version == Dataset.from_csv(copy).version == file_sha256(csv)
    assert len(version) == 64


def test_changed_bytes_new_version(csv: Path) -> None:
    before = Dataset.from_csv(csv).version
    csv.write_text(csv.read_text().replace("paris", "lyon", 1))
    assert Dataset.from_csv(csv).version != before


def test_frames_hash_their_values(mixed_frame: pd.DataFrame) -> None:
    first = Dataset.from_pandas(mixed_frame).version
    assert Dataset.from_pandas(mixed_frame.copy()).version == first
    changed = mixed_frame.copy()
    changed.loc[0, "income"] += 1
    assert Dataset.from_pandas(changed).version != first
    assert Dataset.from_pandas(mixed_frame.rename(columns={"age": "years"})).version != first
    assert Dataset.from_pandas(mixed_frame.astype({"member": "str"})).version != first


def test_register_is_idempotent(csv: Path) -> None:
    data = Dataset.from_csv(csv, target="label")
    first = data.register()
    second = Dataset.from_csv(csv, target="label").register()
    assert first == second and first.version == data.version
    assert first.project == "default" and first.kind == "table" and first.num_rows == 12
    assert first.files == [
        {"path": "loans.csv", "size": csv.stat().st_size, "sha256": data.version}
    ]
    assert first.profile["rows"] == 12 and first.target == "label"
    assert [c["name"] for c in first.schema["columns"]][:2] == ["age", "income"]
    assert len(list_versions("loans")) == 1


def test_load_back_equal(csv: Path) -> None:
    data = Dataset.from_csv(csv, target="label", schema={"age": "categorical"})
    data.register(project="credit")
    back = load_dataset("loans")
    pd.testing.assert_frame_equal(back.frame, data.frame)
    assert (back.version, back.target, back.schema, back.task) == (
        data.version,
        data.target,
        data.schema,
        data.task,
    )
    assert back.register() == data.register("credit")  # unchanged content: same record


def test_frames_and_texts_load_back(mixed_frame: pd.DataFrame) -> None:
    table = Dataset.from_pandas(mixed_frame, target="label", name="frame")
    info = table.register()
    assert [f["path"] for f in info.files] == ["data.parquet"]
    back = load_dataset("frame")
    pd.testing.assert_frame_equal(back.frame, table.frame)
    assert back.version == table.version == Dataset.from_pandas(back.frame).version
    texts = Dataset.from_texts(mixed_frame, text_column="bio", target="label", name="bios")
    texts.register()
    again = load_dataset("bios")
    assert again.kind == "texts" and again.texts == texts.texts


def test_images_load_back(make_images: Callable[..., Path]) -> None:
    data = Dataset.from_images(make_images("folders"), input_shape=(8, 8, 3))
    info = data.register()
    assert [f["path"] for f in info.files][:3] == [
        "labels.csv",
        "images/cat/0.png",
        "images/cat/1.png",
    ]
    back = load_dataset(info.name, info.version[:8])
    assert (back.version, back.classes, back.input_shape) == (
        data.version,
        ["cat", "dog"],
        (8, 8, 3),
    )
    assert back.frame["label"].tolist() == data.frame["label"].tolist()
    assert [p.read_bytes() for p in back.image_paths] == [p.read_bytes() for p in data.image_paths]


def test_new_content_new_version(csv: Path) -> None:
    first = Dataset.from_csv(csv).register()
    csv.write_text(csv.read_text() + "30,1.0,oslo,True,2024-01-01,hi,a\n")
    second = Dataset.from_csv(csv).register()
    assert second.version != first.version
    assert [v.version for v in list_versions("loans")] == [second.version, first.version]
    assert load_dataset("loans").version == second.version  # the newest by default
    assert len(load_dataset(f"loans:{first.version[:10]}")) == 12
    assert [d.version for d in list_datasets()] == [second.version]


def test_file_changed_after_reading(csv: Path) -> None:
    data = Dataset.from_csv(csv)
    csv.write_text(csv.read_text().replace("rome", "nice"))
    with pytest.raises(DataError, match="changed after dataset 'loans' was read from it"):
        data.register()


def test_split_parts_register_as_their_own_versions(csv: Path) -> None:
    train, test = Dataset.from_csv(csv, target="label").split(0.25)
    assert train.register().version != test.register().version
    assert len(load_dataset("loans-test")) == 3


def test_not_found_errors(csv: Path) -> None:
    with pytest.raises(
        DatasetNotFoundError, match="No dataset named 'loans'. There are no datasets yet"
    ):
        load_dataset("loans")
    info = Dataset.from_csv(csv).register()
    with pytest.raises(
        DatasetNotFoundError, match=r"No dataset named 'lons'. Existing datasets: 'loans'"
    ):
        dataset_info("lons")
    with pytest.raises(
        DatasetNotFoundError,
        match=rf"No dataset named 'loans:deadbeef'. Existing datasets: 'loans:{info.version[:12]}'",
    ):
        dataset_info("loans:deadbeef")
    with pytest.raises(InvalidParameterError, match="at least its first 8 characters"):
        dataset_info("loans", info.version[:6])


def test_same_name_in_two_projects(csv: Path) -> None:
    Dataset.from_csv(csv).register(project="a")
    Dataset.from_csv(csv).register(project="b")
    with pytest.raises(InvalidParameterError, match=r"exists in several projects \(a, b\)"):
        load_dataset("loans")
    assert load_dataset("loans", project="b").name == "loans"
    assert [(d.project, d.name) for d in list_datasets()] == [("a", "loans"), ("b", "loans")]
    assert [d.project for d in list_datasets("b")] == ["b"]


@pytest.mark.local_only(reason="works on the embedded store's tables and files")
def test_concurrent_registration_makes_one_record(csv: Path) -> None:
    from lepton.workspace import current_settings
    from lepton.workspace._local import LocalWorkspace

    settings = current_settings()
    data = Dataset.from_csv(csv)
    get_workspace().ensure_project("default")

    def add(_: int) -> str:
        workspace = LocalWorkspace(settings.db_url, settings.artifacts_url)
        try:
            info = workspace.add_dataset_version(
                "default",
                "loans",
                data.version,
                "table",
                None,
                {"columns": []},
                {},
                12,
                [(csv, "loans.csv")],
            )
        finally:
            workspace.close()
        return info.id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(add, range(8)))
    assert len(ids) == 1 and len(list_versions("loans")) == 1


@pytest.mark.local_only(reason="works on the embedded store's tables and files")
def test_lost_unique_constraint_race_returns_the_stored_record(
    csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton.store._metadata import MetadataStore

    first = Dataset.from_csv(csv).register()
    workspace = get_workspace()
    # as if another process inserted the version between our check and our insert
    monkeypatch.setattr(MetadataStore, "_dataset_version_id", lambda *args: None)
    monkeypatch.setattr(type(workspace), "get_dataset_version", _never_found)
    project_id = workspace.get_project("default").id  # type: ignore[attr-defined]
    row = {
        k: getattr(first, k)
        for k in (
            "version",
            "kind",
            "target",
            "schema",
            "profile",
            "num_rows",
            "files",
            "store_prefix",
        )
    }
    stored, created = workspace.meta.insert_dataset_version(project_id, "loans", row)  # type: ignore[attr-defined]
    assert (stored["id"], created) == (first.id, False)


def _never_found(*args: object, **kwargs: object) -> None:
    raise DatasetNotFoundError("x")


@pytest.mark.local_only(reason="works on the embedded store's tables and files")
def test_damaged_stored_file_is_detected(csv: Path) -> None:
    info = Dataset.from_csv(csv).register()
    stored = Path(get_workspace().artifacts.root) / info.store_prefix / "loans.csv"  # type: ignore[attr-defined]
    stored.write_text("a\n1\n")
    with pytest.raises(IntegrityError, match="File 'loans.csv' of dataset loans:.* was changed"):
        load_dataset("loans")


def test_workspace_checks_its_input(csv: Path) -> None:
    workspace = get_workspace()
    with pytest.raises(InvalidParameterError, match="must be a sha256 hex digest"):
        workspace.add_dataset_version("p", "d", "abc", "table", None, {}, {}, 1, [])
    with pytest.raises(InvalidParameterError, match="Unknown dataset kind 'audio'"):
        workspace.add_dataset_version("p", "d", "a" * 64, "audio", None, {}, {}, 1, [])
    with pytest.raises(InvalidParameterError, match="Invalid artifact key '../x'"):
        workspace.add_dataset_version("p", "d", "a" * 64, "table", None, {}, {}, 1, [(csv, "../x")])
    info = Dataset.from_csv(csv).register()
    with workspace.open_dataset_file("loans", info.version, "loans.csv") as stream:
        assert stream.read() == csv.read_bytes()


def test_top_level_dataset_is_the_same_class() -> None:
    assert lepton.Dataset is Dataset

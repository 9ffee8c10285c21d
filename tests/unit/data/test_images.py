"""Image datasets: class sub-folders, a label table, the seed's positional form, zips."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from lepton.data import Dataset
from lepton.errors import DataError, InvalidParameterError

from .conftest import write_image


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def test_class_sub_folders(make_images: Callable[..., Path]) -> None:
    root = make_images("folders")
    data = Dataset.from_images(root, input_shape=(8, 8, 3))
    assert data.kind == "images" and data.name == "imgs" and len(data) == 6
    assert data.target == "label" and data.classes == ["cat", "dog"]
    assert data.features == ["image"] and data.schema["image"].type == "image"
    assert data.input_shape == (8, 8, 3)
    assert data.image_paths[0] == (root / "cat" / "0.png").resolve()
    assert list(data.frame.columns) == ["image", "label"]
    assert "input_shape=(8, 8, 3)" in repr(data)


def test_target_renames_the_folder_label(make_images: Callable[..., Path]) -> None:
    data = Dataset.from_images(make_images("folders"), target="animal")
    assert data.target == "animal" and data.input_shape == (224, 224, 3)


def test_folder_and_label_table(make_images: Callable[..., Path], tmp_path: Path) -> None:
    root = make_images("table")
    data = Dataset.from_images(root, labels=tmp_path / "imgs.csv", input_shape=(8, 8, 1))
    assert data.target == "label" and data.classes == ["cat", "dog"] and len(data) == 6
    frame = pd.read_csv(tmp_path / "imgs.csv")
    same = Dataset.from_images(root, labels=frame, input_shape=(8, 8, 1))
    assert same.frame.equals(data.frame)


def test_seed_positional_form(make_images: Callable[..., Path], tmp_path: Path) -> None:
    make_images("table", name="train_images")
    table = pd.read_csv(tmp_path / "train_images.csv").rename(
        columns={"filename": "file", "label": "class"}
    )
    table["extra"] = 1
    table.to_csv(tmp_path / "train.csv", index=False)
    data = Dataset("train", tmp_path / "train.csv", tmp_path / "train_images", (32, 32, 3))
    assert data.target == "class" and data.classes == ["cat", "dog"]
    assert list(data.frame.columns) == ["image", "class"]
    assert data.input_shape == (32, 32, 3)


def test_two_column_table_without_known_names(
    make_images: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_images("table")
    table = pd.read_csv(tmp_path / "imgs.csv")
    table.columns = ["picture", "kind"]
    data = Dataset("t", table, root)
    assert data.target == "kind" and len(data) == 6


def test_unlabelled_flat_folder(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / "flat" / f"{i}.jpg", seed=i)
    data = Dataset.from_images(tmp_path / "flat")
    assert data.target is None and data.task is None and len(data) == 3


@pytest.mark.parametrize("prefix", ["", "train/"])
def test_zip_of_class_folders(
    make_images: Callable[..., Path], tmp_path: Path, prefix: str
) -> None:
    root = make_images("folders")
    archive = zip_folder(root, tmp_path / "imgs.zip", prefix)
    data = Dataset.from_images(archive, input_shape=(8, 8, 3))
    assert data.classes == ["cat", "dog"] and len(data) == 6
    assert data.version == Dataset.from_images(archive, input_shape=(8, 8, 3)).version
    assert "cache/zips" in data.image_paths[0].as_posix()


def test_zip_with_a_label_table(make_images: Callable[..., Path], tmp_path: Path) -> None:
    root = make_images("table")
    archive = zip_folder(root, tmp_path / "imgs.zip", "images/")
    data = Dataset("z", tmp_path / "imgs.csv", archive, (8, 8, 3))
    assert len(data) == 6 and data.image_paths[0].name == "cat_0.png"


def test_unsafe_zip_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        archive.writestr("../escape.png", b"x")
    with pytest.raises(DataError, match=r"unsafe path '\.\./escape\.png'"):
        Dataset.from_images(tmp_path / "evil.zip")


def test_missing_image_files_are_listed(make_images: Callable[..., Path], tmp_path: Path) -> None:
    root = make_images("table")
    table = pd.read_csv(tmp_path / "imgs.csv")
    extra = pd.DataFrame({"filename": [f"gone_{i}.png" for i in range(7)], "label": "cat"})
    pd.concat([table, extra]).to_csv(tmp_path / "more.csv", index=False)
    with pytest.raises(
        DataError,
        match=r"7 image file\(s\) named in column 'filename' of 'more.csv' are not in .*imgs: "
        r"'gone_0.png', 'gone_1.png', 'gone_2.png', 'gone_3.png', 'gone_4.png' and 2 more",
    ):
        Dataset("m", tmp_path / "more.csv", root)


def test_empty_file_name(make_images: Callable[..., Path]) -> None:
    root = make_images("table")
    with pytest.raises(DataError, match=r"1 empty file name\(s\), at rows 1; every row"):
        Dataset("m", pd.DataFrame({"filename": ["cat_0.png", None]}), root)


def test_no_file_name_column(make_images: Callable[..., Path]) -> None:
    root = make_images("table")
    frame = pd.DataFrame({"a": ["x"], "b": ["y"], "c": ["z"]})
    with pytest.raises(DataError, match=r"Cannot find the file-name column .*columns are a, b, c"):
        Dataset("m", frame, root)


def test_unreadable_images_fail_check_trainable(make_images: Callable[..., Path]) -> None:
    root = make_images("folders")
    (root / "cat" / "broken.png").write_bytes(b"not an image at all")
    data = Dataset.from_images(root)
    with pytest.raises(
        DataError, match=r"1 image file\(s\) of 'imgs' cannot be read as images: .*broken\.png"
    ):
        data.check_trainable()


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="images folder .*nowhere' does not exist"):
        Dataset.from_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No images found in .*empty: expected class sub-folders"):
        Dataset.from_images(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="images= must be a folder or a .zip file"):
        Dataset.from_images(tmp_path / "file.txt")
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(DataError, match="bad.zip is not a valid zip file"):
        Dataset.from_images(tmp_path / "bad.zip")


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 2), (0, 8, 3), "big"])
def test_bad_input_shape(make_images: Callable[..., Path], shape: object) -> None:
    root = make_images("folders")
    with pytest.raises(InvalidParameterError, match=r"input_shape must be \(height, width"):
        Dataset.from_images(root, input_shape=shape)  # type: ignore[arg-type]


def test_image_version_follows_bytes_and_labels(make_images: Callable[..., Path]) -> None:
    root = make_images("folders")
    first = Dataset.from_images(root).version
    assert Dataset.from_images(root).version == first
    write_image(root / "dog" / "0.png", seed=999)
    changed = Dataset.from_images(root).version
    assert changed != first
    (root / "dog" / "0.png").rename(root / "cat" / "moved.png")
    assert Dataset.from_images(root).version not in (first, changed)


def test_split_of_images(make_images: Callable[..., Path]) -> None:
    data = Dataset.from_images(make_images("folders", per_class=5), input_shape=(8, 8, 3))
    train, test = data.split(0.4, seed=0)
    assert sorted(test.frame["label"]) == ["cat", "cat", "dog", "dog"]
    assert train.input_shape == (8, 8, 3) and train.kind == "images"
    assert train.version != data.version

"""image_loader(): batches streamed from disk by worker processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lepton.data import Dataset, images_to_tensor
from lepton.errors import DataError, InvalidParameterError

from .conftest import write_image


@pytest.fixture
def data(make_images: Callable[..., Path]) -> Dataset:
    return Dataset.from_images(make_images("folders", per_class=4), input_shape=(6, 5, 3))


def collect(loader: torch.utils.data.DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*loader, strict=True)
    return torch.cat(images), torch.cat(labels)


def test_shapes_labels_and_normalisation(data: Dataset) -> None:
    images, labels = collect(data.image_loader(batch_size=3, num_workers=0))
    assert images.shape == (8, 3, 6, 5) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    raw, _ = collect(data.image_loader(batch_size=8, num_workers=0, normalize=False))
    assert float(raw.min()) >= 0.0 and float(raw.max()) <= 1.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(images, (raw - mean) / std)


def test_pixels_are_the_resized_file(tmp_path: Path) -> None:
    path = write_image(tmp_path / "one" / "a" / "x.png", size=(5, 6))
    data = Dataset.from_images(tmp_path / "one", input_shape=(6, 5, 3))
    images, _ = collect(data.image_loader(batch_size=1, num_workers=0, normalize=False))
    expected = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_allclose(images[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_two_workers_give_the_same_batches(data: Dataset) -> None:
    single = collect(data.image_loader(batch_size=2, num_workers=0))
    loader = data.image_loader(batch_size=2, num_workers=2)
    assert loader.num_workers == 2 and loader.persistent_workers
    pooled = collect(loader)
    torch.testing.assert_close(single[0], pooled[0])
    assert single[1].tolist() == pooled[1].tolist()


def test_shuffle_is_seeded(data: Dataset) -> None:
    first = collect(data.image_loader(batch_size=8, shuffle=True, seed=3, num_workers=0))[1]
    again = collect(data.image_loader(batch_size=8, shuffle=True, seed=3, num_workers=0))[1]
    assert first.tolist() == again.tolist() and sorted(first.tolist()) == [0] * 4 + [1] * 4


def test_augmentations_keep_the_shape(data: Dataset) -> None:
    torch.manual_seed(0)
    plain, _ = collect(data.image_loader(batch_size=8, num_workers=0))
    augmented, _ = collect(data.image_loader(batch_size=8, num_workers=0, augment={"flip", "crop"}))
    assert augmented.shape == plain.shape and not torch.equal(augmented, plain)
    flipped, _ = collect(data.image_loader(batch_size=8, num_workers=0, augment="flip"))
    for image, original in zip(flipped, plain, strict=True):
        assert torch.equal(image, original) or torch.equal(image, original.flip(-1))


def test_grayscale_and_classes(make_images: Callable[..., Path]) -> None:
    data = Dataset.from_images(make_images("folders", per_class=2), input_shape=(4, 4, 1))
    images, labels = collect(data.image_loader(batch_size=4, num_workers=0, classes=["dog", "cat"]))
    assert images.shape == (4, 1, 4, 4) and labels.tolist() == [1, 1, 0, 0]
    with pytest.raises(DataError, match=r"Label\(s\) dog of 'imgs' are not in classes \['cat'\]"):
        data.image_loader(classes=["cat"])


def test_unlabelled_images_get_minus_one(tmp_path: Path) -> None:
    for i in range(2):
        write_image(tmp_path / "flat" / f"{i}.png", seed=i)
    _, labels = collect(Dataset.from_images(tmp_path / "flat").image_loader(num_workers=0))
    assert labels.tolist() == [-1, -1]


def test_unreadable_image_names_the_file(make_images: Callable[..., Path]) -> None:
    root = make_images("folders", per_class=1)
    (root / "dog" / "0.png").write_bytes(b"garbage")
    loader = Dataset.from_images(root, input_shape=(4, 4, 3)).image_loader(num_workers=0)
    with pytest.raises(DataError, match=r"Cannot read image .*dog/0\.png"):
        collect(loader)


def test_bad_options(data: Dataset) -> None:
    with pytest.raises(InvalidParameterError, match="Unknown augmentation\\(s\\) 'rotate'"):
        data.image_loader(augment=["rotate"])
    with pytest.raises(InvalidParameterError, match="batch_size must be an int >= 1, got 0"):
        data.image_loader(batch_size=0)
    with pytest.raises(InvalidParameterError, match="num_workers must be an int >= 0, got -1"):
        data.image_loader(num_workers=-1)


def test_images_to_tensor_matches_the_loader(data: Dataset) -> None:
    loaded, _ = collect(data.image_loader(batch_size=8, num_workers=0))
    from_paths = images_to_tensor(data.image_paths, (6, 5, 3))
    torch.testing.assert_close(from_paths, loaded)
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in data.image_paths])
    from_arrays = images_to_tensor(arrays, (6, 5, 3))
    torch.testing.assert_close(from_arrays, loaded)
    single = images_to_tensor(arrays[0], (6, 5, 3))
    assert single.shape == (1, 3, 6, 5)
    with pytest.raises(InvalidParameterError, match="got no images"):
        images_to_tensor([], (6, 5, 3))

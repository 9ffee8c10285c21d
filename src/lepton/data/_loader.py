"""Streaming image batches from disk with a pool of worker processes (torch DataLoader).

Imported only by ``Dataset.image_loader``: this is the one module of ``lepton.data`` that
imports torch. Each item is decoded with Pillow, resized to ``input_shape``, optionally
augmented, scaled to [0, 1] and (by default) normalised with the ImageNet mean and std.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from lepton.errors import DataError, InvalidParameterError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENTATIONS = ("flip", "crop")
_CROP_MARGIN = 1.15  # "crop": resize 15 % larger, then take a random window of the target size
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _mean_std(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean: tuple[float, ...]
    std: tuple[float, ...]
    if channels == 1:
        mean, std = (0.449,), (0.226,)
    else:
        mean, std = IMAGENET_MEAN + (0.5,) * (channels - 3), IMAGENET_STD + (0.5,) * (channels - 3)
    return torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)


class ImageFiles(TorchDataset[tuple[torch.Tensor, int]]):
    """Image files and integer labels, decoded on access (in the loader's worker processes)."""

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[int],
        input_shape: tuple[int, int, int],
        augment: frozenset[str] = frozenset(),
        normalize: bool = True,
    ) -> None:
        self.paths = list(paths)
        self.labels = [int(v) for v in labels]
        self.height, self.width, self.channels = input_shape
        self.augment = augment
        self.normalize = normalize
        self.mean, self.std = _mean_std(self.channels)

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, path: str) -> Image.Image:
        try:
            with Image.open(path) as image:
                return image.convert(_MODES[self.channels])
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(
                f"Cannot read image {path}: {exc}. Replace or remove the file (and its row in "
                "the label table)."
            ) from None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self._read(self.paths[index])
        size = (self.width, self.height)
        if "crop" in self.augment:
            big_w, big_h = (
                math.ceil(self.width * _CROP_MARGIN),
                math.ceil(self.height * _CROP_MARGIN),
            )
            image = image.resize((big_w, big_h), Image.Resampling.BILINEAR)
            left = int(torch.randint(0, big_w - self.width + 1, (1,)))
            top = int(torch.randint(0, big_h - self.height + 1, (1,)))
            image = image.crop((left, top, left + self.width, top + self.height))
        elif image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        if "flip" in self.augment and float(torch.rand(1)) < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        array = np.asarray(image, dtype=np.float32) / 255.0
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        if self.normalize:
            tensor = (tensor - self.mean) / self.std
        return tensor, self.labels[index]


def make_loader(
    files: ImageFiles,
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
) -> DataLoader[tuple[torch.Tensor, int]]:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        files,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        generator=generator,
        prefetch_factor=4 if num_workers > 0 else None,
    )


def image_loader(
    dataset: Any,
    *,
    batch_size: int,
    shuffle: bool,
    augment: Iterable[str] | None,
    num_workers: int | None,
    seed: int,
    classes: Sequence[Any] | None,
    normalize: bool,
) -> DataLoader[tuple[torch.Tensor, int]]:
    """The DataLoader of ``Dataset.image_loader`` (see its docstring)."""
    dataset._require("images", "image_loader")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    chosen = frozenset([augment] if isinstance(augment, str) else (augment or ()))
    unknown = sorted(chosen - set(AUGMENTATIONS))
    if unknown:
        raise InvalidParameterError(
            f"Unknown augmentation(s) {', '.join(map(repr, unknown))}; expected any of "
            f"{', '.join(AUGMENTATIONS)} (for example augment={{'flip', 'crop'}})."
        )
    workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidParameterError(f"num_workers must be an int >= 0, got {num_workers!r}.")
    files = ImageFiles(
        [str(p) for p in dataset.image_paths],
        _label_indices(dataset, classes),
        dataset.input_shape,
        chosen,
        normalize,
    )
    return make_loader(
        files, batch_size=batch_size, shuffle=shuffle, num_workers=workers, seed=seed
    )


def _label_indices(dataset: Any, classes: Sequence[Any] | None) -> list[int]:
    if dataset.target is None:
        return [-1] * len(dataset)
    names = list(classes) if classes is not None else dataset.classes
    if not names:
        raise DataError(
            f"Target {dataset.target!r} of {dataset.name!r} is numeric with many values "
            "(a regression target); image_loader yields class indices. Pass classes= the "
            "list of label values, or use a categorical label column."
        )
    index = {value: i for i, value in enumerate(names)}
    values = dataset.frame[dataset.target].tolist()
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise DataError(
            f"Label(s) {', '.join(unknown[:5])} of {dataset.name!r} are not in classes "
            f"{names!r}; pass classes= a list that holds every label (for a test set, the "
            "training set's classes)."
        )
    return [index[v] for v in values]


def _as_pil(item: Any, channels: int) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert(_MODES[channels])
    if isinstance(item, str | os.PathLike):
        return ImageFiles([str(item)], [0], (1, 1, channels))._read(str(item))
    array = np.asarray(item)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255).round().astype(np.uint8)
    return Image.fromarray(array).convert(_MODES[channels])


def images_to_tensor(
    images: Any, input_shape: tuple[int, int, int], *, normalize: bool = True
) -> torch.Tensor:
    """A float32 batch ``(N, C, H, W)`` from image paths, PIL images or arrays, prepared
    exactly as ``image_loader`` prepares training images (resize, scale, normalise).

    Arrays are ``(N, H, W, C)`` batches or single ``(H, W, C)`` / ``(H, W)`` images; uint8
    values are 0-255, float values 0-1.
    """
    height, width, channels = input_shape
    if isinstance(images, str | os.PathLike | Image.Image):
        items: list[Any] = [images]
    elif isinstance(images, np.ndarray | torch.Tensor):
        array = np.asarray(images)
        single = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))
        items = [array] if single else list(array)
    else:
        items = list(images)
    if not items:
        raise InvalidParameterError("images_to_tensor got no images; pass at least one.")
    files = ImageFiles([], [], input_shape, frozenset(), normalize)
    tensors = []
    for item in items:
        image = _as_pil(item, channels)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        tensors.append((tensor - files.mean) / files.std if normalize else tensor)
    return torch.stack(tensors)

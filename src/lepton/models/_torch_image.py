"""Image models: the small CNN and torchvision ResNets, fed by the dataset's streaming loader."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lepton.errors import InvalidParameterError
from lepton.models._torch import TorchModel
from lepton.models._torch_loop import Batch
from lepton.models._torch_nets import SmallCNN, resnet

if TYPE_CHECKING:
    from lepton.data import Dataset


class ImageModel(TorchModel):
    data_kinds = ("images",)

    def _check_shape(self) -> tuple[int, int, int]:
        if self.input_shape is None or len(self.input_shape) != 3:
            raise InvalidParameterError(
                f"{self.name} needs input_shape=(height, width, channels), got {self.input_shape!r}."
            )
        h, w, c = (int(v) for v in self.input_shape)
        return h, w, c

    def _build_net(self) -> nn.Module:
        _, _, channels = self._check_shape()
        classes = len(self.classes) or int(self.num_classes or 0)
        if self.name == "cnn":
            c = self.torch_config
            return SmallCNN(channels, c.channels, classes, c.dropout)
        return resnet(int(self.name.removeprefix("resnet")), channels, classes)

    def _num_batches(self, data: Dataset) -> int:
        return -(-len(data) // self.torch_config.train_batch_size)

    def _batches(self, data: Any, *, train: bool, epoch: int = 0) -> Iterable[Batch]:
        from lepton.data import Dataset

        c = self.torch_config
        if isinstance(data, Dataset):
            loader = self._loaders.get((id(data), train)) if hasattr(self, "_loaders") else None
            if loader is None:
                loader = data.image_loader(
                    batch_size=c.train_batch_size if train else c.eval_batch_size,
                    shuffle=train,
                    augment=c.augment if train else None,
                    num_workers=c.num_workers,
                    seed=c.seed,
                    classes=self.classes,
                )
                if not hasattr(self, "_loaders"):
                    self._loaders: dict[tuple[int, bool], Any] = {}
                self._loaders[(id(data), train)] = loader
            if train and getattr(loader, "generator", None) is not None:
                loader.generator.manual_seed(c.seed * 1_000_003 + epoch)  # reproducible per epoch
            return loader
        return self._array_batches(data)

    def _array_batches(self, x: Any) -> Iterator[Batch]:
        from lepton.data import images_to_tensor

        batch = images_to_tensor(x, self._check_shape())
        size = self.torch_config.eval_batch_size
        for start in range(0, len(batch), size):
            yield batch[start : start + size], torch.zeros(0)

    def _fit(self, train: Dataset, valid: Dataset | None, ctx: Any) -> None:
        try:
            super()._fit(train, valid, ctx)
        finally:
            self._loaders = {}

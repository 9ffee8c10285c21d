"""The zoo's torch architectures. Built with random weights: nothing is ever downloaded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(
        self, in_features: int, hidden: Sequence[int], out_features: int, dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Conv-BN-ReLU-pool blocks, global average pooling and a linear head: any input size."""

    def __init__(
        self, in_channels: int, channels: Sequence[int], num_classes: int, dropout: float
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        for size in channels:
            blocks += [
                nn.Conv2d(width, size, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(size),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width = size
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def resnet(depth: int, in_channels: int, num_classes: int) -> nn.Module:
    """torchvision's ResNet-18/34/50 with ``weights=None``, adapted to ``in_channels``."""
    from torchvision import models

    builder: Any = {18: models.resnet18, 34: models.resnet34, 50: models.resnet50}[depth]
    net = builder(weights=None, num_classes=num_classes)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


class TextBag(nn.Module):
    """Mean of token embeddings (EmbeddingBag), a hidden layer and a linear head."""

    def __init__(
        self, vocab_size: int, dim: int, hidden: int, num_classes: int, dropout: float
    ) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, dim, mode="mean")
        self.head = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, offsets = batch
        return self.head(self.embedding(tokens, offsets))

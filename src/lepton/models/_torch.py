"""Torch models of the zoo: MLP on tables, CNN and ResNets on images, a bag-of-words text net.

Weights are saved as safetensors (no pickle); what preprocessing needs (the table pipeline, the
text vocabulary, the regression target scale) is saved beside them as skops/JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lepton.models._base import FitContext, Model
from lepton.models._config import TorchConfig
from lepton.models._metrics import score
from lepton.models._tabular import TabularModel
from lepton.models._torch_loop import Batch, resolve_device, run_loop, to_device
from lepton.models._torch_nets import MLP

if TYPE_CHECKING:
    from lepton.data import Dataset

_WEIGHTS_FILE = "weights.safetensors"
_EXTRA_FILE = "torch.json"


class TorchModel(Model):
    """Shared by every torch model: fitting through the epoch loop, predicting in batches."""

    family = "torch"
    net: nn.Module | None = None
    target_scale: tuple[float, float] = (0.0, 1.0)  # regression targets are standardised

    @property
    def torch_config(self) -> TorchConfig:
        assert isinstance(self.config, TorchConfig)
        return self.config

    # what subclasses provide
    def _setup_data(self, train: Dataset) -> None:
        """Fit whatever preprocessing the net needs (pipeline, vocabulary) on ``train``."""

    def _build_net(self) -> nn.Module:
        raise NotImplementedError

    def _batches(self, data: Any, *, train: bool, epoch: int = 0) -> Iterable[Batch]:
        raise NotImplementedError

    def _num_batches(self, data: Dataset) -> int:
        return -(-len(data) // self.torch_config.train_batch_size)

    # fitting
    def _loss(self) -> nn.Module:
        return nn.CrossEntropyLoss() if self.task == "classification" else nn.MSELoss()

    def _fit(self, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        config = self.torch_config
        torch.manual_seed(config.seed)
        if self.task == "regression":
            y = np.asarray(train.y(), dtype=np.float64)
            self.target_scale = (float(y.mean()), float(y.std() or 1.0))
        self._setup_data(train)
        # a distributed worker trains on the device its backend gave it (its GPU, or the CPU)
        seam = ctx.distributed
        device = seam.device() if seam is not None else resolve_device(config.device)
        self.net = self._build_net().to(device)
        loss_fn = self._loss()

        def evaluate() -> dict[str, float]:
            assert valid is not None
            output, y_true, loss = self._evaluate(valid, loss_fn, device)
            return {"val_loss": loss, **score(self.task, y_true, output, "val_")}

        run_loop(
            self.net,
            config,
            device,
            loss_fn,
            lambda epoch: self._batches(train, train=True, epoch=epoch),
            self._num_batches(train),
            evaluate if valid is not None else None,
            ctx,
            self.task or "classification",
        )
        self.net.to("cpu")

    def _evaluate(
        self, data: Dataset, loss_fn: nn.Module, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray, float]:
        assert self.net is not None
        self.net.eval()
        outputs, targets, total, seen = [], [], 0.0, 0
        with torch.no_grad():
            for x, y in self._batches(data, train=False):
                out = self.net(to_device(x, device)).float()
                y = y.to(device)
                total += float(loss_fn(out, y)) * len(y)
                seen += len(y)
                outputs.append(out.cpu())
                targets.append(y.cpu())
        raw = torch.cat(outputs)
        y_all = torch.cat(targets).numpy()
        if self.task == "classification":
            return torch.softmax(raw, dim=1).numpy(), y_all, total / max(seen, 1)
        mean, std = self.target_scale
        return raw.numpy().reshape(-1) * std + mean, y_all * std + mean, total / max(seen, 1)

    # predicting
    def _predict_raw(self, x: Any) -> np.ndarray:
        self._check_fitted()
        assert self.net is not None
        self.net.eval()
        outputs = []
        with torch.no_grad():
            for batch, _ in self._batches(x, train=False):
                outputs.append(self.net(batch).float())
        raw = torch.cat(outputs) if outputs else torch.zeros((0, max(1, len(self.classes))))
        return self._finish(raw)

    def _finish(self, raw: torch.Tensor) -> np.ndarray:
        """Net outputs as probabilities (classification) or values in target units."""
        if self.task == "classification":
            return torch.softmax(raw, dim=1).numpy().astype(np.float64)
        mean, std = self.target_scale
        return raw.numpy().reshape(-1).astype(np.float64) * std + mean

    # saving
    def _extra_state(self) -> dict[str, Any]:
        return {"target_scale": list(self.target_scale)}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.target_scale = (float(state["target_scale"][0]), float(state["target_scale"][1]))

    def _save_weights(self, folder: Path) -> list[str]:
        from safetensors.torch import save_file

        assert self.net is not None
        (folder / _EXTRA_FILE).write_text(json.dumps(self._extra_state()), encoding="utf-8")
        if self.runtime is not None:  # an ONNX export (lepton.compress) replaces the weights
            return [*self.runtime.save(folder), _EXTRA_FILE]
        save_file(
            {k: v.contiguous() for k, v in self.net.state_dict().items()},
            str(folder / _WEIGHTS_FILE),
        )
        return [_WEIGHTS_FILE, _EXTRA_FILE]

    def _load_weights(self, folder: Path) -> None:
        from safetensors.torch import load_file

        from lepton.models._onnx import OnnxRuntime, torch_net

        self._load_extra_state(json.loads((folder / _EXTRA_FILE).read_text(encoding="utf-8")))
        self.runtime = OnnxRuntime.load(folder)
        if self.runtime is not None:
            self.net = torch_net(self.runtime)
        else:
            self.net = self._build_net()
            self.net.load_state_dict(load_file(str(folder / _WEIGHTS_FILE)))
        self.net.eval()


def _shuffled(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


class MLPModel(TorchModel, TabularModel):
    """A multi-layer perceptron on the preprocessed table."""

    # tensors of the datasets being fitted on, so each epoch does not re-run the pipeline
    _cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None

    def _setup_data(self, train: Dataset) -> None:
        self._cache = {}
        features = self._fit_pipeline(train)
        self._cache[id(train)] = (torch.from_numpy(features), self._target_tensor(train))
        self.in_features = features.shape[1]

    def _target_tensor(self, data: Dataset) -> torch.Tensor:
        y = self._target(data)
        if self.task == "classification":
            return torch.from_numpy(y)
        mean, std = self.target_scale
        return torch.from_numpy(((y - mean) / std).astype(np.float32)).reshape(-1, 1)

    def _build_net(self) -> nn.Module:
        c = self.torch_config
        out = len(self.classes) if self.task == "classification" else 1
        return MLP(self.in_features, c.hidden_sizes, out, c.dropout)

    def _tensors(self, data: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        from lepton.data import Dataset

        if self._cache is not None and id(data) in self._cache:
            return self._cache[id(data)]
        features = torch.from_numpy(self._features(data))
        if (
            self._cache is not None
            and isinstance(data, Dataset)
            and data.target in data.frame.columns
        ):
            pair = (features, self._target_tensor(data))
            self._cache[id(data)] = pair
            return pair
        return features, None

    def _batches(self, data: Any, *, train: bool, epoch: int = 0) -> Iterator[Batch]:
        x, y = self._tensors(data)
        size = self.torch_config.train_batch_size if train else self.torch_config.eval_batch_size
        order = _shuffled(len(x), self.torch_config.seed, epoch) if train else None
        for start in range(0, len(x), size):
            index = order[start : start + size] if order is not None else slice(start, start + size)
            yield x[index], (y[index] if y is not None else torch.zeros(0))

    def _fit(self, train: Dataset, valid: Dataset | None, ctx: FitContext) -> None:
        try:
            super()._fit(train, valid, ctx)
        finally:
            self._cache = None

    def _output(self, features: np.ndarray) -> np.ndarray:
        """Predictions from already preprocessed features (the serving hot path)."""
        assert self.net is not None
        self.net.eval()
        with torch.no_grad():
            return self._finish(
                self.net(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))).float()
            )

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "in_features": self.in_features}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.in_features = int(state["in_features"])

    def _save_weights(self, folder: Path) -> list[str]:
        return [*super()._save_weights(folder), *self._save_pipeline(folder)]

    def _load_weights(self, folder: Path) -> None:
        self._load_pipeline(folder)
        super()._load_weights(folder)

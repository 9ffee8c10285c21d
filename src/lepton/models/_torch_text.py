"""A small torch text classifier: a vocabulary, mean token embeddings and an MLP head."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lepton.errors import InvalidParameterError
from lepton.models._text import build_vocab, texts_of, tokenize
from lepton.models._torch import TorchModel, _shuffled
from lepton.models._torch_loop import Batch
from lepton.models._torch_nets import TextBag

if TYPE_CHECKING:
    from lepton.data import Dataset


class TextModel(TorchModel):
    data_kinds = ("texts",)
    vocab: list[str]

    def _setup_data(self, train: Dataset) -> None:
        if self.task != "classification":
            raise InvalidParameterError(
                "text_bow classifies texts; the target must be categorical."
            )
        self.vocab = build_vocab(train.texts, self.torch_config.max_vocab)
        self._index = {tok: i for i, tok in enumerate(self.vocab)}

    def _build_net(self) -> nn.Module:
        c = self.torch_config
        return TextBag(
            len(self.vocab),
            c.embedding_dim,
            c.hidden_sizes[0] if c.hidden_sizes else 64,
            len(self.classes),
            c.dropout,
        )

    def _encode(self, texts: list[str]) -> list[list[int]]:
        limit = self.torch_config.max_length
        return [
            [self._index.get(tok, 0) for tok in tokenize(text)[:limit]] or [0] for text in texts
        ]

    def _batches(self, data: Any, *, train: bool, epoch: int = 0) -> Iterator[Batch]:
        from lepton.data import Dataset

        assert self.input_schema is not None
        encoded = self._encode(texts_of(data, self.input_schema["column"]))
        if isinstance(data, Dataset) and data.target is not None:
            index = {c: i for i, c in enumerate(self.classes)}
            labels = torch.tensor([index.get(v, -1) for v in data.y()], dtype=torch.long)  # type: ignore[union-attr]
        else:
            labels = torch.zeros(len(encoded), dtype=torch.long)
        c = self.torch_config
        size = c.train_batch_size if train else c.eval_batch_size
        order = (
            _shuffled(len(encoded), c.seed, epoch).tolist() if train else list(range(len(encoded)))
        )
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            docs = [encoded[i] for i in rows]
            offsets = torch.tensor(np.cumsum([0] + [len(d) for d in docs[:-1]]), dtype=torch.long)
            tokens = torch.tensor([t for d in docs for t in d], dtype=torch.long)
            yield (tokens, offsets), labels[rows]

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "vocab": self.vocab}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.vocab = list(state["vocab"])
        self._index = {tok: i for i, tok in enumerate(self.vocab)}

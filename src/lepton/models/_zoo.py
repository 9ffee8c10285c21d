"""The model zoo: every model ``lepton.create_model`` can build, with a line about each."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lepton.errors import InvalidParameterError, NotFoundError
from lepton.models._base import TASKS
from lepton.models._config import (
    Config,
    LightGBMConfig,
    LinearConfig,
    RandomForestConfig,
    TextLinearConfig,
    TorchConfig,
)


class ModelNotInZooError(NotFoundError):
    kind = "zoo model"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    data: str  # "table", "images" or "texts"
    tasks: tuple[str, ...]
    config: type[Config]
    summary: str
    load: Callable[[], type[Any]]  # the Model class, imported only when used
    defaults: tuple[tuple[str, Any], ...] = ()
    needs: str = ""  # optional extra, e.g. "torch"


def _sklearn() -> type[Any]:
    from lepton.models._sklearn import SklearnTableModel

    return SklearnTableModel


def _tfidf() -> type[Any]:
    from lepton.models._sklearn import TfidfTextModel

    return TfidfTextModel


def _lightgbm() -> type[Any]:
    from lepton.models._lightgbm import LightGBMModel

    return LightGBMModel


def _mlp() -> type[Any]:
    from lepton.models._torch import MLPModel

    return MLPModel


def _image() -> type[Any]:
    from lepton.models._torch_image import ImageModel

    return ImageModel


def _text() -> type[Any]:
    from lepton.models._torch_text import TextModel

    return TextModel


BOTH = ("classification", "regression")
CLS = ("classification",)

ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry(
            "logistic_regression",
            "table",
            CLS,
            LinearConfig,
            "Linear classifier; fast, interpretable baseline.",
            _sklearn,
        ),
        ZooEntry(
            "linear_regression",
            "table",
            ("regression",),
            LinearConfig,
            "Ordinary least squares on the preprocessed table.",
            _sklearn,
        ),
        ZooEntry(
            "random_forest",
            "table",
            BOTH,
            RandomForestConfig,
            "Bagged decision trees; robust with little tuning.",
            _sklearn,
        ),
        ZooEntry(
            "lightgbm",
            "table",
            BOTH,
            LightGBMConfig,
            "Gradient-boosted trees; usually the strongest on tables.",
            _lightgbm,
        ),
        ZooEntry(
            "mlp",
            "table",
            BOTH,
            TorchConfig,
            "Multi-layer perceptron (torch) on the preprocessed table.",
            _mlp,
            needs="torch",
        ),
        ZooEntry(
            "cnn",
            "images",
            CLS,
            TorchConfig,
            "Small convolutional network (torch); any image size.",
            _image,
            (("learning_rate", 2e-3),),
            "torch",
        ),
        ZooEntry(
            "resnet18",
            "images",
            CLS,
            TorchConfig,
            "ResNet-18 (torchvision, random init).",
            _image,
            (("optimizer", "adamw"),),
            "torch",
        ),
        ZooEntry(
            "resnet34",
            "images",
            CLS,
            TorchConfig,
            "ResNet-34 (torchvision, random init).",
            _image,
            (("optimizer", "adamw"),),
            "torch",
        ),
        ZooEntry(
            "resnet50",
            "images",
            CLS,
            TorchConfig,
            "ResNet-50 (torchvision, random init).",
            _image,
            (("optimizer", "adamw"),),
            "torch",
        ),
        ZooEntry(
            "tfidf_logreg",
            "texts",
            CLS,
            TextLinearConfig,
            "TF-IDF word n-grams + logistic regression.",
            _tfidf,
        ),
        ZooEntry(
            "text_bow",
            "texts",
            CLS,
            TorchConfig,
            "Mean word embeddings + MLP head (torch).",
            _text,
            (("epochs", 8), ("learning_rate", 5e-3)),
            "torch",
        ),
    ]
}


def zoo_entry(name: str) -> ZooEntry:
    if not isinstance(name, str) or name not in ZOO:
        close = difflib.get_close_matches(
            str(name).lower().replace("-", "_"), list(ZOO), n=3, cutoff=0.5
        )
        hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise ModelNotInZooError(
            str(name), list(ZOO), hint=hint + "List them with `lepton models zoo`."
        )
    return ZOO[name]


def create_model(
    name: str,
    *,
    task: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    **hparams: Any,
) -> Any:
    """Build an untrained model from the zoo.

    Args:
        name: a zoo name such as ``"lightgbm"``, ``"mlp"``, ``"resnet50"`` (`lepton models zoo`).
        task: ``"classification"`` or ``"regression"``; default: inferred from the data at fit.
        input_shape: ``(height, width, channels)`` for image models.
        num_classes: number of classes, for image models built before seeing data.
        **hparams: settings of the model's config (e.g. ``epochs=5``, ``num_leaves=63``).

    Raises:
        ModelNotInZooError: unknown name (the message suggests the closest zoo names).
        InvalidParameterError: a task the model cannot do, or an unknown/invalid setting.

    Example:
        >>> model = lepton.create_model("lightgbm", num_leaves=15)
    """
    entry = zoo_entry(name)
    if task is not None and task not in TASKS:
        raise InvalidParameterError(
            f"Unknown task {task!r}; expected one of {', '.join(map(repr, TASKS))}."
        )
    if task is not None and task not in entry.tasks:
        raise InvalidParameterError(
            f"{name} supports {' and '.join(entry.tasks)}, not {task!r}. "
            f"Zoo models for {task}: {', '.join(n for n, e in ZOO.items() if task in e.tasks)}."
        )
    if entry.data != "images" and input_shape is not None:
        raise InvalidParameterError(
            f"input_shape is for image models; {name} trains on {entry.data}."
        )
    if (
        entry.data == "images"
        and input_shape is not None
        and (len(input_shape) != 3 or not all(isinstance(v, int) and v > 0 for v in input_shape))
    ):
        raise InvalidParameterError(
            f"input_shape must be (height, width, channels) of positive ints, got {input_shape!r}."
        )
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise InvalidParameterError(f"num_classes must be an int >= 2, got {num_classes!r}.")
    if entry.needs:
        from lepton._optional import require

        require(entry.needs, purpose=f"use the {name} model")
    config = entry.config().update(dict(entry.defaults))
    config.update(hparams)
    if len(entry.tasks) == 1:
        task = task or entry.tasks[0]
    model = entry.load()(name, config, task=task, input_shape=input_shape, num_classes=num_classes)
    return model


def list_zoo() -> list[dict[str, Any]]:
    """One row per zoo model: name, data kind, tasks, summary."""
    return [
        {
            "name": e.name,
            "data": e.data,
            "tasks": list(e.tasks),
            "summary": e.summary,
            "needs": e.needs or None,
        }
        for e in ZOO.values()
    ]

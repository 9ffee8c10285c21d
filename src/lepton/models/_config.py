"""Model configurations: typed, validated hyper-parameters, one dataclass per model family.

``lepton.ModelConfig(model)`` returns ``model.config`` itself, a live view: setting
``ModelConfig(model).epochs = 10`` changes the model. A misspelt name is an error that suggests
the right one, never a silently ignored attribute.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lepton.errors import InvalidParameterError

__all__ = [
    "Config",
    "LightGBMConfig",
    "LinearConfig",
    "RandomForestConfig",
    "TextLinearConfig",
    "TorchConfig",
]


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


@dataclass
class Config:
    """Base of every model config: unknown names are refused with a suggestion."""

    seed: int = 0

    def __setattr__(self, name: str, value: Any) -> None:
        names = [f.name for f in fields(self)]
        if name not in names:
            raise InvalidParameterError(
                f"{type(self).__name__} has no setting {name!r}.{_did_you_mean(name, names)} "
                f"Settings: {', '.join(names)}."
            )
        object.__setattr__(self, name, value)

    def update(self, values: dict[str, Any]) -> Config:
        for name, value in values.items():
            setattr(self, name, value)
        self.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in fields(cls)}
        return cls().update({k: v for k, v in values.items() if k in known})

    def validate(self) -> None:
        """Check value ranges; subclasses add their own rules through ``_rules``."""
        for name, ok, expected in self._rules():
            if not ok:
                raise InvalidParameterError(
                    f"{type(self).__name__}.{name} = {getattr(self, name)!r} is invalid: expected {expected}."
                )

    def _rules(self) -> list[tuple[str, bool, str]]:
        return [("seed", isinstance(self.seed, int) and not isinstance(self.seed, bool), "an int")]


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@dataclass
class TorchConfig(Config):
    """Settings of torch models (MLP, CNN, ResNet, text): training loop and architecture."""

    epochs: int = 10
    train_batch_size: int = 32
    eval_batch_size: int = 256
    learning_rate: float = 1e-3
    optimizer: str = "adam"  # "adam", "adamw" or "sgd"
    weight_decay: float = 0.0
    lr_schedule: str | None = None  # None, "cosine", "step" or "plateau"
    grad_clip: float | None = None  # max gradient norm
    device: str = "auto"  # "auto" picks cuda, then mps, then cpu
    amp: str = "auto"  # "auto" uses mixed precision on CUDA only; "off" disables it
    num_workers: int | None = None  # image loader workers; None picks min(4, cores)
    augment: list[str] = field(default_factory=list)  # images: "flip", "crop"
    hidden_sizes: tuple[int, ...] = (128, 64)  # mlp
    channels: tuple[int, ...] = (32, 64)  # cnn
    dropout: float = 0.1
    embedding_dim: int = 64  # text
    max_vocab: int = 20_000  # text
    max_length: int = 256  # text: tokens kept per document

    def _rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super()._rules(),
            ("epochs", _positive_int(self.epochs), "a positive int"),
            ("train_batch_size", _positive_int(self.train_batch_size), "a positive int"),
            ("eval_batch_size", _positive_int(self.eval_batch_size), "a positive int"),
            ("learning_rate", _positive(self.learning_rate), "a positive number"),
            ("optimizer", self.optimizer in ("adam", "adamw", "sgd"), "'adam', 'adamw' or 'sgd'"),
            (
                "weight_decay",
                isinstance(self.weight_decay, int | float) and self.weight_decay >= 0,
                ">= 0",
            ),
            (
                "lr_schedule",
                self.lr_schedule in (None, "cosine", "step", "plateau"),
                "None, 'cosine', 'step' or 'plateau'",
            ),
            (
                "grad_clip",
                self.grad_clip is None or _positive(self.grad_clip),
                "None or a positive number",
            ),
            (
                "device",
                str(self.device).split(":")[0] in ("auto", "cpu", "cuda", "mps"),
                "'auto', 'cpu', 'cuda[:N]' or 'mps'",
            ),
            ("amp", self.amp in ("auto", "off", "on"), "'auto', 'on' or 'off'"),
            ("augment", set(self.augment) <= {"flip", "crop"}, "a list of 'flip' and/or 'crop'"),
            (
                "dropout",
                isinstance(self.dropout, int | float) and 0 <= self.dropout < 1,
                "a number in [0, 1)",
            ),
            ("hidden_sizes", all(_positive_int(h) for h in self.hidden_sizes), "positive ints"),
            ("channels", all(_positive_int(c) for c in self.channels), "positive ints"),
        ]


@dataclass
class LinearConfig(Config):
    """logistic_regression / linear_regression."""

    C: float = 1.0  # inverse regularisation strength (logistic regression)
    max_iter: int = 1000
    class_weight: str | None = None  # None or "balanced"

    def _rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super()._rules(),
            ("C", _positive(self.C), "a positive number"),
            ("max_iter", _positive_int(self.max_iter), "a positive int"),
            ("class_weight", self.class_weight in (None, "balanced"), "None or 'balanced'"),
        ]


@dataclass
class RandomForestConfig(Config):
    n_estimators: int = 200
    max_depth: int | None = None
    min_samples_leaf: int = 1
    max_features: str | float = "sqrt"
    class_weight: str | None = None

    def _rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super()._rules(),
            ("n_estimators", _positive_int(self.n_estimators), "a positive int"),
            (
                "max_depth",
                self.max_depth is None or _positive_int(self.max_depth),
                "None or a positive int",
            ),
            ("min_samples_leaf", _positive_int(self.min_samples_leaf), "a positive int"),
        ]


@dataclass
class LightGBMConfig(Config):
    n_estimators: int = 500
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = -1
    min_child_samples: int = 20
    subsample: float = 1.0
    colsample_bytree: float = 1.0
    reg_lambda: float = 0.0
    early_stopping_rounds: int | None = 50  # needs a validation set

    def _rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super()._rules(),
            ("n_estimators", _positive_int(self.n_estimators), "a positive int"),
            ("learning_rate", _positive(self.learning_rate), "a positive number"),
            ("num_leaves", _positive_int(self.num_leaves) and self.num_leaves > 1, "an int > 1"),
            ("subsample", _positive(self.subsample) and self.subsample <= 1, "a number in (0, 1]"),
            (
                "colsample_bytree",
                _positive(self.colsample_bytree) and self.colsample_bytree <= 1,
                "a number in (0, 1]",
            ),
            (
                "early_stopping_rounds",
                self.early_stopping_rounds is None or _positive_int(self.early_stopping_rounds),
                "None or a positive int",
            ),
        ]


@dataclass
class TextLinearConfig(Config):
    """tfidf_logreg: TF-IDF features and a logistic regression."""

    C: float = 4.0
    max_features: int = 50_000
    ngram_max: int = 2
    max_iter: int = 1000

    def _rules(self) -> list[tuple[str, bool, str]]:
        return [
            *super()._rules(),
            ("C", _positive(self.C), "a positive number"),
            ("max_features", _positive_int(self.max_features), "a positive int"),
            ("ngram_max", _positive_int(self.ngram_max), "a positive int"),
        ]

"""Search spaces: a small typed vocabulary, YAML dicts, and a default space per zoo model.

    space = {"learning_rate": loguniform(0.01, 0.3), "num_leaves": intrange(8, 128, log=True)}

The same space written in YAML (``lepton tune CONFIG.yaml``)::

    search_space:
      learning_rate: {loguniform: [0.01, 0.3]}
      num_leaves: {intrange: [8, 128], log: true}
      hidden_sizes: {choice: [[64], [128, 64]]}
      epochs: 5                     # a plain value is fixed, not searched

Every name is checked against the model's config (a misspelt name suggests the right one) and
both ends of every range are checked against the config's own rules before a trial runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lepton.errors import InvalidParameterError

__all__ = [
    "Choice",
    "Distribution",
    "IntRange",
    "LogUniform",
    "Uniform",
    "choice",
    "intrange",
    "loguniform",
    "uniform",
]

KINDS = ("uniform", "loguniform", "intrange", "choice")


class Distribution:
    """One searched hyper-parameter."""

    def suggest(self, trial: Any, name: str) -> Any:
        raise NotImplementedError

    def grid(self) -> list[Any]:
        """The values a grid search walks through."""
        raise InvalidParameterError(
            f"{self!r} is continuous: grid search needs choice(...) or intrange(...) for every "
            "parameter. Use sampler='tpe' or 'random' with continuous ranges."
        )

    def corners(self) -> list[Any]:
        """Values that must all be valid settings (both ends of a range, every choice)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameterError(f"{what} must be a finite number, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _number(self.low, "uniform low"), _number(self.high, "uniform high")
        if not low < high:
            raise InvalidParameterError(
                f"uniform({self.low!r}, {self.high!r}) is empty: low must be below high."
            )

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high)

    def corners(self) -> list[Any]:
        return [float(self.low), float(self.high)]

    def to_dict(self) -> dict[str, Any]:
        return {"uniform": [self.low, self.high]}

    def __repr__(self) -> str:
        return f"uniform({self.low!r}, {self.high!r})"


@dataclass(frozen=True)
class LogUniform(Distribution):
    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _number(self.low, "loguniform low"), _number(self.high, "loguniform high")
        if low <= 0 or not low < high:
            raise InvalidParameterError(
                f"loguniform({self.low!r}, {self.high!r}) is invalid: expected 0 < low < high "
                "(it samples evenly on a log scale, e.g. loguniform(1e-4, 1e-1))."
            )

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def corners(self) -> list[Any]:
        return [float(self.low), float(self.high)]

    def to_dict(self) -> dict[str, Any]:
        return {"loguniform": [self.low, self.high]}

    def __repr__(self) -> str:
        return f"loguniform({self.low!r}, {self.high!r})"


@dataclass(frozen=True)
class IntRange(Distribution):
    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        for what, value in (("low", self.low), ("high", self.high), ("step", self.step)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterError(f"intrange {what} must be an int, got {value!r}.")
        if not self.low < self.high or self.step < 1:
            raise InvalidParameterError(
                f"intrange({self.low!r}, {self.high!r}) is empty: expected low < high and step >= 1."
            )
        if self.log and (self.low < 1 or self.step != 1):
            raise InvalidParameterError(
                f"intrange({self.low}, {self.high}, log=True) needs low >= 1 and step 1."
            )

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        extra = {"step": self.step} if self.step != 1 else {}
        return {"intrange": [self.low, self.high], **extra, **({"log": True} if self.log else {})}

    def __repr__(self) -> str:
        extra = (f", step={self.step}" if self.step != 1 else "") + (
            ", log=True" if self.log else ""
        )
        return f"intrange({self.low}, {self.high}{extra})"


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.values) == 0:
            raise InvalidParameterError("choice() needs at least one value, e.g. choice([16, 32]).")

    @property
    def labels(self) -> list[Any]:
        """What Optuna sees: plain values as they are, lists/tuples as their text."""
        return [_label(v) for v in self.values]

    def suggest(self, trial: Any, name: str) -> Any:
        label = trial.suggest_categorical(name, self.labels)
        return self.values[self.labels.index(label)]

    def grid(self) -> list[Any]:
        return self.labels

    def corners(self) -> list[Any]:
        return list(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"choice": [list(v) if isinstance(v, tuple) else v for v in self.values]}

    def __repr__(self) -> str:
        return f"choice({list(self.values)!r})"


def _label(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    raise InvalidParameterError(
        f"choice values must be numbers, strings, None or lists of them, got {value!r}."
    )


# the public vocabulary --------------------------------------------------------------------------
def uniform(low: float, high: float) -> Uniform:
    """A float drawn evenly from ``[low, high]``."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """A float drawn evenly on a log scale from ``[low, high]`` (learning rates, penalties)."""
    return LogUniform(low, high)


def intrange(low: int, high: int, *, step: int = 1, log: bool = False) -> IntRange:
    """An int from ``low`` to ``high`` inclusive."""
    return IntRange(low, high, step, log)


def choice(values: Sequence[Any]) -> Choice:
    """One of ``values`` (numbers, strings, None, or lists such as layer sizes)."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidParameterError(
            f"choice takes a list of values, e.g. choice([16, 32, 64]), got {values!r}."
        )
    return Choice(tuple(tuple(v) if isinstance(v, list) else v for v in values))


# default spaces per zoo model -------------------------------------------------------------------
def _defaults() -> dict[str, dict[str, Distribution]]:
    torch_common = {
        "learning_rate": loguniform(1e-4, 1e-2),
        "weight_decay": loguniform(1e-6, 1e-2),
        "dropout": uniform(0.0, 0.5),
    }
    return {
        "lightgbm": {
            "learning_rate": loguniform(0.01, 0.3),
            "num_leaves": intrange(4, 128, log=True),
            "min_child_samples": intrange(2, 100, log=True),
            "subsample": uniform(0.5, 1.0),
            "colsample_bytree": uniform(0.5, 1.0),
            "reg_lambda": loguniform(1e-3, 10.0),
        },
        "random_forest": {
            "n_estimators": intrange(50, 400, step=50),
            "max_depth": choice([None, 4, 8, 16]),
            "min_samples_leaf": intrange(1, 20, log=True),
            "max_features": choice(["sqrt", "log2", 0.5, 1.0]),
        },
        "logistic_regression": {
            "C": loguniform(1e-3, 100.0),
            "class_weight": choice([None, "balanced"]),
        },
        "mlp": {
            **torch_common,
            "hidden_sizes": choice([[64], [128, 64], [256, 128], [256, 128, 64]]),
            "train_batch_size": choice([32, 64, 128]),
        },
        "cnn": {**torch_common, "channels": choice([[16, 32], [32, 64], [32, 64, 128]])},
        "resnet18": {
            "learning_rate": loguniform(1e-4, 1e-2),
            "weight_decay": loguniform(1e-6, 1e-2),
        },
        "resnet34": {
            "learning_rate": loguniform(1e-4, 1e-2),
            "weight_decay": loguniform(1e-6, 1e-2),
        },
        "resnet50": {
            "learning_rate": loguniform(1e-4, 1e-2),
            "weight_decay": loguniform(1e-6, 1e-2),
        },
        "tfidf_logreg": {"C": loguniform(1e-2, 100.0), "ngram_max": intrange(1, 3)},
        "text_bow": {**torch_common, "embedding_dim": choice([32, 64, 128])},
    }


def default_space(model_name: str) -> dict[str, Distribution]:
    """The space searched when none is given; raises for models with nothing to tune."""
    spaces = _defaults()
    if model_name not in spaces:
        raise InvalidParameterError(
            f"{model_name} has no default search space (it has no hyper-parameters worth "
            f"searching). Pass search_space=..., or tune one of: {', '.join(spaces)}."
        )
    return spaces[model_name]


# reading and checking a space -------------------------------------------------------------------
def parse_space(
    space: Mapping[str, Any] | None, model_name: str, config: Any
) -> tuple[dict[str, Distribution], dict[str, Any]]:
    """``(searched, fixed)`` from a user's space (or the model's default), checked against ``config``.

    ``config`` is the model's Config: names must be its settings, and every range end and choice
    must pass its validation.
    """
    if space is None:
        searched: dict[str, Distribution] = dict(default_space(model_name))
        fixed: dict[str, Any] = {}
    else:
        if not isinstance(space, Mapping):
            raise InvalidParameterError(
                f"search_space must be a dict of name -> distribution, got {type(space).__name__}. "
                "Example: {'learning_rate': lepton.tuning.loguniform(0.01, 0.3)}."
            )
        searched, fixed = {}, {}
        for name, spec in space.items():
            parsed = _parse_one(str(name), spec)
            if isinstance(parsed, Distribution):
                searched[str(name)] = parsed
            else:
                fixed[str(name)] = parsed
        if not searched:
            raise InvalidParameterError(
                "The search space is empty: nothing to search. Give at least one distribution, "
                "e.g. {'learning_rate': loguniform(0.01, 0.3)}, or leave search_space=None for "
                f"the default space of {model_name}."
            )
    _check_against_config(searched, fixed, config)
    return searched, fixed


def _parse_one(name: str, spec: Any) -> Any:
    if isinstance(spec, Distribution):
        return spec
    if isinstance(spec, Mapping):
        kinds = [k for k in spec if k in KINDS]
        if len(kinds) != 1 or set(spec) - {kinds[0], "step", "log"}:
            raise InvalidParameterError(
                f"search_space[{name!r}] = {dict(spec)!r} is not a distribution: expected one of "
                f"{', '.join(KINDS)} as the key, e.g. {{loguniform: [0.01, 0.3]}} or "
                "{intrange: [8, 128], log: true} or {choice: [a, b]}."
            )
        kind, args = kinds[0], spec[kinds[0]]
        if kind == "choice":
            return choice(args)
        if not isinstance(args, list | tuple) or len(args) != 2:
            raise InvalidParameterError(
                f"search_space[{name!r}]: {kind} takes [low, high], got {args!r}."
            )
        if kind == "intrange":
            return intrange(args[0], args[1], step=spec.get("step", 1), log=bool(spec.get("log")))
        if "step" in spec or "log" in spec:
            raise InvalidParameterError(
                f"search_space[{name!r}]: step/log apply to intrange only ({kind} given)."
            )
        return uniform(*args) if kind == "uniform" else loguniform(*args)
    if isinstance(spec, list | tuple):
        raise InvalidParameterError(
            f"search_space[{name!r}] is a plain list {list(spec)!r}: say what it is, "
            f"e.g. {{choice: {list(spec)!r}}}."
        )
    return spec  # a plain value: fixed for every trial


def _check_against_config(
    searched: Mapping[str, Distribution], fixed: Mapping[str, Any], config: Any
) -> None:
    import copy
    from dataclasses import fields

    known = [f.name for f in fields(config)]
    for name in [*searched, *fixed]:
        if name not in known:
            config.update({name: None})  # raises: no such setting, with the closest names
    for name, dist in searched.items():
        for value in dist.corners():
            probe = copy.deepcopy(config)
            try:
                probe.update({**fixed, name: value})
            except InvalidParameterError as exc:
                raise InvalidParameterError(
                    f"search_space[{name!r}] = {dist!r} allows {value!r}, which the model refuses: "
                    f"{exc} Narrow the range."
                ) from None
    if fixed:
        copy.deepcopy(config).update(dict(fixed))


def space_to_dict(searched: Mapping[str, Distribution], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The space as plain data (YAML/JSON), the inverse of ``parse_space``."""
    return {**{k: d.to_dict() for k, d in searched.items()}, **dict(fixed)}

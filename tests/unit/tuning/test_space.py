"""Search spaces: the typed vocabulary, the YAML form, defaults per zoo model, and bad spaces."""

from __future__ import annotations

import pytest

from lepton.errors import InvalidParameterError
from lepton.models import create_model
from lepton.tuning import choice, default_space, intrange, loguniform, uniform
from lepton.tuning._space import parse_space, space_to_dict


def test_yaml_form_and_typed_form_are_the_same_space() -> None:
    config = create_model("mlp").config
    typed, _ = parse_space(
        {
            "learning_rate": loguniform(1e-4, 1e-2),
            "dropout": uniform(0.0, 0.5),
            "train_batch_size": intrange(16, 128, step=16),
            "hidden_sizes": choice([[64], [128, 64]]),
        },
        "mlp",
        config,
    )
    as_yaml = {
        "learning_rate": {"loguniform": [1e-4, 1e-2]},
        "dropout": {"uniform": [0.0, 0.5]},
        "train_batch_size": {"intrange": [16, 128], "step": 16},
        "hidden_sizes": {"choice": [[64], [128, 64]]},
        "epochs": 3,
    }
    parsed, fixed = parse_space(as_yaml, "mlp", config)
    assert parsed == typed
    assert fixed == {"epochs": 3}
    assert space_to_dict(parsed, fixed) == as_yaml
    assert typed["hidden_sizes"].labels == ["64", "128,64"]  # what Optuna stores
    assert typed["train_batch_size"].grid() == [16, 32, 48, 64, 80, 96, 112, 128]


@pytest.mark.parametrize(
    "name", ["lightgbm", "random_forest", "logistic_regression", "mlp", "cnn", "tfidf_logreg"]
)
def test_every_default_space_is_valid_for_its_model(name: str) -> None:
    searched, fixed = parse_space(None, name, create_model(name).config)
    assert searched == default_space(name) and fixed == {}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({}, "search space is empty"),
        ({"epochs": 3}, "search space is empty"),
        ({"learning_rate": {"normal": [0, 1]}}, "is not a distribution"),
        ({"learning_rate": [0.1, 0.2]}, "plain list"),
        ({"learning_rate": {"uniform": [0.1]}}, r"takes \[low, high\]"),
        ({"learning_rate": {"uniform": [0.1, 0.2], "log": True}}, "intrange only"),
        ({"learnin_rate": uniform(0.1, 0.2)}, "Did you mean 'learning_rate'"),
        ({"learning_rate": uniform(-1.0, 0.2)}, r"allows -1.0, which the model refuses"),
        ({"num_leaves": {"choice": []}}, "at least one value"),
        ("learning_rate", "must be a dict"),
    ],
)
def test_bad_spaces_are_refused_with_the_fix(space: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        parse_space(space, "lightgbm", create_model("lightgbm").config)  # type: ignore[arg-type]


def test_bad_distributions() -> None:
    with pytest.raises(InvalidParameterError, match="0 < low < high"):
        loguniform(0, 1)
    with pytest.raises(InvalidParameterError, match="empty"):
        uniform(1, 1)
    with pytest.raises(InvalidParameterError, match="must be an int"):
        intrange(1.5, 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="low >= 1"):
        intrange(0, 8, log=True)
    with pytest.raises(InvalidParameterError, match="list of values"):
        choice("abc")
    with pytest.raises(InvalidParameterError, match="grid search needs choice"):
        uniform(0, 1).grid()


def test_a_model_without_a_default_space() -> None:
    with pytest.raises(InvalidParameterError, match="no default search space"):
        parse_space(None, "linear_regression", create_model("linear_regression").config)

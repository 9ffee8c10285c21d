"""Models: one contract (fit/predict/predict_proba/config/input_schema/task) over a zoo."""

from lepton.errors import ModelNotFoundError
from lepton.models._base import FitContext, Model, ModelNotFittedError
from lepton.models._bundle import load_model, save_model
from lepton.models._config import (
    Config,
    LightGBMConfig,
    LinearConfig,
    RandomForestConfig,
    TextLinearConfig,
    TorchConfig,
)
from lepton.models._zoo import ModelNotInZooError, create_model, list_zoo


def ModelConfig(model: Model) -> Config:
    """The live configuration of ``model``: setting an attribute changes the model.

    Example:
        >>> lepton.ModelConfig(model).epochs = 10
    """
    from lepton.errors import InvalidParameterError

    if not isinstance(model, Model):
        raise InvalidParameterError(
            f"ModelConfig takes a Lepton model, got {type(model).__name__}."
        )
    return model.config


__all__ = [
    "Config",
    "FitContext",
    "LightGBMConfig",
    "LinearConfig",
    "Model",
    "ModelConfig",
    "ModelNotFittedError",
    "ModelNotFoundError",
    "ModelNotInZooError",
    "RandomForestConfig",
    "TextLinearConfig",
    "TorchConfig",
    "create_model",
    "list_zoo",
    "load_model",
    "save_model",
]

"""The model registry: versions with lineage, aliases, model cards."""

from lepton.registry._card import USER_FIELDS, ModelCard, model_card, update_card
from lepton.registry._refs import ModelRef, parse_ref
from lepton.registry._registry import (
    ModelVersion,
    delete_version,
    export,
    get_version,
    list_models,
    list_versions,
    load_model,
    register,
    set_alias,
    verify,
)

__all__ = [
    "USER_FIELDS",
    "ModelCard",
    "ModelRef",
    "ModelVersion",
    "delete_version",
    "export",
    "get_version",
    "list_models",
    "list_versions",
    "load_model",
    "model_card",
    "parse_ref",
    "register",
    "set_alias",
    "update_card",
    "verify",
]

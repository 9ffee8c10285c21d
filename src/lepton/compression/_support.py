"""Which zoo models each compression method takes, and the error a refused compression raises."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lepton.errors import InvalidParameterError, LeptonError

if TYPE_CHECKING:
    from lepton.models import Model

TORCH_MODELS = ("mlp", "cnn", "resnet18", "resnet34", "resnet50", "text_bow")
TABLE_MODELS = ("lightgbm", "logistic_regression", "linear_regression", "random_forest")

#: method -> zoo models it compresses
SUPPORTED: dict[str, tuple[str, ...]] = {
    "onnx": (*TABLE_MODELS, *TORCH_MODELS),
    "quantize": TORCH_MODELS,
    "prune": TORCH_MODELS,
}
METHODS = tuple(SUPPORTED)


class CompressionError(LeptonError, ValueError):
    """A compressed model was refused: its predictions differ from the original's too much."""

    code = "compression_refused"


def supported_table() -> str:
    """One line per method: what it compresses (quoted in every refusal)."""
    return "; ".join(f"{method}: {', '.join(names)}" for method, names in SUPPORTED.items())


def check_method(method: object) -> str:
    if not isinstance(method, str) or method not in SUPPORTED:
        raise InvalidParameterError(
            f"Unknown compression method {method!r}; expected one of {', '.join(METHODS)}. "
            f"What each supports: {supported_table()}."
        )
    return method


def check_supported(method: str, model: Model) -> None:
    """Refuse a (method, model) pair the method cannot compress, listing what it can."""
    if model.name not in SUPPORTED[method]:
        others = [m for m, names in SUPPORTED.items() if model.name in names]
        hint = (
            f" {model.name} can be compressed with: {', '.join(others)}."
            if others
            else f" No method compresses {model.name} yet."
        )
        raise InvalidParameterError(
            f"method={method!r} does not support {model.name} models; it supports "
            f"{', '.join(SUPPORTED[method])}.{hint}"
        )
    if model.runtime is not None and method in ("onnx", "prune"):
        what = (
            "it already runs on onnxruntime"
            if method == "onnx"
            else "pruning needs the native torch weights and this model runs an ONNX graph"
        )
        raise InvalidParameterError(
            f"Cannot apply method={method!r} to this {model.name} model: {what} "
            f"(compressed with {model.compression.get('method', 'onnx')!r}). Start from its parent "
            f"model{_parent_hint(model)}."
        )
    if method == "quantize" and model.compression.get("method") == "quantize":
        raise InvalidParameterError(
            f"This {model.name} model is already quantised to int8; quantise its parent "
            f"model{_parent_hint(model)} instead."
        )


def _parent_hint(model: Model) -> str:
    parent = model.compression.get("parent") or {}
    named = parent.get("ref") or parent.get("path") or parent.get("run_id")
    return f" ({named})" if named else ""

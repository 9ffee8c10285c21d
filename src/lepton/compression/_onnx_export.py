"""Turning a fitted model's native weights into an ONNX graph with the same outputs.

* torch (MLP, CNN, ResNets, text_bow): ``torch.onnx.export`` with the legacy TorchScript
  exporter (``dynamo=False``: 0.2 s where the dynamo exporter takes about 6 s), in eval mode on
  the CPU, with a dynamic batch axis. Its deprecation warning is silenced; a torch without it
  falls back to the dynamo exporter. The graph outputs the net's logits (or scaled values):
  the model keeps applying softmax and target scaling itself.
* scikit-learn (logistic/linear regression, random forest): skl2onnx, probabilities without
  the zipmap of dicts.
* LightGBM: onnxmltools' ``convert_lightgbm`` on the trees the model predicts with (those up to
  ``best_iteration`` when early stopping picked one).

Table models' graphs take the preprocessed float32 features: the fitted pipeline stays in the
bundle and runs first, as it does for the native model.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton._optional import require
from lepton.compression._support import CompressionError

if TYPE_CHECKING:
    from lepton.models import Model


def export_graph(model: Model) -> bytes:
    """The ONNX graph (serialised protobuf) of ``model``'s native weights."""
    if model.family == "torch":
        return _torch_graph(model)
    if model.family == "lightgbm":
        return _lightgbm_graph(model)
    return _sklearn_graph(model)


# torch -------------------------------------------------------------------------------------
def _example_inputs(model: Any) -> tuple[tuple[Any, ...], list[str], dict[str, dict[int, str]]]:
    """A two-row example batch for tracing, the graph's input names and its dynamic axes."""
    import torch

    if model.name == "mlp":
        inputs: tuple[Any, ...] = (torch.zeros((2, model.in_features), dtype=torch.float32),)
        names = ["features"]
        axes = {"features": {0: "batch"}}
    elif model.name == "text_bow":
        # EmbeddingBag's input: every token of the batch, and where each text starts
        inputs = (torch.tensor([1, 2, 3, 1], dtype=torch.long), torch.tensor([0, 2]))
        names = ["tokens", "offsets"]
        axes = {"tokens": {0: "tokens"}, "offsets": {0: "batch"}}
    else:
        height, width, channels = model._check_shape()
        inputs = (torch.zeros((2, channels, height, width), dtype=torch.float32),)
        names = ["images"]
        axes = {"images": {0: "batch"}}
    return inputs, names, {**axes, "output": {0: "batch"}}


def _torch_graph(model: Any) -> bytes:
    require("onnx", purpose="export a torch model to ONNX")
    net = model.net
    inputs, names, axes = _example_inputs(model)
    # a single tensor is passed as itself; text_bow's forward takes one (tokens, offsets) tuple
    args = (inputs,) if model.name == "text_bow" else inputs
    was_training = net.training
    net.eval()
    try:
        try:
            return _torch_export(net, args, names, axes, dynamo=False)
        except Exception as legacy_error:  # a torch whose legacy exporter is gone
            try:
                return _torch_export(net, args, names, axes, dynamo=True)
            except Exception as error:
                raise CompressionError(
                    f"torch could not export {model.name} to ONNX: {error} (the legacy "
                    f"exporter said: {legacy_error}). Check that torch, onnx and onnxscript are "
                    'up to date (pip install -U "lepton-ai-sdk[onnx]").'
                ) from error
    finally:
        net.train(was_training)


def _torch_export(
    net: Any, args: tuple[Any, ...], names: list[str], axes: dict[str, Any], *, dynamo: bool
) -> bytes:
    import torch

    with (
        tempfile.TemporaryDirectory(prefix="lepton-onnx-") as tmp,
        warnings.catch_warnings(),
        torch.no_grad(),
    ):
        path = Path(tmp) / "model.onnx"
        # "You are using the legacy TorchScript-based ONNX export" and its removal notice
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*feature will be removed.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
        torch.onnx.export(
            net,
            args,
            path,
            input_names=names,
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=dynamo,
        )
        return path.read_bytes()


# scikit-learn ------------------------------------------------------------------------------
def _sklearn_graph(model: Any) -> bytes:
    require("skl2onnx", purpose=f"export a {model.name} model to ONNX")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    estimator = model.estimator
    features = int(estimator.n_features_in_)
    options = {id(estimator): {"zipmap": False}} if model.task == "classification" else None
    try:
        graph = convert_sklearn(
            estimator,
            initial_types=[("features", FloatTensorType([None, features]))],
            options=options,
        )
    except Exception as error:
        raise CompressionError(
            f"skl2onnx could not convert {type(estimator).__name__} ({model.name}): {error}."
        ) from error
    return bytes(graph.SerializeToString())


# LightGBM ----------------------------------------------------------------------------------
def _lightgbm_graph(model: Any) -> bytes:
    require("onnxmltools", purpose="export a LightGBM model to ONNX")
    import lightgbm as lgb
    from onnxmltools.convert import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster = model.booster
    # only the trees the model predicts with (predict uses num_iteration=best_iteration)
    trees = lgb.Booster(
        model_str=booster.model_to_string(num_iteration=booster.best_iteration or -1)
    )
    try:
        graph = convert_lightgbm(
            trees,
            initial_types=[("features", FloatTensorType([None, int(trees.num_feature())]))],
            zipmap=False,
        )
    except Exception as error:
        raise CompressionError(
            f"onnxmltools could not convert the LightGBM model: {error}."
        ) from error
    return bytes(graph.SerializeToString())

"""Magnitude pruning of a torch model: the smallest weights of all Linear and Conv2d layers,
ranked together (global L1), are set to zero; a short fine-tune with the masks in place lets the
remaining weights make up for them.

The fine-tune reuses the model's own training loop (``models._torch_loop.run_loop``) and batches,
for ``epochs`` epochs at a tenth of the model's learning rate, without a schedule (pruned nets
are usually retrained at a lower rate than they were trained at: Han et al., 2015). The masks
are then baked into the weights (``prune.remove``): the result is an ordinary torch model whose
safetensors file is at least ``sparsity`` zeros, which the bundle deflates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.models import Model


def prunable(net: Any) -> list[tuple[Any, str]]:
    """The (module, "weight") pairs pruning ranks: every Linear and Conv2d layer."""
    from torch import nn

    return [(m, "weight") for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def sparsity_of(net: Any) -> float:
    """The share of zeros among the weights of the prunable layers."""
    layers = prunable(net)
    total = sum(module.weight.numel() for module, _ in layers)
    zeros = sum(int((module.weight == 0).sum()) for module, _ in layers)
    return zeros / total if total else 0.0


def prune_model(
    model: Model, sparsity: float, data: Dataset | None, epochs: int, progress: Any
) -> dict[str, Any]:
    """Prune ``model.net`` in place to ``sparsity``; fine-tune on ``data`` when given."""
    import torch
    from torch.nn.utils import prune

    net: Any = getattr(model, "net", None)
    layers = prunable(net)
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=sparsity)
    fine_tuned = 0
    if data is not None and epochs > 0:
        fine_tuned = _fine_tune(model, data, epochs, progress)
    for module, name in layers:
        prune.remove(module, name)
    net.eval()
    with torch.no_grad():
        achieved = sparsity_of(net)
    return {
        "target_sparsity": sparsity,
        "sparsity": achieved,
        "pruned_layers": len(layers),
        "fine_tune_epochs": fine_tuned,
    }


def _fine_tune(model: Any, data: Dataset, epochs: int, progress: Any) -> int:
    from lepton.models import FitContext, TorchConfig
    from lepton.models._torch_loop import resolve_device, run_loop

    config = model.torch_config
    tune = TorchConfig.from_dict(
        {
            **config.to_dict(),
            "learning_rate": config.learning_rate * 0.1,
            "lr_schedule": None,
            "epochs": epochs,
        }
    )
    assert isinstance(tune, TorchConfig)
    device = resolve_device(config.device)
    net = model.net.to(device)
    if hasattr(model, "_cache"):  # the MLP keeps the tensors of the data it trains on
        model._cache = {}
    try:
        state = run_loop(
            net,
            tune,
            device,
            model._loss(),
            lambda epoch: model._batches(data, train=True, epoch=epoch),
            model._num_batches(data),
            None,
            FitContext(progress=progress, epochs=epochs),
            model.task or "classification",
        )
    finally:
        if hasattr(model, "_cache"):
            model._cache = None
        if hasattr(model, "_loaders"):
            model._loaders = {}
        model.net = net.to("cpu")
    return state.epoch + 1

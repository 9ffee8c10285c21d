"""What runs on Ray: the Ray Train worker function for torch models, the task for the others.

Both receive a model the driver has already prepared (task, classes, input schema settled) and
the datasets, train with a :class:`~lepton.distributed._ray_relay.RelayContext`, and hand the
fitted model's state back through the relay (torch) or as the task's return value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from lepton.distributed._ray_relay import RelayContext, RelayProgress, RelaySave
from lepton.errors import LeptonError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lepton.models import Model

#: attributes of a fitted model that hold caches of the fit, not what it learned
_TRANSIENT = ("_cache", "_loaders")


def model_state(model: Model) -> dict[str, Any]:
    """The fitted model's attributes, which the driver copies into the caller's model."""
    return {k: v for k, v in vars(model).items() if k not in _TRANSIENT}


class TorchSeam:
    """DDP through Ray Train: this rank's device, the wrapped net, its share of the batches.

    Batch ``i`` of an epoch goes to rank ``i % world``; a rank left one short repeats its first
    batch, so every rank steps the same number of times (DDP's all-reduce needs every rank at
    every step). A one-sample batch is replaced by that repeat too: BatchNorm cannot train on one
    sample, and skipping it on one rank only would stall the others.
    """

    def __init__(self, rank: int, world: int) -> None:
        self.rank = rank
        self.world = world

    def device(self) -> torch.device:
        import ray.train.torch

        return ray.train.torch.get_device()

    def wrap(self, net: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        if self.world == 1:
            return net
        device = self.device()
        return DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )

    def num_batches(self, total: int) -> int:
        return max(1, -(-total // self.world))

    def shard(self, batches: Iterable[Any], total: int) -> Iterator[Any]:
        wanted = self.num_batches(total)
        spare: Any = None  # this rank's first batch (or the epoch's first, when it has none)
        given = 0
        for index, batch in enumerate(batches):
            if given == wanted:
                break
            if index == 0 and spare is None:
                spare = batch
            if index % self.world != self.rank:
                continue
            if given == 0:
                spare = batch
            elif _rows(batch) == 1:
                batch = spare
            yield batch
            given += 1
        while given < wanted and spare is not None:
            yield spare
            given += 1

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if self.world == 1 or not dist.is_initialized():
            return values
        on_device = values.to(self.device())
        dist.all_reduce(on_device, op=dist.ReduceOp.SUM)
        return on_device.cpu()


def _rows(batch: Any) -> int:
    _, y = batch
    return int(y.shape[0])


def train_worker(config: dict[str, Any]) -> None:
    """The Ray Train loop of one rank: fit the torch model; rank 0 reports and returns it."""
    import ray.train  # binds ``ray`` too

    from lepton.training._callbacks import ModelCheckpoint

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    relay = config["relay"]
    relay.put.remote(("node", rank, ray.get_runtime_context().get_node_id()))
    # the relay holds the last checkpoint: the driver's resume state at first, then whatever
    # rank 0 saved before a worker died and Ray Train restarted the group
    resume_state = ray.get(relay.resume_state.remote())
    reporter = relay if rank == 0 else None
    callbacks = list(config["callbacks"])
    if rank == 0:
        relay.put.remote(("begin", int(resume_state["epoch"]) if resume_state else -1))
        callbacks += [
            ModelCheckpoint(RelaySave(relay, index), every=every)
            for index, every in enumerate(config["checkpoint_every"])
        ]
    ctx = RelayContext(
        reporter,
        callbacks=callbacks,
        progress=RelayProgress(relay) if rank == 0 and config["progress"] else None,
        epochs=config["epochs"],
        resume_state=resume_state,
        distributed=TorchSeam(rank, world),
    )
    model = config["model"]
    try:
        model._fit(config["train"], config["valid"], ctx)
    except LeptonError as exc:
        # a mistake in the settings (not a crash): retrying would only repeat it, so it goes to
        # the driver, which raises it as a local fit would; every rank sees the same metrics
        # and settings, so every rank stops here together
        ray.get(relay.put.remote(("error", rank, exc)))
        return
    if ctx.progress is not None:
        ctx.progress.close()
    if rank == 0:
        ray.get(relay.set_result.remote(model_state(model)))


def fit_task(model: Model, train: Any, valid: Any, relay: Any, progress: bool) -> Any:
    """A Ray task fitting a LightGBM or scikit-learn model; returns its state or its error."""
    import ray

    ctx = RelayContext(relay, progress=RelayProgress(relay) if progress else None)
    outcome: Any
    try:
        model._fit(train, valid, ctx)
    except LeptonError as exc:
        outcome = exc
    else:
        if ctx.progress is not None:
            ctx.progress.close()
        outcome = model_state(model)
    ray.get(relay.flush.remote())
    return outcome

"""How a torch model fits itself: the epoch loop, with AMP, clipping, schedules and state.

Callbacks (early stopping, checkpoints) are passed in by ``lepton.train`` and see a
:class:`LoopState`; its ``state_dict`` is everything needed to resume bit-for-bit: weights,
optimiser, scheduler, random generators, the epoch and the metric history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from lepton.models._base import FitContext
from lepton.models._config import TorchConfig

Batch = tuple[Any, torch.Tensor]


class DistributedSeam(Protocol):
    """What a distributed backend (Ray Train) hands the loop through ``FitContext.distributed``.

    The loop keeps the bare net for checkpoints, early stopping and evaluation (so checkpoints
    are the same locally and distributed) and trains through ``wrap(net)``. Every rank must get
    the same number of batches, or a collective would wait forever for the rank that stopped.
    """

    def device(self) -> torch.device: ...

    def wrap(self, net: nn.Module) -> nn.Module: ...

    def num_batches(self, total: int) -> int:
        """The batches each rank trains on per epoch when the whole data makes ``total``."""
        ...

    def shard(self, batches: Iterable[Batch], total: int) -> Iterator[Batch]:
        """This rank's share of an epoch's ``batches``: exactly ``num_batches(total)`` of them."""
        ...

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """A CPU tensor of ``values`` summed over every rank (the same result on each)."""
        ...


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    from lepton.errors import InvalidParameterError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"device={name!r} was asked for but no CUDA GPU is visible; use device='auto' or 'cpu'."
        )
    return device


def to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, tuple | list):
        return type(x)(to_device(item, device) for item in x)
    return x.to(device, non_blocking=True)


@dataclass
class LoopState:
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    epochs: int
    epoch: int = -1  # the last completed epoch
    history: dict[str, list[float]] = field(default_factory=dict)
    stop: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # callbacks keep their state here

    def state_dict(self) -> dict[str, Any]:
        state = {
            "epoch": self.epoch,
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng_cpu": torch.get_rng_state(),
            "history": self.history,
            "extra": self.extra,
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.extra = dict(state.get("extra") or {})


def make_optimizer(net: nn.Module, config: TorchConfig) -> torch.optim.Optimizer:
    params = net.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.learning_rate, momentum=0.9, weight_decay=config.weight_decay
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TorchConfig) -> Any:
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=max(1, config.epochs // 3), gamma=0.1
        )
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=2)
    return None


def _amp(config: TorchConfig, device: torch.device) -> tuple[Callable[[], Any], Any]:
    """An autocast context factory and a grad scaler (or None): AMP on CUDA only."""
    use = config.amp == "on" or (config.amp == "auto" and device.type == "cuda")
    if not use or device.type != "cuda":
        return contextlib.nullcontext, None
    if torch.cuda.is_bf16_supported():
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16), None
    return lambda: torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def run_loop(
    net: nn.Module,
    config: TorchConfig,
    device: torch.device,
    loss_fn: nn.Module,
    train_batches: Callable[[int], Iterable[Batch]],
    num_train_batches: int,
    evaluate: Callable[[], dict[str, float]] | None,
    ctx: FitContext,
    task: str,
) -> LoopState:
    """Train ``net`` for ``config.epochs`` epochs; report metrics each epoch through ``ctx``."""
    optimizer = make_optimizer(net, config)
    scheduler = make_scheduler(optimizer, config)
    autocast, scaler = _amp(config, device)
    epochs = ctx.epochs or config.epochs
    state = LoopState(net, optimizer, scheduler, scaler, epochs)
    if ctx.resume_state is not None:
        state.load_state_dict(ctx.resume_state)
        ctx.history.update({k: list(v) for k, v in state.history.items()})
    seam: DistributedSeam | None = ctx.distributed
    # DDP broadcasts rank 0's weights when it wraps, so it wraps after a resume has loaded them
    model = seam.wrap(net) if seam is not None else net
    all_batches = num_train_batches
    if seam is not None:
        num_train_batches = seam.num_batches(all_batches)
    for callback in ctx.callbacks:
        callback.on_train_begin(state)
    classify = task == "classification"
    # BatchNorm cannot take batch statistics from one sample (torch raises when the feature map
    # is 1x1, as in a ResNet on 32x32 images), so a trailing one-sample batch is skipped
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    for epoch in range(state.epoch + 1, epochs):
        if ctx.progress is not None:
            ctx.progress.start_epoch(epoch, epochs, num_train_batches)
        net.train()
        total_loss = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        batches = train_batches(epoch)
        if seam is not None:
            batches = seam.shard(batches, all_batches)
        for x, y in _prefetch(batches, device):
            if batchnorm and seen and y.shape[0] == 1:
                if ctx.progress is not None:
                    ctx.progress.advance()
                continue
            with autocast():
                out = model(x)
                loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            count = y.shape[0]
            total_loss += loss.detach().float() * count
            if classify:
                correct += (out.detach().argmax(dim=1) == y).sum()
            seen += count
            if ctx.progress is not None:
                ctx.progress.advance()
        if seam is not None:  # every rank logs (and early-stops on) the same train metrics
            sums = seam.sum(torch.tensor([float(total_loss), float(correct), float(seen)]))
            total_loss, correct, seen = sums[0], sums[1], int(sums[2])
        logs = {"loss": float(total_loss) / max(seen, 1)}
        if classify:
            logs["accuracy"] = float(correct) / max(seen, 1)
        if evaluate is not None:
            logs.update(evaluate())
        logs["lr"] = float(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        state.epoch = epoch
        for key, value in logs.items():
            state.history.setdefault(key, []).append(value)
        ctx.report(logs, epoch)
        if ctx.progress is not None:
            ctx.progress.end_epoch(logs)
        for callback in ctx.callbacks:
            callback.on_epoch_end(state, epoch, logs)
        if state.stop:
            break
    for callback in ctx.callbacks:
        callback.on_train_end(state)
    return state


def _prefetch(batches: Iterable[Batch], device: torch.device) -> Iterator[Batch]:
    for x, y in batches:
        yield to_device(x, device), y.to(device, non_blocking=True)

"""``lepton.train(..., backend="ray")``: the driver's side of a fit on a Ray cluster.

torch models train with Ray Train (``TorchTrainer``, DDP over ``num_workers`` workers); LightGBM
and scikit-learn models in one Ray task. Either way the driver prepares the model (so bad data
fails here, at once), ships it with the datasets, and applies what the workers send through the
relay to its own context: the run gets the same metrics, progress, checkpoints and TensorBoard
as a local fit, and the fitted model is copied into the caller's ``model`` in place.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import uuid
from typing import TYPE_CHECKING, Any

from lepton.distributed._ray_relay import PROGRESS_EVERY_S, Applier, Relay
from lepton.distributed._ray_session import busy_notice, require_resources
from lepton.errors import BackendError

#: how long Ray Train may take to abort a run (stop its workers) before its actor is killed
ABORT_WAIT_S = 30.0

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.distributed._ray import RayBackend
    from lepton.models import FitContext, Model


def fit_on_ray(
    backend: RayBackend, model: Model, train: Dataset, valid: Dataset | None, ctx: FitContext
) -> None:
    """Train ``model`` in place on the Ray cluster of ``backend``, reporting through ``ctx``."""
    from lepton.models import TorchConfig

    ray = backend.connect()
    model._prepare(train, valid)
    if isinstance(model.config, TorchConfig):
        _fit_torch(ray, backend, model, train, valid, ctx)
    else:
        _fit_in_task(ray, backend, model, train, valid, ctx)


def _fit_torch(
    ray: Any,
    backend: RayBackend,
    model: Model,
    train: Dataset,
    valid: Dataset | None,
    ctx: FitContext,
) -> None:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from lepton.distributed._ray_train_worker import train_worker
    from lepton.training._callbacks import ModelCheckpoint

    workers = backend.num_workers
    needs = {"cpus": workers * backend.cpus_per_worker, "gpus": workers if backend.use_gpu else 0}
    what = f"Training {model.name} on {workers} Ray worker(s)"
    require_resources(**needs, what=what)
    notice = busy_notice(**needs, what=what)
    if notice is not None and ctx.progress is not None:
        ctx.progress.status(notice)
    _tag_run({"ray.num_workers": workers, "ray.use_gpu": backend.use_gpu}, params=True)
    # checkpoints are saved by the driver (into the run's artifacts); user callbacks such as
    # EarlyStopping run in every worker, where they see the loop's state
    checkpoints = [cb for cb in ctx.callbacks if isinstance(cb, ModelCheckpoint)]
    relay = ray.remote(num_cpus=0)(Relay).remote(ctx.resume_state)
    applier = Applier(ctx, [cb.save for cb in checkpoints], dedupe_steps=True)
    if ctx.resume_state is not None:
        history = ctx.resume_state.get("history") or {}
        ctx.history.update({k: [float(v) for v in values] for k, values in history.items()})
    storage = tempfile.mkdtemp(prefix="lepton-ray-train-")
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={
            "relay": relay,
            "model": model,
            "train": train,
            "valid": valid,
            "callbacks": [cb for cb in ctx.callbacks if not isinstance(cb, ModelCheckpoint)],
            "checkpoint_every": [cb.every for cb in checkpoints],
            "epochs": ctx.epochs,
            "progress": ctx.progress is not None and not getattr(ctx.progress, "silent", False),
        },
        scaling_config=ScalingConfig(
            num_workers=workers,
            use_gpu=backend.use_gpu,
            resources_per_worker={"CPU": backend.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=f"lepton-{model.name}-{uuid.uuid4().hex[:8]}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=backend.max_failures),
        ),
    )
    # the trainer runs in an actor on this node, which hands the run's controller to the relay:
    # an interrupted wait here (Ctrl-C, a timeout) aborts the run through it (see _abort)
    owner = (
        ray.remote(num_cpus=0, max_restarts=0)(TrainerOwner)
        .options(scheduling_strategy=_this_node(ray))
        .remote()
    )
    fit = owner.fit.remote(trainer, relay)
    try:
        failure = _run_draining(ray, relay, applier, lambda: _raise(ray.get(fit)))
        _tag_run(
            {
                "ray.worker_nodes": ",".join(applier.nodes[r] for r in sorted(applier.nodes)),
                "ray.restarts": max(0, len(applier.begins) - 1),
                "ray.restart_epochs": ",".join(str(e + 1) for e in applier.begins[1:]),
            }
        )
        if applier.error is not None:
            raise applier.error
        if failure is not None:
            raise BackendError(
                f"Training {model.name} on Ray failed after {backend.max_failures} restart(s) "
                f"(max_failures={backend.max_failures}): {_first_line(failure)}. Check the worker "
                "logs (`ray logs` or the Ray dashboard), raise RayBackend(max_failures=...), or "
                "continue from the last checkpoint with lepton.train(..., backend='ray', "
                "resume=True)."
            ) from failure
        state = ray.get(relay.get_result.remote())
    finally:
        _abort(ray, owner, relay, fit)
        ray.kill(relay)
        shutil.rmtree(storage, ignore_errors=True)
    if state is None:
        raise BackendError(
            f"Training {model.name} on Ray ended without rank 0 sending the trained model back. "
            "Check the worker logs (`ray logs` or the Ray dashboard) and train again."
        )
    vars(model).update(state)


def _fit_in_task(
    ray: Any,
    backend: RayBackend,
    model: Model,
    train: Dataset,
    valid: Dataset | None,
    ctx: FitContext,
) -> None:
    from lepton.distributed._ray_train_worker import fit_task

    require_resources(cpus=backend.cpus_per_worker, what=f"Training {model.name} on Ray")
    relay = ray.remote(num_cpus=0)(Relay).remote(None)
    applier = Applier(ctx, [], dedupe_steps=False)
    task = ray.remote(num_cpus=backend.cpus_per_worker, max_retries=backend.max_failures)(fit_task)
    progress = ctx.progress is not None and not getattr(ctx.progress, "silent", False)
    ref = task.remote(model, train, valid, relay, progress)
    outcome: list[Any] = []
    try:
        failure = _run_draining(ray, relay, applier, lambda: outcome.append(ray.get(ref)))
    finally:
        if not outcome:  # the wait here was interrupted: stop the task too
            ray.cancel(ref, force=True)
        ray.kill(relay)
    if failure is not None:
        raise BackendError(
            f"Training {model.name} in a Ray task failed: {_first_line(failure)}. Check the "
            "worker logs (`ray logs` or the Ray dashboard), raise RayBackend(max_failures=...) "
            "if the worker died, or train with backend='local'."
        ) from failure
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    vars(model).update(outcome[0])


def _run_draining(ray: Any, relay: Any, applier: Applier, work: Any) -> BaseException | None:
    """Run ``work`` in a thread while applying the relay's events here; its error, if any.

    The driver's thread applies the events because the run (SQLite, a progress bar) belongs to
    it; the thread only waits on Ray.
    """
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except Exception as exc:  # Ray's failure, re-raised by the caller as a BackendError
            failure.append(exc)

    thread = threading.Thread(target=target, name="lepton-ray-fit", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(PROGRESS_EVERY_S)
        applier.apply(ray.get(relay.drain.remote()))
    applier.apply(ray.get(relay.drain.remote()))
    return failure[0] if failure else None


class TrainerOwner:
    """The actor that calls ``trainer.fit()``; what the fit fails with comes back as a value."""

    def fit(self, trainer: Any, relay: Any) -> BaseException | None:
        import ray

        # Ray Train passes the run's controller to this hook when fit() runs in a main thread,
        # as in an actor, to abort the run on Ctrl-C; here the driver gets it, through the relay
        trainer._register_sigint_handler = lambda controller: ray.get(
            relay.keep_controller.remote(controller)
        )
        try:
            trainer.fit()
        except Exception as exc:
            return exc
        return None


def _abort(ray: Any, owner: Any, relay: Any, fit: Any) -> None:
    """Stop a fit still running on the cluster, then its actor.

    Ray Train's abort stops the workers and removes their placement group. Killing the actor
    alone would leave the group holding its CPUs while this process lives: a group outlives
    its dead creator until the creator's job ends too, and Ray Train's cleaner of such groups
    asks the dashboard, which a cluster may not run.
    """
    if not ray.wait([fit], timeout=0)[0]:
        controller = ray.get(relay.get_controller.remote())
        if controller is not None:
            with contextlib.suppress(Exception):  # the abort ends the controller's process
                ray.get(controller.abort.remote(), timeout=ABORT_WAIT_S)
    ray.kill(owner)


def _this_node(ray: Any) -> Any:
    """Keep the trainer's actor on the driver's node (the trainer's storage is a local dir)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def _raise(error: BaseException | None) -> None:
    if error is not None:
        raise error


def _tag_run(values: dict[str, Any], params: bool = False) -> None:
    """Record where the fit ran on the active run (lepton.train's), if there is one."""
    from lepton.tracking import active_run

    run = active_run()
    if run is None:
        return
    if params:
        run.log_params(values)
    else:
        run.set_tags({k: v for k, v in values.items() if v != ""})


def _first_line(error: BaseException) -> str:
    """The gist of a Ray failure: Ray Train's own message only says that workers failed, so the
    failed ranks' errors are named instead."""
    failures = getattr(error, "worker_failures", None)
    if isinstance(failures, dict) and failures:
        return "; ".join(
            f"worker rank {rank}: {_first_line(exc)}" for rank, exc in sorted(failures.items())
        )
    cause = getattr(error, "controller_failure", None)
    if isinstance(cause, BaseException):
        return _first_line(cause)
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300].rstrip(".")

"""``lepton.train``: one call that trains any zoo model with tracking, progress and checkpoints.

    result = lepton.train(model, train, valid, epochs=10)

It starts a tracked run (params, dataset versions, metrics each epoch), runs the fit on the
chosen backend, checkpoints torch models every epoch (so ``resume=True`` continues after a
crash), writes TensorBoard event files, and saves the model bundle into the run's artifacts.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import InvalidParameterError, ProjectNotFoundError
from lepton.training._callbacks import Callback, ModelCheckpoint
from lepton.training._progress import Progress
from lepton.training._result import TrainResult

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.distributed import Backend
    from lepton.models import Model
    from lepton.tracking import Run

CHECKPOINT = "checkpoints/last.pt"
BUNDLE = "model.lepton"


def train(
    model: Model,
    train: Dataset,
    valid: Dataset | None = None,
    *,
    epochs: int | None = None,
    callbacks: Sequence[Callback] | None = None,
    backend: str | Backend | None = None,
    config: Mapping[str, Any] | None = None,
    verbose: Any = "auto",
    resume: bool | str = False,
) -> TrainResult:
    """Train ``model`` on ``train`` (validating on ``valid``), tracked as a run.

    Args:
        model: a model from :func:`lepton.create_model`.
        train, valid: Datasets; ``valid`` drives early stopping and ``val_*`` metrics.
        epochs: torch models only: overrides ``model.config.epochs``.
        callbacks: e.g. ``[lepton.training.EarlyStopping("val_loss", patience=3)]``.
        backend: ``"local"`` (default, or ``LEPTON_BACKEND``), ``"ray"`` (Ray Train / a Ray
            task on the cluster of ``LEPTON_RAY_ADDRESS``), or a backend object such as
            ``RayBackend(num_workers=4, use_gpu=True)``.
        config: settings applied to ``model.config`` first (a dict).
        verbose: ``"auto"`` (a progress bar on a terminal, lines otherwise), 0 to silence.
        resume: ``True`` continues the latest interrupted run of this model and data from its
            last checkpoint; a run id continues that run.

    Returns:
        TrainResult with the trained model, the run id, the metric history and the bundle URI.

    Example:
        >>> result = lepton.train(lepton.create_model("lightgbm"), train, valid)
    """
    from lepton.distributed import get_backend
    from lepton.models import FitContext, Model, TorchConfig
    from lepton.tracking import start_run

    if not isinstance(model, Model):
        raise InvalidParameterError(
            f"train needs a Lepton model, got {type(model).__name__}. Build one with lepton.create_model('lightgbm')."
        )
    runner = get_backend(backend)
    if config is not None:
        if not isinstance(config, Mapping):
            raise InvalidParameterError(
                f"config must be a dict of settings, got {type(config).__name__}."
            )
        model.config.update(dict(config))
    is_torch = isinstance(model.config, TorchConfig)
    if epochs is not None:
        if not is_torch:
            raise InvalidParameterError(
                f"epochs applies to torch models; {model.name} trains in one go. "
                + ("Set n_estimators instead." if model.name == "lightgbm" else "Drop epochs=.")
            )
        model.config.update({"epochs": epochs})
    model.config.validate()
    user_callbacks = list(callbacks or [])
    for callback in user_callbacks:
        if not isinstance(callback, Callback):
            raise InvalidParameterError(
                f"callbacks must be lepton.training.Callback objects, got {type(callback).__name__}."
            )
    if user_callbacks and not is_torch:
        raise InvalidParameterError(
            f"callbacks apply to torch models; {model.name} does not take them."
        )

    _check_datasets(train, valid)
    progress = Progress(model.name, verbose)  # checks verbose before a run is started
    data_version = _version_of(train)
    previous = _run_to_resume(resume, model, data_version, quiet=progress.silent)
    if previous is not None:
        run = start_run(run_id=previous)
    else:
        run = start_run(
            name=f"{model.name}-{train.name}",
            tags={"lepton.model": model.name, "lepton.data": data_version, "lepton.kind": "train"},
        )
    with run:
        run.set_tags({"lepton.pid": os.getpid(), "lepton.host": socket.gethostname()})
        run.log_params({f"config.{k}": v for k, v in model.config.to_dict().items()})
        run.log_params({"model": model.name, "backend": runner.name, "train_rows": len(train)})
        run.add_inputs(("dataset", train.name, data_version))
        if valid is not None:
            run.add_inputs(("dataset", valid.name, _version_of(valid)))
        with _TensorBoard(run, enabled=is_torch) as board:

            def log(metrics: Mapping[str, float], step: int) -> None:
                run.log_metrics(metrics, step=step)
                board.add(metrics, step)

            ctx = FitContext(
                log=log,
                callbacks=[
                    *user_callbacks,
                    *([ModelCheckpoint(_checkpoint_saver(run))] if is_torch else []),
                ],
                progress=progress,
                epochs=model.config.epochs if is_torch else None,  # type: ignore[attr-defined]
                resume_state=_load_checkpoint(run) if previous is not None and is_torch else None,
            )
            try:
                runner.fit(model, train, valid, ctx)
            finally:
                progress.close({k: v[-1] for k, v in ctx.history.items()} if ctx.history else None)
        metrics = {k: v[-1] for k, v in ctx.history.items()}
        model.metrics = metrics
        model.lineage = {
            "run_id": run.id,
            "project": run.project,
            "datasets": [{"name": train.name, "version": data_version, "role": "train"}],
        }
        model_path = _save_bundle(model, run)
    return TrainResult(
        model=model,
        run_id=run.id,
        history=ctx.history,
        metrics=metrics,
        model_uri=f"runs:/{run.id}/{BUNDLE}",
        model_path=model_path,
    )


def _check_datasets(train: Any, valid: Any) -> None:
    from lepton.data import Dataset

    for role, data in (("train", train), ("valid", valid)):
        if not isinstance(data, Dataset) and (role == "train" or data is not None):
            raise InvalidParameterError(
                f"{role} must be a lepton Dataset, got {type(data).__name__}. Wrap a table with "
                "lepton.Dataset.from_pandas(frame, target='label') (or from_csv/from_images)."
            )


def _version_of(data: Dataset) -> str:
    return str(data.version)


def _run_to_resume(
    resume: bool | str, model: Model, data_version: str, quiet: bool = False
) -> str | None:
    """The id of the run to continue, or None to start a new one."""
    from lepton.workspace import current_settings, get_workspace

    if resume is False:
        return None
    workspace = get_workspace()
    if isinstance(resume, str):
        run = workspace.get_run(resume)
        if not any(a.path == CHECKPOINT for a in workspace.list_artifacts(run.id)):
            raise InvalidParameterError(
                f"Run {run.id[:8]} has no checkpoint to resume from ({CHECKPOINT}); only torch "
                "models are checkpointed. Train without resume= to start over."
            )
        trained = run.tags.get("lepton.model")
        if trained != model.name:
            raise InvalidParameterError(
                f"Run {run.id[:8]} trained {trained!r}, not {model.name!r}: its checkpoint "
                f"cannot continue this model. Resume it with create_model({trained!r}, ...)."
            )
        if run.status == "running" and _still_running(run.tags):
            raise InvalidParameterError(
                f"Run {run.id[:8]} is still running (process {run.tags.get('lepton.pid')}); "
                "wait for it to end or stop it before resuming."
            )
        return run.id
    if resume is not True:
        raise InvalidParameterError(f"resume must be True, False or a run id, got {resume!r}.")
    project = current_settings().project
    try:
        candidates = workspace.list_runs(project, limit=200)
    except ProjectNotFoundError:
        candidates = []
    for run in candidates:
        if (
            run.status != "finished"
            and run.tags.get("lepton.model") == model.name
            and run.tags.get("lepton.data") == data_version
            and not _still_running(run.tags)
            and any(a.path == CHECKPOINT for a in workspace.list_artifacts(run.id))
        ):
            return run.id
    if not quiet:
        print(
            f"resume: no interrupted {model.name} run on this data was found; starting a new run."
        )
    return None


def _still_running(tags: Mapping[str, str]) -> bool:
    """True when the run's process is alive on this host (so it is not ours to resume)."""
    if tags.get("lepton.host") != socket.gethostname():
        return False
    try:
        pid = int(tags.get("lepton.pid", "0"))
        if pid <= 0 or pid == os.getpid():
            return False
        os.kill(pid, 0)
        return True
    except (ValueError, ProcessLookupError, PermissionError):
        return False


def _checkpoint_saver(run: Run) -> Any:
    def save(state: dict[str, Any], epoch: int) -> None:
        import torch

        # the metrics of every epoch up to this one are stored before the checkpoint is, so a
        # crash right after it cannot leave a resumed run with epochs missing from its history
        run.flush()
        with tempfile.TemporaryDirectory(prefix="lepton-ckpt-") as tmp:
            path = Path(tmp) / "last.pt"
            torch.save(state, path)
            run.log_artifact(path, CHECKPOINT)
        run.set_tag("lepton.checkpoint_epoch", epoch)

    return save


def _load_checkpoint(run: Run) -> dict[str, Any]:
    import torch

    with tempfile.TemporaryDirectory(prefix="lepton-ckpt-") as tmp:
        path = run.download_artifacts(CHECKPOINT, Path(tmp) / "last.pt")
        # weights_only: tensors, dicts, lists and numbers only; no arbitrary objects
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def _save_bundle(model: Model, run: Run) -> Path | None:
    from lepton.models import save_model

    with tempfile.TemporaryDirectory(prefix="lepton-bundle-") as tmp:
        bundle = save_model(model, Path(tmp) / BUNDLE)
        run.log_artifact(bundle, BUNDLE)
    return local_artifact_path(run, BUNDLE)


def local_artifact_path(run: Run, path: str) -> Path | None:
    """Where an artifact of ``run`` lies on this disk, or None when artifacts are remote."""
    from lepton.store import LocalArtifactStore
    from lepton.workspace._local import LocalWorkspace

    workspace = run.workspace
    if isinstance(workspace, LocalWorkspace) and isinstance(
        workspace.artifacts, LocalArtifactStore
    ):
        return workspace.artifacts.root / f"runs/{run.id}/artifacts/{path}"
    return None


class _TensorBoard:
    """Writes each logged metric as a TensorBoard scalar; uploads the event files at the end.

    Only for torch models: the writer comes with torch, and importing torch (seconds) to train
    a LightGBM model would double its training time.
    """

    def __init__(self, run: Run, enabled: bool) -> None:
        self.run = run
        self.enabled = enabled
        self.writer: Any = None
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> _TensorBoard:
        if not self.enabled:
            return self
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return self  # no torch/tensorboard installed: metrics still go to the run
        self.folder = tempfile.TemporaryDirectory(prefix="lepton-tb-")
        self.writer = SummaryWriter(log_dir=self.folder.name)
        return self

    def add(self, metrics: Mapping[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)

    def __exit__(self, *exc: object) -> None:
        if self.writer is None or self.folder is None:
            return
        self.writer.close()
        if any(Path(self.folder.name).iterdir()):
            self.run.log_artifact(self.folder.name, "tensorboard")
        self.folder.cleanup()

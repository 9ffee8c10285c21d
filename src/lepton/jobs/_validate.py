"""The server's checks of a submitted job, against what the server has: the project, the
dataset (pinned to its version now, so the job trains on what was there at submit), the zoo
model, the slots, the secrets and the registry name. Each error names the field and says how
to fix it (HTTP 422)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lepton.errors import InvalidParameterError, LeptonError, NotFoundError
from lepton.jobs._spec import JobSpec, local_path_message, looks_like_path
from lepton.store import _schema as t


def check_submission(workspace: Any, spec: JobSpec, cpu_slots: int, gpu_slots: int) -> JobSpec:
    """``spec`` checked and completed (name, pinned data version), or InvalidParameterError."""
    if spec.project is None:
        raise InvalidParameterError(
            "project: missing. Say which project the job belongs to: project: NAME in the spec, "
            "or lepton jobs submit FILE --project NAME."
        )
    project = spec.project
    try:
        workspace.get_project(project)
    except NotFoundError:
        raise InvalidParameterError(
            f"project: there is no project {project!r} on the server. Create it "
            f"(lepton projects create {project}) and register the job's data in it "
            "(lepton data add FILE --project ...), then submit again."
        ) from None
    dataset = _dataset(workspace, spec, project)
    _check_model(spec, dataset)
    if spec.output is not None:
        raise InvalidParameterError(
            f"output: a job cannot write files on the server (got {spec.output!r}). Drop "
            "output and set register: MODEL_NAME to keep the model in the registry."
        )
    if spec.resume is not None:
        _check_resume(workspace, spec.resume, project)
    if spec.backend == "ray":
        _check_ray()
    for kind, asked, total in (
        ("cpu", spec.resources.cpu, cpu_slots),
        ("gpu", spec.resources.gpu, gpu_slots),
    ):
        if asked > total and spec.backend != "ray":  # a Ray job asks the cluster, not the server
            raise InvalidParameterError(
                f"resources.{kind}: the job asks for {asked} {kind.upper()} slots, but this "
                f"server has {total}. Ask for at most {total}, or ask an admin to give the "
                f"server more {kind.upper()} slots."
            )
    _check_secrets(workspace, spec.secrets, project)
    if spec.register_as is not None:
        _check_register(workspace, spec.register_as, project)
    pinned = f"{dataset.name}:{dataset.version}"
    return spec.model_copy(update={"data": pinned, "name": spec.name or spec.default_name()})


def _check_ray() -> None:
    """A Ray job is refused at submit when no Ray Jobs API answers (BackendError: the message
    names the dashboard address and how to start or configure one)."""
    from lepton.distributed._ray_jobs import RayJobs

    RayJobs().client()


def _dataset(workspace: Any, spec: JobSpec, project: str) -> Any:
    name, _, version = spec.data.partition(":")
    try:
        info = workspace.get_dataset_version(name, version or None, project)
    except LeptonError as exc:
        if looks_like_path(spec.data):
            raise InvalidParameterError(local_path_message(spec.data, project)) from None
        raise InvalidParameterError(
            f"data: {exc} A job trains on a dataset registered on the server, in the job's "
            f"project {project!r}: register it with lepton data add FILE --name {name} "
            f"--project {project} (with the server configured), then submit again."
        ) from None
    if spec.target is not None and info.target is not None and spec.target != info.target:
        raise InvalidParameterError(
            f"target: dataset {info.name!r} was registered with target {info.target!r}, not "
            f"{spec.target!r}. Drop target from the spec, or register the data again with "
            "--target set to the column you want."
        )
    return info


def _check_model(spec: JobSpec, dataset: Any) -> None:
    """The zoo name, the data kind and the model's settings, without importing the model's
    library (torch stays out of the server process)."""
    from lepton.models._config import TorchConfig
    from lepton.models._zoo import zoo_entry

    try:
        entry = zoo_entry(spec.model)
    except LeptonError as exc:
        raise InvalidParameterError(f"model: {exc}") from None
    if entry.data != dataset.kind:
        raise InvalidParameterError(
            f"model: {spec.model} trains on {entry.data}, but dataset {dataset.name!r} holds "
            f"{dataset.kind}. Pick a zoo model for {dataset.kind} (lepton models zoo)."
        )
    config = entry.config().update(dict(entry.defaults))
    try:
        config.update(dict(spec.config))
    except LeptonError as exc:
        raise InvalidParameterError(f"config: {exc}") from None
    if spec.epochs is not None and not isinstance(config, TorchConfig):
        raise InvalidParameterError(
            f"epochs: {spec.model} trains in one go; epochs applies to torch models only. "
            "Drop epochs from the spec."
        )
    if spec.input_shape is not None and entry.data != "images":
        raise InvalidParameterError(
            f"input_shape: it is for image models; {spec.model} trains on {entry.data}."
        )


def _check_resume(workspace: Any, run_id: str, project: str) -> None:
    try:
        run = workspace.get_run(run_id)
    except LeptonError as exc:
        raise InvalidParameterError(f"resume: {exc}") from None
    if run.project != project:
        raise InvalidParameterError(
            f"resume: run {run_id!r} belongs to project {run.project!r}, not {project!r}; "
            "a job resumes runs of its own project."
        )


def _check_secrets(workspace: Any, names: list[str], project: str) -> None:
    if not names:
        return
    query = select(t.secrets.c.name).where(t.secrets.c.project == project)
    with workspace.meta.read() as conn:
        existing = {row[0] for row in conn.execute(query)}
    missing = [name for name in names if name not in existing]
    if missing:
        shown = ", ".join(sorted(existing)) or "none"
        raise InvalidParameterError(
            f"secrets: project {project!r} has no secret {', '.join(map(repr, missing))} "
            f"(it has: {shown}). Add it with lepton secrets set NAME --project {project}, "
            "or drop it from the spec."
        )


def _check_register(workspace: Any, name: str, project: str) -> None:
    """A model name belongs to one project: registering into another one's name would fail
    only at the end of training."""
    query = (
        select(t.projects.c.name)
        .select_from(t.models.join(t.projects, t.projects.c.id == t.models.c.project_id))
        .where(t.models.c.name == name)
    )
    with workspace.meta.read() as conn:
        owner = conn.execute(query).scalar_one_or_none()
    if owner is not None and owner != project:
        raise InvalidParameterError(
            f"register: the model name {name!r} is taken by project {owner!r}. Pick another "
            f"name for project {project!r}'s model."
        )

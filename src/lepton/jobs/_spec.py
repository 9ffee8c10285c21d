"""A job described as data: the fields of ``lepton train``'s spec plus where and how to run it.

``train.yaml`` of ``lepton jobs submit`` holds the keys of :class:`~lepton.training._spec.TrainSpec`
(data, model, target, config...) and the job's own: ``name``, ``project``, ``resources``,
``retries``, ``secrets``, ``register`` and ``backend``. The same model checks the YAML on the
client and the request body on the server.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lepton._validation import check_name
from lepton.errors import ConfigError, InvalidParameterError
from lepton.training._spec import TrainSpec

_FILE_SUFFIXES = (".csv", ".parquet", ".pq", ".tsv", ".json", ".zip", ".txt")
JOB_FIELDS = ("name", "project", "resources", "retries", "secrets", "register", "backend")


class Resources(BaseModel):
    """The scheduler slots a job holds while it runs."""

    model_config = ConfigDict(extra="forbid")

    cpu: int = Field(default=1, ge=1, le=1024, description="CPU slots (at least 1).")
    gpu: int = Field(default=0, ge=0, le=64, description="GPU slots.")


class JobSpec(TrainSpec):
    """A training job: what ``lepton train`` takes, plus the job's name, project and limits."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(default=None, description="The job's name (default: MODEL-DATA).")
    project: str | None = Field(default=None, description="Project (default: the current one).")
    resources: Resources = Field(default_factory=Resources)
    retries: int = Field(
        default=0, ge=0, le=20, description="Automatic retries after a failed attempt."
    )
    secrets: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Secrets of the project, given to the job as environment variables.",
    )
    backend: Literal["local", "ray"] = Field(
        default="local",
        description="Where the job runs: the server's own slots (local), or a Ray job on the "
        "cluster the server is configured for (ray).",
    )
    # "register" in YAML and JSON (the attribute name would shadow pydantic's ABC.register)
    register_as: str | None = Field(
        default=None,
        alias="register",
        description="Register the trained model under this name.",
    )

    @field_validator("name", "project", "register_as")
    @classmethod
    def _names(cls, value: str | None, info: Any) -> str | None:
        if value is not None:
            try:
                kind = {"name": "job", "register_as": "model"}.get(info.field_name, "project")
                check_name(kind, value)
            except InvalidParameterError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, names: list[str]) -> list[str]:
        from lepton.security._secrets import check_secret_name

        for name in names:
            try:
                check_secret_name(name)
            except InvalidParameterError as exc:
                raise ValueError(str(exc)) from None
        if len(set(names)) != len(names):
            raise ValueError(f"a secret is named twice in {names}")
        return names

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON data, with the keys of the YAML file."""
        return self.model_dump(mode="json", by_alias=True)

    def train_spec(self) -> TrainSpec:
        """The part ``lepton train`` understands."""
        return TrainSpec(**self.model_dump(include=set(TrainSpec.model_fields)))

    def default_name(self) -> str:
        data = self.data.partition(":")[0]
        return f"{self.model}-{data}"[:100]


def parse_job_spec(values: Any, source: str = "The job spec") -> JobSpec:
    """A checked JobSpec from a mapping; the error names every bad field and its value."""
    if not isinstance(values, dict):
        raise InvalidParameterError(
            f"{source} must be a mapping of settings (data: NAME, model: ...), "
            f"got {type(values).__name__}."
        )
    try:
        return JobSpec(**values)
    except ValidationError as exc:
        raise InvalidParameterError(f"{source} is not valid: {_problems(exc)}.") from None


def _problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:8]:
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            known = ", ".join(sorted(f.alias or n for n, f in JobSpec.model_fields.items()))
            message = f"unknown key (expected one of: {known})"
        elif error["type"] == "missing":
            message = "missing (it is required)"
        elif (
            not isinstance(value, dict | list) and value is not None and repr(value) not in message
        ):
            message += f" (got {value!r})"
        problems.append(f"{where}: {message.rstrip('.')}")
    return "; ".join(problems)


def read_job_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a job's YAML file, with a clear error when it cannot be read."""
    from lepton.training._spec import read_yaml_mapping

    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"Job spec {file} does not exist. Write a YAML file with at least `data: DATASET` "
            "and `model: logistic_regression`, then run: lepton jobs submit FILE."
        )
    return read_yaml_mapping(file, "job settings")


def looks_like_path(data: str) -> bool:
    """Whether ``data`` names a file or folder rather than a registered dataset."""
    if "/" in data or "\\" in data or data.startswith(("~", ".")):
        return True
    return PurePath(data.partition(":")[0]).suffix.lower() in _FILE_SUFFIXES


def local_path_message(data: str, project: str) -> str:
    """Why a file path cannot be a job's data, and how to register it instead."""
    from lepton.data._build import default_name

    stem = default_name(data)
    return (
        f"data: {data!r} is a file path, but jobs run on the team server, which cannot read "
        f"files on your machine. Register the file on the server first: "
        f"lepton data add {data} --name {stem} --target COLUMN --project {project} "
        f"(with the server configured, e.g. after lepton login), then set data: {stem}."
    )

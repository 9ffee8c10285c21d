"""Training described as data: ``lepton train CONFIG.yaml`` and the CLI flags share this spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lepton.errors import ConfigError, InvalidParameterError
from lepton.training._result import TrainResult

Spec = TypeVar("Spec", bound=BaseModel)


class TrainSpec(BaseModel):
    """What to train on what. YAML keys and CLI flags have the same names."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        description="A registered dataset name (NAME or NAME:VERSION) or a CSV/Parquet path."
    )
    model: str = Field(default="lightgbm", description="A zoo model name (`lepton models zoo`).")
    target: str | None = Field(default=None, description="Target column (needed for files).")
    valid_size: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out for validation."
    )
    epochs: int | None = Field(default=None, gt=0, description="Epochs, for torch models.")
    seed: int = 0
    config: dict[str, Any] = Field(
        default_factory=dict, description="Model settings, e.g. num_leaves: 63."
    )
    input_shape: tuple[int, int, int] | None = None
    resume: str | None = Field(default=None, description="A run id to continue.")
    output: str | None = Field(default=None, description="Also save the bundle to this path.")


def read_yaml_mapping(file: Path, what: str) -> dict[str, Any]:
    """The mapping in a YAML settings file, with a clear error when it is not one."""
    import yaml

    try:
        values = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(
            f"{file} is not valid YAML: {problem}{where}. Fix the file: it holds "
            "`key: value` lines such as `model: lightgbm`."
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(
            f"{file} must hold a mapping of {what} (data: ..., model: ...), "
            f"got {type(values).__name__}."
        )
    return values


def load_spec(path: str | Path, overrides: dict[str, Any]) -> TrainSpec:
    """Read a YAML spec and apply CLI overrides (flags left unset do not override)."""
    return load_yaml_spec(TrainSpec, path, overrides, "training")


def load_yaml_spec(
    kind: type[Spec], path: str | Path, overrides: dict[str, Any], what: str
) -> Spec:
    """A ``kind`` spec from the YAML file at ``path`` (if any) with the CLI's flags over it."""
    values: dict[str, Any] = {}
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{what.capitalize()} config {file} does not exist.")
        values = read_yaml_mapping(file, f"{what} settings")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return kind(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid {what} settings: {problems}.") from None


def _dataset(spec: TrainSpec, project: str | None = None) -> Any:
    from lepton.data import Dataset, load_dataset

    path = Path(spec.data)
    if path.suffix.lower() in (".csv", ".parquet", ".pq") or path.exists():
        if path.is_dir():
            return Dataset.from_images(path, input_shape=spec.input_shape or (64, 64, 3))
        if spec.target is None:
            raise InvalidParameterError(f"Training on the file {path} needs --target COLUMN.")
        reader = (
            Dataset.from_parquet if path.suffix.lower() in (".parquet", ".pq") else Dataset.from_csv
        )
        return reader(path, target=spec.target)
    name, _, version = spec.data.partition(":")
    data = load_dataset(name, version or None, project=project)
    if spec.target is not None and spec.target != data.target:
        raise InvalidParameterError(
            f"Dataset {name!r} was registered with target {data.target!r}, not {spec.target!r}. "
            "Register it again with the target you want."
        )
    return data


def run_spec(spec: TrainSpec, verbose: Any = "auto", project: str | None = None) -> TrainResult:
    """Load the data, split it, build the model and train it: the body of ``lepton train``.

    ``project`` is where to look the dataset up (default: every project; a job passes its own,
    since a name may be taken in several projects of a team server)."""
    from lepton.models import create_model, save_model
    from lepton.training._train import train

    data = _dataset(spec, project)
    train_set, valid_set = data.split(test_size=spec.valid_size, seed=spec.seed)
    model = create_model(
        spec.model, input_shape=tuple(spec.input_shape) if spec.input_shape else None, **spec.config
    )
    model.config.seed = spec.seed
    result = train(
        model,
        train_set,
        valid_set,
        epochs=spec.epochs,
        verbose=verbose,
        resume=spec.resume or False,
    )
    if spec.output:
        save_model(result.model, spec.output)
    return result

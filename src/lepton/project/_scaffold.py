"""Project folders: ``lepton.create_project`` / ``lepton init project NAME``."""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lepton._fs import atomic_write_text
from lepton._validation import check_name
from lepton.config import PROJECT_FILE
from lepton.errors import ProjectExistsError
from lepton.workspace import ProjectInfo, RunInfo, activate_project, get_workspace

_TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Project:
    """A project: a folder with ``lepton.yaml`` and the runs, datasets and models filed under it."""

    name: str
    path: Path | None
    description: str = ""

    @classmethod
    def from_info(cls, info: ProjectInfo) -> Project:
        return cls(info.name, Path(info.path) if info.path else None, info.description)

    def runs(self, limit: int = 100) -> list[RunInfo]:
        return get_workspace().list_runs(self.name, limit=limit)

    def __repr__(self) -> str:
        return f"Project(name={self.name!r}, path={str(self.path) if self.path else None!r})"

    def _repr_html_(self) -> str:
        return (
            f"<b>Project {html.escape(self.name)}</b> at <code>{html.escape(str(self.path))}</code>"
        )


def _render(name: str, description: str) -> dict[str, str]:
    files = {}
    for template in sorted(_TEMPLATES.rglob("*")):
        if template.is_file():
            relative = template.relative_to(_TEMPLATES).as_posix().replace("dot-", ".")
            text = template.read_text(encoding="utf-8")
            files[relative] = text.replace("{{name}}", name).replace("{{description}}", description)
    return files


def create_project(
    name: str, path: str | os.PathLike[str] | None = None, description: str = ""
) -> Project:
    """Create a project folder, register the project, and make it this process's project.

    The folder (default ``./NAME``) gets ``lepton.yaml``, ``data/``, ``notebooks/``, a runnable
    ``train.py``, ``README.md`` and ``.gitignore``. Its metadata lives in ``.lepton/`` inside it
    (unless ``LEPTON_HOME`` is set), exactly as when a command runs inside the folder.

    Raises:
        InvalidParameterError: the name is not a valid project name.
        ProjectExistsError: the folder already holds a project, or the name is taken.

    Example:
        >>> project = lepton.create_project("myproject")
    """
    check_name("project", name)
    root = Path(path if path is not None else name).expanduser().resolve()
    if (root / PROJECT_FILE).exists():
        raise ProjectExistsError(
            f"{root} already holds a Lepton project ({PROJECT_FILE} exists); it was not "
            "changed. Use another path, or work in the existing project."
        )
    files = _render(name, description)
    clashes = [rel for rel in files if (root / rel).exists()]
    if clashes:
        raise ProjectExistsError(
            f"{root} already has {', '.join(clashes)}; creating the project there would "
            "overwrite them. Pick an empty or new folder."
        )
    _write_all(root, files)
    activate_project(root)
    try:
        info = get_workspace().create_project(name, str(root), description)
    except BaseException:
        activate_project(None)
        raise
    return Project.from_info(info)


def _write_all(root: Path, files: dict[str, str]) -> None:
    """Write the scaffold. A new folder is staged beside ``root`` and appears whole, in one
    rename; into an existing folder each file is written atomically."""
    if root.exists():
        for relative, text in files.items():
            atomic_write_text(root / relative, text)
        for folder in ("data", "notebooks"):
            (root / folder).mkdir(exist_ok=True)
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        _write_all(staging, files)
        os.rename(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def list_projects() -> list[Project]:
    """Every project known to the current workspace."""
    return [Project.from_info(info) for info in get_workspace().list_projects()]

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lepton
from lepton.errors import InvalidParameterError, ProjectExistsError, ProjectNotFoundError
from lepton.workspace import get_workspace


def test_create_project_scaffolds_and_activates(tmp_path: Path) -> None:
    project = lepton.create_project("myproject", description="Credit risk")
    root = Path.cwd() / "myproject"
    assert project.path == root.resolve()
    for name in ("lepton.yaml", "README.md", ".gitignore", "train.py", "data", "notebooks"):
        assert (root / name).exists(), name
    assert "project: myproject" in (root / "lepton.yaml").read_text()
    assert "Credit risk" in (root / "README.md").read_text()
    assert [p.name for p in lepton.list_projects()] == ["myproject"]
    with lepton.start_run() as run:
        pass
    assert run.project == "myproject"
    assert project.runs()[0].id == run.id


@pytest.mark.local_only(reason="checks the project's own embedded store")
def test_scaffolded_train_py_runs(tmp_path: Path) -> None:
    lepton.create_project("runme", tmp_path / "runme")
    env = {k: v for k, v in os.environ.items() if k != "LEPTON_HOME"}
    out = subprocess.run(
        [sys.executable, "train.py"],
        cwd=tmp_path / "runme",
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "in project 'runme'" in out.stdout
    assert (tmp_path / "runme" / ".lepton" / "lepton.db").exists()


def test_refuses_to_overwrite_a_project(tmp_path: Path) -> None:
    lepton.create_project("one", tmp_path / "one")
    before = (tmp_path / "one" / "lepton.yaml").read_text()
    with pytest.raises(ProjectExistsError, match="already holds a Lepton project"):
        lepton.create_project("two", tmp_path / "one")
    assert (tmp_path / "one" / "lepton.yaml").read_text() == before


def test_refuses_to_overwrite_user_files(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "train.py").write_text("my code")
    with pytest.raises(ProjectExistsError, match="already has train.py"):
        lepton.create_project("mine", tmp_path / "mine")
    assert (tmp_path / "mine" / "train.py").read_text() == "my code"
    assert not (tmp_path / "mine" / "lepton.yaml").exists()


def test_existing_folder_without_clashes_is_fine(tmp_path: Path) -> None:
    (tmp_path / "data-here").mkdir()
    (tmp_path / "data-here" / "table.csv").write_text("a,b\n")
    lepton.create_project("ok", tmp_path / "data-here")
    assert (tmp_path / "data-here" / "lepton.yaml").exists()
    assert (tmp_path / "data-here" / "table.csv").read_text() == "a,b\n"


def test_name_taken_in_workspace(tmp_path: Path) -> None:
    lepton.create_project("dup", tmp_path / "a")
    with pytest.raises(ProjectExistsError, match="'dup' already exists"):
        lepton.create_project("dup", tmp_path / "b")


@pytest.mark.parametrize("name", ["", "has space", "../up", "-dash", "x" * 101, 3])
def test_invalid_project_names(name: object) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid project name"):
        lepton.create_project(name)  # type: ignore[arg-type]


def test_unknown_project_lists_existing() -> None:
    get_workspace().ensure_project("alpha")
    with pytest.raises(
        ProjectNotFoundError, match="No project named 'beta'. Existing projects: 'alpha'"
    ):
        get_workspace().list_runs("beta")

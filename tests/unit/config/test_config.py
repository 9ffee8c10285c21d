from __future__ import annotations

from pathlib import Path

import pytest

from lepton._optional import install_hint, require
from lepton.config import find_project_root, load_settings
from lepton.errors import ConfigError, LeptonError, MissingDependencyError


def test_home_defaults_to_user_folder(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={"HOME": str(tmp_path / "me")})
    assert settings.home == (tmp_path / "me" / ".lepton").resolve()
    assert settings.db_url == f"sqlite:///{settings.home / 'lepton.db'}"
    assert settings.project == "default"


def test_home_is_project_folder_inside_a_project(tmp_path: Path) -> None:
    (tmp_path / "proj" / "src").mkdir(parents=True)
    (tmp_path / "proj" / "lepton.yaml").write_text("project: credit\nbackend: local\n")
    settings = load_settings(cwd=tmp_path / "proj" / "src", env={})
    assert settings.home == (tmp_path / "proj" / ".lepton").resolve()
    assert settings.project == "credit"
    assert settings.project_root == (tmp_path / "proj").resolve()
    assert find_project_root(tmp_path) is None


def test_env_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "lepton.yaml").write_text("db_url: sqlite:///from-file.db\ncustom: 3\n")
    env = {"LEPTON_HOME": str(tmp_path / "h"), "LEPTON_DB_URL": "sqlite:///from-env.db"}
    settings = load_settings(cwd=tmp_path, env=env)
    assert settings.db_url == "sqlite:///from-env.db"
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.extra == {"custom": 3}


def test_token_is_not_in_repr(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={"LEPTON_TOKEN": "lp_secret"})
    assert settings.token == "lp_secret"
    assert "lp_secret" not in repr(settings)


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "lepton.yaml").write_text("project: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(cwd=tmp_path, env={})


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "lepton.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(cwd=tmp_path, env={})


def test_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown backend 'spark'.*local, ray"):
        load_settings(cwd=tmp_path, env={"LEPTON_BACKEND": "spark"})


def test_require_names_the_install_command() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install no_such_package_xyz"):
        require("no_such_package_xyz", purpose="test")
    assert install_hint("torch.nn") == 'pip install "lepton-ai-sdk[torch]"'
    assert require("json").dumps([]) == "[]"


def test_errors_inherit_builtins() -> None:
    from lepton import errors

    assert issubclass(errors.InvalidParameterError, ValueError)
    assert issubclass(errors.NotFoundError, LookupError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), LeptonError)
    err = errors.ProjectNotFoundError("x", ["b", "a"], hint="Create it.")
    assert str(err) == "No project named 'x'. Existing projects: 'a', 'b'. Create it."
    assert "There are no runs yet" in str(errors.RunNotFoundError("r"))

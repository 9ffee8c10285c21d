"""Encryption at rest through the public SDK: with LEPTON_MASTER_KEY set, an artifact, a dataset
version and a model bundle are stored encrypted (no plaintext in the artifact folder), read back
and verified; ``lepton keys rotate`` then switches to a new key, which reads everything, while
the old key fails with an error naming the new one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lepton
from lepton.errors import ConfigError
from lepton.security._crypto import EncryptedArtifactStore, MasterKey
from lepton.workspace import current_settings, get_workspace, reset
from lepton.workspace._local import LocalWorkspace

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"
MARKER = "plaintext_marker_5d21"  # a column name of the dataset, the text of an artifact
ZIP_NAME = b"lepton.json"  # stored uncompressed in every bundle's zip directory


def _lepton(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [LEPTON, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _raw_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".tmp" not in p.parts
    }


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    return pd.DataFrame(
        {
            "x": x,
            MARKER: rng.choice(["a", "b"], size=200),
            "label": np.where(x > 0, "yes", "no"),
        }
    )


def _read_everything(run_id: str, dest: Path, expected: list[str]) -> None:
    """Read back all that was stored, through the SDK, checking content and hashes."""
    from lepton.data import load_dataset
    from lepton.registry import export

    workspace = get_workspace()
    notes = workspace.download_artifacts(run_id, "notes.txt", dest / "notes.txt")
    assert notes.read_text() == f"{MARKER} in a note"
    loaded = load_dataset("encrypted")
    assert list(loaded.to_pandas().columns) == ["x", MARKER, "label"]
    version = workspace.get_dataset_version("encrypted")
    files = workspace.download_dataset("encrypted", None, dest / "data")  # checks each sha256
    assert any(MARKER.encode() in p.read_bytes() for p in files.rglob("*") if p.is_file())
    assert version.num_rows == 200
    model = lepton.load_model("encrypted-model:1")  # checks the bundle's sha256 and files
    assert list(model.predict(_frame().drop(columns="label").head(5))) == expected
    bundle = export("encrypted-model:1", dest / "bundle.lepton")
    assert ZIP_NAME in bundle.read_bytes()  # the plaintext has the marker: the test means it


def test_sdk_stores_everything_encrypted_and_rotation_switches_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = MasterKey.generate()
    monkeypatch.setenv("LEPTON_MASTER_KEY", old.to_text())
    reset()
    workspace = get_workspace()
    assert isinstance(workspace, LocalWorkspace)
    assert isinstance(workspace.artifacts, EncryptedArtifactStore)

    with lepton.start_run(name="encrypted") as run:
        note = tmp_path / "notes.txt"
        note.write_text(f"{MARKER} in a note")
        run.log_artifact(note)
    data = lepton.Dataset.from_pandas(_frame(), target="label", name="encrypted")
    data.register()
    result = lepton.train(lepton.create_model("logistic_regression"), data, verbose=0)
    lepton.register(result, "encrypted-model")
    expected = list(result.model.predict(_frame().drop(columns="label").head(5)))

    artifacts = Path(current_settings().artifacts_url)
    stored = _raw_files(artifacts)
    assert any(k.startswith("runs/") for k in stored)
    assert any(k.startswith("datasets/encrypted/") for k in stored)
    assert any(k.startswith("models/encrypted-model/") for k in stored)
    leaking = [k for k, raw in stored.items() if MARKER.encode() in raw or ZIP_NAME in raw]
    assert leaking == []

    _read_everything(run.id, tmp_path / "before", expected)

    # rotate with the CLI, as on the server machine (the current key comes from the env)
    new_file = tmp_path / "new.key"
    generated = _lepton("keys", "generate", "--output", str(new_file))
    assert generated.returncode == 0, generated.stderr
    new = MasterKey.from_text(new_file.read_text())
    assert new.id in generated.stdout and new.to_text() not in generated.stdout
    reset()  # the CLI opens the store itself
    rotated = _lepton("keys", "rotate", "--new-key-file", str(new_file))
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert f"from master key {old.id} to {new.id}" in " ".join(rotated.stdout.split())
    assert _raw_files(artifacts) == stored  # payloads untouched: only the data keys changed

    monkeypatch.setenv("LEPTON_MASTER_KEY", new.to_text())
    reset()
    _read_everything(run.id, tmp_path / "after", expected)

    monkeypatch.setenv("LEPTON_MASTER_KEY", old.to_text())
    reset()
    with pytest.raises(ConfigError, match=rf"encrypted under master key {new.id}"):
        lepton.load_model("encrypted-model:1")
    again = _lepton("keys", "rotate", "--new-key-file", str(new_file))  # e.g. after a crash
    assert again.returncode == 0 and "Re-wrapped 0 data keys" in again.stdout


def test_keys_cli_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    printed = _lepton("keys", "generate")
    assert printed.returncode == 0
    key = MasterKey.from_text(printed.stdout)
    assert key.id in printed.stderr

    nothing = _lepton("keys", "rotate", "--new-key-file", str(key_file))
    assert nothing.returncode == 1
    assert "No current master key is configured" in " ".join(nothing.stderr.split())

    monkeypatch.setenv("LEPTON_MASTER_KEY", key.to_text())
    missing = _lepton("keys", "rotate", "--new-key-file", str(key_file))
    assert missing.returncode == 1
    assert "Cannot read the new key file" in " ".join(missing.stderr.split())

    key_file.write_text("not-a-key")
    malformed = _lepton("keys", "rotate", "--new-key-file", str(key_file))
    assert malformed.returncode == 1
    assert "32 random bytes written as base64url" in " ".join(malformed.stderr.split())

    assert _lepton("keys", "generate", "--output", str(tmp_path / "a.key")).returncode == 0
    twice = _lepton("keys", "generate", "--output", str(tmp_path / "a.key"))
    assert twice.returncode == 1 and "never overwritten" in " ".join(twice.stderr.split())

    monkeypatch.setenv("LEPTON_MASTER_KEY", "garbage")
    broken = _lepton("runs", "list")
    assert broken.returncode == 1
    assert "LEPTON_MASTER_KEY" in broken.stderr and "base64url" in broken.stderr

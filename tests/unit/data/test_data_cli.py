"""``lepton data ...`` run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"
SECRETS = ["4111 1111 1111 1111", "ann.lee@example.com", "123-45-6789"]


def lepton(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([LEPTON, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def people_csv(folder: Path) -> Path:
    frame = pd.DataFrame(
        {
            "card": [SECRETS[0], "n/a", "4111 1111 1111 1112", "none"],
            "contact": [SECRETS[1], "nobody", "x", SECRETS[2]],
            "age": [31, 45, 27, 52],
            "churn": ["yes", "no", "no", "yes"],
        }
    )
    frame.to_csv(folder / "people.csv", index=False)
    return folder / "people.csv"


def test_add_list_show_profile(tmp_path: Path) -> None:
    path = people_csv(tmp_path)
    added = json.loads(lepton("data", "add", str(path), "--target", "churn", "--json").stdout)
    assert (added["name"], added["num_rows"], added["target"]) == ("people", 4, "churn")
    again = lepton("data", "add", str(path), "--target", "churn").stdout
    assert "was already registered" in again and added["version"][:12] in again

    listed = json.loads(lepton("data", "list", "--json").stdout)
    assert [(d["name"], d["version"]) for d in listed] == [("people", added["version"])]
    assert "profile" not in listed[0]
    assert "people" in lepton("data", "list").stdout

    shown = json.loads(lepton("data", "show", f"people:{added['version'][:8]}", "--json").stdout)
    assert [c["name"] for c in shown["schema"]["columns"]] == ["card", "contact", "age", "churn"]
    assert [v["version"] for v in shown["versions"]] == [added["version"]]
    text = lepton("data", "show", "people").stdout
    assert "Schema" in text and "Versions" in text and "categorical" in text

    profile = json.loads(lepton("data", "profile", "people", "--json").stdout)
    age = next(c for c in profile["columns"] if c["name"] == "age")
    assert age["stats"]["mean"] == 38.75 and profile["rows"] == 4
    table = lepton("data", "profile", "people").stdout
    assert "Profile of people" in table
    for secret in SECRETS:
        assert secret not in table and secret not in json.dumps(profile)


def test_scan_never_prints_raw_values(tmp_path: Path) -> None:
    lepton("data", "add", str(people_csv(tmp_path)), "--name", "crm")
    report = json.loads(lepton("data", "scan", "crm", "--json").stdout)
    kinds = {(f["column"], f["kind"]): f["count"] for f in report["findings"]}
    assert kinds == {("card", "credit_card"): 1, ("contact", "email"): 1, ("contact", "us_ssn"): 1}
    text = lepton("data", "scan", "crm")
    failing = lepton("data", "scan", "crm", "--fail", check=False)
    assert failing.returncode == 1
    for output in (json.dumps(report), text.stdout, failing.stdout):
        for secret in SECRETS:
            assert secret not in output


def test_add_images_with_a_label_table(make_images: Callable[..., Path], tmp_path: Path) -> None:
    root = make_images("table")
    out = lepton(
        "data",
        "add",
        str(tmp_path / "imgs.csv"),
        "--images",
        str(root),
        "--input-shape",
        "8,8,3",
        "--name",
        "pets",
        "--json",
    )
    added = json.loads(out.stdout)
    assert added["kind"] == "images" and added["num_rows"] == 6
    assert added["schema"]["dataset"]["input_shape"] == [8, 8, 3]
    folders = json.loads(
        lepton("data", "add", str(make_images("folders", name="f")), "--json").stdout
    )
    assert (folders["name"], folders["target"]) == ("f", "label")


def test_errors_are_one_paragraph(tmp_path: Path) -> None:
    out = lepton("data", "show", "nothing", check=False)
    assert out.returncode == 1 and "No dataset named 'nothing'" in out.stderr
    assert "Traceback" not in out.stderr
    path = people_csv(tmp_path)
    bad = lepton("data", "add", str(path), "--target", "chrun", check=False)
    assert bad.returncode == 1 and "Did you mean 'churn'?" in bad.stderr
    shape = lepton("data", "add", str(path), "--images", ".", "--input-shape", "a,b", check=False)
    assert shape.returncode == 1 and "--input-shape takes HEIGHT,WIDTH,CHANNELS" in shape.stderr
    empty = lepton("data", "list")
    assert "No datasets yet" in empty.stdout

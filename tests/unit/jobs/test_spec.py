"""The job spec: the fields of `lepton train` plus the job's own, checked with errors that
name the field; the job's files (result, log reads that never split a character)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.errors import ConfigError, InvalidParameterError
from lepton.jobs import JobSpec
from lepton.jobs._files import (
    AttemptResult,
    log_path,
    read_log,
    read_result,
    whole_characters,
    write_result,
)
from lepton.jobs._spec import local_path_message, looks_like_path, parse_job_spec, read_job_file
from lepton.training._spec import TrainSpec


def test_defaults_and_the_train_part() -> None:
    spec = parse_job_spec({"data": "iris", "model": "logistic_regression", "seed": 3})
    assert (spec.resources.cpu, spec.resources.gpu, spec.retries) == (1, 0, 0)
    assert spec.secrets == [] and spec.register_as is None and spec.name is None
    assert spec.default_name() == "logistic_regression-iris"
    train = spec.train_spec()
    assert isinstance(train, TrainSpec) and not isinstance(train, JobSpec)
    assert (train.data, train.model, train.seed) == ("iris", "logistic_regression", 3)


def test_every_train_field_is_a_job_field() -> None:
    assert set(TrainSpec.model_fields) < set(JobSpec.model_fields)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (
            {"data": "d", "resources": {"cpu": 0}},
            r"resources\.cpu: .*greater than or equal to 1.*got 0",
        ),
        ({"data": "d", "resources": {"gpu": -1}}, r"resources\.gpu: .*got -1"),
        ({"data": "d", "resources": {"tpu": 1}}, r"resources\.tpu: unknown key"),
        ({"data": "d", "retries": -2}, r"retries: .*got -2"),
        ({"data": "d", "retries": 1000}, r"retries: .*less than or equal to 20"),
        ({"data": "d", "epoch": 3}, r"epoch: unknown key \(expected one of: .*epochs"),
        ({"model": "mlp"}, r"data: missing"),
        ({"data": "d", "secrets": ["1ABC"]}, r"secrets: Invalid secret name '1ABC'"),
        ({"data": "d", "secrets": ["LEPTON_TOKEN"]}, r"secrets: .*reserved"),
        ({"data": "d", "secrets": ["A", "A"]}, r"secrets: a secret is named twice"),
        (
            {"data": "d", "register": "bad name!"},
            r"register: Invalid model name 'bad name!': use .*'credit-risk'\)\.$",
        ),
        ({"data": "d", "name": ""}, r"name: Invalid job name ''"),
        ({"data": "d", "valid_size": 1.5}, r"valid_size: .*got 1\.5"),
    ],
)
def test_bad_fields_are_named(values: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        parse_job_spec(values)


def test_spec_must_be_a_mapping() -> None:
    with pytest.raises(InvalidParameterError, match="must be a mapping.*got list"):
        parse_job_spec(["data", "iris"])


def test_read_job_file(tmp_path: Path) -> None:
    good = tmp_path / "train.yaml"
    good.write_text("data: iris\nmodel: logistic_regression\nresources: {cpu: 2}\n")
    assert read_job_file(good)["resources"] == {"cpu": 2}
    with pytest.raises(ConfigError, match="does not exist.*lepton jobs submit FILE"):
        read_job_file(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [iris\n")
    with pytest.raises(ConfigError, match="not valid YAML.*line"):
        read_job_file(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- iris\n")
    with pytest.raises(ConfigError, match="must hold a mapping.*got list"):
        read_job_file(scalar)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ("iris", False),
        ("iris:3f2a9c1e", False),
        ("credit.v2", False),
        ("data/train.csv", True),
        ("train.csv", True),
        ("./iris", True),
        ("~/x.parquet", True),
        ("C:\\data\\x", True),
    ],
)
def test_looks_like_path(data: str, path: bool) -> None:
    assert looks_like_path(data) is path


def test_local_path_message_says_how_to_register() -> None:
    message = local_path_message("data/Loans 2024.csv", "credit")
    assert "cannot read files on your machine" in message
    assert "lepton data add data/Loans 2024.csv --name Loans-2024" in message
    assert "--project credit" in message and "data: Loans-2024" in message


def test_result_file_round_trip(tmp_path: Path) -> None:
    assert read_result(tmp_path, "j1") is None
    write_result(tmp_path, "j1", AttemptResult(False, "run1", None, "ValueError: boom"))
    assert read_result(tmp_path, "j1") == AttemptResult(False, "run1", None, "ValueError: boom")
    (tmp_path / "jobs" / "j1.result.json").write_text("{half")
    assert read_result(tmp_path, "j1") is None


def test_log_reads_never_split_a_character(tmp_path: Path) -> None:
    path = log_path(tmp_path, "j1")
    path.parent.mkdir(parents=True)
    text = "épée ✓ 😀 end\n"
    data = text.encode()
    path.write_bytes(data)
    # read in chunks of every size: joined, the text is whole and no chunk has a broken char
    for size in range(4, 9):
        offset, pieces = 0, []
        while True:
            piece, offset, at_end = read_log(tmp_path, "j1", offset, limit=size)
            assert "\ufffd" not in piece
            pieces.append(piece)
            if at_end:
                break
        assert "".join(pieces) == text
    # a writer half-way through a character: its bytes wait for the next read
    path.write_bytes(data[:-6])  # cuts the 4-byte emoji
    piece, offset, at_end = read_log(tmp_path, "j1", 0)
    assert piece == "épée ✓ " and not at_end
    # once the job has ended, what is there is all there will be
    piece, offset, at_end = read_log(tmp_path, "j1", 0, complete=True)
    assert piece.startswith("épée ✓ ") and at_end and offset == len(data) - 6
    assert read_log(tmp_path, "missing", 5) == ("", 5, True)


@pytest.mark.parametrize(
    ("data", "whole"),
    [(b"", 0), (b"abc", 3), ("é".encode(), 2), ("é".encode()[:1], 0), ("a😀".encode()[:3], 1)],
)
def test_whole_characters(data: bytes, whole: int) -> None:
    assert whole_characters(data) == whole


def test_the_sdk_checks_a_spec_before_it_needs_a_server(tmp_path: Path) -> None:
    from lepton.jobs import get_job, submit_job

    with pytest.raises(InvalidParameterError, match="takes a YAML path, a dict or a JobSpec"):
        submit_job(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="retries: .*got -1"):
        submit_job({"data": "iris", "retries": -1})
    (tmp_path / "iris.csv").write_text("a,y\n1,0\n")
    spec = tmp_path / "train.yaml"
    spec.write_text("data: iris.csv\ntarget: y\n")  # relative to the YAML file
    with pytest.raises(InvalidParameterError, match="'iris.csv' is a file path.*--project default"):
        submit_job(spec)
    with pytest.raises(ConfigError, match="Jobs run on a team server, and none is configured"):
        submit_job({"data": "iris"}, name="x", project="p")
    with pytest.raises(InvalidParameterError, match="A job id must be a non-empty string"):
        get_job("")

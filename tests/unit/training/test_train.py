"""``lepton.train``: tracked runs, TensorBoard files, bundles, callbacks, resume, progress and
errors, for scikit-learn, LightGBM and torch models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lepton
from lepton.errors import (
    ConfigError,
    DataError,
    InvalidParameterError,
    LeptonError,
    ProjectNotFoundError,
    RunNotFoundError,
)
from lepton.models import create_model
from lepton.testing import tiny_images, tiny_table
from lepton.training import Callback, EarlyStopping, ModelCheckpoint, TrainResult
from lepton.workspace import RunInfo, get_workspace


@pytest.fixture
def table() -> tuple[Any, Any]:
    return tiny_table("classification").split(test_size=0.25, seed=0)


def runs() -> list[RunInfo]:
    try:
        return get_workspace().list_runs("default")
    except ProjectNotFoundError:
        return []


def only_run() -> RunInfo:
    [run] = runs()
    return run


def steps(run_id: str, key: str) -> list[int]:
    return [p.step for p in get_workspace().metric_history(run_id, key)]


def artifacts(run_id: str) -> list[str]:
    return sorted(a.path for a in get_workspace().list_artifacts(run_id))


def scalars(run_id: str, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
    """The TensorBoard scalars of a run, read back from its event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = get_workspace().download_artifacts(run_id, "tensorboard", tmp_path / "tb")
    events = list(folder.glob("events.out.tfevents.*"))
    assert events, f"no event file in {list(folder.iterdir())}"
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return {
        tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


# tracked runs --------------------------------------------------------------------------------
def test_torch_training_is_tracked(table: tuple[Any, Any], tmp_path: Path) -> None:
    train, valid = table
    result = lepton.train(create_model("mlp"), train, valid, epochs=3, verbose=0)

    info = get_workspace().get_run(result.run_id)
    assert info.status == "finished" and info.error is None and info.end_time is not None
    assert info.params["model"] == "mlp" and info.params["backend"] == "local"
    assert info.params["config.epochs"] == 3 and info.params["config.hidden_sizes"] == [128, 64]
    assert info.params["train_rows"] == len(train) == 90
    assert {"kind": "dataset", "name": train.name, "version": train.version} in info.inputs
    assert {"kind": "dataset", "name": valid.name, "version": valid.version} in info.inputs
    assert len(train.version) == 64  # the sha256 of the content
    assert info.tags["lepton.model"] == "mlp" and info.tags["lepton.data"] == train.version
    # one point per epoch, the values the result reports
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert steps(result.run_id, key) == [0, 1, 2], key
    logged = [p.value for p in get_workspace().metric_history(result.run_id, "val_loss")]
    assert logged == pytest.approx(result.history["val_loss"])
    assert result.metrics["val_loss"] == result.history["val_loss"][-1] == info.metrics["val_loss"]
    assert artifacts(result.run_id)[:2] == ["checkpoints/last.pt", "model.lepton"]
    assert info.tags["lepton.checkpoint_epoch"] == "2"

    board = scalars(result.run_id, tmp_path)
    assert [step for step, _ in board["loss"]] == [0, 1, 2]
    assert [v for _, v in board["val_accuracy"]] == pytest.approx(result.history["val_accuracy"])

    loaded = lepton.load_model(result.model_uri)
    assert result.model_uri == f"runs:/{result.run_id}/model.lepton"
    assert np.allclose(loaded.predict_proba(valid), result.model.predict_proba(valid), atol=1e-6)
    assert loaded.lineage["run_id"] == result.run_id
    assert loaded.lineage["datasets"] == [
        {"name": train.name, "version": train.version, "role": "train"}
    ]
    assert result.model_path is not None and result.model_path.is_file()
    assert lepton.load_model(result.model_path).metrics == result.metrics


def test_sklearn_training_is_tracked(table: tuple[Any, Any], tmp_path: Path) -> None:
    train, valid = table
    result = lepton.train(create_model("logistic_regression", C=0.5), train, valid, verbose=0)
    info = get_workspace().get_run(result.run_id)
    assert info.status == "finished"
    assert info.params["config.C"] == 0.5 and info.params["model"] == "logistic_regression"
    assert {"kind": "dataset", "name": train.name, "version": train.version} in info.inputs
    assert set(info.metrics) >= {"accuracy", "log_loss", "val_accuracy", "val_roc_auc"}
    assert steps(result.run_id, "val_accuracy") == [0]
    # checkpoints and TensorBoard files are for torch models (the writer comes with torch)
    assert artifacts(result.run_id) == ["model.lepton"]
    loaded = lepton.load_model(result.model_uri)
    assert list(loaded.predict(valid)) == list(result.model.predict(valid))


def test_lightgbm_streams_every_iteration(table: tuple[Any, Any], tmp_path: Path) -> None:
    train, valid = table
    model = create_model("lightgbm", n_estimators=25, early_stopping_rounds=None)
    result = lepton.train(model, train, valid, verbose=0)
    assert steps(result.run_id, "train_binary_logloss") == list(range(25))
    assert steps(result.run_id, "val_auc") == list(range(25))
    assert result.metrics["best_iteration"] == 25
    assert result.metrics["val_roc_auc"] > 0.9  # the learnable tiny table
    assert get_workspace().get_run(result.run_id).status == "finished"
    assert list(lepton.load_model(result.model_uri).predict(valid)) == list(
        result.model.predict(valid)
    )


def test_model_config_drives_training(table: tuple[Any, Any]) -> None:
    train, valid = table
    model = create_model("mlp")
    lepton.ModelConfig(model).epochs = 2
    lepton.ModelConfig(model).train_batch_size = 16
    result = lepton.train(model, train, valid, verbose=0)
    assert len(result.history["loss"]) == 2
    assert get_workspace().get_run(result.run_id).params["config.train_batch_size"] == 16
    # config= applies settings first, like the live view
    again = lepton.train(create_model("mlp"), train, config={"epochs": 1}, verbose=0)
    assert len(again.history["loss"]) == 1 and again.model.config.epochs == 1


def test_train_result(table: tuple[Any, Any]) -> None:
    train, valid = table
    result = lepton.train(create_model("mlp"), train, valid, epochs=2, verbose=0)
    assert isinstance(result, TrainResult)
    assert result.best("val_accuracy") == max(result.history["val_accuracy"])
    assert result.best("val_loss") == min(result.history["val_loss"])
    assert repr(result).startswith(f"TrainResult(model='mlp', run='{result.run_id[:8]}'")
    assert "<table>" in result._repr_html_()
    with pytest.raises(
        InvalidParameterError, match=r"No metric 'val_f1' in this run; logged: accuracy, loss"
    ):
        result.best("val_f1")


# callbacks -----------------------------------------------------------------------------------
def test_early_stopping_stops_and_restores_the_best_epoch(table: tuple[Any, Any]) -> None:
    train, valid = table
    model = create_model("mlp", learning_rate=0.05, hidden_sizes=(64, 64), dropout=0.0)
    stopper = EarlyStopping("val_loss", patience=2)
    result = lepton.train(model, train, valid, epochs=60, callbacks=[stopper], verbose=0)
    history = result.history["val_loss"]
    best = int(np.argmin(history))
    assert len(history) < 60, "a tiny noisy table overfits long before 60 epochs"
    assert stopper.best_epoch == best and len(history) == best + 3  # best + patience + 1
    assert min(history) < history[-1]
    # the weights in the model are the best epoch's, not the last one's
    proba = np.clip(result.model.predict_proba(valid), 1e-15, 1)
    index = {c: i for i, c in enumerate(result.model.classes)}
    y = np.array([index[v] for v in valid.y()])
    log_loss = float(-np.log(proba[np.arange(len(y)), y]).mean())
    assert log_loss == pytest.approx(result.history["val_log_loss"][best], abs=1e-5)
    assert log_loss != pytest.approx(result.history["val_log_loss"][-1], abs=1e-5)
    assert steps(result.run_id, "val_loss") == list(range(len(history)))


def test_early_stopping_settings() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"EarlyStopping mode must be 'auto', 'min' or 'max', got 'up'"
    ):
        EarlyStopping(mode="up")
    with pytest.raises(
        InvalidParameterError, match=r"EarlyStopping patience must be a positive int, got 0"
    ):
        EarlyStopping(patience=0)
    assert EarlyStopping("val_accuracy").mode == "max" and EarlyStopping("val_rmse").mode == "min"


def test_early_stopping_on_a_metric_that_is_not_logged(table: tuple[Any, Any]) -> None:
    train, _ = table
    with pytest.raises(
        InvalidParameterError,
        match=r"EarlyStopping monitors 'val_loss', which is not logged; logged: accuracy, loss, lr\. "
        r"Pass a validation set",
    ):
        lepton.train(create_model("mlp"), train, epochs=2, callbacks=[EarlyStopping()], verbose=0)
    run = only_run()
    assert run.status == "failed" and "EarlyStopping monitors 'val_loss'" in (run.error or "")


def test_model_checkpoint_settings() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"ModelCheckpoint every must be a positive int \(epochs\), got 0",
    ):
        ModelCheckpoint(lambda state, epoch: None, every=0)
    with pytest.raises(InvalidParameterError, match=r"ModelCheckpoint needs save= a function"):
        ModelCheckpoint("checkpoints/")


def test_user_checkpoint_sees_the_full_state(table: tuple[Any, Any]) -> None:
    train, _ = table
    saved: list[tuple[int, list[str]]] = []
    keep = ModelCheckpoint(lambda state, epoch: saved.append((epoch, sorted(state))), every=2)
    lepton.train(create_model("mlp"), train, epochs=3, callbacks=[keep], verbose=0)
    # every 2nd epoch, and always the last one
    assert [epoch for epoch, _ in saved] == [1, 2]
    assert {"epoch", "net", "optimizer", "rng_cpu", "history"} <= set(saved[0][1])


# failures ------------------------------------------------------------------------------------
class Boom(Callback):
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def on_epoch_end(self, state: Any, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            raise self.error


def test_failed_training_marks_the_run_failed(table: tuple[Any, Any]) -> None:
    train, valid = table
    with pytest.raises(RuntimeError, match="disk on fire"):
        lepton.train(
            create_model("mlp"),
            train,
            valid,
            epochs=4,
            callbacks=[Boom(RuntimeError("disk on fire"))],
            verbose=0,
        )
    run = only_run()
    assert run.status == "failed" and run.end_time is not None
    assert run.error is not None and "RuntimeError: disk on fire" in run.error
    assert "Traceback" in run.error  # an unexpected error keeps its traceback for debugging
    assert steps(run.id, "loss") == [0, 1]  # what was logged before the failure is kept
    assert "model.lepton" not in artifacts(run.id)


def test_interrupted_training_marks_the_run_killed(table: tuple[Any, Any]) -> None:
    train, _ = table
    with pytest.raises(KeyboardInterrupt):
        lepton.train(
            create_model("mlp"), train, epochs=3, callbacks=[Boom(KeyboardInterrupt())], verbose=0
        )
    run = only_run()
    assert run.status == "killed" and "Interrupted by the user" in (run.error or "")


def _write_png(path: Path, seed: int) -> None:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _nan_target() -> Any:
    frame = pd.DataFrame({"x": range(8), "y": [1.0, np.nan, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]})
    return lepton.Dataset.from_pandas(frame, target="y", name="nan-target")


def _one_class() -> Any:
    return lepton.Dataset.from_pandas(
        pd.DataFrame({"x": range(6), "y": ["spam"] * 6}), target="y", name="spam"
    )


def _unreadable_image(root: Path) -> Any:
    tiny_images(root, per_class=3, size=16)
    (root / "class0" / "broken.png").write_bytes(b"not a png at all")
    return lepton.Dataset.from_images(root, input_shape=(16, 16, 3), name="broken")


@pytest.mark.parametrize(
    ("make", "model", "error", "message"),
    [
        (
            lambda root: _nan_target(),
            "lightgbm",
            DataError,
            r"Target column 'y' of 'nan-target' has 1 missing value\(s\) \(NaN\) at rows 1",
        ),
        (
            lambda root: _one_class(),
            "logistic_regression",
            DataError,
            r"holds a single class \('spam' in all 6 rows\); a classifier needs at least two",
        ),
        (
            _unreadable_image,
            "cnn",
            DataError,
            r"1 image file\(s\) of 'broken' cannot be read as images: .*broken\.png",
        ),
        (
            lambda root: tiny_images(root, size=16),
            "lightgbm",
            InvalidParameterError,
            r"lightgbm trains on table data, but train dataset 'tiny-images' holds images\. Pick a zoo model for images",
        ),
        (
            lambda root: tiny_table("regression"),
            "logistic_regression",
            InvalidParameterError,
            r"logistic_regression was created for classification, but the target 'label' of 'tiny-regression' looks like regression",
        ),
    ],
    ids=["nan-target", "one-class", "unreadable-image", "images-to-table-model", "task-mismatch"],
)
def test_bad_data_fails_the_run_with_a_clear_error(
    make: Any, model: str, error: type[LeptonError], message: str, tmp_path: Path
) -> None:
    data = make(tmp_path / "data")
    with pytest.raises(error, match=message):
        lepton.train(create_model(model), data, verbose=0)
    run = only_run()
    assert run.status == "failed" and f"{error.__name__}: " in (run.error or "")
    assert "Traceback" not in (run.error or "")  # a LeptonError is recorded as its message


def test_image_shape_mismatch(tmp_path: Path) -> None:
    data = tiny_images(tmp_path / "images", size=16)
    with pytest.raises(
        InvalidParameterError,
        match=r"cnn expects images of shape \(32, 32, 3\) \(H, W, C\) but 'tiny-images' is resized to "
        r"\(16, 16, 3\)\. Build the dataset with input_shape=\(32, 32, 3\)",
    ):
        lepton.train(create_model("cnn", input_shape=(32, 32, 3)), data, verbose=0)


def test_too_few_classes_for_num_classes(tmp_path: Path) -> None:
    data = tiny_images(tmp_path / "images", size=16, classes=3, per_class=2)
    with pytest.raises(
        InvalidParameterError,
        match=r"cnn was created with num_classes=2, but 'tiny-images' has 3 classes .* Create it with num_classes=3",
    ):
        lepton.train(create_model("cnn", num_classes=2), data, verbose=0)


def test_bad_input_before_training(tmp_path: Path) -> None:
    """Files that cannot make a dataset fail at lepton.Dataset, before any run starts."""
    (tmp_path / "train.csv").write_text("filename,label\na.png,cat\nb.png,dog\n")
    (tmp_path / "images").mkdir()
    _write_png(tmp_path / "images" / "a.png", 0)
    with pytest.raises(DataError, match=r"b\.png"):
        lepton.Dataset("train", tmp_path / "train.csv", tmp_path / "images", (16, 16, 3))
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        lepton.Dataset("empty", tmp_path / "empty.csv")
    (tmp_path / "t.csv").write_text("a,label\n1,x\n2,y\n")
    with pytest.raises(DataError, match=r"Target column 'target' is not in the data"):
        lepton.Dataset("t", tmp_path / "t.csv", target="target")
    assert runs() == []


# errors at the door: no run is started --------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "kwargs", "error", "message"),
    [
        (
            "lightgbm",
            {"epochs": 5},
            InvalidParameterError,
            r"epochs applies to torch models; lightgbm trains in one go\. Set n_estimators instead\.",
        ),
        (
            "logistic_regression",
            {"epochs": 5},
            InvalidParameterError,
            r"epochs applies to torch models; logistic_regression trains in one go\. Drop epochs=\.",
        ),
        (
            "logistic_regression",
            {"callbacks": [EarlyStopping()]},
            InvalidParameterError,
            r"callbacks apply to torch models; logistic_regression does not take them\.",
        ),
        (
            "mlp",
            {"callbacks": [print]},
            InvalidParameterError,
            r"callbacks must be lepton\.training\.Callback objects, got builtin_function_or_method\.",
        ),
        (
            "mlp",
            {"verbose": "loud"},
            InvalidParameterError,
            r"verbose must be 'auto', 0, 1 or 2, got 'loud'\.",
        ),
        (
            "mlp",
            {"resume": 3},
            InvalidParameterError,
            r"resume must be True, False or a run id, got 3\.",
        ),
        (
            "mlp",
            {"config": [("epochs", 2)]},
            InvalidParameterError,
            r"config must be a dict of settings, got list\.",
        ),
        (
            "mlp",
            {"config": {"epoch": 2}},
            InvalidParameterError,
            r"TorchConfig has no setting 'epoch'\. Did you mean 'epochs'",
        ),
        (
            "mlp",
            {"epochs": 0},
            InvalidParameterError,
            r"TorchConfig\.epochs = 0 is invalid: expected a positive int\.",
        ),
        (
            "mlp",
            {"backend": "spark"},
            ConfigError,
            r"Unknown backend 'spark'; expected one of local, ray\.",
        ),
        ("mlp", {"resume": "nosuchrun"}, RunNotFoundError, r"No run named 'nosuchrun'"),
    ],
)
def test_bad_arguments(
    model: str, kwargs: dict[str, Any], error: type[Exception], message: str, table: tuple[Any, Any]
) -> None:
    train, _ = table
    with pytest.raises(error, match=message):
        lepton.train(create_model(model), train, **kwargs)
    assert [r.status for r in runs()] == []


def test_train_takes_models_and_datasets(table: tuple[Any, Any]) -> None:
    train, _ = table
    with pytest.raises(
        InvalidParameterError,
        match=r"train needs a Lepton model, got str\. Build one with lepton\.create_model",
    ):
        lepton.train("lightgbm", train)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidParameterError,
        match=r"train must be a lepton Dataset, got DataFrame\. Wrap a table with",
    ):
        lepton.train(create_model("lightgbm"), train.to_pandas(), verbose=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"valid must be a lepton Dataset, got str\."):
        lepton.train(create_model("lightgbm"), train, "valid.csv", verbose=0)  # type: ignore[arg-type]
    assert runs() == []


# resume --------------------------------------------------------------------------------------
def test_resume_with_nothing_to_resume_starts_a_new_run(
    table: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    train, _ = table
    result = lepton.train(create_model("mlp"), train, epochs=1, resume=True, verbose=2)
    out = capsys.readouterr().out
    assert "resume: no interrupted mlp run on this data was found; starting a new run." in out
    assert only_run().id == result.run_id and only_run().status == "finished"
    # a finished run is not "interrupted": resume=True starts another one
    lepton.train(create_model("mlp"), train, epochs=1, resume=True, verbose=0)
    assert capsys.readouterr().out == ""  # verbose=0 is silent, the resume note included
    assert len(runs()) == 2


def test_resume_a_run_without_checkpoint(table: tuple[Any, Any]) -> None:
    train, _ = table
    boosted = lepton.train(create_model("lightgbm", n_estimators=5), train, verbose=0)
    with pytest.raises(
        InvalidParameterError,
        match=rf"Run {boosted.run_id[:8]} has no checkpoint to resume from \(checkpoints/last\.pt\); "
        r"only torch models are checkpointed\. Train without resume= to start over\.",
    ):
        lepton.train(create_model("mlp"), train, resume=boosted.run_id, verbose=0)


def test_resume_a_run_of_another_model(table: tuple[Any, Any], tmp_path: Path) -> None:
    train, _ = table
    first = lepton.train(create_model("mlp"), train, epochs=1, verbose=0)
    with pytest.raises(
        InvalidParameterError,
        match=rf"Run {first.run_id[:8]} trained 'mlp', not 'cnn': its checkpoint cannot continue this model",
    ):
        lepton.train(
            create_model("cnn"), tiny_images(tmp_path / "i"), resume=first.run_id, verbose=0
        )


def test_resume_a_run_that_is_still_running(table: tuple[Any, Any]) -> None:
    import os

    train, _ = table
    first = lepton.train(create_model("mlp"), train, epochs=1, verbose=0)
    live = lepton.start_run(run_id=first.run_id)  # running again...
    live.set_tag("lepton.pid", os.getppid())  # ...in a process that is alive on this host
    with pytest.raises(
        InvalidParameterError,
        match=rf"Run {first.run_id[:8]} is still running \(process {os.getppid()}\); wait for it",
    ):
        lepton.train(create_model("mlp"), train, resume=first.run_id, verbose=0)
    # resume=True passes it over rather than continuing it twice
    second = lepton.train(create_model("mlp"), train, epochs=1, resume=True, verbose=0)
    assert second.run_id != first.run_id
    live.end()


def test_resume_a_finished_run_for_more_epochs(table: tuple[Any, Any]) -> None:
    train, valid = table
    first = lepton.train(create_model("mlp"), train, valid, epochs=2, verbose=0)
    more = lepton.train(create_model("mlp"), train, valid, epochs=4, resume=first.run_id, verbose=0)
    assert more.run_id == first.run_id and len(runs()) == 1
    assert more.history["loss"][:2] == first.history["loss"]
    assert steps(first.run_id, "loss") == [0, 1, 2, 3]  # each epoch once
    assert only_run().status == "finished"


# progress ------------------------------------------------------------------------------------
def test_progress_lines_when_not_a_terminal(
    table: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    train, valid = table
    lepton.train(create_model("mlp"), train, valid, epochs=2)  # verbose="auto"
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" loss=")[0] for line in lines[:2]] == ["mlp epoch 1/2", "mlp epoch 2/2"]
    assert "val_accuracy=" in lines[0] and "lr=" not in lines[0]
    assert lines[2].startswith("mlp done in ") and len(lines) == 3

    lepton.train(
        create_model("lightgbm", n_estimators=60, early_stopping_rounds=None),
        train,
        valid,
        verbose=1,
    )
    out = capsys.readouterr().out
    assert (
        "lightgbm iteration 1/60 train_binary_logloss=" in out and "lightgbm iteration 50/60" in out
    )

    lepton.train(create_model("random_forest", n_estimators=10), train, verbose=2)
    out = capsys.readouterr().out
    assert f"random_forest: fitting random_forest on {len(train)} rows" in out


def test_progress_bar_on_a_terminal(
    table: tuple[Any, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    train, _ = table
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    lepton.train(create_model("mlp"), train, epochs=2)  # verbose="auto" on a "terminal"
    out = capsys.readouterr().out
    assert "mlp epoch 1/2" in out and "mlp epoch 2/2" in out
    assert "3/3" in out  # batches done of the epoch: 90 rows in batches of 32
    assert "mlp done in " in out


@pytest.mark.parametrize("name", ["mlp", "lightgbm", "logistic_regression"])
def test_verbose_zero_is_silent(
    name: str, table: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    train, valid = table
    lepton.train(create_model(name), train, valid, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""

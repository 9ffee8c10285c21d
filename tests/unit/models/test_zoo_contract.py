"""Every zoo model keeps the Model contract on tiny data; create_model, configs, predict inputs
and bundles refuse bad input with a message that says how to fix it."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lepton
from lepton.errors import DataError, IntegrityError, InvalidParameterError, NotFoundError
from lepton.models import (
    ModelNotFittedError,
    ModelNotFoundError,
    ModelNotInZooError,
    create_model,
    list_zoo,
    load_model,
    save_model,
)
from lepton.testing import check_model_contract, tiny_images, tiny_table, tiny_texts

ZOO = {row["name"]: row for row in list_zoo()}
# ResNet-34/50 take a few seconds each even on 8 tiny images: they still run in CI
SLOW = {"resnet34", "resnet50"}
CASES = [
    pytest.param(name, task, id=f"{name}-{task}", marks=[pytest.mark.slow] if name in SLOW else [])
    for name, row in ZOO.items()
    for task in row["tasks"]
]


def test_the_zoo_lists_what_design_promises() -> None:
    assert set(ZOO) >= {
        "logistic_regression",
        "linear_regression",
        "random_forest",
        "lightgbm",
        "mlp",
        "cnn",
        "resnet18",
        "resnet34",
        "resnet50",
        "text_bow",
    }
    for row in ZOO.values():
        assert row["data"] in ("table", "images", "texts") and row["summary"]
        assert set(row["tasks"]) <= {"classification", "regression"}


@pytest.mark.parametrize(("name", "task"), CASES)
def test_zoo_model_keeps_the_contract(name: str, task: str, tmp_path: Path) -> None:
    row = ZOO[name]
    if row["data"] == "images":
        # 32x32 inputs and 12 images keep even ResNet-50 to seconds; no worker processes
        model = create_model(name, input_shape=(32, 32, 3), epochs=1, num_workers=0)
        images = tiny_images(tmp_path / "images", per_class=6, size=32)
        train, valid = images.split(test_size=4, seed=0)
        report = check_model_contract(model, train, valid)
    else:
        settings: dict[str, Any] = {"epochs": 1} if row["needs"] == "torch" else {}
        model = create_model(name, task=task, **settings)
        report = check_model_contract(model)
    assert model.task == task and model.fitted
    expected = {"config", "fit", "predict", "save/load", "tamper detection"}
    if task == "classification":
        expected.add("predict_proba")
    if row["data"] == "table":
        expected.add("input forms")
    assert expected <= set(report["checked"])


def test_resnet_trains_on_grayscale_with_a_one_image_last_batch(tmp_path: Path) -> None:
    """7 images in batches of 3 end in a batch of one, which BatchNorm cannot train on when a
    32x32 input is down to 1x1 in the last block: that batch is skipped instead of crashing."""
    tiny_images(tmp_path / "images", per_class=4, size=32)
    data = lepton.Dataset.from_images(tmp_path / "images", input_shape=(32, 32, 1))
    train, valid = data.split(test_size=1, seed=0, stratify=False)
    assert len(train) == 7
    model = create_model(
        "resnet18", input_shape=(32, 32, 1), epochs=1, train_batch_size=3, num_workers=0
    )
    model.fit(train, valid)
    assert model.predict_proba(valid).shape == (1, 2)


# create_model --------------------------------------------------------------------------------
def test_unknown_model_suggests_the_closest_zoo_name() -> None:
    with pytest.raises(
        ModelNotInZooError,
        match=r"No zoo model named 'lightgmb'\. Existing zoo models: .*'resnet50'.*"
        r"Did you mean 'lightgbm'\? List them with `lepton models zoo`",
    ):
        create_model("lightgmb")
    assert issubclass(ModelNotInZooError, NotFoundError) and issubclass(
        ModelNotInZooError, LookupError
    )


def test_unknown_model_spelled_another_way_suggests_the_family() -> None:
    with pytest.raises(
        ModelNotInZooError, match=r"Did you mean 'resnet50', 'resnet34', 'resnet18'"
    ):
        create_model("ResNet-50")
    with pytest.raises(ModelNotInZooError, match=r"No zoo model named 'xgboost'.*List them"):
        create_model("xgboost")


def test_task_the_model_cannot_do() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"logistic_regression supports classification, not 'regression'\. Zoo models "
        r"for regression: linear_regression, random_forest, lightgbm, mlp\.",
    ):
        create_model("logistic_regression", task="regression")
    with pytest.raises(InvalidParameterError, match=r"resnet18 supports classification, not"):
        create_model("resnet18", task="regression")


def test_unknown_task() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"Unknown task 'clustering'; expected one of 'classification', 'regression'",
    ):
        create_model("lightgbm", task="clustering")


@pytest.mark.parametrize("shape", [(32, 32), (32, 0, 3), (32.0, 32, 3), (1, 2, 3, 4)])
def test_bad_input_shape(shape: Any) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"input_shape must be \(height, width, channels\) of positive ints, got "
        + re.escape(repr(shape)),
    ):
        create_model("cnn", input_shape=shape)


def test_input_shape_on_a_table_model() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"input_shape is for image models; lightgbm trains on table"
    ):
        create_model("lightgbm", input_shape=(8, 8, 1))


@pytest.mark.parametrize("classes", [1, 0, "10", 2.5])
def test_bad_num_classes(classes: Any) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=rf"num_classes must be an int >= 2, got {re.escape(repr(classes))}",
    ):
        create_model("resnet18", num_classes=classes)


def test_unknown_hparam_suggests_the_right_one() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"LightGBMConfig has no setting 'num_leave'\. Did you mean 'num_leaves'\? "
        r"Settings: seed, n_estimators",
    ):
        create_model("lightgbm", num_leave=15)
    with pytest.raises(InvalidParameterError, match=r"Did you mean 'learning_rate'\?"):
        create_model("mlp", learning_rat=0.1)


def test_hparams_reach_the_config() -> None:
    model = create_model("lightgbm", num_leaves=15, learning_rate=0.1)
    assert (model.config.num_leaves, model.config.learning_rate) == (15, 0.1)
    # zoo defaults differ per model: ResNets train with AdamW
    assert create_model("resnet18").config.optimizer == "adamw"
    assert create_model("mlp").config.optimizer == "adam"


# ModelConfig: a live, validated view ---------------------------------------------------------
def test_model_config_is_a_live_view() -> None:
    model = create_model("resnet18", input_shape=(32, 32, 3), num_classes=10)
    lepton.ModelConfig(model).train_batch_size = 32
    lepton.ModelConfig(model).epochs = 10
    assert lepton.ModelConfig(model) is model.config
    assert (model.config.train_batch_size, model.config.epochs) == (32, 10)
    assert model.summary()["config"]["epochs"] == 10


def test_model_config_refuses_a_misspelt_setting() -> None:
    model = create_model("resnet18", num_classes=10)
    with pytest.raises(
        InvalidParameterError,
        match=r"TorchConfig has no setting 'train_batchsize'\. Did you mean 'train_batch_size'",
    ):
        lepton.ModelConfig(model).train_batchsize = 32


def test_model_config_takes_only_models() -> None:
    with pytest.raises(InvalidParameterError, match=r"ModelConfig takes a Lepton model, got str\."):
        lepton.ModelConfig("resnet50")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "setting", "value", "message"),
    [
        ("mlp", "epochs", 0, r"TorchConfig\.epochs = 0 is invalid: expected a positive int\."),
        ("mlp", "epochs", True, r"TorchConfig\.epochs = True is invalid: expected a positive int"),
        (
            "mlp",
            "optimizer",
            "rmsprop",
            r"optimizer = 'rmsprop' is invalid: expected 'adam', 'adamw' or 'sgd'",
        ),
        ("mlp", "learning_rate", -1, r"learning_rate = -1 is invalid: expected a positive number"),
        ("mlp", "dropout", 1.0, r"dropout = 1\.0 is invalid: expected a number in \[0, 1\)"),
        (
            "mlp",
            "augment",
            ["rotate"],
            r"augment = \['rotate'\] is invalid: expected a list of 'flip'",
        ),
        (
            "mlp",
            "device",
            "tpu",
            r"device = 'tpu' is invalid: expected 'auto', 'cpu', 'cuda\[:N\]' or 'mps'",
        ),
        (
            "lightgbm",
            "subsample",
            1.5,
            r"LightGBMConfig\.subsample = 1\.5 is invalid: expected a number in \(0, 1\]",
        ),
        ("lightgbm", "num_leaves", 1, r"num_leaves = 1 is invalid: expected an int > 1"),
        (
            "random_forest",
            "max_depth",
            0,
            r"max_depth = 0 is invalid: expected None or a positive int",
        ),
        (
            "logistic_regression",
            "class_weight",
            "auto",
            r"class_weight = 'auto' is invalid: expected None or 'balanced'",
        ),
        ("tfidf_logreg", "seed", "0", r"TextLinearConfig\.seed = '0' is invalid: expected an int"),
    ],
)
def test_config_validation_messages(name: str, setting: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        create_model(name, **{setting: value})
    # set through the live view, the same value is refused when training starts
    model = create_model(name)
    setattr(lepton.ModelConfig(model), setting, value)
    data = tiny_texts() if ZOO[name]["data"] == "texts" else tiny_table()
    with pytest.raises(InvalidParameterError, match=message):
        model.fit(data)
    assert not model.fitted


def test_config_round_trips_through_a_dict() -> None:
    config = create_model("mlp", hidden_sizes=(16,), epochs=3).config
    copy = type(config).from_dict({**config.to_dict(), "from_a_newer_version": 1})
    assert copy.to_dict() == config.to_dict() and copy.to_dict()["hidden_sizes"] == [16]


# predict: every input form, clear errors -------------------------------------------------------
@pytest.fixture(scope="module")
def classifier() -> Any:
    model = create_model("logistic_regression")
    return model.fit(tiny_table("classification"))


def test_predict_input_forms_agree(classifier: Any) -> None:
    data = tiny_table("classification", rows=20, seed=1)
    frame = data.X()
    expected = classifier.predict(data)
    assert expected.shape == (20,) and set(expected) <= {"no", "yes"}
    forms = {
        "DataFrame": frame,
        "DataFrame with extra columns": data.to_pandas().assign(unused=1),
        "ndarray": frame.to_numpy(dtype=object),
        "records": frame.to_dict(orient="records"),
        "rows": frame.to_numpy(dtype=object).tolist(),
    }
    for form, value in forms.items():
        assert list(classifier.predict(value)) == list(expected), form
    one = frame.iloc[0].to_dict()
    assert list(classifier.predict(one)) == [expected[0]]  # one record
    assert list(classifier.predict(list(frame.iloc[0]))) == [expected[0]]  # one row
    proba = classifier.predict_proba(frame)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1)
    assert classifier.classes == ["no", "yes"]


def test_predict_missing_column(classifier: Any) -> None:
    frame = tiny_table(rows=5).X().drop(columns=["x2"])
    with pytest.raises(
        DataError,
        match=r"Input is missing the column\(s\) \['x2'\] that the model was trained on\. "
        r"Expected columns: \['x1', 'x2', 'color'\]; got: \['x1', 'color'\]",
    ):
        classifier.predict(frame)
    with pytest.raises(DataError, match=r"missing the column\(s\) \['color'\]"):
        classifier.predict([{"x1": 0.1, "x2": 0.3}])


def test_predict_rows_of_the_wrong_width(classifier: Any) -> None:
    with pytest.raises(
        DataError,
        match=r"Expected rows of 3 values in the order \['x1', 'x2', 'color'\], got an array of "
        r"shape \(2, 2\)\. Pass records \(dicts\) to name the columns",
    ):
        classifier.predict(np.zeros((2, 2)))


def test_predict_on_something_else(classifier: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"Cannot predict on int: pass a Dataset"):
        classifier.predict(42)


def test_predict_before_training() -> None:
    with pytest.raises(
        ModelNotFittedError,
        match=r"lightgbm has not been trained yet\. Train it first: lepton\.train\(model, dataset\)",
    ):
        create_model("lightgbm").predict([{"x1": 1.0}])


def test_predict_proba_on_a_regressor() -> None:
    model = create_model("linear_regression").fit(tiny_table("regression"))
    with pytest.raises(
        InvalidParameterError,
        match=r"linear_regression is a regression model: predict_proba needs a classifier\. Use predict\(\)",
    ):
        model.predict_proba(tiny_table("regression", rows=5))


def test_image_model_predicts_on_paths_arrays_and_datasets(tmp_path: Path) -> None:
    data = tiny_images(tmp_path / "images", per_class=4, size=16)
    model = create_model("cnn", epochs=1, num_workers=0).fit(data)
    expected = model.predict_proba(data)
    paths = [str(p) for p in data.image_paths]
    arrays = np.stack([_pixels(p) for p in paths])  # (N, H, W, C) uint8
    assert np.allclose(model.predict_proba(paths), expected, atol=1e-6)
    assert np.allclose(model.predict_proba(arrays), expected, atol=1e-6)
    assert np.allclose(model.predict_proba(paths[0]), expected[:1], atol=1e-6)
    assert list(model.predict(arrays)) == list(model.predict(data))


def _pixels(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_text_model_input_forms() -> None:
    model = create_model("tfidf_logreg").fit(tiny_texts())
    texts = ["great love wonderful film", "awful hate sad day"]
    assert list(model.predict(texts)) == ["pos", "neg"]
    assert list(model.predict(texts[0])) == ["pos"]
    assert list(model.predict([{"text": t} for t in texts])) == ["pos", "neg"]
    assert list(model.predict(pd.DataFrame({"text": texts}))) == ["pos", "neg"]
    with pytest.raises(
        InvalidParameterError, match=r"Expected a text column 'text'; got columns \['review'\]"
    ):
        model.predict(pd.DataFrame({"review": texts}))


# bundles -------------------------------------------------------------------------------------
def _rewrite(bundle: Path, out: Path, change: Any) -> Path:
    """Copy the zip ``bundle`` to ``out``; ``change(name, payload)`` returns new bytes or None
    to drop the entry."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            payload = change(item.filename, src.read(item))
            if payload is not None:
                dst.writestr(item, payload)
    return out


def test_save_load_round_trip_with_any_suffix(classifier: Any) -> None:
    path = save_model(classifier, "x/model.h5")  # the seed's habit: the suffix is free
    assert path == Path("x/model.h5") and zipfile.is_zipfile(path)
    loaded = load_model("x/model.h5")
    data = tiny_table(rows=10, seed=3)
    assert list(loaded.predict(data)) == list(classifier.predict(data))
    assert np.allclose(loaded.predict_proba(data), classifier.predict_proba(data))
    assert (loaded.name, loaded.task, loaded.classes) == (
        "logistic_regression",
        "classification",
        ["no", "yes"],
    )
    assert loaded.input_schema == classifier.input_schema
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("lepton.json"))
    assert manifest["format"] == "lepton-bundle/1" and "estimator.skops" in manifest["files"]


def test_torch_weights_are_stored_uncompressed(tmp_path: Path) -> None:
    model = create_model("mlp", epochs=1).fit(tiny_table())
    with zipfile.ZipFile(save_model(model, tmp_path / "m.lepton")) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
    assert kinds["weights.safetensors"] == zipfile.ZIP_STORED
    assert kinds["lepton.json"] == zipfile.ZIP_DEFLATED


def test_changed_byte_is_detected(classifier: Any, tmp_path: Path) -> None:
    bundle = save_model(classifier, tmp_path / "m.lepton")

    def flip(name: str, payload: bytes) -> bytes:
        return payload[:-1] + bytes([payload[-1] ^ 1]) if name == "estimator.skops" else payload

    tampered = _rewrite(bundle, tmp_path / "t.lepton", flip)
    with pytest.raises(
        IntegrityError,
        match=r"t\.lepton was tampered with: estimator\.skops does not match the sha256 recorded "
        r"in lepton\.json\. Do not load it",
    ):
        load_model(tampered)


def test_extra_file_is_detected(classifier: Any, tmp_path: Path) -> None:
    bundle = save_model(classifier, tmp_path / "m.lepton")
    extra = tmp_path / "extra.lepton"
    _rewrite(bundle, extra, lambda name, payload: payload)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("run_me.py", "import os")
    with pytest.raises(
        IntegrityError,
        match=r"was tampered with: files not in the manifest \['run_me\.py'\], files missing \[\]",
    ):
        load_model(extra)


def test_missing_file_is_detected(classifier: Any, tmp_path: Path) -> None:
    bundle = save_model(classifier, tmp_path / "m.lepton")
    missing = _rewrite(
        bundle, tmp_path / "missing.lepton", lambda n, p: None if n == "estimator.skops" else p
    )
    with pytest.raises(
        IntegrityError,
        match=r"files not in the manifest \[\], files missing \['estimator\.skops'\]",
    ):
        load_model(missing)


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "m.lepton").write_text("not a model")
    with pytest.raises(
        IntegrityError,
        match=r"m\.lepton is not a Lepton bundle \(not a zip file or a bundle folder\)",
    ):
        load_model(tmp_path / "m.lepton")


@pytest.mark.parametrize(
    "entry", ["../escape.txt", "sub/../../escape.txt", "/abs.txt", "sub/file.txt"]
)
def test_zip_with_paths_is_refused_before_extraction(entry: str, tmp_path: Path) -> None:
    bundle = tmp_path / "bundles" / "evil.lepton"
    bundle.parent.mkdir()
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("lepton.json", "{}")
        zf.writestr(entry, "owned")
    with pytest.raises(
        IntegrityError,
        match=rf"holds an unexpected entry '{re.escape(entry)}'; a Lepton bundle holds only flat files",
    ):
        load_model(bundle)
    assert (
        not (tmp_path / "escape.txt").exists()
        and not (tmp_path / "bundles" / "escape.txt").exists()
    )


def test_zip_without_manifest(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:
        zf.writestr("weights.bin", b"\x00")
    with pytest.raises(IntegrityError, match=r"is not a Lepton bundle: it has no lepton\.json"):
        load_model(tmp_path / "m.zip")


def test_bad_manifest(classifier: Any, tmp_path: Path) -> None:
    bundle = save_model(classifier, tmp_path / "m.lepton")
    broken = _rewrite(bundle, tmp_path / "b.lepton", lambda n, p: b"{" if n == "lepton.json" else p)
    with pytest.raises(IntegrityError, match=r"lepton\.json is not valid JSON"):
        load_model(broken)

    def newer(name: str, payload: bytes) -> bytes:
        if name != "lepton.json":
            return payload
        return json.dumps({**json.loads(payload), "format": "lepton-bundle/9"}).encode()

    with pytest.raises(
        IntegrityError,
        match=r"unsupported bundle format 'lepton-bundle/9'; expected 'lepton-bundle/1'",
    ):
        load_model(_rewrite(bundle, tmp_path / "n.lepton", newer))


def test_folder_bundle(classifier: Any, tmp_path: Path) -> None:
    folder = save_model(classifier, f"{tmp_path}/bundle/")
    assert (folder / "lepton.json").is_file() and (folder / "estimator.skops").is_file()
    data = tiny_table(rows=10, seed=4)
    assert list(load_model(folder).predict(data)) == list(classifier.predict(data))
    save_model(classifier, folder)  # an existing folder is replaced by a fresh bundle
    assert load_model(folder).name == "logistic_regression"
    (folder / "notes.txt").write_text("hi")
    with pytest.raises(IntegrityError, match=r"files not in the manifest \['notes\.txt'\]"):
        load_model(folder)
    (folder / "notes.txt").unlink()
    with open(folder / "estimator.skops", "ab") as stream:
        stream.write(b"\x00")
    with pytest.raises(IntegrityError, match=r"estimator\.skops does not match the sha256"):
        load_model(folder)


def test_skops_with_a_foreign_type_is_refused(classifier: Any, tmp_path: Path) -> None:
    """A bundle whose manifest was re-hashed by the attacker still cannot smuggle in code."""
    import hashlib
    import os

    import skops.io
    from sklearn.linear_model import LogisticRegression

    folder = save_model(classifier, f"{tmp_path}/bundle/")
    evil = LogisticRegression()
    evil.callback = os.system  # a function skops would import and hand back on load
    skops.io.dump(evil, folder / "estimator.skops")
    manifest = json.loads((folder / "lepton.json").read_text())
    manifest["files"]["estimator.skops"] = hashlib.sha256(
        (folder / "estimator.skops").read_bytes()
    ).hexdigest()
    (folder / "lepton.json").write_text(json.dumps(manifest))
    with pytest.raises(
        IntegrityError,
        match=r"estimator\.skops holds types outside scikit-learn, NumPy and SciPy "
        r"\(posix\.system\); loading them could run arbitrary code, so it was refused",
    ):
        load_model(folder)


def test_save_and_load_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"save_model needs a Lepton model, got dict\."):
        save_model({"weights": 1}, tmp_path / "m.lepton")  # type: ignore[arg-type]
    with pytest.raises(ModelNotFittedError, match=r"mlp has not been trained yet"):
        save_model(create_model("mlp"), tmp_path / "m.lepton")
    assert not (tmp_path / "m.lepton").exists()
    with pytest.raises(
        ModelNotFoundError,
        match=r"No model named 'nope\.lepton'.*Pass the path of a saved bundle \(lepton\.save_model\) "
        r"or runs:/RUN_ID/model\.lepton",
    ):
        load_model("nope.lepton")

"""``check_model_contract``: the one test every zoo model must pass (like sklearn's estimator checks)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lepton.errors import IntegrityError, InvalidParameterError, LeptonError


class ContractError(LeptonError, AssertionError):
    code = "contract_violation"


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def _raises(kind: type[BaseException], fn: Any, what: str) -> None:
    try:
        fn()
    except kind:
        return
    raise ContractError(f"expected {kind.__name__} when {what}")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal labels, or regression values equal up to float rounding."""
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))
    return list(a) == list(b)


def check_model_contract(model: Any, train: Any = None, valid: Any = None) -> dict[str, Any]:
    """Check that ``model`` keeps the Model contract; raise ContractError naming what broke.

    Trains the model on ``train`` (default: tiny generated data of the model's kind), then checks
    predict/predict_proba on every input form, the live config view, save/load round trips and
    that a tampered bundle is refused. Returns what was checked, for reports.
    """
    from lepton.models import Model, ModelConfig, ModelNotFittedError, load_model, save_model
    from lepton.testing._data import tiny_images, tiny_table, tiny_texts

    _expect(isinstance(model, Model), f"{type(model).__name__} is not a lepton Model")
    for attribute in ("name", "family", "task", "config", "data_kinds", "input_schema"):
        _expect(hasattr(model, attribute), f"{model!r} has no {attribute!r}")
    _expect(ModelConfig(model) is model.config, "ModelConfig(model) must be the live model.config")
    _raises(
        InvalidParameterError,
        lambda: setattr(ModelConfig(model), "no_such_setting_xyz", 1),
        "setting an unknown config name",
    )
    if not model.fitted:
        _raises(ModelNotFittedError, lambda: model.predict([[0]]), "predicting before training")
    if train is None:
        kind = model.data_kinds[0]
        if kind == "images":
            train = tiny_images(size=int(model.input_shape[0]) if model.input_shape else 16)
        elif kind == "texts":
            train = tiny_texts()
        else:
            train = tiny_table(model.task or "classification")
        train, valid = train.split(test_size=0.25, seed=0)
    if hasattr(model.config, "epochs"):
        model.config.epochs = min(model.config.epochs, 2)
    _expect(model.fit(train, valid) is model, "fit must return the model itself")
    _expect(
        model.fitted and model.input_schema is not None, "a fitted model must have an input_schema"
    )

    data = valid or train
    rows = len(data)
    predictions = model.predict(data)
    _expect(
        isinstance(predictions, np.ndarray) and predictions.shape == (rows,),
        f"predict must return shape ({rows},), got {getattr(predictions, 'shape', None)}",
    )
    checked = ["config", "fit", "predict"]
    if model.task == "classification":
        proba = model.predict_proba(data)
        _expect(
            proba.shape == (rows, len(model.classes)),
            f"predict_proba shape {proba.shape} != ({rows}, {len(model.classes)})",
        )
        _expect(bool(np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)), "probabilities must sum to 1")
        labels = np.asarray(model.classes, dtype=object)[proba.argmax(axis=1)]
        _expect(list(labels) == list(predictions), "predict must be the argmax of predict_proba")
        _expect(set(predictions) <= set(model.classes), "predictions must be known classes")
        checked.append("predict_proba")
    else:
        _raises(
            InvalidParameterError,
            lambda: model.predict_proba(data),
            "calling predict_proba on a regressor",
        )
    if data.kind == "table":
        frame = data.X()
        for form, value in (
            ("DataFrame", frame),
            ("ndarray", frame.to_numpy(dtype=object)),
            ("records", frame.to_dict(orient="records")),
        ):
            _expect(
                _same(model.predict(value), predictions),
                f"predict on a {form} differs from predict on the Dataset",
            )
        checked.append("input forms")
    with tempfile.TemporaryDirectory(prefix="lepton-contract-") as tmp:
        bundle = save_model(model, Path(tmp) / "model.lepton")
        loaded = load_model(bundle)
        _expect(
            type(loaded) is type(model) and loaded.name == model.name,
            "load_model must return the same kind of model",
        )
        _expect(
            _same(loaded.predict(data), predictions), "a loaded model must predict as the saved one"
        )
        if model.task == "classification":
            _expect(
                bool(np.allclose(loaded.predict_proba(data), model.predict_proba(data), atol=1e-6)),
                "loaded probabilities differ",
            )
        tampered = Path(tmp) / "tampered.lepton"
        with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
            for item in src.infolist():
                payload = src.read(item)
                if item.filename != "lepton.json":
                    payload = payload[:-1] + bytes([(payload[-1] + 1) % 256]) if payload else b"x"
                dst.writestr(item, payload)
        _raises(IntegrityError, lambda: load_model(tampered), "loading a tampered bundle")
        checked += ["save/load", "tamper detection"]
    return {"model": model.name, "checked": checked, "rows": rows}

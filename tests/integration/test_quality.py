"""Models learn what they should: a small CNN on scikit-learn's 8x8 digits (as PNG files) and
LightGBM through lepton.train reaching what a plain LightGBM call reaches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lepton


@pytest.mark.slow
def test_small_cnn_on_digits_reaches_90_percent(tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()  # 1,797 images of 8x8 pixels, values 0-16, bundled with sklearn
    root = tmp_path / "digits"
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((pixels * 255 / 16).astype(np.uint8), mode="L").save(
            folder / f"{index}.png"
        )

    data = lepton.Dataset.from_images(root, input_shape=(8, 8, 1), name="digits")
    train, valid = data.split(test_size=0.2, seed=0)
    # the accuracy passes 0.9 after one epoch; in-process loading keeps the test fast
    model = lepton.create_model("cnn", epochs=5, train_batch_size=32, num_workers=0)
    result = lepton.train(model, train, valid, verbose=0)

    accuracy = float((model.predict(valid) == valid.y()).mean())
    assert accuracy >= 0.90, f"validation accuracy {accuracy:.3f} < 0.90"
    assert result.history["val_accuracy"][-1] == pytest.approx(accuracy)
    assert model.classes == [str(d) for d in range(10)]  # the class folder names
    assert model.input_shape == (8, 8, 1)


def test_lightgbm_matches_a_plain_lightgbm_call() -> None:
    import lightgbm as lgb
    from sklearn.datasets import make_classification
    from sklearn.metrics import roc_auc_score

    x, y = make_classification(
        n_samples=3000, n_features=12, n_informative=6, flip_y=0.05, random_state=0
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)]).assign(target=y)
    train, valid = lepton.Dataset.from_pandas(frame, target="target").split(test_size=0.25, seed=0)

    result = lepton.train(lepton.create_model("lightgbm", seed=0), train, valid, verbose=0)

    # the same parameters, seed, rounds and early stopping, on the same rows, without Lepton
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 20,
        "seed": 0,
        "deterministic": True,
        "verbosity": -1,
    }
    booster = lgb.train(
        params,
        lgb.Dataset(train.X(), train.y()),
        num_boost_round=500,
        valid_sets=[lgb.Dataset(valid.X(), valid.y())],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    plain = roc_auc_score(
        valid.y(), booster.predict(valid.X(), num_iteration=booster.best_iteration)
    )

    ours = result.metrics["val_roc_auc"]
    assert plain > 0.9  # a learnable table: the comparison means something
    assert abs(ours - plain) <= 0.005, f"lepton AUC {ours:.4f} vs plain LightGBM {plain:.4f}"
    # the reported metric is the model's own: recomputed from its predictions
    proba = result.model.predict_proba(valid)[:, result.model.classes.index(1)]
    assert roc_auc_score(valid.y(), proba) == pytest.approx(ours)

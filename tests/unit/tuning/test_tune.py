"""``lepton.tune``: it beats defaults, prunes, tracks every trial as a child run, runs trials in
parallel, samples on a grid, and refuses bad requests with the fix."""

from __future__ import annotations

from typing import Any

import pytest

import lepton
from lepton.errors import InvalidParameterError
from lepton.testing import tiny_table
from lepton.tuning import TuneResult, choice, intrange, loguniform, uniform
from lepton.workspace import get_workspace

from ._data import checkerboard, noisy_linear


def children(parent_id: str) -> list[Any]:
    return [r for r in runs() if r.parent_id == parent_id]


def test_tuning_beats_the_default_settings_and_trains_the_winner() -> None:
    train, valid = checkerboard().split(0.3, seed=0)
    default = lepton.train(lepton.create_model("lightgbm"), train, valid, verbose=0)
    result = lepton.tune("lightgbm", train, valid, n_trials=10, seed=0, verbose=0)

    assert isinstance(result, TuneResult)
    assert result.metric == "val_roc_auc" and result.direction == "maximize"
    # min_child_samples=20 and 31 leaves cannot cut a checkerboard from 280 rows; tuning finds it
    assert result.baseline_value == pytest.approx(default.metrics["val_roc_auc"])
    assert result.best_value >= result.baseline_value + 0.05
    # the returned model is trained with the best settings and scores what the best trial did
    assert result.train_result.metrics["val_roc_auc"] == pytest.approx(result.best_value)
    for name, value in result.best_params.items():
        assert getattr(result.best_model.config, name) == pytest.approx(value)
    assert set(result.best_params) == set(lepton.tuning.default_space("lightgbm"))
    assert result.best_model.predict(valid).shape == (len(valid),)
    assert lepton.load_model(result.model_uri).config == result.best_model.config


def test_every_trial_is_a_child_run_of_one_parent_with_the_report() -> None:
    train, valid = noisy_linear().split(0.3, seed=0)
    result = lepton.tune("logistic_regression", train, valid, n_trials=6, verbose=0)

    workspace = get_workspace()
    parent = workspace.get_run(result.run_id)
    assert parent.tags["lepton.kind"] == "tune" and parent.status == "finished"
    assert parent.params["best.C"] == pytest.approx(result.best_params["C"])
    kids = children(parent.id)
    trials = [r for r in kids if r.tags.get("lepton.kind") == "trial"]
    assert sorted(int(r.tags["lepton.trial"]) for r in trials) == list(range(6))
    assert {r.id for r in trials} == set(result.trials["run_id"])
    assert all(r.status == "finished" for r in trials)
    for run in trials:  # each trial's settings and score are in its own run
        row = result.trials[result.trials["run_id"] == run.id].iloc[0]
        assert run.params["config.C"] == pytest.approx(row["C"])
        assert run.metrics["val_roc_auc"] == pytest.approx(row["value"])
    assert result.best_run_id in {r.id for r in kids}  # the winner's training run
    # the parent holds the value of each trial and the best so far, one point per trial
    points = workspace.metric_history(parent.id, "best_val_roc_auc")
    assert [p.value for p in points] == sorted(p.value for p in points)
    assert points[-1].value == pytest.approx(result.best_value)
    files = {a.path for a in workspace.list_artifacts(parent.id)}
    assert {
        "tuning/trials.csv",
        "tuning/history.png",
        "tuning/importance.png",
        "tuning/report.html",
    } <= files
    assert result.report_path is not None and result.report_path.is_file()
    html = result._repr_html_()
    assert html.count("data:image/png;base64,") == 2 and "best val_roc_auc" in html
    assert result.plot_history()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.importances) == {"C", "class_weight"}
    assert sum(result.importances.values()) == pytest.approx(1.0)


def test_median_pruning_stops_bad_trials_early() -> None:
    train, valid = checkerboard().split(0.3, seed=0)
    result = lepton.tune(
        "lightgbm",
        train,
        valid,
        n_trials=14,
        # low learning rates and few leaves learn slowly: the pruner stops them halfway
        search_space={
            "learning_rate": loguniform(0.003, 0.3),
            "num_leaves": intrange(2, 64, log=True),
            "min_child_samples": intrange(2, 40),
        },
        seed=1,
        verbose=0,
    )
    pruned = result.trials[result.trials["state"] == "pruned"]
    assert len(pruned) >= 1, result.trials
    workspace = get_workspace()
    for run_id in pruned["run_id"]:
        run = workspace.get_run(run_id)
        assert run.tags["lepton.trial_state"] == "pruned" and run.status == "finished"
        steps = workspace.metric_history(run_id, "val_auc")
        assert len(steps) < 500  # stopped before its 500 boosting rounds


def test_torch_trials_report_each_epoch_and_choices_map_back() -> None:
    pytest.importorskip("torch")
    train, valid = tiny_table("classification", rows=160).split(0.25, seed=0)
    result = lepton.tune(
        "mlp",
        train,
        valid,
        metric="accuracy",
        n_trials=3,
        search_space={
            "hidden_sizes": choice([[8], [16, 8]]),
            "learning_rate": loguniform(1e-3, 1e-2),
            "epochs": 3,
        },
        pruner="none",
        verbose=0,
    )
    assert result.metric == "val_accuracy"
    assert result.best_params["hidden_sizes"] in ([8], [16, 8])
    assert list(result.best_model.config.hidden_sizes) == result.best_params["hidden_sizes"]
    assert result.best_model.config.epochs == 3
    run_id = result.trials["run_id"].iloc[0]
    assert len(get_workspace().metric_history(run_id, "val_accuracy")) == 3


def test_parallel_trials_and_grid_search() -> None:
    train, valid = noisy_linear().split(0.3, seed=0)
    grid = {"C": choice([0.001, 0.01, 0.1, 1.0]), "class_weight": choice([None, "balanced"])}
    result = lepton.tune(
        "logistic_regression",
        train,
        valid,
        search_space=grid,
        sampler="grid",
        n_trials=8,
        n_jobs=2,
        verbose=0,
    )
    seen = {  # pandas shows None as NaN in a column of strings
        (row.C, row.class_weight if isinstance(row.class_weight, str) else None)
        for row in result.trials.itertuples()
    }
    assert seen == {(c, w) for c in [0.001, 0.01, 0.1, 1.0] for w in [None, "balanced"]}
    assert len(set(result.trials["run_id"])) == 8
    assert all(get_workspace().get_run(r).status == "finished" for r in result.trials["run_id"])
    with pytest.raises(InvalidParameterError, match="grid search needs choice"):
        lepton.tune(
            "logistic_regression", train, valid, search_space={"C": uniform(0.1, 1)}, sampler="grid"
        )


def test_a_failing_trial_is_recorded_and_the_search_goes_on() -> None:
    train, valid = noisy_linear().split(0.3, seed=0)
    # class_weight 'balanced' is fine, but random_forest's max_features=7.0 (a float > 1) fails in
    # scikit-learn itself, at fit time, for those trials only
    result = lepton.tune(
        "random_forest",
        train,
        valid,
        search_space={"max_features": choice(["sqrt", 7.0]), "n_estimators": intrange(10, 20)},
        sampler="grid",
        n_trials=4,
        verbose=0,
    )
    failed = result.trials[result.trials["state"] == "fail"]
    assert len(failed) >= 1 and all("max_features" in e for e in failed["error"])
    assert (result.trials["state"] == "complete").sum() >= 1
    assert result.best_params["max_features"] == "sqrt"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trials": 0}, "n_trials must be an int >= 1"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"n_jobs": 0}, "n_jobs must be an int >= 1"),
        ({"sampler": "bayes"}, "sampler must be one of tpe, random, grid"),
        ({"pruner": "asha"}, "pruner must be one of median, none"),
        ({"metric": "rmse"}, "can optimise: accuracy, log_loss, roc_auc"),
        ({"metric": "roc_auc", "direction": "minimize"}, "contradicts metric 'roc_auc'"),
        ({"direction": "up"}, "direction must be 'maximize' or 'minimize'"),
        ({"search_space": {}}, "search space is empty"),
        ({"study": "../x"}, "study name '../x' is invalid"),
    ],
)
def test_bad_requests_are_refused_before_any_trial(kwargs: dict[str, Any], message: str) -> None:
    train, valid = noisy_linear(rows=60, noise_features=2).split(0.3, seed=0)
    with pytest.raises(InvalidParameterError, match=message):
        lepton.tune("logistic_regression", train, valid, **kwargs)
    assert runs() == []  # refused before a run was started


def runs() -> list[Any]:
    from lepton.errors import ProjectNotFoundError

    try:
        return get_workspace().list_runs("default")
    except ProjectNotFoundError:
        return []


def test_other_bad_inputs() -> None:
    train = noisy_linear(rows=60, noise_features=2)
    with pytest.raises(InvalidParameterError, match="zoo model name or a Lepton model"):
        lepton.tune(42, train)  # type: ignore[arg-type]
    with pytest.raises(lepton.models.ModelNotInZooError):
        lepton.tune("lightgbn", train)
    with pytest.raises(InvalidParameterError, match="train must be a lepton Dataset"):
        lepton.tune("lightgbm", [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="can optimise: rmse, mae, r2"):
        regression = tiny_table("regression")
        lepton.tune("lightgbm", regression, metric="accuracy")
    with pytest.raises(InvalidParameterError, match="no default search space"):
        lepton.tune("linear_regression", tiny_table("regression"))


def test_a_named_study_is_resumed_refused_for_another_direction_or_started_over() -> None:
    train, valid = noisy_linear(rows=80, noise_features=2).split(0.3, seed=0)
    first = lepton.tune("logistic_regression", train, valid, n_trials=2, study="s", verbose=0)
    more = lepton.tune("logistic_regression", train, valid, n_trials=3, study="s", verbose=0)
    assert list(more.trials["number"]) == [0, 1, 2]  # two kept, one new
    assert more.run_id == first.run_id
    with pytest.raises(InvalidParameterError, match="stored study 's' maximizes, not minimizes"):
        lepton.tune("logistic_regression", train, valid, metric="log_loss", study="s", n_trials=1)
    fresh = lepton.tune(
        "logistic_regression", train, valid, n_trials=1, study="s", resume=False, verbose=0
    )
    assert len(fresh.trials) == 1 and fresh.run_id != first.run_id

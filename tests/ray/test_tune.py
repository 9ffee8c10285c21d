"""``lepton.tune(..., backend="ray")``: trials run as Ray Tune trials, and the search looks the
same as a local one: child runs written by the driver, the same result table, the same values for
the same seeded fits, pruning by Tune's median stopping rule, failures recorded, resume."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.tuning._data import checkerboard, noisy_linear

import lepton
from lepton.distributed import RayBackend
from lepton.errors import BackendError, InvalidParameterError
from lepton.tuning import choice, intrange, loguniform
from lepton.workspace import get_workspace

# a search on Ray takes ~30 s on an idle 2-core machine, minutes on a busy one
pytestmark = pytest.mark.timeout(900)

SPACE = {  # few boosting rounds: the trials stay quick on two CPUs
    "learning_rate": loguniform(0.05, 0.3),
    "num_leaves": intrange(4, 32, log=True),
    "min_child_samples": intrange(2, 30, log=True),
    "n_estimators": 40,
}


def runs() -> list[Any]:
    from lepton.errors import ProjectNotFoundError

    try:
        return get_workspace().list_runs("default")
    except ProjectNotFoundError:
        return []


def children(parent_id: str, kind: str = "trial") -> list[Any]:
    return [r for r in runs() if r.parent_id == parent_id and r.tags.get("lepton.kind") == kind]


def test_a_search_on_ray_tracks_each_trial_and_trains_the_winner(ray_backend: str) -> None:
    train, valid = checkerboard(rows=240).split(0.3, seed=0)
    result = lepton.tune(
        "lightgbm", train, valid, search_space=SPACE, n_trials=4, n_jobs=2, verbose=0
    )

    workspace = get_workspace()
    parent = workspace.get_run(result.run_id)
    assert parent.params["backend"] == "ray" and parent.status == "finished"
    assert list(result.trials.columns) == [
        "number", "state", "value", "seconds",
        "learning_rate", "num_leaves", "min_child_samples", "run_id", "error",
    ]  # fmt: skip
    assert sorted(result.trials["number"]) == list(range(4))
    assert set(result.trials["state"]) == {"complete"}
    trials = children(parent.id)
    assert sorted(int(r.tags["lepton.trial"]) for r in trials) == list(range(4))
    assert {r.id for r in trials} == set(result.trials["run_id"])
    for run in trials:  # written by the driver: settings, every round's metrics, the score
        row = result.trials[result.trials["run_id"] == run.id].iloc[0]
        assert run.status == "finished" and run.tags["lepton.trial_state"] == "complete"
        assert run.name == f"trial-{row['number']}"
        assert run.params["config.learning_rate"] == pytest.approx(row["learning_rate"])
        assert run.params["config.n_estimators"] == 40
        assert run.metrics["val_roc_auc"] == pytest.approx(row["value"])
        steps = [p.step for p in workspace.metric_history(run.id, "val_auc")]
        assert steps == list(range(len(steps))) and len(steps) >= 39  # every round
        assert row["seconds"] > 0
    assert result.best_value == pytest.approx(result.trials["value"].max())
    assert result.baseline_value is not None and children(parent.id, "baseline")
    # the winner is trained again (on Ray) with the best settings and scores the same
    assert result.train_result.metrics["val_roc_auc"] == pytest.approx(result.best_value)
    assert result.best_model.config.learning_rate == pytest.approx(
        result.best_params["learning_rate"]
    )
    assert result.best_model.predict(valid).shape == (len(valid),)
    assert "tuning/report.html" in {a.path for a in workspace.list_artifacts(parent.id)}

    # the study's journal works as locally: the same call with more trials only adds those
    more = lepton.tune("lightgbm", train, valid, search_space=SPACE, n_trials=5, verbose=0)
    assert more.run_id == result.run_id and more.study == result.study
    assert sorted(more.trials["number"]) == list(range(5))
    assert len(children(parent.id)) == 5


def test_the_same_seed_gives_the_same_trials_locally_and_on_ray(ray_session: Any) -> None:
    train, valid = noisy_linear(rows=120, noise_features=10).split(0.3, seed=0)
    space = {"C": loguniform(1e-3, 100.0), "class_weight": choice([None, "balanced"])}

    def search(backend: str) -> Any:
        return lepton.tune(
            "logistic_regression",
            train,
            valid,
            search_space=space,
            n_trials=4,
            seed=3,
            baseline=False,
            backend=backend,
            verbose=0,
        ).trials.set_index("number")

    local, on_ray = search("local"), search("ray")
    # the same sampler over the same study: the same settings, and deterministic fits score
    # the same (TPE's fourth trial is chosen from the first three values)
    assert list(on_ray["C"]) == pytest.approx(list(local["C"]))
    assert list(on_ray["class_weight"].fillna("none")) == list(local["class_weight"].fillna("none"))
    assert list(on_ray["value"]) == pytest.approx(list(local["value"]))


def test_the_median_stopping_rule_stops_hopeless_trials(ray_backend: str) -> None:
    train, valid = noisy_linear(rows=240, noise_features=4).split(0.3, seed=0)
    result = lepton.tune(
        "lightgbm",
        train,
        valid,
        metric="log_loss",
        # the grid runs in this order: five that learn (validation log loss ~0.53 by round 30),
        # then two that barely move off the prior (~0.68) and are stopped at round 30 or soon after
        search_space={
            "learning_rate": choice([0.1, 0.08, 0.06, 0.05, 0.04, 0.0005, 0.0003]),
            "n_estimators": 100,
        },
        sampler="grid",
        n_trials=7,
        n_jobs=2,
        baseline=False,
        verbose=0,
    )
    assert len(result.trials) == 7
    states = dict(zip(result.trials["learning_rate"], result.trials["state"], strict=True))
    assert states[0.1] == "complete"  # the first trials have nothing to be compared with
    pruned = result.trials[result.trials["state"] == "pruned"]
    assert set(pruned["learning_rate"]) & {0.0005, 0.0003}, result.trials
    workspace = get_workspace()
    for run_id in pruned["run_id"]:  # tagged as a local pruned trial is
        run = workspace.get_run(run_id)
        assert run.tags["lepton.trial_state"] == "pruned" and run.status == "finished"
        # stopped well before its last round (a slow learner stops early by itself at ~52)
        assert len(workspace.metric_history(run_id, "val_binary_logloss")) < 50
    assert result.best_params["learning_rate"] >= 0.04


def test_a_failing_trial_is_recorded_and_the_search_goes_on(ray_backend: str) -> None:
    train, valid = noisy_linear(rows=120, noise_features=10).split(0.3, seed=0)
    # max_features=7.0 (a float > 1) fails in scikit-learn itself, at fit time, in the worker
    result = lepton.tune(
        "random_forest",
        train,
        valid,
        search_space={"max_features": choice(["sqrt", 7.0]), "n_estimators": intrange(10, 11)},
        sampler="grid",
        n_trials=6,  # the grid has 4 points: the search ends when they are done
        n_jobs=2,
        baseline=False,
        verbose=0,
    )
    assert len(result.trials) == 4
    failed = result.trials[result.trials["state"] == "fail"]
    assert len(failed) == 2 and all("max_features" in e for e in failed["error"])
    assert (result.trials["state"] == "complete").sum() == 2
    assert result.best_params["max_features"] == "sqrt"
    for run_id in failed["run_id"]:
        run = get_workspace().get_run(run_id)
        assert run.status == "failed" and "max_features" in (run.error or "")


def test_bad_requests_are_refused_before_any_run(ray_backend: str) -> None:
    train, valid = noisy_linear(rows=60, noise_features=2).split(0.3, seed=0)
    with pytest.raises(InvalidParameterError, match="n_trials must be an int >= 1"):
        lepton.tune("logistic_regression", train, valid, n_trials=0)
    with pytest.raises(InvalidParameterError, match="grid search needs choice"):
        lepton.tune("logistic_regression", train, valid, sampler="grid")
    # a trial the cluster (2 CPUs) can never place
    with pytest.raises(BackendError, match="4 CPU"):
        lepton.tune(
            "logistic_regression",
            train,
            valid,
            backend=RayBackend(cpus_per_worker=4),
        )
    assert runs() == []

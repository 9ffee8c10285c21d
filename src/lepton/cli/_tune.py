"""``lepton tune``: hyper-parameter search over a zoo model, from flags or a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table


def tune(
    config: Annotated[
        Path | None, typer.Argument(help="A YAML tuning spec (keys as the flags).")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Registered dataset NAME[:VERSION], or a CSV/Parquet path.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column (for files).")] = None,
    model: Annotated[str | None, typer.Option(help="Zoo model, e.g. lightgbm, mlp.")] = None,
    trials: Annotated[int | None, typer.Option(help="Trials to finish (default 20).")] = None,
    metric: Annotated[
        str | None, typer.Option(help="Validation metric, e.g. roc_auc, accuracy, rmse.")
    ] = None,
    direction: Annotated[str | None, typer.Option(help="maximize or minimize.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Start no new trial after this many seconds.")
    ] = None,
    jobs: Annotated[int | None, typer.Option(help="Trials at once (-1: one per CPU).")] = None,
    sampler: Annotated[str | None, typer.Option(help="tpe (default), random or grid.")] = None,
    pruner: Annotated[str | None, typer.Option(help="median (default) or none.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    study: Annotated[str | None, typer.Option(help="Name of the stored study.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start the study over instead of resuming it.")
    ] = False,
    register: Annotated[
        str | None, typer.Option(help="Register the best model under this name.")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Write trials.csv, the plots and report.html here.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search hyper-parameters of a zoo model on a dataset; train (and register) the best."""
    from lepton.tuning._spec import load_tune_spec, run_tune_spec

    overrides = dict(
        data=data,
        target=target,
        model=model,
        trials=trials,
        metric=metric,
        direction=direction,
        timeout=timeout,
        jobs=jobs,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        study=study,
        resume=False if fresh else None,
        register=register,
        output=output,
    )
    result, version = run_tune_spec(
        load_tune_spec(config or "", overrides), verbose=0 if json else "auto"
    )
    if json:
        print_json(
            {
                **result.summary(),
                "version": version.ref if version is not None else None,
            }
        )
        return
    frame = result.ranked()
    params = list(result.best_params)
    print_table(
        f"Best trials of {len(frame)} ({result.metric})",
        ["trial", "state", result.metric, "seconds", *params],
        [
            (
                str(row["number"]),
                str(row["state"]),
                f"{row['value']:.4f}",
                f"{row['seconds']:.1f}",
                *(_fmt(row[p]) for p in params),
            )
            for _, row in frame.head(10).iterrows()
        ],
        empty="",
    )
    console.print(
        "Importance: "
        + (", ".join(f"{k} {v:.2f}" for k, v in result.importances.items()) or "n/a"),
        highlight=False,
    )
    console.print(f"Best {result.metric}: [bold]{result.best_value:.4f}[/] (study {result.study})")
    if result.baseline_value is not None:
        gain = result.best_value - result.baseline_value
        console.print(
            f"The model's own settings: {result.baseline_value:.4f} ({gain:+.4f} from tuning)",
            highlight=False,
        )
    console.print(f"Tuning run {result.run_id[:8]}; best model {result.model_uri}", highlight=False)
    report = Path(output) / "report.html" if output else result.report_path
    if report is not None:
        console.print(f"Report (plots and every trial): {report}", highlight=False)
    if version is not None:
        console.print(f"Registered [bold]{version.ref}[/]")


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

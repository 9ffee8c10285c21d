"""``lepton train`` and ``lepton models zoo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table

models_app = typer.Typer(help="Models: the zoo (and, later, the registry).", no_args_is_help=True)


def train(
    config: Annotated[
        Path | None, typer.Argument(help="A YAML training spec (keys as the flags).")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Registered dataset NAME[:VERSION], or a CSV/Parquet path.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column (for files).")] = None,
    model: Annotated[str | None, typer.Option(help="Zoo model, e.g. lightgbm, mlp, cnn.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (torch models).")] = None,
    valid_size: Annotated[
        float | None, typer.Option(help="Validation share (default 0.2).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue this run from its last checkpoint.")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Also save the model bundle to this path.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train a model on a dataset; prints the run id and where the model was saved."""
    from lepton.training._spec import load_spec, run_spec

    overrides = dict(
        data=data,
        target=target,
        model=model,
        epochs=epochs,
        valid_size=valid_size,
        seed=seed,
        resume=resume,
        output=output,
    )
    result = run_spec(load_spec(config or "", overrides), verbose=0 if json else "auto")
    if json:
        print_json(
            {
                **result.summary(),
                "model_path": str(result.model_path) if result.model_path else None,
            }
        )
        return
    console.print(f"Run [bold]{result.run_id[:8]}[/] ({result.run_id})")
    console.print(f"Model saved: {result.model_path or result.model_uri}")
    console.print(f"Load it with: lepton.load_model({result.model_uri!r})", highlight=False)


@models_app.command("zoo")
def zoo(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every model lepton.create_model can build, with a line about each."""
    from lepton.models import list_zoo

    rows = list_zoo()
    if json:
        print_json(rows)
        return
    print_table(
        "Model zoo",
        ["name", "data", "tasks", "summary"],
        [(r["name"], r["data"], ", ".join(r["tasks"]), r["summary"]) for r in rows],
        empty="",
    )

"""``lepton predict``: score a dataset with a model into a folder of Parquet files."""

from __future__ import annotations

from typing import Annotated

import typer

from lepton.cli._output import console, print_json


def predict(
    ref: Annotated[
        str,
        typer.Argument(
            help="Model: NAME[:VERSION|@ALIAS], a bundle path or runs:/RUN_ID/model.lepton."
        ),
    ],
    data: Annotated[
        str, typer.Option(help="Registered dataset NAME[:VERSION], or a CSV/Parquet path.")
    ],
    output: Annotated[
        str, typer.Option(help="Folder for the Parquet parts (one per chunk) and _lepton.json.")
    ],
    backend: Annotated[
        str | None,
        typer.Option(help="local (worker processes) or ray (Ray Data); default: configured."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Rows per chunk: the unit of work, output files and resume.")
    ] = 10_000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Parallel workers (default: measured: in this process for a fast model, else "
            "one per CPU; ray.workers on Ray)."
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Replace earlier predictions in --output; do not resume."),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score every row of a dataset in parallel; a re-run resumes the chunks not yet scored."""
    from lepton.scoring import predict_batch

    result = predict_batch(
        ref,
        data,
        output,
        backend=backend,
        batch_size=batch_size,
        workers=workers,
        resume=not fresh,
        verbose=0 if json else "auto",
    )
    if json:
        print_json(result.summary())
        return
    resumed = f", {result.chunks_skipped} already done" if result.chunks_skipped else ""
    console.print(
        f"Scored [bold]{result.rows_scored}[/] of {result.rows} rows with [bold]{result.model}[/] "
        f"({result.chunks_scored} of {result.chunks} chunks{resumed}; {result.backend}, "
        f"{result.workers} worker(s)) in {result.seconds:.1f}s, {result.rows_per_s:.0f} rows/s",
        highlight=False,
    )
    console.print(f"Predictions: {result.output}", highlight=False)
    console.print(f"Columns: {', '.join(result.columns)}", highlight=False)

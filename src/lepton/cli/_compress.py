"""``lepton compress``: quantise, prune or export a model to ONNX, and register the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table


def compress(
    ref: Annotated[
        str,
        typer.Argument(
            help="Model: NAME[:VERSION|@ALIAS], a bundle path or runs:/RUN_ID/model.lepton."
        ),
    ],
    method: Annotated[str, typer.Option(help="onnx, quantize (torch) or prune (torch).")],
    data: Annotated[
        str | None,
        typer.Option(help="Registered dataset NAME[:VERSION]: metric, parity rows, fine-tune."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="onnx: largest accepted output difference.")
    ] = 1e-4,
    sparsity: Annotated[float, typer.Option(help="prune: share of weights set to zero.")] = 0.5,
    fine_tune_epochs: Annotated[
        int, typer.Option(help="prune: fine-tuning epochs on --data (0: none).")
    ] = 1,
    register: Annotated[
        bool | None,
        typer.Option(
            "--register/--no-register",
            help="Register the result as the next version of NAME (default for registry refs).",
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Compress a model and show the size/latency/accuracy trade-off; register the result."""
    import lepton
    from lepton.compression._result import HEADINGS, format_cell
    from lepton.errors import InvalidParameterError

    is_ref = not Path(ref).exists() and not ref.startswith("runs:/")
    if register is None:
        register = is_ref
    if register and not is_ref:
        raise InvalidParameterError(
            f"--register adds a version to a registered model, but {ref!r} is a bundle path or "
            "run URI. Pass NAME[:VERSION|@ALIAS], or register the result afterwards with "
            "`lepton models register BUNDLE --name NAME`."
        )
    dataset = None
    if data is not None:
        from lepton.data import load_dataset

        dataset = load_dataset(data)
    result = lepton.compress(
        ref,
        method=method,
        data=dataset,
        tolerance=tolerance,
        sparsity=sparsity,
        fine_tune_epochs=fine_tune_epochs,
        verbose=0 if json else "auto",
    )
    version = None
    if register:
        parent = result.details["parent"]
        version = lepton.register(
            result.model,
            parent["name"],
            tags={"lepton.parent_version": str(parent["version"]), "lepton.compression": method},
            description=(
                f"{method} of {parent['ref']} (compression run {result.run_id[:8]}, max abs "
                f"diff {result.max_abs_diff:.3g})"
            ),
        )
    if json:
        print_json({**result.summary(), "version": version.to_dict() if version else None})
        return
    # the table fits 80 columns: what has nothing to say here (no metric without data, sparsity
    # but for prune) or follows from another column (batch size, rows/s: --json has them) is
    # left out
    columns = [
        c
        for c in result.table.columns
        if result.table[c].notna().any()
        and c not in ("batch_rows", "rows_per_s")
        and (c != "sparsity" or method == "prune")
    ]
    print_table(
        f"{result.model.name}: {method} vs original",
        ["model", *(HEADINGS.get(c, c) for c in columns)],
        [
            (name, *(format_cell(c, row[c]) for c in columns))
            for name, row in result.table.iterrows()
        ],
        empty="",
    )
    if version is not None:
        console.print(
            f"Registered [bold]{version.ref}[/] (parent {result.details['parent']['ref']})"
        )
    console.print(f"Run [bold]{result.run_id[:8]}[/] ({result.run_id})")
    console.print(f"Model: {result.model_path or result.model_uri}", highlight=False)

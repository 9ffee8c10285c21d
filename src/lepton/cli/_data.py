"""``lepton data add|list|show|profile|scan``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table, when

app = typer.Typer(
    help="Datasets: register, list, show, profile, scan for personal data.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ProjectOption = Annotated[
    str | None, typer.Option(help="The project (default: the current one; all for listings).")
]
RefArgument = Annotated[str, typer.Argument(help="NAME or NAME:VERSION (8+ version characters).")]


def _shape(text: str | None) -> tuple[int, ...] | None:
    from lepton.errors import InvalidParameterError

    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InvalidParameterError(
            f"--input-shape takes HEIGHT,WIDTH,CHANNELS such as 32,32,3, got {text!r}."
        ) from None


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="A CSV/Parquet table, or a folder/.zip of images.")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file name).")] = None,
    target: Annotated[str | None, typer.Option(help="The column to predict.")] = None,
    images: Annotated[
        Path | None, typer.Option(help="Folder/.zip of the images PATH's table names.")
    ] = None,
    input_shape: Annotated[
        str | None, typer.Option(help="Image size HEIGHT,WIDTH,CHANNELS, e.g. 32,32,3.")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Make a text dataset of this column.")
    ] = None,
    project: ProjectOption = None,
    json: JsonFlag = False,
) -> None:
    """Register a dataset version (the same content is stored once)."""
    from lepton.data import Dataset

    started = time.time()
    dataset = Dataset.from_path(
        path,
        name=name,
        target=target,
        images=images,
        input_shape=_shape(input_shape),
        text_column=text_column,
    )
    info = dataset.register(project)
    if json:
        print_json(info.to_dict())
        return
    state = "was already registered" if info.created_at < started else "registered"
    console.print(
        f"Dataset [bold]{info.name}[/] version {info.version[:12]} {state} in project "
        f"{info.project}: {info.num_rows:,} rows, {info.kind}"
        + (f", target {info.target}" if info.target else ""),
        highlight=False,
    )


@app.command("list")
def list_datasets(project: ProjectOption = None, json: JsonFlag = False) -> None:
    """Registered datasets, with their newest version."""
    from lepton.data import list_datasets as datasets

    found = datasets(project)
    if json:
        print_json([{k: v for k, v in d.to_dict().items() if k != "profile"} for d in found])
        return
    print_table(
        "Datasets",
        ["name", "project", "version", "kind", "rows", "target", "created"],
        [
            (d.name, d.project, d.version[:12], d.kind, d.num_rows, d.target, when(d.created_at))
            for d in found
        ],
        empty="No datasets yet. Register one with: lepton data add data.csv --target COLUMN",
    )


@app.command("show")
def show(ref: RefArgument, project: ProjectOption = None, json: JsonFlag = False) -> None:
    """One dataset version: schema, rows, files, and every version of the dataset."""
    from lepton.data import dataset_info, list_versions

    info = dataset_info(ref, project=project)
    versions = list_versions(info.name, info.project)
    if json:
        print_json(
            {
                **info.to_dict(),
                "versions": [
                    {"version": v.version, "num_rows": v.num_rows, "created_at": v.created_at}
                    for v in versions
                ],
            }
        )
        return
    console.print(
        f"[bold]Dataset {info.name}[/]  version {info.version}  project {info.project}\n"
        f"{info.kind}, {info.num_rows:,} rows, {len(info.files)} file(s), {info.size:,} bytes"
        + (f", target {info.target}" if info.target else ""),
        highlight=False,
    )
    print_table(
        "Schema",
        ["column", "type", "dtype"],
        [(c["name"], c["type"], c["dtype"]) for c in info.schema["columns"]],
        empty="",
    )
    print_table(
        "Versions",
        ["version", "rows", "created"],
        [(v.version[:12], v.num_rows, when(v.created_at)) for v in versions],
        empty="",
    )


@app.command("profile")
def profile(ref: RefArgument, project: ProjectOption = None, json: JsonFlag = False) -> None:
    """Per-column statistics of a dataset version (stored when it was registered)."""
    from lepton.data import Profile, dataset_info

    stored = Profile.from_dict(dataset_info(ref, project=project).profile)
    if json:
        print_json(stored.to_dict())
        return
    console.print(stored)


@app.command("scan")
def scan(
    ref: RefArgument,
    project: ProjectOption = None,
    fail: Annotated[
        bool, typer.Option("--fail", help="Exit with status 1 when personal data is found.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Find columns holding personal data (e-mails, phones, cards, IBANs, national IDs).

    Only counts and masked examples are printed, never the values themselves.
    """
    from lepton.data import load_dataset

    report = load_dataset(ref, project=project).scan_pii()
    if json:
        print_json(report.to_dict())
    else:
        console.print(report)
    if fail and report.has_pii:
        raise typer.Exit(1)

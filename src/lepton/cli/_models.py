"""``lepton models list|show|register|alias|card|export|verify|delete``, ``lepton eval`` and
``lepton policies check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table, when
from lepton.cli._train import models_app

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
policies_app = typer.Typer(help="Governance policies.", no_args_is_help=True)


@models_app.command("list")
def list_models(json: JsonFlag = False) -> None:
    """Registered models with their latest version and aliases."""
    from lepton.registry import list_models

    models = list_models()
    if json:
        print_json(models)
        return
    print_table(
        "Registered models",
        ["name", "latest", "versions", "aliases", "created"],
        [
            (
                m["name"],
                m["latest"],
                m["versions"],
                " ".join(f"{a}->{v}" for a, v in sorted(m["aliases"].items())),
                when(m["created_at"]),
            )
            for m in models
        ],
        empty="No registered models yet. Register one with lepton.register(model, 'name') or `lepton models register BUNDLE --name NAME`.",
    )


@models_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME:VERSION or NAME@ALIAS.")],
    json: JsonFlag = False,
) -> None:
    """One model version: lineage, metrics, aliases; or every version of a model."""
    from lepton.registry import get_version, list_versions, parse_ref

    parsed = parse_ref(ref)
    if parsed.version is None and parsed.alias is None:
        versions = list_versions(parsed.name)
        if json:
            print_json([v.to_dict() for v in versions])
            return
        print_table(
            f"Versions of {parsed.name}",
            ["version", "model", "aliases", "run", "registered", "metrics"],
            [
                (
                    v.version,
                    v.info.model,
                    ", ".join(v.aliases),
                    (v.run_id or "-")[:8],
                    v.info.created,
                    " ".join(f"{k}={x:.3f}" for k, x in list(v.metrics.items())[:3]),
                )
                for v in versions
            ],
            empty="",
        )
        return
    version = get_version(ref)
    if json:
        print_json(version.to_dict())
        return
    info = version.info
    console.print(
        f"[bold]{version.ref}[/]  {info.model} ({info.family}, {info.task})  aliases: {', '.join(version.aliases) or '-'}"
    )
    console.print(
        f"run {info.run_id}  registered {info.created}  bundle sha256 {info.bundle_sha256}",
        highlight=False,
    )
    print_table(
        "Metrics", ["metric", "value"], [(k, f"{v:.4f}") for k, v in info.metrics.items()], empty=""
    )
    print_table(
        "Datasets",
        ["name", "version", "role"],
        [(d.get("name"), str(d.get("version"))[:12], d.get("role")) for d in info.datasets],
        empty="",
    )


@models_app.command("register")
def register(
    bundle: Annotated[Path, typer.Argument(help="A model bundle saved with lepton.save_model.")],
    name: Annotated[str, typer.Option(help="Registered model name.")],
    json: JsonFlag = False,
) -> None:
    """Register a saved bundle as the next version of NAME."""
    import lepton

    version = lepton.register(str(bundle), name)
    if json:
        print_json(version.to_dict())
        return
    console.print(f"Registered [bold]{version.ref}[/]")


@models_app.command("alias")
def alias(
    target: Annotated[str, typer.Argument(help="NAME@ALIAS, e.g. credit-risk@production.")],
    version: Annotated[int | None, typer.Argument(help="The version the alias points at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    override_reason: Annotated[
        str | None, typer.Option(help="Promote despite failing policies; recorded.")
    ] = None,
) -> None:
    """Point an alias at a version (policies run first for protected aliases such as production)."""
    from lepton.errors import InvalidParameterError
    from lepton.registry import parse_ref, set_alias

    parsed = parse_ref(target)
    if parsed.alias is None or (version is None) != delete:
        raise InvalidParameterError(
            "Use `lepton models alias NAME@ALIAS VERSION`, or `lepton models alias NAME@ALIAS --delete`."
        )
    moved = set_alias(parsed.name, parsed.alias, version, override_reason=override_reason)
    if moved is None:
        console.print(f"Removed {parsed.name}@{parsed.alias}")
    else:
        console.print(
            f"{parsed.name}@{parsed.alias} -> version {moved.version}"
            + (" (policies overridden: recorded)" if override_reason else "")
        )


@models_app.command("card")
def card(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION (or NAME@ALIAS).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=TEXT, e.g. intended_use='Credit pre-screening'."),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the card as HTML here.")] = None,
    json: JsonFlag = False,
) -> None:
    """Print the model card as Markdown (and list required fields still missing)."""
    from lepton.errors import InvalidParameterError
    from lepton.registry import model_card, update_card

    fields = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidParameterError(f"--set takes FIELD=TEXT, got {item!r}.")
        fields[key.strip()] = value
    result = update_card(ref, **fields) if fields else model_card(ref)
    if html is not None:
        result.to_html(str(html))
    if json:
        print_json(result.to_dict())
        return
    console.print(result.to_markdown(), markup=False, highlight=False)
    if html is not None:
        console.print(f"HTML written to {html}")


@models_app.command("export")
def export(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION or NAME@ALIAS.")],
    path: Annotated[Path, typer.Argument(help="Where to write the bundle.")],
) -> None:
    """Write a version's bundle to a file."""
    from lepton.registry import export as export_version

    console.print(f"Wrote {export_version(ref, path)}")


@models_app.command("verify")
def verify(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION or NAME@ALIAS.")], json: JsonFlag = False
) -> None:
    """Recompute the bundle's hashes; fails if anything changed."""
    from lepton.registry import verify as verify_version

    result = verify_version(ref)
    if json:
        print_json(result)
        return
    console.print(f"{result['ref']}: bundle and every file match their sha256.")


@models_app.command("delete")
def delete(ref: Annotated[str, typer.Argument(help="NAME:VERSION.")]) -> None:
    """Delete a version (refused while an alias points at it)."""
    from lepton.registry import delete_version

    delete_version(ref)
    console.print(f"Deleted {ref}")


def evaluate(
    ref: Annotated[str, typer.Argument(help="Model: NAME[:VERSION|@ALIAS] or a bundle path.")],
    data: Annotated[str, typer.Option(help="Registered dataset NAME[:VERSION].")],
    sensitive: Annotated[
        list[str] | None, typer.Option(help="A sensitive column (repeat for several).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Decision threshold of binary classifiers.")
    ] = 0.5,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json: JsonFlag = False,
) -> None:
    """Evaluate a model on a dataset, with fairness per sensitive group."""
    import warnings

    import lepton
    from lepton.data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes are part of the report and printed below
        report = lepton.evaluate(
            ref, load_dataset(data), sensitive_features=sensitive or None, threshold=threshold
        )
    if html is not None:
        report.to_html(html)
    if json:
        print_json(report.to_dict())
        return
    report.summary()
    if html is not None:
        console.print(f"HTML report: {html}")


@policies_app.command("check")
def check(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION or NAME@ALIAS.")], json: JsonFlag = False
) -> None:
    """Which policies of lepton.yaml the version passes or fails, and why."""
    from lepton.governance import check_policies

    report = check_policies(ref)
    if json:
        print_json(report.to_dict())
    else:
        print_table(
            f"Policies for {report.ref}",
            ["result", "policy", "reason"],
            [("pass" if r.passed else "FAIL", r.policy, r.reason) for r in report.results],
            empty="No policies are declared. Add them under 'policies:' in lepton.yaml.",
        )
    if not report.passed:
        raise typer.Exit(1)

"""Model cards: what Lepton knows about a version, plus the fields only people can fill in.

Generated: model details, lineage, training data and its profile, metrics, fairness and the
limitations the evaluation found. Filled in by people (``update_card``): intended use, owners,
out-of-scope uses, ethical considerations, caveats. A card lists the required fields that are
still empty (``lepton.yaml``: ``model_card: {required: [...]}``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lepton.errors import InvalidParameterError

if TYPE_CHECKING:
    from collections.abc import Callable

    from lepton.evaluation import EvaluationReport
    from lepton.workspace import DatasetVersionInfo, ModelVersionInfo

USER_FIELDS = (
    "intended_use",
    "owners",
    "out_of_scope_use",
    "limitations",
    "ethical_considerations",
    "caveats",
)
DEFAULT_REQUIRED = ("intended_use", "owners")


def required_fields() -> tuple[str, ...]:
    from lepton.workspace import current_settings

    configured = (current_settings().extra.get("model_card") or {}).get("required")
    return tuple(configured) if configured else DEFAULT_REQUIRED


@dataclass
class ModelCard:
    ref: str
    details: dict[str, Any]
    training_data: list[dict[str, Any]]
    metrics: dict[str, float]
    fairness: dict[str, dict[str, Any]]
    generated_limitations: list[str]
    fields: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = DEFAULT_REQUIRED

    @property
    def missing(self) -> list[str]:
        """Required fields still empty."""
        return [f for f in self.required if not str(self.fields.get(f, "")).strip()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "details": self.details,
            "training_data": self.training_data,
            "metrics": self.metrics,
            "fairness": self.fairness,
            "limitations_found": self.generated_limitations,
            "fields": self.fields,
            "missing": self.missing,
        }

    def to_markdown(self) -> str:
        lines = [f"# Model card: {self.ref}", ""]
        if self.missing:
            lines += [
                f"> Missing required fields: {', '.join(self.missing)}. Fill them with `lepton models card {self.ref} --set FIELD=TEXT`.",
                "",
            ]
        lines += (
            ["## Model details", ""] + [f"- **{k}**: {v}" for k, v in self.details.items()] + [""]
        )
        for name in USER_FIELDS:
            lines += [
                f"## {name.replace('_', ' ').capitalize()}",
                "",
                self.fields.get(name) or "_(not filled in)_",
                "",
            ]
        lines += ["## Training data", ""]
        lines += [
            f"- {d.get('name')} (version {str(d.get('version', ''))[:12]}, {d.get('role', 'train')})"
            + (f": {d['rows']} rows, {d['columns']} columns" if "rows" in d else "")
            for d in self.training_data
        ] or ["_(unknown)_"]
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"] + [
            f"| {k} | {v:.4f} |" for k, v in self.metrics.items()
        ]
        for feature, result in self.fairness.items():
            lines += ["", f"## Fairness by {feature}", ""] + [
                f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}"
                for k, v in result.items()
                if k != "groups"
            ]
        if self.generated_limitations:
            lines += ["", "## Limitations found by the evaluation", ""] + [
                f"- {item}" for item in self.generated_limitations
            ]
        return "\n".join(lines) + "\n"

    def to_html(self, path: str | None = None) -> str:
        body = []
        for line in self.to_markdown().splitlines():
            escaped = html.escape(line)
            if line.startswith("# "):
                body.append(f"<h1>{escaped[2:]}</h1>")
            elif line.startswith("## "):
                body.append(f"<h2>{escaped[3:]}</h2>")
            elif line.startswith(("- ", "> ")):
                body.append(f"<p>{escaped[2:]}</p>".replace("**", ""))
            elif line.startswith("|") and not line.startswith("|---"):
                cells = "".join(f"<td>{c.strip()}</td>" for c in escaped.strip("|").split("|"))
                body.append(f"<table><tr>{cells}</tr></table>")
            elif line.strip():
                body.append(f"<p>{escaped}</p>")
        page = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Model card {html.escape(self.ref)}</title>'
            "<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2rem auto;padding:0 1rem}"
            "td{border:1px solid #ddd;padding:.2rem .5rem}table{border-collapse:collapse}</style></head><body>"
            + "\n".join(body)
            + "</body></html>"
        )
        if path is not None:
            from lepton._fs import atomic_write_text

            atomic_write_text(path, page)
        return page

    def _repr_html_(self) -> str:
        return self.to_html()


def build_card(info: ModelVersionInfo) -> ModelCard:
    """The card of a version, from the current workspace (its report and training data)."""
    from lepton.data import dataset_info

    report = None
    if info.evaluation_run_id:
        from lepton.evaluation import load_report

        report = load_report(info.evaluation_run_id)
    return assemble_card(info, report, dataset_info, required_fields())


def assemble_card(
    info: ModelVersionInfo,
    report: EvaluationReport | None,
    find_dataset: Callable[[str, str], DatasetVersionInfo],
    required: tuple[str, ...],
) -> ModelCard:
    """The card of a version whose report and training data were read by the caller (the
    team server reads them from its own store, not from the process's workspace)."""
    training = []
    for item in info.datasets:
        entry = dict(item)
        try:
            stored = find_dataset(item["name"], item["version"])
            entry.update(rows=stored.num_rows, columns=len(stored.schema.get("columns", [])))
        except (LookupError, KeyError, ValueError):
            pass  # the data was used but never registered: the card shows its name and hash
        training.append(entry)
    limitations = []
    if report is not None:
        limitations += list(report.notes)
        for feature, result in report.fairness.items():
            gap = result.get("demographic_parity_difference")
            if isinstance(gap, float) and gap > 0.1:
                limitations.append(
                    f"Selection rates differ by {gap:.2f} between groups of {feature} (demographic parity)."
                )
    return ModelCard(
        ref=f"{info.name}:{info.version}",
        details={
            "name": info.name,
            "version": info.version,
            "model": info.model,
            "family": info.family,
            "task": info.task,
            "training run": info.run_id,
            "bundle sha256": info.bundle_sha256,
            "registered": info.created,
            "aliases": ", ".join(info.aliases) or "-",
        },
        training_data=training,
        metrics=dict(report.metrics) if report is not None else dict(info.metrics),
        fairness=report.fairness if report is not None else {},
        generated_limitations=limitations,
        fields={k: str(v) for k, v in (info.card or {}).items()},
        required=required,
    )


def update_card(ref: str, **fields: str) -> ModelCard:
    """Fill in card fields of a version (``intended_use="..."``, ``owners="..."``)."""
    from lepton.registry._registry import get_version
    from lepton.workspace import get_workspace

    unknown = [f for f in fields if f not in USER_FIELDS]
    if unknown:
        raise InvalidParameterError(
            f"Unknown model card field(s) {unknown}; fields: {', '.join(USER_FIELDS)}."
        )
    version = get_version(ref)
    card = {**(version.info.card or {}), **{k: str(v) for k, v in fields.items()}}
    get_workspace().update_model_version(version.name, version.version, card=card)
    return get_version(version.ref).card()


def model_card(ref: str) -> ModelCard:
    from lepton.registry._registry import get_version

    return get_version(ref).card()

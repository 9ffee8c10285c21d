"""EvaluationReport: numbers for machines (``to_dict``), tables for terminals (``summary``),
one self-contained HTML page for people (``to_html``), and the same inline in Jupyter."""

from __future__ import annotations

import base64
import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLOT_TITLES = {
    "roc": "ROC curve",
    "pr": "Precision-recall curve",
    "calibration": "Calibration",
    "confusion_matrix": "Confusion matrix",
}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@dataclass
class EvaluationReport:
    """How good a model is on a dataset, and how it treats each sensitive group."""

    task: str
    model: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion_matrix: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    fairness: dict[str, dict[str, Any]] = field(default_factory=dict)
    threshold: float | None = None
    positive_label: Any = None
    notes: list[str] = field(default_factory=list)
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)
    run_id: str | None = None
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A stable, JSON-ready shape: metrics, fairness (per feature, with groups), plots..."""
        return _clean(
            {
                "task": self.task,
                "model": self.model,
                "data": self.data,
                "threshold": self.threshold,
                "positive_label": self.positive_label,
                "metrics": self.metrics,
                "per_class": self.per_class,
                "confusion_matrix": self.confusion_matrix,
                "calibration": self.calibration,
                "fairness": self.fairness,
                "plots": [
                    {
                        "name": n,
                        "title": PLOT_TITLES.get(n, n.replace("_", " ")),
                        "file": f"plots/{n}.png",
                    }
                    for n in self.plots
                ],
                "notes": self.notes,
                "run_id": self.run_id,
                "created_at": self.created_at,
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], plots: dict[str, bytes] | None = None
    ) -> EvaluationReport:
        fields = {k: data.get(k) for k in ("task", "model", "data", "metrics")}
        return cls(
            **fields,  # type: ignore[arg-type]
            per_class=data.get("per_class") or {},
            confusion_matrix=data.get("confusion_matrix"),
            calibration=data.get("calibration"),
            fairness=data.get("fairness") or {},
            threshold=data.get("threshold"),
            positive_label=data.get("positive_label"),
            notes=list(data.get("notes") or []),
            plots=plots or {},
            run_id=data.get("run_id"),
            created_at=data.get("created_at") or time.time(),
        )

    # terminal ---------------------------------------------------------------------------------
    def _tables(self) -> list[Any]:
        from rich.table import Table

        tables = []
        metrics = Table(
            title=f"{self.model.get('name')} on {self.data.get('name')} ({self.data.get('rows')} rows)",
            title_justify="left",
        )
        metrics.add_column("metric")
        metrics.add_column("value", justify="right")
        for name, value in self.metrics.items():
            metrics.add_row(name, _fmt(value))
        tables.append(metrics)
        for feature, result in self.fairness.items():
            table = Table(title=f"Fairness by {feature}", title_justify="left")
            groups = result["groups"]
            columns = list(next(iter(groups.values())).keys()) if groups else []
            table.add_column("group")
            for column in columns:
                table.add_column(column, justify="right")
            for group, values in groups.items():
                table.add_row(group, *(_fmt(values[c]) for c in columns))
            summary = ", ".join(f"{k}={_fmt(v)}" for k, v in result.items() if k != "groups")
            table.caption = summary
            tables.append(table)
        return tables

    def summary(self) -> str:
        """Print the metrics and fairness tables; returns the same text."""
        from rich.console import Console

        console = Console(record=True)
        for table in self._tables():
            console.print(table)
        for note in self.notes:
            console.print(f"note: {note}", highlight=False)
        return console.export_text()

    def __rich__(self) -> Any:
        from rich.console import Group

        return Group(*self._tables())

    # html -------------------------------------------------------------------------------------
    def to_html(self, path: str | Path | None = None) -> str:
        """One self-contained HTML page (plots embedded); written to ``path`` when given."""
        page = _page(self)
        if path is not None:
            from lepton._fs import atomic_write_text

            atomic_write_text(path, page)
        return page

    def _repr_html_(self) -> str:
        return _body(self)


def _kv_table(title: str, values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in values.items()
    )
    return f"<section><h2>{html.escape(title)}</h2><table>{rows}</table></section>"


def _body(report: EvaluationReport) -> str:
    parts = [
        f"<h1>Evaluation of {html.escape(str(report.model.get('name')))}</h1>",
        f"<p>Data <b>{html.escape(str(report.data.get('name')))}</b> ({report.data.get('rows')} rows, version "
        f"{html.escape(str(report.data.get('version', ''))[:12])}); task {html.escape(report.task)}"
        + (
            f"; threshold {report.threshold}, positive class {html.escape(str(report.positive_label))}"
            if report.threshold is not None
            else ""
        )
        + "</p>",
        _kv_table("Metrics", report.metrics),
    ]
    if report.per_class:
        head = "".join(f"<th>{h}</th>" for h in ("class", "precision", "recall", "f1", "support"))
        rows = "".join(
            f"<tr><td>{html.escape(c)}</td>"
            + "".join(f"<td>{_fmt(v[k])}</td>" for k in ("precision", "recall", "f1", "support"))
            + "</tr>"
            for c, v in report.per_class.items()
        )
        parts.append(f"<section><h2>Per class</h2><table><tr>{head}</tr>{rows}</table></section>")
    for feature, result in report.fairness.items():
        groups = result["groups"]
        columns = list(next(iter(groups.values())).keys()) if groups else []
        head = (
            "<tr><th>group</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
        )
        rows = "".join(
            f"<tr><td>{html.escape(g)}</td>"
            + "".join(f"<td>{_fmt(v[c])}</td>" for c in columns)
            + "</tr>"
            for g, v in groups.items()
        )
        summary = "".join(
            f"<li>{html.escape(k)}: <b>{_fmt(v)}</b></li>"
            for k, v in result.items()
            if k != "groups"
        )
        parts.append(
            f'<section class="fairness"><h2>Fairness by {html.escape(feature)}</h2><ul>{summary}</ul><table>{head}{rows}</table></section>'
        )
    if report.plots:
        images = "".join(
            f'<figure><img alt="{html.escape(PLOT_TITLES.get(n, n))}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
            f"<figcaption>{html.escape(PLOT_TITLES.get(n, n.replace('_', ' ')))}</figcaption></figure>"
            for n, png in report.plots.items()
        )
        parts.append(f'<section class="plots"><h2>Plots</h2>{images}</section>')
    if report.notes:
        parts.append(
            "<section><h2>Notes</h2><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
            + "</ul></section>"
        )
    return "\n".join(parts)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}section{margin:1.5rem 0}
.plots{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}img{max-width:100%;border:1px solid #eee}
"""


def _page(report: EvaluationReport) -> str:
    title = html.escape(f"Evaluation of {report.model.get('name')}")
    return f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>{_STYLE}</style></head><body>{_body(report)}</body></html>'

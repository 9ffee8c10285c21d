"""What ``lepton.compress`` returns: the compressed model, its run, and the before/after table."""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from lepton.models import Model

COLUMNS = ("size_bytes", "latency_row_ms", "latency_batch_ms", "rows_per_s")


@dataclass
class CompressionResult:
    """The compressed model and how it compares with the original.

    ``table`` has one row per model ("original" and the method) and the columns ``size_bytes``,
    ``latency_row_ms`` (p50 of a one-row predict), ``latency_batch_ms`` (p50 of a batch of
    ``batch_rows`` rows), ``rows_per_s``, the task metric on ``data`` (``accuracy`` or ``rmse``;
    NaN without data), ``max_abs_diff`` and ``sparsity``.
    """

    model: Model
    method: str
    run_id: str
    table: pd.DataFrame
    model_uri: str = ""  # runs:/RUN_ID/model.lepton: lepton.load_model() takes it
    model_path: Path | None = None  # the bundle on local disk, when artifacts are local
    details: dict[str, Any] = field(default_factory=dict)  # == model.compression

    @property
    def max_abs_diff(self) -> float:
        return float(self.details.get("max_abs_diff", math.nan))

    @property
    def metric(self) -> str:
        """The name of the task metric column: ``accuracy`` or ``rmse``."""
        return "accuracy" if self.model.task == "classification" else "rmse"

    def ratio(self, column: str) -> float:
        """``column`` of the compressed model divided by the original's (e.g. size: 0.27)."""
        values = self.table[column].astype("float64")
        before, after = (float(values.to_dict()[name]) for name in ("original", self.method))
        return after / before if before else math.nan

    def summary(self) -> dict[str, Any]:
        rows = {
            name: {k: _plain(v) for k, v in row.items()}
            for name, row in self.table.to_dict(orient="index").items()
        }
        return {
            "method": self.method,
            "model": self.model.name,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "model_path": str(self.model_path) if self.model_path else None,
            "max_abs_diff": _plain(self.max_abs_diff),
            "table": rows,
            "compression": self.details,
        }

    def __repr__(self) -> str:
        lines = [
            f"CompressionResult(method={self.method!r}, model={self.model.name!r}, "
            f"run={self.run_id[:8]!r}, max_abs_diff={self.max_abs_diff:.3g})"
        ]
        lines += ["  " + line for line in format_table(self.table).splitlines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        table = self.table.to_html(float_format=lambda v: f"{v:.4g}", na_rep="-")
        chart = base64.b64encode(comparison_plot(self.table)).decode("ascii")
        return (
            f"<b>{html.escape(self.model.name)} compressed with {html.escape(self.method)}</b> "
            f"(run {html.escape(self.run_id[:8])}, max abs diff {self.max_abs_diff:.3g})"
            f"{table}<img alt='size and latency' src='data:image/png;base64,{chart}'/>"
        )


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text: sizes in KB/MB, times in ms."""
    headers = ["", *table.columns]
    rows = [
        [str(name), *(format_cell(col, row[col]) for col in table.columns)]
        for name, row in table.iterrows()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    for row in rows:
        out.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(out)


# short headings for the terminal, where the table must fit 80 columns
HEADINGS = {
    "size_bytes": "size",
    "latency_row_ms": "1 row",
    "latency_batch_ms": "batch",
    "rows_per_s": "rows/s",
    "max_abs_diff": "max diff",
}


def format_cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column == "size_bytes":
        return human_size(int(value))
    if column in ("latency_row_ms", "latency_batch_ms"):
        return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"
    if column == "rows_per_s":
        return f"{value:,.0f}"
    if column in ("batch_rows",):
        return str(int(value))
    if column == "max_abs_diff":
        return f"{value:.1e}"
    return f"{value:.4g}"


def human_size(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size} B"


def comparison_plot(table: pd.DataFrame) -> bytes:
    """Two bar charts side by side: bundle size and one-row latency of each model (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (size_ax, time_ax) = plt.subplots(1, 2, figsize=(6.4, 2.8), dpi=100)
    names = [str(n) for n in table.index]
    colors = ["#8c8c8c", "#1f77b4"][: len(names)]
    size_ax.bar(names, table["size_bytes"] / (1 << 20), color=colors)
    size_ax.set(title="Bundle size", ylabel="MB")
    time_ax.bar(names, table["latency_row_ms"], color=colors)
    time_ax.set(title="Latency, one row (p50)", ylabel="ms")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()

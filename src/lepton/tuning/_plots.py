"""Pictures of a search: optimisation history and parameter importance (PNG), and an HTML page."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lepton.evaluation._plots import _png

if TYPE_CHECKING:
    import pandas as pd


def _figure(width: float = 6.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def history_plot(
    trials: pd.DataFrame, metric: str, direction: str, baseline: float | None = None
) -> bytes:
    """Each finished trial's value, and the best value so far as a step line."""
    fig, ax = _figure()
    done = trials[trials["state"] == "complete"].sort_values("number")
    pruned = trials[trials["state"] == "pruned"]
    if len(done):
        values = done["value"].astype(float)
        best = values.cummax() if direction == "maximize" else values.cummin()
        ax.plot(done["number"], values, "o", alpha=0.7, label="trial")
        ax.step(done["number"], best, where="post", color="C3", label="best so far")
    if len(pruned):
        for number in pruned["number"]:
            ax.axvline(number, color="grey", alpha=0.25, linewidth=0.8)
        ax.plot([], [], color="grey", alpha=0.4, label=f"pruned ({len(pruned)})")
    if baseline is not None:
        ax.axhline(baseline, linestyle="--", color="grey", linewidth=0.9, label="own settings")
    ax.set(xlabel="Trial", ylabel=metric, title="Optimisation history")
    ax.legend(loc="best", fontsize="small")
    return _png(fig)


def importance_plot(importances: Mapping[str, float]) -> bytes:
    """One horizontal bar per parameter, most important on top."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = _figure(height=max(2.0, 0.45 * len(items) + 1.2))
    if items:
        ax.barh([k for k, _ in items], [v for _, v in items], color="C0")
        ax.set(xlim=(0, max(1.0, max(v for _, v in items))))
    else:
        ax.text(0.5, 0.5, "needs 2+ finished trials", ha="center", va="center")
    ax.set(xlabel="Importance (share of the metric's variance)", title="Parameter importance")
    return _png(fig)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return html.escape(str(value))


def html_report(result: Any, history: bytes, importance: bytes, top: int = 20) -> str:
    """A self-contained page (or notebook cell): best result, both plots, the best trials."""
    shown = result.ranked().head(top)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    params = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>"
        for k, v in result.best_params.items()
    )
    own = (
        f"<p>The model's own settings scored {result.baseline_value:.6g}.</p>"
        if result.baseline_value is not None
        else ""
    )
    return (
        f"<div><h3>Tuning {html.escape(result.model_name)}: best {html.escape(result.metric)} = "
        f"{result.best_value:.6g}</h3>{own}"
        f"<p>{result.counts.get('complete', 0)} complete, {result.counts.get('pruned', 0)} pruned, "
        f"{result.counts.get('fail', 0)} failed trials; study {html.escape(result.study)}.</p>"
        f"<table>{params}</table>"
        f"<div>{_img(history, 'optimisation history')}{_img(importance, 'parameter importance')}</div>"
        f"<table><tr>{head}</tr>{rows}</table></div>"
    )

"""The reconciliation's two charts, as matplotlib Figures (no pyplot: no global state).

`png(fig)` gives the bytes the notebook displays and the workbook embeds, so neither depends on
which matplotlib backend happens to be active.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .categories import CATEGORIES
from .core import Reconciliation
from .tables import pending_frame, per_day_frame

# One colour per category, the same in every chart: green for good, reds for problems.
COLOURS = {
    "matched": "#4caf50",
    "missing_invoice": "#d32f2f",
    "unexpected_invoice": "#7b1fa2",
    "ambiguous_match": "#e64a19",
    "shipped_elsewhere": "#b71c1c",
    "ship_date_differs": "#ff7043",
    "mismatch": "#f57c00",
    "unreadable": "#c2185b",
    "pending_too_long": "#fbc02d",
    "voided": "#5d4037",
    "rejected_lines": "#90a4ae",
}


def orders_per_day(result: Reconciliation) -> Figure:
    """Stacked bars: orders per ship date, by category."""
    table = per_day_frame(result)
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.subplots()
    if table.empty:
        ax.text(0.5, 0.5, "no orders in the range", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = [str(day) for day in table.index]
    bottom = [0] * len(labels)
    for category in CATEGORIES:
        values = [int(v) for v in table[category]]
        if any(values):
            ax.bar(labels, values, bottom=bottom, label=category, color=COLOURS[category])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"Orders per ship date, {result.first} to {result.last}")
    ax.set_ylabel("orders")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    ax.tick_params(axis="x", labelrotation=45 if len(labels) > 7 else 0)
    return fig


def pending_ages(result: Reconciliation) -> Figure:
    """How long invoices have waited for the sales rep, against the threshold."""
    frame = pending_frame(result)
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    threshold = result.rules.pending_hours
    if frame.empty:
        ax.text(0.5, 0.5, "no invoice awaits confirmation", ha="center", va="center")
        ax.set_axis_off()
        return fig
    ages = [float(a) for a in frame["age_hours"]]
    top = max(max(ages), threshold) * 1.05
    bins = [top * i / 24 for i in range(25)]
    within = [a for a in ages if a <= threshold]
    over = [a for a in ages if a > threshold]
    ax.hist([within, over], bins=bins, stacked=True, edgecolor="#555",
            color=[COLOURS["matched"], COLOURS["pending_too_long"]],
            label=["within the threshold", "too long"])  # fmt: skip
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.axvline(threshold, color=COLOURS["missing_invoice"], linestyle="--")
    ax.annotate(f"threshold {threshold:g} h", (threshold, 0), xytext=(4, 4),
                textcoords="offset points", color=COLOURS["missing_invoice"])  # fmt: skip
    ax.set_title(f"Age of invoices awaiting confirmation ({len(ages)})")
    ax.set_xlabel("hours since the invoice was created")
    ax.set_ylabel("invoices")
    return fig


def png(fig: Figure, dpi: int = 80) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()

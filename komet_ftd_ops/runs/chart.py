"""The runs page's small chart: orders received and offers published per hour, last 24 hours.

Inline SVG written as text, so the page stays one static file that opens anywhere (no script,
no chart library, nothing fetched). Two strips, each on its own scale: a day's offers run in
the hundreds while its orders are a handful, and on a shared axis the orders would vanish.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime, timedelta

from .index import RunRecord, utc

HOURS = 24
BAR_W, GAP, STRIP_H, LABEL_W = 12, 2, 36, 150
SERIES = (  # counter, label, colour
    ("orders_received", "orders received", "#2563eb"),
    ("offers_published", "offers published", "#16a34a"),
)


def hourly_totals(records: Iterable[RunRecord], now: datetime) -> dict[str, list[int]]:
    """Per series, 24 hourly sums ending at `now` (oldest first). Dry runs sent nothing."""
    start = utc(now) - timedelta(hours=HOURS)
    totals = {key: [0] * HOURS for key, _, _ in SERIES}
    for r in records:
        if r.counters.get("dry_run") is True:
            continue
        slot = int((utc(r.started_at) - start).total_seconds() // 3600)
        if not 0 <= slot < HOURS:
            continue
        for key in totals:
            value = r.counters.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key][slot] += value
    return totals


def day_chart(records: Iterable[RunRecord], now: datetime) -> str:
    """The SVG element (one line of markup per bar, each with a tooltip)."""
    totals = hourly_totals(records, now)
    first_hour = utc(now) - timedelta(hours=HOURS)
    width = LABEL_W + HOURS * (BAR_W + GAP)
    height = len(SERIES) * (STRIP_H + 14)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="orders and offers per hour, last 24 hours">'
    ]
    for i, (key, label, colour) in enumerate(SERIES):
        values = totals[key]
        top = i * (STRIP_H + 14)
        peak = max(values)
        parts.append(
            f'<text x="0" y="{top + STRIP_H - 4}" font-size="12">{html.escape(label)} '
            f"({sum(values)}, peak {peak}/h)</text>"
            f'<line x1="{LABEL_W}" x2="{width}" y1="{top + STRIP_H}" y2="{top + STRIP_H}" '
            f'stroke="#ccc"/>'
        )
        for slot, value in enumerate(values):
            h = round(STRIP_H * value / peak) if peak else 0
            x = LABEL_W + slot * (BAR_W + GAP)
            hour = first_hour + timedelta(hours=slot)
            parts.append(
                f'<rect x="{x}" y="{top + STRIP_H - h}" width="{BAR_W}" height="{h}" '
                f'fill="{colour}"><title>{hour:%H}:00Z {value} {html.escape(label)}</title></rect>'
            )
    parts.append("</svg>")
    return "\n".join(parts)

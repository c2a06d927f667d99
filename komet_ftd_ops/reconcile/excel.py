"""The reconciliation workbook (openpyxl), formatted for the people who read it.

    Summary            the range, when, the threshold, counts and money per category, both charts
    <category> × 9     one sheet per category (empty ones too, so every workbook looks the same)
    Unreviewed runs    failed runs nobody has reviewed yet (`komet-ftd-ops runs review`)
    Empty web orders   headers lost creates may have left in Komet (only when there are any)

Every table sheet: a styled header row, frozen below the header and beside the order number,
an auto-filter, widths from the content, money as numbers with a two-decimal format (never
text), dates as dates, and each order's run notebook as a clickable link.

Printed, every sheet is landscape and one page wide (as many pages long as it needs), with its
header rows repeated on each page: a findings table is 20 columns wide, and portrait pages cut
it into strips nobody can read. Run links are relative to the workbook's folder, so they still
open when the home (runs/ and reports/ together) is copied, shared or opened on another machine.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd
from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from . import charts
from .categories import CATEGORIES, LABELS, PROBLEMS
from .core import Reconciliation
from .tables import COLUMNS, MONEY_COLUMNS, findings_frame, orphans_frame, summary_frame

MONEY_FORMAT = "#,##0.00;[Red]-#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
STAMP_FORMAT = "yyyy-mm-dd hh:mm"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
PROBLEM_FILL = PatternFill("solid", fgColor="FDE2E1")
OK_FILL = PatternFill("solid", fgColor="E2F0D9")
THIN = Border(bottom=Side(style="thin", color="999999"))
MAX_WIDTH = 60
WIDE_COLUMNS = {"detail": 70, "reason": 70, "run_notebook": 50, "notebook": 50}
ORPHAN_COLUMNS = {
    "order_number": "FTD order no.",
    "order_id": "FTD order id",
    "create_sent_at": "web-order.create sent (UTC)",
    "web_order_id": "Komet web order (if known)",
}
RUN_COLUMNS = {
    "id": "Run",
    "kind": "Kind",
    "started_at": "Started (UTC)",
    "status": "Status",
    "failure_class": "Failure class",
    "reason": "Reason",
    "notebook": "Run notebook",
}


def _value(value: Any) -> Any:
    """Cells get numbers, dates and text; never NaN, never a Decimal turned into text."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones; every stamp here is UTC
    if isinstance(value, Decimal | date | int | float | str):
        return value
    if value is pd.NaT:
        return None
    return str(value)


def _header(ws: Worksheet, row: int, titles: Iterable[str]) -> None:
    for col, title in enumerate(titles, start=1):
        cell = ws.cell(row=row, column=col, value=title)
        cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, THIN
        cell.alignment = Alignment(vertical="center", wrap_text=True)


def _widths(ws: Worksheet, first_row: int) -> None:
    for column in ws.iter_cols(min_row=first_row):
        longest = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        ws.column_dimensions[get_column_letter(column[0].column)].width = min(
            MAX_WIDTH, longest + 2
        )


def _link(path: str | None, folder: Path | None) -> str | None:
    """A run notebook's link, relative to the workbook's folder (an absolute path names the
    machine that ran it). Absolute only when no relative path exists (another drive)."""
    if not path or not os.path.isabs(path):
        return None
    target = Path(path).resolve()
    if folder is not None:
        try:
            return quote(Path(os.path.relpath(target, folder.resolve())).as_posix())
        except ValueError:  # Windows: another drive has no relative path
            pass
    return target.as_uri()


def _print_setup(ws: Worksheet, title_rows: str) -> None:
    """Landscape, one page wide and as long as needed, the header rows on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # 0: no limit on the number of pages down
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # without it Excel ignores fitTo*
    ws.print_title_rows = title_rows


def _table(
    ws: Worksheet,
    frame: pd.DataFrame,
    titles: dict[str, str],
    row: int = 1,
    folder: Path | None = None,
) -> None:
    """A header at `row`, the frame below it, typed and formatted per column; run links
    relative to `folder` (the workbook's)."""
    keys = list(frame.columns)
    _header(ws, row, [titles.get(k, k) for k in keys])
    for r, record in enumerate(frame.itertuples(index=False), start=row + 1):
        for c, (key, value) in enumerate(zip(keys, record, strict=True), start=1):
            cell = ws.cell(row=r, column=c, value=_value(value))
            if key in MONEY_COLUMNS:
                cell.number_format = MONEY_FORMAT
            elif isinstance(cell.value, datetime):
                cell.number_format = STAMP_FORMAT
            elif isinstance(cell.value, date):
                cell.number_format = DATE_FORMAT
            elif key in ("run_notebook", "notebook") and (link := _link(cell.value, folder)):
                if "://" not in link:  # the text says where the link goes, as the link does
                    cell.value = unquote(link)
                cell.hyperlink = link
                cell.style = "Hyperlink"
    _widths(ws, row)
    for c, key in enumerate(keys, start=1):
        if key in WIDE_COLUMNS:  # long text: a fixed width reads better than the longest value
            ws.column_dimensions[get_column_letter(c)].width = WIDE_COLUMNS[key]
    last = ws.max_row if ws.max_row > row else row
    ws.auto_filter.ref = f"A{row}:{get_column_letter(len(keys))}{last}"


def _summary(ws: Worksheet, result: Reconciliation) -> None:
    ws["A1"] = f"FTD orders against Komet invoices: profile {result.profile}"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = (
        f"Ship dates {result.first} to {result.last}; reconciled {result.at:%Y-%m-%d %H:%M} UTC; "
        f"pending threshold {result.rules.pending_hours:g} h; problems: {result.problems}"
    )
    if result.notes:  # e.g. FTD could not be read: say so where the reader starts
        ws["A3"] = "Note: " + " | ".join(result.notes)
        ws["A3"].font = Font(italic=True, color="9C0006")
    frame = summary_frame(result)
    titles = {
        "category": "Category",
        "meaning": "Meaning",
        "orders": "Orders",
        "problem": "Problem?",
        "expected_total": "Expected total",
        "invoice_total": "Invoice total",
    }
    _table(ws, frame, titles, row=4)
    for r in range(5, 5 + len(frame)):
        category = ws.cell(row=r, column=1).value
        fill = PROBLEM_FILL if category in PROBLEMS and ws.cell(row=r, column=3).value else OK_FILL
        for c in range(1, len(frame.columns) + 1):
            ws.cell(row=r, column=c).fill = fill
        # "yes" only where there is something to look at: a problem category with orders in it
        problem = category in PROBLEMS and bool(ws.cell(row=r, column=3).value)
        ws.cell(row=r, column=4).value = "yes" if problem else "no"
    total_row = 5 + len(frame)
    ws.cell(row=total_row, column=1, value="total").font = Font(bold=True)
    ws.cell(row=total_row, column=3, value=f"=SUM(C5:C{total_row - 1})").font = Font(bold=True)
    for col in (5, 6):
        letter = get_column_letter(col)
        cell = ws.cell(row=total_row, column=col, value=f"=SUM({letter}5:{letter}{total_row - 1})")
        cell.number_format, cell.font = MONEY_FORMAT, Font(bold=True)
    ws.column_dimensions["B"].width = 52
    ws.freeze_panes = "B5"
    _print_setup(ws, "1:4")  # the title lines and the table header
    anchor = total_row + 2
    for fig in (charts.orders_per_day(result), charts.pending_ages(result)):
        image = Image(io.BytesIO(charts.png(fig)))
        ws.add_image(image, f"A{anchor}")
        anchor += int(image.height / 20) + 2


def write_workbook(
    result: Reconciliation, path: Path | str, unreviewed_runs: pd.DataFrame | None = None
) -> Path:
    """Write the workbook (atomically: a reader never opens half a file) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    _summary(summary, result)
    for category in CATEGORIES:
        ws = wb.create_sheet(category)
        frame = findings_frame(result, category).drop(columns=["category"])
        _table(ws, frame, COLUMNS, folder=path.parent)
        ws.freeze_panes = "C2"  # the header and the order id/number stay in view
        ws.sheet_properties.tabColor = charts.COLOURS[category].lstrip("#").upper()
        ws.oddHeader.center.text = LABELS[category]  # printed pages say what the sheet is
        _print_setup(ws, "1:1")
    runs = (
        unreviewed_runs if unreviewed_runs is not None else pd.DataFrame(columns=list(RUN_COLUMNS))
    )
    ws = wb.create_sheet("Unreviewed runs")
    _table(ws, runs[[c for c in RUN_COLUMNS if c in runs.columns]], RUN_COLUMNS, folder=path.parent)
    ws.freeze_panes = "B2"
    _print_setup(ws, "1:1")
    if result.orphan_headers:
        ws = wb.create_sheet("Empty web orders")
        _table(ws, orphans_frame(result), ORPHAN_COLUMNS, folder=path.parent)
        ws.freeze_panes = "B2"
        _print_setup(ws, "1:1")
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)
    return path

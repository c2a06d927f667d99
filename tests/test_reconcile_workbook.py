"""The workbook read back with openpyxl: sheets, headers, frozen panes, formats, links; and the
tables and charts it is built from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from komet_ftd_ops.reconcile import CATEGORIES, ReconcileRules, Reconciliation, charts, tables
from komet_ftd_ops.reconcile.categories import PROBLEMS, Finding
from komet_ftd_ops.reconcile.core import RunRef
from komet_ftd_ops.reconcile.excel import MONEY_FORMAT, write_workbook
from komet_ftd_ops.reconcile.ledger_view import LineView, OrderView
from komet_ftd_ops.reconcile.sources import Invoice, InvoiceLine

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SHIP = date(2026, 11, 30)


def _order(number: str, run_id: str | None = "run-1") -> OrderView:
    line = LineView("1", "428720", 2, 2, Decimal("0.42"), 100, False, None, "added")
    return OrderView(f"FTD-{number}", number, SHIP, "acknowledged", "ACKNOWLEDGED", "30200", None,
                     None, None, False, NOW, run_id, (line,))  # fmt: skip


def _invoice(number: str, status: int = 0, total: str = "84.00", age_h: float = 2) -> Invoice:
    line = InvoiceLine("428720", 2, 200, Decimal("0.42"), Decimal(total))
    return Invoice(f"55{number}", number, status, SHIP, NOW - timedelta(hours=age_h),
                   Decimal(total), "", None, (line,))  # fmt: skip


def result(tmp_path: Path) -> Reconciliation:
    notebook = tmp_path / "runs" / "sandbox" / "2026-11-28" / "120000Z-sync.ipynb"
    findings = [
        Finding("matched", "invoice 1 pending", _order("1"), _invoice("1"), "ACKNOWLEDGED",
                Decimal("84.00"), 2.0),
        Finding("mismatch", "total: expected 84.00, billed 90.10", _order("2"),
                _invoice("2", total="90.10"), "ACKNOWLEDGED", Decimal("84.00"), 3.0),
        Finding("pending_too_long", "pending for 30 h", _order("3", None),
                _invoice("3", age_h=30), "ACKNOWLEDGED", Decimal("84.00"), 30.0),
        Finding("unexpected_invoice", "no FTD order", None, _invoice("4", total="12.34"),
                pending_hours=1.0),
        Finding("unreadable", "invoice 5: cannot read total 'N/A'", _order("5"),
                replace(_invoice("5"), total=None, unreadable=("total 'N/A'",)), "ACKNOWLEDGED",
                Decimal("84.00"), None),
    ]  # fmt: skip
    return Reconciliation("sandbox", SHIP, SHIP + timedelta(days=6), NOW, ReconcileRules(),
                          findings, {"run-1": RunRef("run-1", "ok", str(notebook))})  # fmt: skip


def test_the_workbook_reads_back_formatted_for_people(tmp_path: Path) -> None:
    unreviewed = pd.DataFrame([{"id": "r9", "kind": "sync", "started_at": NOW, "status": "failed",
                                "failure_class": "upstream", "reason": "503", "notebook": "/x.ipynb"}])  # fmt: skip
    path = write_workbook(result(tmp_path), tmp_path / "out" / "r.xlsx", unreviewed)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", *CATEGORIES, "Unreviewed runs"]
    assert not list(path.parent.glob(".*.tmp"))  # written atomically

    summary = wb["Summary"]
    assert summary.freeze_panes == "B5"
    assert [c.value for c in summary[4]] == ["Category", "Meaning", "Orders", "Problem?",
                                              "Expected total", "Invoice total"]  # fmt: skip
    rows = {r[0].value: r for r in summary.iter_rows(min_row=5, max_row=4 + len(CATEGORIES))}
    assert rows["mismatch"][2].value == 1 and rows["mismatch"][3].value == "yes"
    assert rows["matched"][3].value == "no" and rows["rejected_lines"][3].value == "no"
    assert rows["unexpected_invoice"][5].value == 12.34
    assert rows["unexpected_invoice"][5].number_format == MONEY_FORMAT
    assert rows["unreadable"][2].value == 1 and rows["unreadable"][3].value == "yes"
    assert rows["unreadable"][5].value == 0  # an unreadable total adds nothing, it is no 0.00
    n = 5 + len(CATEGORIES)  # the total row, below one row per category
    assert summary.cell(row=n, column=3).value == f"=SUM(C5:C{n - 1})"
    assert len(summary._images) == 2  # both charts
    assert summary["A4"].font.bold and summary["A4"].fill.fgColor.rgb.endswith("305496")

    for category in CATEGORIES:
        ws = wb[category]
        headers = [c.value for c in ws[1]]
        assert headers[:3] == ["FTD order id", "FTD order no. (customerPo)", "Ship date"]
        assert headers[-1] == "Run notebook" and "What is wrong" in headers
        assert ws.freeze_panes == "C2" and ws.auto_filter.ref.startswith("A1:")
        assert all(c.font.bold for c in ws[1])
    mismatch = wb["mismatch"]
    assert mismatch.max_row == 2
    col = {c.value: c.column for c in mismatch[1]}
    row = {name: mismatch.cell(row=2, column=n) for name, n in col.items()}
    assert row["FTD order no. (customerPo)"].value == "2"
    assert row["Ship date"].is_date and row["Ship date"].number_format == "yyyy-mm-dd"
    for money in ("Expected total", "Invoice total", "Difference"):
        assert row[money].number_format == MONEY_FORMAT
        assert isinstance(row[money].value, int | float)  # a number, not text
    assert (row["Expected total"].value, row["Difference"].value) == (84, 6.1)
    # The link is relative to the workbook's folder (out/): it follows the home, not the machine.
    assert row["Run notebook"].value == "../runs/sandbox/2026-11-28/120000Z-sync.ipynb"
    assert row["Run notebook"].hyperlink.target == row["Run notebook"].value
    assert (
        path.parent / row["Run notebook"].hyperlink.target
    ).resolve().name == "120000Z-sync.ipynb"
    assert mismatch.column_dimensions["A"].width >= len("FTD order id")
    assert wb["pending_too_long"].cell(row=2, column=col["Run notebook"]).value is None
    assert wb["voided"].max_row == 1  # empty categories still have their header
    unreadable = {c.value: wb["unreadable"].cell(row=2, column=c.column) for c in mismatch[1]}
    assert unreadable["What is wrong"].value == "invoice 5: cannot read total 'N/A'"
    assert unreadable["Invoice total"].value is None and unreadable["Difference"].value is None
    assert unreadable["Expected total"].value == 84

    runs = wb["Unreviewed runs"]
    assert [c.value for c in runs[1]][:4] == ["Run", "Kind", "Started (UTC)", "Status"]
    assert runs["A2"].value == "r9" and runs["C2"].is_date


def test_tables_and_charts(tmp_path: Path) -> None:
    r = result(tmp_path)
    assert r.counts() == {"matched": 1, "missing_invoice": 0, "unexpected_invoice": 1, "ambiguous_match": 0,
                          "shipped_elsewhere": 0, "ship_date_differs": 0, "mismatch": 1, "unreadable": 1, "pending_too_long": 1, "voided": 0,
                          "rejected_lines": 0}  # fmt: skip
    assert r.problems == 4
    per_day = tables.per_day_frame(r)
    assert list(per_day.columns) == list(CATEGORIES) and per_day.loc[SHIP].sum() == 5
    pending = tables.pending_frame(r)
    assert list(pending["age_hours"]) == [30.0, 3.0, 2.0, 1.0]  # oldest first
    problems = tables.problems_frame(r)
    assert list(problems["category"]) == [
        "mismatch",
        "pending_too_long",
        "unexpected_invoice",
        "unreadable",
    ]
    for fig in (charts.orders_per_day(r), charts.pending_ages(r)):
        assert charts.png(fig).startswith(b"\x89PNG")
    empty = Reconciliation("sandbox", SHIP, SHIP, NOW, ReconcileRules(), [])
    assert charts.png(charts.orders_per_day(empty)).startswith(b"\x89PNG")
    assert tables.findings_frame(empty).empty and tables.pending_frame(empty).empty
    assert r.to_json()["counts"]["mismatch"] == 1


def test_the_workbook_prints_landscape_one_page_wide_with_its_headers_on_every_page(
    tmp_path: Path,
) -> None:
    path = write_workbook(result(tmp_path), tmp_path / "out" / "r.xlsx")
    wb = load_workbook(path)
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, ws.title
    assert wb["Summary"].print_title_rows == "$1:$4" and wb["Summary"].freeze_panes == "B5"
    for title in [*CATEGORIES, "Unreviewed runs"]:
        assert wb[title].print_title_rows == "$1:$1", title
        assert wb[title].freeze_panes in ("C2", "B2"), title


def test_problem_flags_only_on_problem_categories_that_hold_orders(tmp_path: Path) -> None:
    r = result(tmp_path)
    summary = load_workbook(write_workbook(r, tmp_path / "r.xlsx"))["Summary"]
    flags = {row[0].value: (row[2].value, row[3].value) for row in summary.iter_rows(5, 12)}
    for category, (orders, flag) in flags.items():
        expected = "yes" if category in PROBLEMS and orders else "no"
        assert flag == expected, category
    assert flags["missing_invoice"] == (0, "no")  # a problem category, but nothing in it
    assert flags["mismatch"] == (1, "yes") and flags["matched"] == (1, "no")


def test_run_links_outside_the_workbook_folder_climb_up_to_them(tmp_path: Path) -> None:
    unreviewed = pd.DataFrame([{"id": "r9", "kind": "sync", "started_at": NOW, "status": "failed",
                                "failure_class": "upstream", "reason": "503",
                                "notebook": str(tmp_path / "runs" / "my run.ipynb")}])  # fmt: skip
    path = write_workbook(result(tmp_path), tmp_path / "reports" / "sandbox" / "r.xlsx", unreviewed)
    cell = load_workbook(path)["Unreviewed runs"]["G2"]
    assert cell.hyperlink.target == "../../runs/my%20run.ipynb"  # a URI: the space escaped
    assert cell.value == "../../runs/my run.ipynb"
    assert not cell.hyperlink.target.startswith(("/", "file:"))

"""The twin's customers as Komet's own export (Setup > Customers > Export to Excel).

A newcomer has no real Komet account to export from, yet onboarding asks for that file to find
FTD's customer ID (`onboard --customers-xlsx FILE`). This writes the file the twin's Komet would
give: one sheet, a header row with `Id` and `Name` among the other columns, every customer (FTD
among them, and the look-alikes an analyst has to tell apart), ids as numbers, Active as Yes/No.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..settings.home import Home
from .control import SandboxControl

SHEET = "Customers"
# Header text as Komet's export spells it, and the twin column behind each.
COLUMNS = (
    ("Id", "id"),
    ("Code", "code"),
    ("Name", "name"),
    ("Customer Type", "customer_type"),
    ("Sales Person", "sales_person"),
    ("Price Level", "price_level"),
    ("Credit Limit", "credit_limit"),
    ("Accounting Code", "accounting_code"),
    ("City", "city"),
    ("State", "state"),
    ("Active", "active"),
    ("Updated On", "updated_on"),
)


def default_path(home: Home) -> Path:
    return home.sandbox_dir / "customers.xlsx"


def _cell(column: str, value: Any) -> Any:
    if column == "active":
        return "Yes" if value else "No"
    return value


def write_customer_export(customers: list[dict[str, Any]], out: Path) -> Path:
    """Write `customers` (the twin's `/_sandbox/customers` rows) to `out`, atomically: a
    half-written workbook never sits under the name onboarding will be given."""
    from openpyxl import Workbook  # heavy; only when a file is written

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has its first sheet
    sheet.title = SHEET
    sheet.append([header for header, _ in COLUMNS])
    for customer in customers:
        sheet.append([_cell(column, customer.get(column)) for _, column in COLUMNS])
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        workbook.save(tmp)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def export_customers(home: Home, out: Path | None = None, wholesaler: int = 1) -> Path:
    """The running twin's customers (of one wholesaler's company) as Komet's customer export;
    returns the file written (default `<home>/sandbox/customers.xlsx`)."""
    ctl = SandboxControl.for_home(home)
    try:
        customers = ctl.call("komet", "GET", "customers", wholesaler=wholesaler)
    finally:
        ctl.close()
    return write_customer_export(customers, out or default_path(home))

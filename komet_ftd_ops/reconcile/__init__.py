"""Reconciliation: FTD orders against Komet invoices, an Excel report, run review.

ledger_view   the order ledger as the reconciliation reads it (the one module that does)
sources       Komet invoices and pending web orders, FTD order statuses
categories    the eleven categories and the rules that pick one per order
core          matching and classifying: `reconcile(...)` → `Reconciliation`
tables        findings, summary, per-day and pending-age tables (pandas)
charts        orders per day by category; age of pending confirmations (matplotlib)
excel         the workbook (openpyxl)
reviews       `runs review`: notes on runs; failed runs nobody reviewed
job           `run_reconcile`, what notebooks/reconcile.ipynb calls
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runs.review import review_run, unreviewed_failures, unreviewed_frame
    from .categories import CATEGORIES, LABELS, PROBLEMS, Finding
    from .core import LAST_KEY, ReconcileRules, Reconciliation, last_result, reconcile, save_last
    from .excel import write_workbook
    from .job import ReconcileReport, default_range, default_workbook, run_reconcile

# Names are imported on first use (PEP 562): `health` needs `last_result` without paying for
# pandas, matplotlib and openpyxl, which only the notebook and the workbook need.
_WHERE = {
    "CATEGORIES": "categories",
    "LABELS": "categories",
    "PROBLEMS": "categories",
    "Finding": "categories",
    "LAST_KEY": "core",
    "ReconcileRules": "core",
    "Reconciliation": "core",
    "last_result": "core",
    "reconcile": "core",
    "save_last": "core",
    "write_workbook": "excel",
    "ReconcileReport": "job",
    "default_range": "job",
    "default_workbook": "job",
    "run_reconcile": "job",
    "review_run": "reviews",
    "unreviewed_failures": "reviews",
    "unreviewed_frame": "reviews",
}
__all__ = [
    "CATEGORIES",
    "LABELS",
    "LAST_KEY",
    "PROBLEMS",
    "Finding",
    "ReconcileReport",
    "ReconcileRules",
    "Reconciliation",
    "default_range",
    "default_workbook",
    "last_result",
    "reconcile",
    "review_run",
    "run_reconcile",
    "save_last",
    "unreviewed_failures",
    "unreviewed_frame",
    "write_workbook",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)

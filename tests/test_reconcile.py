"""Reconciliation against the running twin: real orders through the pipeline, Komet tampered
with behind the kit's back, every order in its one category; and the notebook run by papermill
through `komet-ftd-ops reconcile`.

`Market` (a day of trading on the twin) is reused by test_tamper.py and test_health.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Twin
from openpyxl import load_workbook

from komet_ftd_ops.cli.reconcile import reconcile as reconcile_command
from komet_ftd_ops.connect import Clients, open_clients
from komet_ftd_ops.reconcile import (
    CATEGORIES,
    ReconcileRules,
    Reconciliation,
    last_result,
    reconcile,
)
from komet_ftd_ops.runs import index as run_index
from komet_ftd_ops.sandbox.control import SandboxControl
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import Profile, load_profile
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle

# What each tamper kind must turn into, and nothing else.
EXPECTED = {
    "void-invoice": "voided",
    "edit-quantity": "mismatch",
    "edit-price": "mismatch",
    "delete-invoice": "missing_invoice",
    "never-confirm": "pending_too_long",
    "extra-invoice": "unexpected_invoice",
}


@dataclass
class Market:
    """A kit home, its store and clients, and the twin: cycles, florists, the sales rep."""

    twin: Twin
    home: Path
    store: Store
    profile: Profile
    clients: Clients
    control: SandboxControl
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    runs: list[str] = field(default_factory=list)

    def cycle(self, *, minutes: float = 5, status: str = run_index.OK) -> Any:
        """One sync cycle recorded as a run (as the runner would), so orders know their run."""
        self.now += timedelta(minutes=minutes)
        run_id = f"{self.now:%Y%m%dT%H%M%S}Z-sync-{len(self.runs):06x}"
        notebook = self.home / "runs" / self.profile.name / f"{run_id}.ipynb"
        run_index.create_run(self.store, run_id=run_id, profile=self.profile.name, kind="sync",
                             started_at=self.now, kit_version="test", notebook=notebook)  # fmt: skip
        report = run_cycle(self.profile, self.store, self.clients, run_id=run_id, now=self.now)
        run_index.finish_run(self.store, run_id, status=status, duration_s=1.0,
                             finished_at=self.now + timedelta(seconds=1))  # fmt: skip
        self.runs.append(run_id)
        return report

    def shop(self, orders: int, oversell: float = 0.0, seed: int | None = None) -> list[str]:
        return self.control.shop(orders, oversell, seed)["orders"]

    def trade(self, orders: int = 10, oversell: float = 0.2, seed: int = 11) -> None:
        """Florists buy, the kit takes the orders to Komet and acknowledges them."""
        self.shop(orders, oversell, seed)
        self.cycle()
        self.cycle()

    def reconcile(self, **rules: Any) -> Reconciliation:
        first, last = self.range()
        # Real time, not the cycles' simulated clock: the twin stamps invoices in real time.
        return reconcile(self.profile, self.store, self.clients, first, last,
                         rules=ReconcileRules(**rules), now=datetime.now(UTC))  # fmt: skip

    def range(self) -> tuple[date, date]:
        today = datetime.now(UTC).date()
        return today - timedelta(days=1), today + timedelta(days=30)


@pytest.fixture
def market(twin: Twin, home: Path) -> Iterator[Market]:
    profile = load_profile("sandbox", Home.at(home))
    # Read invoices every cycle and never wait for a lost write to settle: cycles are minutes
    # apart on the simulated clock, not in real time.
    profile = replace(profile, orders=replace(profile.orders, confirm_every_minutes=0,
                                              unknown_settle_seconds=0))  # fmt: skip
    control = SandboxControl(twin.info)
    with (
        Store(Home.at(home).state_db) as store,
        open_clients(profile, store, Home.at(home)) as clients,
    ):
        m = Market(twin, home, store, profile, clients, control)
        m.cycle()  # the first cycle lists the inventory on FTD, so florists can buy
        yield m
    control.close()


def by_order(result: Reconciliation) -> dict[str, str]:
    return {f.order.order_number: f.category for f in result.findings if f.order}


def test_a_clean_day_is_all_matched_or_rejected_lines(market: Market) -> None:
    market.trade(10, oversell=0.2)
    result = market.reconcile()
    counts = result.counts()
    assert result.problems == 0, [f.detail for f in result.findings if f.category != "matched"]
    assert counts["matched"] > 0 and counts["rejected_lines"] >= 1  # oversold lines were refused
    ledger_orders = market.store.query("SELECT order_number FROM orders WHERE profile='sandbox'")
    numbers = sorted(r["order_number"] for r in ledger_orders)
    assert sorted(by_order(result)) == numbers  # each exactly once
    # Each order names the run that handled it, and that run's notebook.
    for finding in result.findings:
        run = result.run_of(finding)
        assert run is not None and run.run_id in market.runs and run.notebook.endswith(".ipynb")


# One tamper per invoice: Komet merging two web orders into one invoice would make one tamper
# touch two orders (merged invoices have their own test below).
@pytest.mark.switches(merge_invoices="no")
def test_each_tamper_kind_lands_in_its_category_and_nowhere_else(market: Market) -> None:
    market.trade(10, oversell=0.2, seed=11)
    market.control.confirm()  # the rep confirms the morning's invoices
    market.cycle()
    market.trade(10, oversell=0.1, seed=12)  # the afternoon's stay pending
    touched: dict[str, str] = {}  # customerPo -> kind
    extra_invoices = set()
    for kind in EXPECTED:
        changed = market.control.tamper(kind, 2)["changed"]
        assert len(changed) == 2, (kind, changed)
        for c in changed:
            if kind == "extra-invoice":
                extra_invoices.add(c["number"])
            else:
                assert c["customer_po"] not in touched  # no invoice is tampered twice
                touched[c["customer_po"]] = kind
    market.cycle()  # the kit notices what it can (a voided invoice parks its order)
    market.cycle()

    result = market.reconcile()
    categories = by_order(result)
    for po, kind in touched.items():
        assert categories[po] == EXPECTED[kind], (po, kind, categories[po])
    for po, category in categories.items():
        if po not in touched:
            assert category in ("matched", "rejected_lines"), (po, category)
    orphans = {f.invoice.number for f in result.findings if f.category == "unexpected_invoice"}
    assert orphans == extra_invoices
    counts = result.counts()
    assert (counts["voided"], counts["mismatch"], counts["missing_invoice"]) == (2, 4, 2)
    assert (counts["pending_too_long"], counts["unexpected_invoice"]) == (2, 2)
    assert result.problems == 12

    # The never-confirmed invoices stay pending whatever the rep does with "confirm all".
    market.control.confirm()
    market.cycle()
    assert market.reconcile().counts()["pending_too_long"] == 2
    # ... and a longer threshold forgives them (they are 72 hours old).
    assert market.reconcile(pending_hours=100).counts()["pending_too_long"] == 0


def test_a_cancellation_the_rep_voided_is_matched_not_voided(market: Market) -> None:
    ordered = market.shop(3, seed=21)
    market.cycle()
    market.cycle()
    market.twin.control("ftd", "POST", "cancel", json={"order_id": ordered[0]})
    market.cycle()  # the kit sees the request; the invoice waits for the rep (cancel_review)
    (row,) = market.store.query("SELECT order_number FROM orders WHERE order_id=?", (ordered[0],))
    number = row["order_number"]
    invoice = next(
        i for i in market.control.dump()["komet"]["invoices"] if i["customerPo"] == number
    )
    market.twin.control("komet", "POST", "void", json={"invoice_id": invoice["id"]})
    assert by_order(market.reconcile())[number] == "matched"  # the void is the cancellation
    market.cycle()  # the kit reports CANCELLED to FTD
    market.cycle()
    result = market.reconcile()
    assert by_order(result)[number] == "matched" and result.problems == 0


def test_an_order_stuck_before_checkout_is_missing_its_invoice(market: Market) -> None:
    market.twin.control("komet", "POST", "faults",
                        json={"kind": "error", "method": "web-order.checkout", "rate": 1.0})  # fmt: skip
    market.trade(2, oversell=0.0, seed=31)
    result = market.reconcile()
    missing = [f for f in result.findings if f.category == "missing_invoice"]
    assert len(missing) == 2
    assert all("pending, not checked out" in f.detail for f in missing)
    assert all(f.order.park_reason for f in missing)


def test_the_reconcile_command_runs_the_notebook_and_writes_the_workbook(
    market: Market, home: Path, tmp_path: Path
) -> None:
    market.trade(6, oversell=0.0, seed=41)
    market.control.tamper("void-invoice", 1)
    market.control.tamper("extra-invoice", 1)
    first, last = market.range()
    xlsx = tmp_path / "out" / "reconcile.xlsx"
    args = ["--profile", "sandbox", "--from", str(first), "--to", str(last), "--xlsx", str(xlsx),
            "--json"]  # fmt: skip
    outcome = CliRunner().invoke(reconcile_command, args, catch_exceptions=False)
    assert outcome.exit_code == 1, outcome.output  # 2 problems > --max-problems 0
    printed = json.loads(outcome.stdout)
    assert {c: printed[c] for c in CATEGORIES} == market.reconcile().counts()
    assert (
        printed["voided"] == 1 and printed["unexpected_invoice"] == 1 and printed["problems"] == 2
    )
    assert "2 problem(s), more than --max-problems 0" in outcome.stderr

    record = run_index.get_run(market.store, printed["run_id"])
    assert (record.kind, record.status) == ("reconcile", "ok")
    assert record.notebook.exists() and record.notebook.parent.parent.name == "sandbox"
    assert record.counters["voided"] == 1 and record.counters["problems"] == 2
    wb = load_workbook(xlsx)
    assert wb.sheetnames[0] == "Summary" and "voided" in wb.sheetnames
    assert wb["voided"].max_row == 2 and wb["unexpected_invoice"].max_row == 2
    last_one = last_result(market.store, "sandbox")
    assert last_one["problems"] == 2 and last_one["workbook"] == str(xlsx.resolve())

    again = CliRunner().invoke(reconcile_command, [*args, "--max-problems", "2"])
    assert again.exit_code == 0, again.output


# Each value of each switch that shapes invoices, at least once; the first is every switch at
# its hardest together. The profile says what the account does, as `probe` would record it.
SWITCH_MATRIX = [
    {},  # the hardest: no link fields, merged invoices, the fee as a charge, invoice at 1st add
    {"link_fields": "both", "merge_invoices": "no", "fee_on_invoice": "none",
     "invoice_exists": "checkout", "messages": "table", "customer_checkout": "no"},
    {"link_fields": "customerPo", "invoice_exists": "checkout"},
    {"link_fields": "webOrderId", "merge_invoices": "no"},
]  # fmt: skip


@pytest.mark.parametrize(
    "switches", SWITCH_MATRIX, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "hardest"
)
def test_a_clean_day_reconciles_under_each_switch(home: Path, switches: dict[str, str]) -> None:
    from conftest import start_twin

    from komet_ftd_ops.komet.switches import hardest

    twin = start_twin(home, switches=switches)
    try:
        profile = load_profile("sandbox", Home.at(home))
        profile = replace(profile, komet_switches={**hardest(), **switches},
                          orders=replace(profile.orders, confirm_every_minutes=0,
                                         unknown_settle_seconds=0))  # fmt: skip
        control = SandboxControl(twin.info)
        with Store(Home.at(home).state_db) as store, open_clients(profile, store, Home.at(home)) as clients:  # fmt: skip
            m = Market(twin, home, store, profile, clients, control)
            m.cycle()
            m.trade(10, oversell=0.2, seed=11)
            m.trade(10, oversell=0.1, seed=12)  # same ship dates: Komet may merge them
            result = m.reconcile()
        control.close()
    finally:
        twin.stop()
    counts = result.counts()
    assert counts["matched"] >= 6, (counts, [f.detail for f in result.findings])
    assert result.problems == 0, [
        (f.category, f.detail) for f in result.findings if f.category != "matched"
    ]
    ways = result.matched_by()
    if switches.get("link_fields", "neither") == "neither":
        assert not {"webOrderId", "customerPo"} & set(ways)  # nothing Komet does not give
    fees = [f.fee for f in result.findings if f.invoice is not None]
    if switches.get("fee_on_invoice", "charge") == "charge":
        assert fees and all(fee and fee > 0 for fee in fees)  # expected, shown, not a mismatch
        assert result.fee_pct == 1.5
    else:
        assert not any(fees) and result.fee_pct is None
    if switches.get("merge_invoices", "yes") == "yes":
        shared = [f for f in result.findings if f.shared_with]
        # merged, not duplicates: each order of the shared invoice agrees with it
        assert shared and all(f.category in ("matched", "rejected_lines") for f in shared)

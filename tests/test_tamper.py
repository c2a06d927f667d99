"""The twin goes wrong on purpose: each tamper kind changes what it says, once per invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import test_reconcile
from click.testing import CliRunner
from test_reconcile import Market

from komet_ftd_ops.cli.sandbox import sandbox
from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.komet.models import Invoice, InvoiceStatus, WebOrderStatus

market = test_reconcile.market  # the twin-trading fixture, shared

# These tests find invoices by customerPo (link_fields=both) and tamper one web order per
# invoice (merge_invoices=no); every other switch stays at its hardest.
pytestmark = pytest.mark.switches(link_fields="both", merge_invoices="no")


def invoices(m: Market) -> dict[str, Invoice]:
    """The FTD customer's invoices as the kit reads them, with details, by customerPo."""
    first, last = m.range()
    komet = m.clients.komet
    details = {
        i.id: i.details
        for i in komet.invoice_details_list(first, last, customer_id=m.profile.ftd_customer_id)
    }
    return {i.customer_po: replace(i, details=details[i.id])
            for i in komet.invoice_list(first, last, customer_id=m.profile.ftd_customer_id)}  # fmt: skip


def one(m: Market, kind: str, **kw: Any) -> dict[str, Any]:
    changed = m.control.tamper(kind, 1, **kw)["changed"]
    assert len(changed) == 1
    return changed[0]


def test_each_kind_changes_komet_as_a_person_would(market: Market) -> None:
    market.trade(8, oversell=0.0, seed=5)
    before = invoices(market)

    voided = one(market, "void-invoice")
    edited = one(market, "edit-quantity")
    priced = one(market, "edit-price")
    deleted = one(market, "delete-invoice")
    forgotten = one(market, "never-confirm")
    extra = one(market, "extra-invoice")
    after = invoices(market)

    assert after[voided["customer_po"]].status == InvoiceStatus.VOIDED
    for change, field in ((edited, "boxes"), (priced, "price")):
        old, new = before[change["customer_po"]], after[change["customer_po"]]
        pairs = zip(old.details or (), new.details or (), strict=True)
        changed = [(a, b) for a, b in pairs if a != b]
        assert len(changed) == 1 and getattr(changed[0][0], field) != getattr(changed[0][1], field)
        a, b = changed[0]
        assert a.boxes and b.boxes and a.units and b.units and a.price and b.price
        if field == "boxes":
            assert abs(a.boxes - b.boxes) == 1 and b.units * a.boxes == a.units * b.boxes
        else:
            assert b.price >= a.price + Decimal("0.01")
        assert b.total == (b.price * b.units).quantize(Decimal("0.01"))
        assert new.total == sum(d.total or 0 for d in new.details or ())  # Komet re-totals
    assert deleted["customer_po"] not in after
    web_orders = {w["id"]: w for w in market.control.dump()["komet"]["web_orders"]}
    assert web_orders[deleted["web_order_id"]]["status"] == WebOrderStatus.DELETED
    created = after[forgotten["customer_po"]].created_on
    assert created is not None and datetime.now(UTC) - created > timedelta(hours=71)
    orphan = after[extra["customer_po"]]
    assert extra["customer_po"].startswith("PHONE-") and orphan.web_order_id is None
    assert orphan.ship_date in {i.ship_date for i in before.values()}  # inside the range
    assert orphan.total == sum(d.total or 0 for d in orphan.details or ()) > 0
    assert all(not i.all_unreadable() for i in after.values())  # tampering keeps Komet's types

    # No invoice is picked twice, whatever the kind.
    touched = [t["invoice_id"] for t in market.twin.control("komet", "GET", "tampered")]
    assert len(touched) == len(set(touched)) == 6


def test_never_confirmed_invoices_survive_confirm_all(market: Market) -> None:
    market.trade(3, oversell=0.0, seed=6)
    forgotten = one(market, "never-confirm", age_hours=5)
    confirmed = market.control.confirm()["confirmed"]
    assert forgotten["invoice_id"] not in confirmed and len(confirmed) >= 2
    assert invoices(market)[forgotten["customer_po"]].status == InvoiceStatus.PENDING
    # A person confirming that one invoice by hand still can.
    assert market.control.confirm(str(forgotten["invoice_id"]))["confirmed"] == [
        forgotten["invoice_id"]
    ]


def test_tampers_run_out_and_say_so(market: Market) -> None:
    market.trade(3, oversell=0.0, seed=7)
    runner = CliRunner()
    first = runner.invoke(sandbox, ["tamper", "--kind", "void-invoice", "--count", "2"])
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert len(lines) == 2 and all("status 0 -> 4 (voided)" in x for x in lines)
    rest = market.control.tamper("edit-price", 5)  # fewer left than asked: change what there is
    assert rest["asked"] == 5 and len(rest["changed"]) == 1
    empty = runner.invoke(sandbox, ["tamper", "--kind", "delete-invoice"])
    assert empty.exit_code == 1 and "no untouched invoice left" in empty.output
    as_json = runner.invoke(sandbox, ["tamper", "--kind", "extra-invoice", "--json"])
    assert as_json.exit_code == 0 and '"kind": "extra-invoice"' in as_json.output


def test_bad_requests_are_refused(market: Market) -> None:
    with pytest.raises(ConfigError, match="kind must be one of"):
        market.control.tamper("burn-it-all", 1)
    with pytest.raises(ConfigError, match="count must be"):
        market.control.tamper("void-invoice", 0)

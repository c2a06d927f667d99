"""The category rules on hand-made orders and invoices: one category per order, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from komet_ftd_ops.ftd.models import FtdOrder
from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.komet.models import Invoice as KometInvoice
from komet_ftd_ops.orders import OrderLedger
from komet_ftd_ops.reconcile import ReconcileRules, reconcile, tables
from komet_ftd_ops.reconcile import categories as c
from komet_ftd_ops.reconcile.core import _Matcher
from komet_ftd_ops.reconcile.ledger_view import LineView, OrderView, inventory_key, offer_key
from komet_ftd_ops.reconcile.sources import Invoice, InvoiceLine, PendingWebOrder, invoice_from
from komet_ftd_ops.settings.profiles import profile_from_dict
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.testing import ExpectedRequests

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SHIP = date(2026, 11, 30)


def line(line_id: str = "1", key: str = "428720", boxes: int = 2, price: str = "0.42",
         rejected: bool = False, upb: int | None = 100) -> LineView:  # fmt: skip
    return LineView(line_id, key, boxes, 0 if rejected else boxes, Decimal(price), upb, rejected,
                    "OUT_OF_STOCK" if rejected else None, "rejected" if rejected else "added")  # fmt: skip


def order(
    *lines: LineView, state: str = "acknowledged", ftd: str = "ACKNOWLEDGED", **kw
) -> OrderView:  # noqa: ANN003
    values = dict(order_id="FTD-1", order_number="8842317", ship_date=SHIP, state=state,
                  ftd_status=ftd, web_order_id="30200", invoice_id=None, park_reason=None,
                  park_detail=None, cancel_asked=False, created_at=NOW, run_id=None,
                  lines=lines or (line(),))  # fmt: skip
    values.update(kw)
    return OrderView(**values)


def invoice(*lines: InvoiceLine, status: int = 0, total: str | None = None, age_h: float = 1,
            **kw) -> Invoice:  # fmt: skip  # noqa: ANN003
    lines = lines or (InvoiceLine("428720", 2, 200, Decimal("0.42"), Decimal("84.00")),)
    billed = Decimal(total) if total else sum((x.total for x in lines), Decimal("0.00"))
    values = dict(id="551000", number="21000", status=status, ship_date=SHIP,
                  created_on=NOW - timedelta(hours=age_h), total=billed, customer_po="8842317",
                  web_order_id="30200", lines=lines)  # fmt: skip
    values.update(kw)
    return Invoice(**values)


def classify(o: OrderView, i: Invoice | None, ftd: str | None = None,
             pending: PendingWebOrder | None = None) -> c.Finding:  # fmt: skip
    return c.classify(o, i, ftd_status=ftd or o.ftd_status, pending_web_order=pending, now=NOW,
                      pending_hours=24)  # fmt: skip


def test_an_order_billed_as_sent_is_matched() -> None:
    found = classify(order(), invoice())
    assert found.category == c.MATCHED and found.expected_total == Decimal("84.00")


def test_money_is_compared_to_the_cent_with_decimal() -> None:
    # 3 boxes x 100 stems x 0.335 = 100.50 exactly; float would say 100.49999...
    o = order(line(boxes=3, price="0.335"))
    billed = InvoiceLine("428720", 3, 300, Decimal("0.34"), Decimal("102.00"))
    assert classify(o, invoice(billed)).category == c.MISMATCH
    same = InvoiceLine("428720", 3, 300, Decimal("0.34"), Decimal("102.00"))
    o2 = order(line(boxes=3, price="0.34"))
    assert classify(o2, invoice(same)).category == c.MATCHED
    assert (
        classify(o2, invoice(same, total="102.01")).detail
        == "total: expected 102.00, billed 102.01"
    )


@pytest.mark.parametrize(
    ("billed", "words"),
    [
        (
            InvoiceLine("428720", 3, 300, Decimal("0.42"), Decimal("126.00")),
            "boxes 428720: sent 2, billed 3",
        ),
        (
            InvoiceLine("428720", 2, 200, Decimal("0.46"), Decimal("92.00")),
            "price 428720: sent 0.42, billed 0.46",
        ),
        (
            InvoiceLine("428999", 2, 200, Decimal("0.42"), Decimal("84.00")),
            "boxes 428720: sent 2, billed 0",
        ),
    ],
)
def test_boxes_price_or_product_differing_is_a_mismatch(billed: InvoiceLine, words: str) -> None:
    found = classify(order(), invoice(billed))
    assert found.category == c.MISMATCH and words in found.detail


def test_a_ship_date_changed_in_komet_is_its_own_category() -> None:
    found = classify(order(), invoice(ship_date=SHIP + timedelta(days=1)))
    assert found.category == c.SHIP_DATE_DIFFERS and c.SHIP_DATE_DIFFERS in c.PROBLEMS
    assert f"ships {SHIP + timedelta(days=1)}" in found.detail and str(SHIP) in found.detail


def test_no_invoice_is_missing_and_says_why() -> None:
    pending = PendingWebOrder("30200", "", 2, Decimal("84.00"))
    found = classify(order(state="checking_out", ftd="NEW"), None, pending=pending)
    assert found.category == c.MISSING_INVOICE
    assert "web order 30200 pending, not checked out" in found.detail
    parked = order(state="received", ftd="NEW", web_order_id=None, park_reason="komet_unavailable",
                   park_detail="503")  # fmt: skip
    assert "parked: komet_unavailable (503)" in classify(parked, None).detail


def test_voided_counts_only_when_ftd_believes_the_order_accepted() -> None:
    voided = invoice(status=4)
    assert classify(order(), voided).category == c.VOIDED_CATEGORY
    assert classify(order(state="acknowledging", ftd="NEW"), voided).category == c.MISSING_INVOICE
    asked = order(cancel_asked=True, state="cancel_review", ftd="CANCEL_REQUESTED")
    assert classify(asked, voided).category == c.MATCHED


def test_cancelled_orders_want_no_live_invoice() -> None:
    gone = order(state="cancelled", ftd="CANCELLED")
    assert classify(gone, None).category == c.MATCHED
    assert classify(gone, invoice(status=4)).category == c.MATCHED
    assert classify(gone, invoice(status=1)).category == c.UNEXPECTED_INVOICE


def test_pending_too_long_uses_the_threshold_and_confirmed_never_ages() -> None:
    assert classify(order(), invoice(age_h=23)).category == c.MATCHED
    assert classify(order(), invoice(age_h=25)).category == c.PENDING_TOO_LONG
    # A draft is a web order never checked out (Komet files an Order # from the first add).
    draft = classify(order(), invoice(age_h=25, status=2))
    assert draft.category == c.MISSING_INVOICE and "not checked out" in draft.detail
    assert classify(order(), invoice(age_h=500, status=1)).category == c.MATCHED


def test_rejected_lines_and_what_wins_over_them() -> None:
    partly = order(line(), line("2", "428800", rejected=True))
    assert classify(partly, invoice()).category == c.REJECTED_LINES  # the rest billed right
    assert classify(partly, invoice(age_h=30)).category == c.PENDING_TOO_LONG
    assert classify(partly, invoice(total="90.00")).category == c.MISMATCH
    assert classify(partly, invoice(status=4)).category == c.VOIDED_CATEGORY
    assert classify(partly, None).category == c.MISSING_INVOICE
    every = order(line(rejected=True), state="rejected", ftd="REJECTED", web_order_id=None)
    assert classify(every, None).category == c.REJECTED_LINES
    assert classify(every, invoice()).category == c.MISMATCH  # billed although all refused


def test_precedence_voided_beats_mismatch_beats_pending() -> None:
    edited = InvoiceLine("428720", 3, 300, Decimal("0.42"), Decimal("126.00"))
    assert classify(order(), invoice(edited, status=4, age_h=99)).category == c.VOIDED_CATEGORY
    assert classify(order(), invoice(edited, age_h=99)).category == c.MISMATCH


def test_the_listing_status_is_fresher_than_the_ledger() -> None:
    # The ledger still says NEW (the listing lags a cycle); FTD says ACKNOWLEDGED.
    o = order(state="acknowledging", ftd="NEW")
    assert classify(o, invoice(status=4), ftd="ACKNOWLEDGED").category == c.VOIDED_CATEGORY


def test_matcher_gives_each_invoice_to_one_order_and_prefers_live_ones() -> None:
    live, dead = invoice(id="2", status=1), invoice(id="1", status=4)
    twin = invoice(id="3", status=0)
    matcher = _Matcher([dead, live, twin])
    assert matcher.claim(matcher.strong(order())) == live
    assert matcher.claim(matcher.strong(order())) == twin  # a second claimant gets the next
    assert matcher.claim(matcher.by_customer_po(order())) == dead
    assert matcher.claim(matcher.by_customer_po(order())) is None


def test_keys_and_komet_records_normalise() -> None:
    assert offer_key("om:428721-428720") == "428720,428721" == inventory_key(["428721", "428720 "])
    got = invoice_from(
        KometInvoice.from_wire({"id": "551001", "number": "21001", "status": "0", "shipDate": "2026-11-30",
         "createdOn": "2026-11-28 10:00:00", "total": "84.00", "customerPo": "8842317",
         "webOrderId": "30200"}),
        KometInvoice.from_wire({"details": [{"inventoryIds": "428721,428720", "boxes": "2",
                                             "units": "200", "price": "0.42", "total": "84.00"}]}),
    )  # fmt: skip
    assert got.created_on == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert got.lines == (InvoiceLine("428720,428721", 2, 200, Decimal("0.42"), Decimal("84.00")),)
    assert got.unreadable == ()
    assert invoice_from(KometInvoice.from_wire({"id": 1, "webOrderId": None}), None).lines is None


def test_units_per_box_falls_back_to_the_invoice() -> None:
    o = order(replace(line(), units_per_box=None))
    assert classify(o, invoice()).category == c.MATCHED


HEADER = {"id": "551000", "number": "21000", "status": "4", "shipDate": "2026-11-30",
          "createdOn": "2026-11-28T10:00:00", "total": "84.00", "customerPo": "8842317",
          "webOrderId": "30200"}  # fmt: skip
PHONE = {**HEADER, "id": "551001", "number": "21001", "status": "0", "customerPo": "PHONE-1",
         "webOrderId": None, "shipDate": "2026-12-24"}  # fmt: skip
LINES = [{"inventoryIds": "428720", "boxes": 2, "units": 200, "price": "0.42", "total": "84.00"}]


def _komet(headers: list[dict], details: list[dict]) -> KometClient:
    """The real Komet client, answered offline: invoice.list, invoice.details.list (two
    four-day windows over the widened range 2026-11-27..12-03). No web-order-details.list:
    the invoice carries the webOrderId here, and nothing lists web orders without an id."""
    fake = ExpectedRequests()
    fake.expect("GET", "/api/invoice.list", json={"status": "1", "invoices": headers})
    for _ in range(2):
        fake.expect("GET", "/api/invoice.details.list", json={"status": "1", "invoices": details})
    config = KometConfig(base_url="http://komet.test/api/", company_id="1",
                         token=Secret("komet-test-token"))  # fmt: skip
    return KometClient(config, transport=fake.transport())


class _FtdDown:
    def fetch_orders(self, **kw: object) -> None:
        from komet_ftd_ops.errors import ServiceUnavailable

        raise ServiceUnavailable("FTD answered 503")


PROFILE = profile_from_dict("acme", {
    "komet": {"base_url": "http://k", "company_id": "1", "ftd_customer_id": "9", "token": "env:X"},
    "ftd": {"base_url": "http://f", "supplier_id": "S", "token": "env:Y"},
})  # fmt: skip


def _acknowledged(store: Store) -> None:
    """FTD-1 (8842317): 2 boxes of 428720 at 0.42, 100 stems a box, web order 30200."""
    ledger = OrderLedger(store, "acme")
    ftd_order = {"order_id": "FTD-1", "order_number": "8842317", "status": "NEW", "version": 1,
                 "requested_ship_date": "2026-11-30",
                 "lines": [{"line_id": "1", "offer_id": "om:428720", "units_per_box": 100}]}  # fmt: skip
    ledger.receive(FtdOrder.from_wire(ftd_order), [{"line_id": "1", "offer_id": "om:428720",
                                                    "boxes": 2, "price": "0.42"}], NOW)  # fmt: skip
    ledger.update("FTD-1", NOW, state="acknowledged", web_order_id="30200")


def test_ftd_down_falls_back_to_the_ledger_and_the_range_is_respected(tmp_path: Path) -> None:
    komet = _komet([HEADER, PHONE], [{**HEADER, "details": LINES}, {**PHONE, "details": LINES}])
    with Store(tmp_path / "state.sqlite3") as store, komet:
        _acknowledged(store)
        clients = SimpleNamespace(komet=komet, ftd=_FtdDown(),
                                  calls=SimpleNamespace(today=lambda: 0))  # fmt: skip
        result = reconcile(PROFILE, store, clients, "2026-11-29", "2026-12-01", now=NOW)
    assert not result.ftd_asked and "FTD not read (ServiceUnavailable" in result.notes[0]
    # The ledger says the kit acknowledged it: FTD believes it accepted, so a void counts.
    assert [(f.category, f.order.order_number) for f in result.findings] == [("voided", "8842317")]
    # The phone order ships outside the range (+2 margin days do not reach it): not reported.
    assert result.counts()["unexpected_invoice"] == 0


@pytest.mark.parametrize(
    ("header", "line", "said"),
    [
        ({"total": "N/A"}, {}, "total 'N/A'"),
        ({"total": None}, {}, "total missing"),
        ({}, {"price": "0,42"}, "line 428720: price '0,42'"),
        ({}, {"boxes": "two"}, "line 428720: boxes 'two'"),
    ],
    ids=["garbage-total", "no-total", "garbage-price", "garbage-boxes"],
)
def test_an_unreadable_amount_is_its_own_category_never_a_mismatch(
    tmp_path: Path, header: dict, line: dict, said: str
) -> None:
    # A pending invoice of the acknowledged order, billed right except for the unreadable value
    # (read as 0.00, it used to show as "total: expected 84.00, billed 0.00": a mismatch).
    billed = {**HEADER, "status": "0", **header}
    komet = _komet([billed], [{**billed, "details": [{**LINES[0], **line}]}])
    with Store(tmp_path / "state.sqlite3") as store, komet:
        _acknowledged(store)
        clients = SimpleNamespace(komet=komet, calls=SimpleNamespace(today=lambda: 0))
        result = reconcile(PROFILE, store, clients, "2026-11-29", "2026-12-01",
                           rules=ReconcileRules(ask_ftd=False), now=NOW)  # fmt: skip
    [found] = result.findings
    assert found.category == c.UNREADABLE and said in found.detail, found.detail
    assert result.counts()["mismatch"] == 0 and result.problems == 1
    row = tables.findings_frame(result).iloc[0]
    if "total" in header:  # no invoice total, and no made-up difference against a 0.00
        assert row["invoice_total"] is None and row["difference"] is None


# --- the fee, merged invoices, and invoices found without Komet's undocumented link fields ---


def test_the_fee_is_expected_on_top_of_the_lines_and_shown() -> None:
    with_fee = invoice(total="85.26")  # 84.00 of lines + 1.5% = 1.26
    found = c.classify(order(), with_fee, ftd_status="ACKNOWLEDGED", pending_web_order=None,
                       now=NOW, pending_hours=24, fee_pct=1.5)  # fmt: skip
    assert found.category == c.MATCHED, found.detail
    assert (found.fee, found.expected_total) == (Decimal("1.26"), Decimal("85.26"))
    # The same invoice where no fee is expected: 1.26 too much.
    assert classify(order(), with_fee).category == c.MISMATCH
    # A fee expected but not billed says how to tell the kit Komet bills none.
    missing = c.classify(order(), invoice(), ftd_status="ACKNOWLEDGED", pending_web_order=None,
                         now=NOW, pending_hours=24, fee_pct=1.5)  # fmt: skip
    assert missing.category == c.MISMATCH
    assert "expected 85.26 (lines 84.00 + fee 1.26), billed 84.00" in missing.detail
    assert 'fee_on_invoice = "none"' in missing.detail


def test_two_orders_merged_into_one_invoice_are_compared_together_not_duplicates() -> None:
    a = order(order_id="FTD-1", order_number="1")
    b = order(line("1", "428799", 1, "0.50"), order_id="FTD-2", order_number="2")
    merged = invoice(
        InvoiceLine("428720", 2, 200, Decimal("0.42"), Decimal("84.00")),
        InvoiceLine("428799", 1, 100, Decimal("0.50"), Decimal("50.00")),
        total="136.01",  # 134.00 + 1.5% (2.01)
    )
    for one, other in ((a, b), (b, a)):
        found = c.classify(one, merged, ftd_status="ACKNOWLEDGED", pending_web_order=None,
                           now=NOW, pending_hours=24, fee_pct=1.5, shared_with=(other,))  # fmt: skip
        assert found.category == c.MATCHED, found.detail
        assert found.shared_with == (other.order_number,) and "merged by Komet" in found.detail
    # Alone, either order would be a mismatch against the merged invoice.
    alone = c.classify(a, merged, ftd_status="ACKNOWLEDGED", pending_web_order=None, now=NOW,
                       pending_hours=24, fee_pct=1.5)  # fmt: skip
    assert alone.category == c.MISMATCH


def _receive(store: Store, order_id: str, number: str, offer: str, boxes: int,
             web_order_id: str | None) -> None:  # fmt: skip
    ledger = OrderLedger(store, "acme")
    body = {"order_id": order_id, "order_number": number, "status": "NEW", "version": 1,
            "requested_ship_date": "2026-11-30",
            "lines": [{"line_id": "1", "offer_id": f"om:{offer}", "units_per_box": 100}]}  # fmt: skip
    lines = [{"line_id": "1", "offer_id": f"om:{offer}", "boxes": boxes, "price": "0.42"}]
    ledger.receive(FtdOrder.from_wire(body), lines, NOW)
    ledger.update(order_id, NOW, state="acknowledged", web_order_id=web_order_id)


def _bare(id_: str, number: str, offer: str, boxes: int) -> tuple[dict, dict]:
    """An invoice as invoice.list gives it on an account without link fields, and its lines."""
    total = f"{Decimal('0.42') * 100 * boxes:.2f}"
    header = {"id": id_, "number": number, "status": "0", "shipDate": "2026-11-30",
              "createdOn": "2026-11-28T10:00:00", "total": total}  # fmt: skip
    lines = [{"inventoryIds": offer, "boxes": boxes, "units": 100 * boxes, "price": "0.42",
              "total": total}]  # fmt: skip
    return header, {**header, "details": lines}


def test_without_link_fields_invoices_are_found_by_order_number_then_by_lines(
    tmp_path: Path,
) -> None:
    one, two, three, four = (_bare("551001", "21001", "428720", 2),
                             _bare("551002", "21002", "428730", 3),
                             _bare("551003", "21003", "428740", 1),
                             _bare("551004", "21004", "428740", 1))  # fmt: skip
    headers = [one[0], two[0], three[0], four[0]]
    fake = ExpectedRequests()
    fake.expect("GET", "/api/invoice.list", json={"status": "1", "invoices": headers})
    details = [one[1], two[1], three[1], four[1]]
    fake.expect("GET", "/api/invoice.details.list", json={"status": "1", "invoices": details})
    fake.expect("GET", "/api/invoice.details.list", json={"status": "1", "invoices": []})

    def by_id(status: str | None) -> object:
        def check(request: object) -> None:  # the documented call: webOrderId is always sent
            params = request.url.params  # type: ignore[attr-defined]
            assert params["webOrderId"] == "30200" and params.get("statusId") == status

        return check

    # Pending first (Komet's default), then checked out: the Order # is 21001.
    fake.expect("GET", "/api/web-order-details.list", json={"status": "1", "webOrders": []},
                check=by_id(None))  # fmt: skip
    fake.expect("GET", "/api/web-order-details.list", check=by_id("2"),
                json={"status": "1", "webOrders": [{"id": "30200", "number": "21001",
                                                    "statusId": "2", "items": []}]})  # fmt: skip
    config = KometConfig(base_url="http://komet.test/api/", company_id="1",
                         token=Secret("komet-test-token"))  # fmt: skip
    none = replace(PROFILE, komet_switches={**PROFILE.komet_switches, "fee_on_invoice": "none"})
    with Store(tmp_path / "state.sqlite3") as store, KometClient(config, transport=fake.transport()) as komet:  # fmt: skip
        _receive(store, "FTD-1", "8842317", "428720", 2, "30200")  # Order # read back
        _receive(store, "FTD-2", "8842318", "428730", 3, None)  # its lines fit one invoice
        _receive(store, "FTD-3", "8842319", "428740", 1, None)  # two invoices fit FTD-3 and
        _receive(store, "FTD-4", "8842320", "428740", 1, None)  # FTD-4 alike: for a person
        clients = SimpleNamespace(komet=komet, calls=SimpleNamespace(today=lambda: 0))
        result = reconcile(none, store, clients, "2026-11-29", "2026-12-01",
                           rules=ReconcileRules(ask_ftd=False), now=NOW)  # fmt: skip
    fake.assert_done()
    got = {f.order.order_id: (f.category, f.matched_by, f.invoice.number if f.invoice else None)
           for f in result.findings if f.order}  # fmt: skip
    assert got == {
        "FTD-1": ("matched", "Order #", "21001"),
        "FTD-2": ("matched", "lines", "21002"),
        "FTD-3": ("ambiguous_match", "lines (ambiguous)", None),
        "FTD-4": ("ambiguous_match", "lines (ambiguous)", None),
    }
    # The two candidate invoices wait for the person; neither is reported as unexpected.
    assert result.counts()["unexpected_invoice"] == 0 and result.problems == 2
    assert result.matched_by() == {"Order #": 1, "lines": 1, "lines (ambiguous)": 2}
    frame = tables.findings_frame(result).set_index("order_id")
    assert frame.loc["FTD-2", "matched_by"] == "lines"


def test_an_order_number_the_range_did_not_list_is_read_with_the_order_filter(
    tmp_path: Path,
) -> None:
    header, details = _bare("551009", "21009", "428720", 2)
    fake = ExpectedRequests()
    fake.expect("GET", "/api/invoice.list", json={"status": "1", "invoices": []})
    for _ in range(2):
        fake.expect("GET", "/api/invoice.details.list", json={"status": "1", "invoices": []})
    fake.expect("GET", "/api/web-order-details.list",
                json={"status": "1", "webOrders": [{"id": "30200", "number": "21009",
                                                    "statusId": "1", "items": []}]})  # fmt: skip

    def order_filter(request: object) -> None:
        assert request.url.params["order"] == "21009"  # type: ignore[attr-defined]

    fake.expect("GET", "/api/invoice.list", json={"status": "1", "invoices": [header]},
                check=order_filter)  # fmt: skip
    fake.expect("GET", "/api/invoice.details.list", json={"status": "1", "invoices": [details]},
                check=order_filter)  # fmt: skip
    config = KometConfig(base_url="http://komet.test/api/", company_id="1",
                         token=Secret("komet-test-token"))  # fmt: skip
    none = replace(PROFILE, komet_switches={**PROFILE.komet_switches, "fee_on_invoice": "none"})
    with Store(tmp_path / "state.sqlite3") as store, KometClient(config, transport=fake.transport()) as komet:  # fmt: skip
        _receive(store, "FTD-1", "8842317", "428720", 2, "30200")
        clients = SimpleNamespace(komet=komet, calls=SimpleNamespace(today=lambda: 0))
        result = reconcile(none, store, clients, "2026-11-29", "2026-12-01",
                           rules=ReconcileRules(ask_ftd=False), now=NOW)  # fmt: skip
    fake.assert_done()
    [found] = result.findings
    assert (found.category, found.matched_by, found.invoice.number) == (
        "matched",
        "Order #",
        "21009",
    )

"""The twin's fast paths serve what its plain paths served (issue 14: a twin fast enough to
measure the kit). inventory.list pages come from a cached, pre-rendered listing: every page
must equal the uncached OFFSET query rendered item by item, in both json_style values, bad
rows included, and a write to the stock (by any route) must show on the next page read."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_komet_twin import KometTwin

from komet_ftd_ops.sandbox.ftd.http import loads, parse_date
from komet_ftd_ops.sandbox.komet import db as komet_db
from komet_ftd_ops.sandbox.komet.methods import ITEM_SQL, item_json
from komet_ftd_ops.sandbox.komet.wire import add_months, render


def plain_page(path: Path, customer: int, page: int, rows: int, style: str) -> dict[str, Any]:
    """The page as the twin built it before the cache: COUNT, an OFFSET query, render all."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    today = komet_db.today()
    where = " WHERE i.available_to >= ? AND i.available_from <= ? AND i.reserved_for IS NULL"
    params = (today.isoformat(), add_months(today, 2).isoformat())
    total = conn.execute(f"SELECT COUNT(*) FROM komet_items i{where}", params).fetchone()[0]
    found = conn.execute(
        f"{ITEM_SQL}{where} ORDER BY i.first_line_id, i.id LIMIT ? OFFSET ?",
        (*params, rows, (page - 1) * rows),
    ).fetchall()
    sql = "SELECT price_factor FROM komet_customers WHERE id=?"
    factor = Decimal(conn.execute(sql, (customer,)).fetchone()[0])
    conn.close()
    payload = {"total": total, "inventoryItems": [item_json(r, factor) for r in found]}
    return json.loads(json.dumps(render(payload, style)))


def all_pages(twin: KometTwin, rows: int) -> list[dict[str, Any]]:
    pages, page = [], 1
    while True:
        response = twin.ecom("ecommerce/inventory.list", customerId=twin.ftd, page=page, rows=rows)
        body = response.json()
        assert response.status_code == 200 and str(body["status"]) == "1", body
        pages.append({"total": body["total"], "inventoryItems": body["inventoryItems"]})
        if not body["inventoryItems"]:
            return pages
        page += 1


@pytest.mark.parametrize("style", ["strings", "numbers"])
def test_every_page_equals_the_uncached_query(tmp_path: Path, style: str) -> None:
    twin = KometTwin(tmp_path / "t.sqlite3", lines=400, switches={"json_style": style}).start()
    try:
        customer = int(twin.ftd)
        served = all_pages(twin, rows=37)
        plain = [plain_page(twin.path, customer, n, 37, style) for n in range(1, len(served) + 1)]
        assert served == plain
        items = [i for p in served for i in p["inventoryItems"]]
        assert len(items) > 300
        bad = [i for i in items if i["price"] == "" or int(i["quantity"]) < 0]
        assert bad, "the seed's badly keyed rows are served through the cache too"
    finally:
        twin.stop()


def test_a_write_by_any_route_shows_on_the_next_page(tmp_path: Path) -> None:
    twin = KometTwin(tmp_path / "t.sqlite3", lines=200).start()
    try:
        first = all_pages(twin, rows=50)[0]["inventoryItems"][0]
        line = first["inventoryLineIds"].split(",")[0]
        twin.control("POST", "stock", {"set": {line: 77}})  # the control route
        again = all_pages(twin, rows=50)[0]["inventoryItems"][0]
        assert again["quantity"] == "77"
        # another process writes the file directly: no writer can bypass the triggers
        conn = sqlite3.connect(twin.path)
        conn.execute("UPDATE komet_lines SET boxes = 5 WHERE line_id = ?", (int(line),))
        conn.execute("UPDATE komet_customers SET price_factor = '2'")
        conn.commit()
        conn.close()
        moved = all_pages(twin, rows=50)[0]["inventoryItems"][0]
        assert moved["quantity"] == "5"
        assert moved["price"] != again["price"]
        assert all_pages(twin, rows=50) == [
            plain_page(twin.path, int(twin.ftd), n, 50, "strings")
            for n in range(1, len(all_pages(twin, rows=50)) + 1)
        ]
    finally:
        twin.stop()


@pytest.mark.parametrize(
    "value",
    ["2026-01-31", "2026-02-30", "0000-01-01", "2026-01-31\n", "٢٠٢٦-٠١-٠١", "2026-13-01", 7],
)
def test_parse_date_answers_as_strptime_did(value: Any) -> None:
    try:
        expected = datetime.strptime(value, "%Y-%m-%d") if isinstance(value, str) else None
    except ValueError:
        expected = None
    assert parse_date(value) == expected


def test_loads_reads_what_json_reads_and_refuses_alike() -> None:
    for text in (b'{"q": NaN}', b'{"big": 100000000000000000000000}', b'{"s": "\\ud800"}'):
        assert repr(loads(text)) == repr(json.loads(text))
    for bad in (b"{", b'{"a": 1,}'):
        with pytest.raises(ValueError) as ours:
            loads(bad)
        with pytest.raises(ValueError) as theirs:
            json.loads(bad)
        assert str(ours.value) == str(theirs.value)

"""The column-wise inventory path gives exactly what the row-by-row path gave.

`fixtures/transform/mixed_page.json` is one inventory.list page of good rows, every bad reason,
strings where numbers go, numbers where strings go, None and whitespace;
`mixed_page_expected.json` is what the kit published, rejected and excluded for it before the
transform went column-wise (each item through `normalise_record`, then pandas): the page is read
here through the Komet client (orjson, no per-row normalising) and must give the same.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.komet.models import normalise_record
from komet_ftd_ops.offers import columns
from komet_ftd_ops.offers.ids import SPACE_CLASS, OfferId
from komet_ftd_ops.offers.inventory import line_keys
from komet_ftd_ops.offers.transform import (
    BAD_REASONS,
    build_offers,
    fingerprints,
    frame_of_pages,
    offers_as_dicts,
    text_page,
    to_frame,
)
from komet_ftd_ops.settings.profiles import SyncRules
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.state.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "transform"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RULES = SyncRules(
    markup_pct=10.0, min_boxes=2, max_aging_days=10, exclude_categories=("greens",),
    exclude_colors=("black",), safety_buffer_boxes=1,
)  # fmt: skip
SHADOW = {"om:9601": 3}


def read_page(body: bytes) -> list[dict[str, Any]]:
    """The page as the kit reads it: over HTTP (a MockTransport serving the bytes as they are)."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("ecommerce/inventory.list"), request.url
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    config = KometConfig(
        base_url="http://komet.test/api/", company_id="c1", token=Secret("t"), page_size=500
    )
    with KometClient(config, transport=httpx.MockTransport(handler)) as client:
        return client.inventory_rows("f1")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.astype(object).to_dict(orient="records")
    return [{k: None if v is None or v != v else v for k, v in r.items()} for r in rows]


def test_the_mixed_page_gives_exactly_the_old_output() -> None:
    expected = json.loads((FIXTURES / "mixed_page_expected.json").read_text())
    items = read_page((FIXTURES / "mixed_page.json").read_bytes())
    build = build_offers(items, RULES, shadow=SHADOW, today=NOW)
    assert build.summary() == expected["summary"]
    assert offers_as_dicts(build.offers, "2026-11-28T12:00:00Z") == expected["offers"]
    assert records(build.rejected) == expected["rejected"]
    assert records(build.excluded) == expected["excluded"]
    # fingerprints too: an upgraded kit sends a delta, not every offer as changed
    assert fingerprints(build.offers).to_dict() == expected["fingerprints"]
    # the page covers every bad reason, and the rule reasons
    assert {r["reason"] for r in expected["rejected"]} == set(BAD_REASONS)
    assert {r["reason"] for r in expected["excluded"]} >= {
        "excluded_category", "excluded_color", "too_old", "expired", "below_min_boxes",
    }  # fmt: skip


def test_komets_two_typing_styles_give_the_same_offers() -> None:
    page = json.loads((FIXTURES / "mixed_page.json").read_text())
    good = [i for i in page["inventoryItems"][:6] if i.get("inventoryLineIds")]
    as_numbers = [
        {
            **item,
            **{k: int(item[k]) for k in ("inventoryOrigin", "unitsPerBox", "bunches", "quantity")},
            "price": float(item["price"]),
        }
        for item in good
        if str(item["quantity"]).strip().isdigit() and isinstance(item["price"], str)
    ]
    strings = [{**i, "price": str(i["price"])} for i in as_numbers]
    assert len(as_numbers) >= 2
    a = build_offers(
        read_page(json.dumps({"status": 1, "inventoryItems": as_numbers}).encode()),
        RULES,
        today=NOW,
    )
    b = build_offers(strings, RULES, today=NOW)
    assert offers_as_dicts(a.offers, "t") == offers_as_dicts(b.offers, "t") and len(a.offers)


def test_the_inventory_read_page_by_page_is_the_read_of_every_row() -> None:
    """What the cycle reads (each page to Arrow as it arrives, `frame_of_pages`) is `to_frame`
    of every row: all pages in Komet's string style, and with one page that mixes types (that
    page kept as decoded, the whole read typed value by value), in page order."""
    page = json.loads((FIXTURES / "mixed_page.json").read_text())["inventoryItems"]
    texts = [
        {k: v for k, v in item.items() if isinstance(v, str)}
        for item in page
        if all(isinstance(v, str | None) for v in item.values())
    ]
    assert len(texts) >= 6 and len(texts) < len(page)
    for pages in ([texts[:3], texts[3:6], texts[6:]], [texts[:3], page, texts[3:]]):
        pages = [p for p in pages if p]
        size = max(map(len, pages))
        total = sum(map(len, pages))

        def handler(
            request: httpx.Request, pages: list[Any] = pages, total: int = total
        ) -> httpx.Response:
            at = int(request.url.params["page"]) - 1
            items = pages[at] if at < len(pages) else []
            body = {"status": "1", "total": str(total), "inventoryItems": items}
            return httpx.Response(200, content=json.dumps(body).encode())

        config = KometConfig(
            base_url="http://komet.test/api/", company_id="c1", token=Secret("t"), page_size=size
        )
        with KometClient(config, transport=httpx.MockTransport(handler)) as client:
            paged = frame_of_pages(client.inventory_pages("f1", each_page=text_page))
            rows = client.inventory_rows("f1")
        assert [type(p).__name__ for p in map(text_page, pages)].count("list") == (page in pages)
        served = [item for items in pages for item in items]
        assert rows == served
        pd.testing.assert_frame_equal(paged, to_frame(served))
    pd.testing.assert_frame_equal(frame_of_pages([]), to_frame([]))


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(-5, 300, allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "4", " 4 ", "4.0", "2.5", "+3", "1e2", "1_0", "abc", "0.40",
                     "-0.40", "0.12345", "\u00a012\u3000", "NaN", "Infinity", "٣"]),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(values=st.lists(JSON_SCALARS, max_size=30), same=st.booleans())
def test_each_column_reads_as_normalise_record_reads_each_value(
    values: list[Any], same: bool
) -> None:
    if same and values:  # one JSON type per column (the usual page): the dictionary-encoded path
        values = [None if v is None else str(v) for v in values]
    one_by_one = [
        normalise_record({"quantity": v, "inventoryLineIds": v, "price": v}) for v in values
    ]
    quantity = pd.to_numeric(
        pd.Series([r["quantity"] for r in one_by_one], dtype=object), errors="coerce"
    )
    pd.testing.assert_series_equal(columns.counts(values, "quantity"), quantity)

    ids = columns.ids(values, "inventoryLineIds")
    assert [None if v is None or v != v else v for v in ids.astype(object)] == [
        r["inventoryLineIds"] for r in one_by_one
    ]
    prices = columns.typed(values, columns.normalised("price", text=True))
    texts = [str(r["price"]) if isinstance(r["price"], Decimal) else r["price"] for r in one_by_one]
    if not any(isinstance(v, float) for v in values):  # 2 beside 2.0 reads "2.0" for both
        assert list(prices) == texts
    e4 = columns.price_e4(columns.text(prices))
    pd.testing.assert_series_equal(e4, columns.price_e4(columns.text(texts)))


def test_price_ten_thousandths_as_the_row_by_row_regex_read_them() -> None:
    texts = ["0.40", "12", "12.5", "-0.4", "0.12345", "", "abc", "1E+2", "007.1", "1.2.3", " 3.25 "]
    got = columns.price_e4(columns.text(texts)).tolist()
    pattern = re.compile(r"^(-?)(\d+)(?:\.(\d{1,4}))?$")
    want = []
    for t in texts:
        m = pattern.match(t.strip())
        want.append(
            pd.NA
            if not m
            else (int(m[2]) * 10_000 + int((m[3] or "").ljust(4, "0"))) * (-1 if m[1] else 1)
        )
    assert got == want


def test_the_whitespace_class_is_pythons() -> None:
    """Arrow's RE2 `\\s` is ASCII: SPACE_CLASS must drop exactly what str.split() drops."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chars = [chr(c) for c in range(0x3100) if not 0xD800 <= c <= 0xDFFF]
    matched = pc.match_substring_regex(pa.array(chars), f"^{SPACE_CLASS}$").to_pylist()
    assert [c for c, m in zip(chars, matched, strict=True) if m] == [
        c for c in chars if c.isspace()
    ]


@pytest.mark.parametrize(
    "line_ids",
    [
        "428720",
        " 428720 ",
        "428721, 428720",
        "428720,428721",
        "9\u00a0,  8",
        None,
        "",
        "7,,7",
        "a-b",
    ],
)
def test_line_keys_are_offer_id_keys(line_ids: str | None) -> None:
    frame = pd.DataFrame({"line_ids": pd.Series([line_ids, "1"], dtype=object)})
    (key, _) = line_keys(frame)
    assert key == OfferId.from_komet(str(line_ids or "")).key


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_snapshot_written_in_bulk_reads_back_on_both_backends(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Full feed (SQLite executemany / PostgreSQL COPY), then a delta's upserts and withdrawals
    in the same tables: the snapshot and the history read back exactly."""
    from komet_ftd_ops.offers.feed import FeedState, _accept

    url = tmp_path / "s.sqlite3" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    items = read_page((FIXTURES / "mixed_page.json").read_bytes())
    offers = build_offers(items, RULES, shadow=SHADOW, today=NOW).offers
    with Store(url) as store:
        state = FeedState(store, "p")
        assert state.snapshot().empty and list(state.snapshot().columns) == [
            "fingerprint", "quantity", "price",
        ]  # fmt: skip
        _accept(state, "f1", "full", 1, offers, offers, [], 10, NOW)
        _accept(state, "f1b", "full", 2, offers, offers, [], 10, NOW)  # replaces, no conflict
        changed = offers.iloc[:3].assign(quantity_available=[40, 41, 42])
        gone = [str(offers["offer_id"].iloc[-1])]
        _accept(state, "f2", "delta", 3, offers, changed, gone, 10, NOW)
        snap = state.snapshot()
        want = offers.set_index("offer_id")["quantity_available"].to_dict()
        want.update(dict(zip(changed["offer_id"], changed["quantity_available"], strict=True)))
        del want[gone[0]]
        assert snap["quantity"].to_dict() == want
        assert snap["fingerprint"].to_dict() == fingerprints(offers.iloc[:-1]).to_dict() | (
            fingerprints(changed).to_dict()
        )
        history = store.query("SELECT offer_id, price FROM offer_history WHERE profile = 'p'")
        assert {r["offer_id"]: r["price"] for r in history} == dict(
            zip(offers["offer_id"], offers["price_per_unit"], strict=True)
        )

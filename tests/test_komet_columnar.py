"""`komet.columnar`: a page decoded straight to Arrow columns is the page orjson decodes, and a
page it declines is read exactly as before (same envelope, same exception, same message)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.komet.columnar import TextColumns
from komet_ftd_ops.komet.errors import read_answer
from komet_ftd_ops.offers.transform import TEXT_ROW
from komet_ftd_ops.settings.secrets import Secret

ROW = pa.struct([("inventoryLineIds", pa.string()), ("quantity", pa.string())])
METHOD = "ecommerce/inventory.list"


def outcome(body: bytes, decode: TextColumns | None, status: int = 200) -> tuple[Any, ...]:
    """What `read_answer` makes of the body: the envelope (columns as records of the row's
    fields), or the exception's class and message."""
    response = httpx.Response(status, content=body)
    try:
        envelope = read_answer(METHOD, response, write=False, decode=decode)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    taken = None if decode is None else decode.columns_of(envelope)
    return ("taken" if taken is not None else "decoded", envelope, taken)


def body(items: Any, **envelope: Any) -> bytes:
    return json.dumps({"status": "1", "message": "Success", "total": "2", **envelope,
                       "inventoryItems": items}).encode()  # fmt: skip


TEXT = [{"inventoryLineIds": "1", "quantity": "4", "unknown": {"x": [1]}}, {"quantity": None}]


def test_a_text_page_is_taken_as_columns_with_the_envelope() -> None:
    kind, envelope, taken = outcome(body(TEXT), TextColumns("inventoryItems", ROW))
    assert kind == "taken"
    assert {k: envelope[k] for k in ("status", "message", "total")} == {
        "status": "1", "message": "Success", "total": "2"
    }  # fmt: skip
    assert taken.type == ROW
    assert taken.to_pylist() == [
        {"inventoryLineIds": "1", "quantity": "4"},
        {"inventoryLineIds": None, "quantity": None},
    ]


DECLINED = {
    "a number where text goes": body([{"inventoryLineIds": 1, "quantity": "4"}]),
    "a numeric status (older pages)": body(TEXT, status=1),
    "a numeric total": body(TEXT, total=2),
    "a key twice": b'{"status":"1","inventoryItems":[{"quantity":"1","quantity":"2"}]}',
    "status twice, the last a failure": (
        b'{"status":"1","inventoryItems":[],"status":"0","message":"Item is not available"}'
    ),
    "bytes that are not UTF-8": b'{"status":"1","inventoryItems":[{"quantity":"\xff"}]}',
    "a byte order mark": b"\xef\xbb\xbf" + body(TEXT),
    "a failure": body([], status="0", message="Item is not available", availableBoxes="3"),
    "an empty result": body([], status="0", message="No records found."),
    "no list": json.dumps({"status": "1", "total": "0"}).encode(),
    "a null list": body(None),
    "a record that is not an object": body(["1"]),
    "two objects": body(TEXT) + b"\n" + body(TEXT),
    "trailing junk": body(TEXT) + b" junk",
    "an array": b"[" + body(TEXT) + b"]",
    "a proxy's page": b"<html><body>Bad gateway</body></html>",
    "an unknown status": body(TEXT, status="maybe"),
}


@pytest.mark.parametrize("name", list(DECLINED))
def test_a_page_the_columns_cannot_hold_is_read_as_before(name: str) -> None:
    plain = outcome(DECLINED[name], None)
    fast = outcome(DECLINED[name], TextColumns("inventoryItems", ROW))
    assert fast[0] != "taken"
    assert fast == plain


@pytest.mark.parametrize("status", [429, 500, 502, 401, 404])
def test_only_a_200_answer_is_offered_to_the_columns(status: int) -> None:
    plain = outcome(body(TEXT), None, status)
    assert outcome(body(TEXT), TextColumns("inventoryItems", ROW), status) == plain


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
    st.text(max_size=6), st.sampled_from(["", " 4 ", "é", "\u2028", '"', "\\", "\x00"]),
)  # fmt: skip
ITEMS = st.lists(
    st.dictionaries(st.sampled_from(["inventoryLineIds", "quantity", "other"]), VALUES),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(items=ITEMS)
def test_columns_are_the_decoded_page_and_every_text_page_is_taken(
    items: list[dict[str, Any]],
) -> None:
    raw = body(items)
    kind, envelope, taken = outcome(raw, TextColumns("inventoryItems", ROW))
    plain = outcome(raw, None)
    text = all(isinstance(item.get(k), str | None) for item in items for k in ("inventoryLineIds", "quantity"))  # fmt: skip
    assert (kind == "taken") == text
    if kind != "taken":
        assert (kind, envelope, taken) == plain
        return
    expected = [{k: item.get(k) for k in ("inventoryLineIds", "quantity")} for item in items]
    assert taken.to_pylist() == expected


def test_the_client_hands_text_pages_over_as_columns_and_others_as_decoded() -> None:
    pages = [
        [{"inventoryLineIds": "1", "quantity": "4"}, {"inventoryLineIds": "2", "quantity": "5"}],
        [{"inventoryLineIds": "3", "quantity": 6}, {"inventoryLineIds": "4", "quantity": "7"}],
        [{"inventoryLineIds": "5", "quantity": "8"}],
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        at = int(request.url.params["page"]) - 1
        return httpx.Response(200, content=body(pages[at] if at < 3 else [], total="5"))

    config = KometConfig(
        base_url="http://komet.test/api/", company_id="c1", token=Secret("t"), page_size=2
    )
    with KometClient(config, transport=httpx.MockTransport(handler)) as client:
        seen = client.inventory_pages("f1", each_page=lambda page: page, columns=TEXT_ROW)
    assert [type(page).__name__ for page in seen] == ["StructArray", "list", "StructArray"]
    assert seen[1] == pages[1]
    assert [row["inventoryLineIds"] for row in seen[0].to_pylist() + seen[2].to_pylist()] == [
        "1", "2", "5"
    ]  # fmt: skip

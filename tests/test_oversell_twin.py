"""The twin's "another channel bought N boxes of line L" (`POST /_sandbox/stock {"take": ...}`),
which bench/oversell.py uses to sell Komet stock outside FTD between cycles."""

from __future__ import annotations

from pathlib import Path

import httpx
from conftest import Twin

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.sandbox import control
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile
from komet_ftd_ops.state.store import Store


def _open_market(home: Path) -> dict[str, int]:
    """line ids -> boxes of the FTD customer's single-line open-market items, as Komet lists
    them to the kit (so the test reads what the kit would read)."""
    profile = load_profile("sandbox", Home.at(home))
    with Store(Home.at(home).state_db) as store, open_clients(profile, store, Home.at(home)) as c:
        items = c.komet.inventory_list(profile.ftd_customer_id)
    out = {}
    for item in items:
        ids = str(item["inventoryLineIds"])
        if str(item["inventoryOrigin"]) == "1" and ids.isdigit():
            out[ids] = int(item["quantity"])
    return out


def test_another_channel_takes_at_most_what_a_line_has(twin: Twin, home: Path) -> None:
    before = _open_market(home)
    some, few = [line for line, boxes in sorted(before.items()) if boxes >= 3][:2]
    sandbox = control.SandboxControl(twin.info)
    try:
        taken = sandbox.sell_elsewhere({some: 2, few: before[few] + 5, "999999999": 4})
    finally:
        sandbox.close()
    # a buyer asking for more than is left takes the rest; an unknown line gives nothing
    assert taken == {some: 2, few: before[few]}
    after = _open_market(home)
    assert after[some] == before[some] - 2 and after[few] == 0
    untouched = {k: v for k, v in after.items() if k not in (some, few)}
    assert untouched == {k: v for k, v in before.items() if k not in (some, few)}
    # nothing left to give: a second buyer of the sold-out line takes nothing
    again = twin.control("komet", "POST", "stock", json={"take": {few: 1}})
    assert again == {"taken": {}}


def test_a_negative_or_malformed_take_is_refused(twin: Twin) -> None:
    for body in ({"take": {"428720": -1}}, {"take": [1, 2]}, {}):
        response = httpx.post(f"{twin.komet_url}/_sandbox/stock", json=body, timeout=10)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "bad_request"

"""The inventory transform and feed planning, on generated inventories (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from komet_ftd_ops.offers.feed import FeedState, _accept, plan_feed
from komet_ftd_ops.offers.ids import OfferId, inventory_ids_of, offer_id_for, offer_key
from komet_ftd_ops.offers.transform import build_offers, offers_as_dicts
from komet_ftd_ops.settings.profiles import Profile, SyncRules
from komet_ftd_ops.state.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

PRICES = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9.99"), places=2).map(str),
    st.sampled_from(["0", "0.00", "-0.40", "", None, "abc", "1.5", "0.425"]),
)


@st.composite
def komet_item(draw: st.DrawFn, line_id: int) -> dict:
    unit = draw(st.sampled_from(["Stem", "Bunch", "stem", "Box"]))
    bunches = draw(st.integers(-1, 12))
    stems = draw(st.sampled_from([10, 20, 25]))
    expected = bunches if unit.lower() == "bunch" else bunches * stems
    units = draw(st.sampled_from([expected, expected, 0, expected + 5]))
    return {
        "inventoryOrigin": draw(st.sampled_from([1, "1", 1, 2, 3, 4])),
        "inventoryLineIds": str(line_id),
        "productCode": f"P-{line_id}",
        "productDescription": f"Rose {line_id}",
        "category": draw(st.sampled_from(["Roses", "Greens", "Hydrangea"])),
        "variety": "Freedom",
        "color": draw(st.sampled_from(["Red", "White", "Pink"])),
        "grade": "50cm",
        "boxTypeCode": draw(st.sampled_from(["QB", "HB", "FB", "XB", "qb"])),
        "unitType": unit,
        "unitsPerBox": units,
        "bunches": bunches,
        "stemsBunch": stems,
        "quantity": draw(st.integers(-3, 40)),
        "price": draw(PRICES),
        "availableFrom": "2026-11-28",
        "availableTo": draw(st.sampled_from(["2026-12-05", "2026-11-20"])),
        "aging": draw(st.integers(0, 10)),
    }


@st.composite
def inventories(draw: st.DrawFn) -> list[dict]:
    ids = draw(st.lists(st.integers(1, 60), min_size=0, max_size=40))
    return [draw(komet_item(i)) for i in ids]  # repeated ids make duplicate lines


def rules(**kw: object) -> SyncRules:
    return SyncRules(**kw)  # type: ignore[arg-type]


@settings(max_examples=120, deadline=None)
@given(items=inventories(), buffer=st.integers(0, 3), markup=st.sampled_from([0.0, 7.5, 20.0]))
def test_nothing_bad_is_published_and_quantities_are_absolute(
    items: list[dict], buffer: int, markup: float
) -> None:
    build = build_offers(items, rules(safety_buffer_boxes=buffer, markup_pct=markup), today=NOW)
    by_id: dict[str, list[dict]] = {}
    for item in (i for i in items if str(i["inventoryOrigin"]) == "1"):
        by_id.setdefault(f"om:{item['inventoryLineIds']}", []).append(item)
    for offer in offers_as_dicts(build.offers, "2026-11-28T12:00:00Z"):
        (source,) = by_id[offer["offer_id"]]  # a duplicated line is never published
        assert str(source["inventoryOrigin"]) == "1"
        price = Decimal(source["price"])
        assert price > 0 and Decimal(offer["price_per_unit"]) > 0
        expected = (price * (1 + Decimal(str(markup)) / 100)).quantize(
            Decimal("0.01"), "ROUND_HALF_UP"
        )
        assert Decimal(offer["price_per_unit"]) == expected
        assert (
            offer["quantity_available"] == source["quantity"] - buffer
        )  # absolute, net of the buffer
        assert offer["quantity_available"] >= 1
        assert offer["box_type"] in ("QB", "HB", "FB", "EB")
        assert offer["units_per_box"] > 0
    # every open-market row is accounted for: published, rejected with a reason, or excluded
    assert len(build.offers) + len(build.rejected) + len(build.excluded) == build.open_market
    assert build.rejected["reason"].notna().all()


def test_each_kind_of_bad_row_gets_its_reason() -> None:
    good = {
        "inventoryOrigin": 1, "productCode": "RS", "productDescription": "Rose", "category": "Roses",
        "color": "Red", "boxTypeCode": "QB", "unitType": "Stem", "unitsPerBox": 100, "bunches": 4,
        "stemsBunch": 25, "quantity": 5, "price": "0.40", "availableFrom": "2026-11-28",
        "availableTo": "2026-12-01",
    }  # fmt: skip
    cases = {
        "1": {}, "2": {"price": None}, "3": {"price": "0.00"}, "4": {"quantity": -2},
        "5": {"boxTypeCode": "XB"}, "6": {"unitsPerBox": 0}, "7": {"unitsPerBox": 90},
        "8": {"availableTo": "2026-11-01"}, "9": {"productCode": ""},
    }  # fmt: skip
    items = [{**good, "inventoryLineIds": k, **v} for k, v in cases.items()]
    items.append({**good, "inventoryLineIds": "10"})
    items.append({**good, "inventoryLineIds": "10", "quantity": 9})
    # lines of other origins are not the open market's: neither a twin of its line nor bad
    items.append({**good, "inventoryLineIds": "11"})
    items.append({**good, "inventoryLineIds": "11", "inventoryOrigin": 2})
    items.append({**good, "inventoryLineIds": "12", "inventoryOrigin": 3, "price": None})
    build = build_offers(items, rules(), today=NOW)
    reasons = dict(zip(build.rejected["offer_id"], build.rejected["reason"], strict=False))
    assert list(build.offers["offer_id"]) == ["om:1", "om:11"]
    assert build.open_market == 12 and build.lines_read == 14
    assert reasons == {
        "om:2": "no_price", "om:3": "bad_price", "om:4": "bad_quantity", "om:5": "unknown_box_type",
        "om:6": "bad_units_per_box", "om:7": "contradictory_fields", "om:8": "contradictory_fields",
        "om:9": "missing_field", "om:10": "duplicate_line",
    }  # fmt: skip


def test_profile_rules_and_shadow_stock() -> None:
    base = {
        "inventoryOrigin": 1, "productCode": "RS", "productDescription": "Rose", "boxTypeCode": "QB",
        "unitType": "Stem", "unitsPerBox": 100, "bunches": 4, "stemsBunch": 25, "price": "0.40",
        "availableFrom": "2026-11-28", "availableTo": "2026-12-05",
    }  # fmt: skip
    items = [
        {
            **base,
            "inventoryLineIds": "1",
            "category": "Roses",
            "color": "Red",
            "quantity": 10,
            "aging": 1,
        },
        {
            **base,
            "inventoryLineIds": "2",
            "category": "Greens",
            "color": "Green",
            "quantity": 10,
            "aging": 1,
        },
        {
            **base,
            "inventoryLineIds": "3",
            "category": "Roses",
            "color": "Black",
            "quantity": 10,
            "aging": 1,
        },
        {
            **base,
            "inventoryLineIds": "4",
            "category": "Roses",
            "color": "Red",
            "quantity": 10,
            "aging": 9,
        },
        {
            **base,
            "inventoryLineIds": "5",
            "category": "Roses",
            "color": "Red",
            "quantity": 3,
            "aging": 1,
        },
        {
            **base,
            "inventoryLineIds": "6",
            "category": "Roses",
            "color": "Red",
            "quantity": 4,
            "aging": 1,
        },
    ]
    r = rules(
        exclude_categories=("greens",),
        exclude_colors=("Black",),
        max_aging_days=5,
        min_boxes=2,
        safety_buffer_boxes=1,
    )
    build = build_offers(items, r, shadow={"om:1": 4, "om:6": 10}, today=NOW)
    assert dict(zip(build.offers["offer_id"], build.offers["quantity_available"], strict=True)) == {
        "om:1": 5,
        "om:5": 2,
    }
    assert dict(zip(build.excluded["offer_id"], build.excluded["reason"], strict=True)) == {
        "om:2": "excluded_category", "om:3": "excluded_color", "om:4": "too_old", "om:6": "below_min_boxes",
    }  # fmt: skip


def test_offer_ids_map_back_to_komet_lines() -> None:
    assert inventory_ids_of("om:428720-428721") == ["428720", "428721"]
    offer = OfferId.from_komet("428721, 428720")  # Komet's spelling, as inventory.list gives it
    assert offer.line_ids == ("428721", "428720")  # Komet's order is kept for web-order-item.add
    assert str(offer) == "om:428721-428720" and offer.komet == "428721,428720"
    assert OfferId.parse(str(offer)) == offer
    # reconciliation compares both sides order-free, numerically for numeric ids
    assert offer.key == offer_key("om:428720-428721") == "428720,428721"
    assert OfferId.from_komet("99,100").key == "99,100"
    assert offer_key("SKU-7") == "SKU-7"  # not an open-market offer: kept as it is
    with pytest.raises(ValueError, match="not an open-market offer id"):
        OfferId.parse("SKU-7")


@given(st.lists(st.integers(1, 10**7).map(str), min_size=1, max_size=4))
def test_the_vectorised_offer_id_is_the_offer_id(line_ids: list[str]) -> None:
    komet = ", ".join(line_ids)
    (vectorised,) = offer_id_for(pd.Series([komet]))
    assert vectorised == str(OfferId.from_komet(komet))
    assert inventory_ids_of(vectorised) == line_ids


def _profile() -> Profile:
    return Profile("p", "http://k/api/", "1", "2", "env:K", "http://f", "S", "env:F")


def _apply(state: dict[str, dict], plan) -> dict[str, dict]:  # noqa: ANN001
    out = {} if plan.kind == "full" else dict(state)
    for offer in offers_as_dicts(plan.upserts, "t"):
        out[offer["offer_id"]] = offer
    for offer_id in plan.withdrawals:
        out.pop(offer_id, None)
    return out


@pytest.mark.slow  # a long one: started early (conftest.py)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=inventories(), second=inventories())
def test_a_delta_on_the_accepted_state_equals_a_full_feed(
    tmp_path: Path, first: list[dict], second: list[dict]
) -> None:
    db = tmp_path / f"s{abs(hash((len(first), len(second))))}.sqlite3"
    db.unlink(missing_ok=True)
    with Store(db) as store:
        state = FeedState(store, "p")
        profile = _profile()
        full = plan_feed(build_offers(first, profile.sync, today=NOW).offers, state, profile, NOW)
        assert full.kind == "full" and full.reason == "first_cycle"
        _accept(state, "f1", "full", full.sequence, full.offers, full.upserts, [], 0, NOW)
        ftd_side = _apply({}, full)

        later = NOW + timedelta(minutes=5)
        target = build_offers(second, profile.sync, today=NOW).offers
        delta = plan_feed(target, state, profile, later)
        assert delta.kind == "delta" and delta.base_sequence == full.sequence
        assert _apply(ftd_side, delta) == {o["offer_id"]: o for o in offers_as_dicts(target, "t")}

        # once accepted, a withdrawn offer stays known with its last price (orders in flight)
        _accept(
            state, "f2", "delta", delta.sequence, target, delta.upserts, delta.withdrawals, 0, later
        )
        rows = store.query("SELECT offer_id, price FROM offer_history WHERE profile = 'p'")
        history = {r["offer_id"]: r["price"] for r in rows}
        ever = {o["offer_id"]: o["price_per_unit"] for o in _apply(ftd_side, full).values()}
        ever.update(
            {o["offer_id"]: o["price_per_unit"] for o in offers_as_dicts(delta.upserts, "t")}
        )
        assert history == ever


def test_full_feed_on_heal_cadence_and_after_downtime(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        state, profile = FeedState(store, "p"), _profile()
        offers = pd.DataFrame(columns=build_offers([], profile.sync).offers.columns)
        first = plan_feed(offers, state, profile, NOW)
        _accept(state, "f1", "full", first.sequence, offers, offers, [], 0, NOW)
        assert plan_feed(offers, state, profile, NOW + timedelta(minutes=5)).kind == "delta"
        _accept(state, "f2", "delta", 2, offers, offers, [], 0, NOW + timedelta(minutes=55))
        heal = plan_feed(offers, state, profile, NOW + timedelta(minutes=60))
        assert (heal.kind, heal.reason) == ("full", "heal")
        late = plan_feed(offers, state, profile, NOW + timedelta(minutes=55 + 31))
        assert (late.kind, late.reason) == ("full", "after_downtime")

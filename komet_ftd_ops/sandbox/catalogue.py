"""The Komet twin's seed data: a flower wholesaler's catalogue, customers, carriers and tokens.

Everything here is plain data and pure functions of `seed` (and the seeding day for dates), so
two twins seeded alike serve identical inventory and tests can name ids. Rows come out as tuples
in the column order of the `komet_*` tables, ready for `executemany`: seeding 100,000 lines must
take seconds, so there is no per-row query and no per-row object.

Ids that tests and profiles name (company, customers, tokens) use their own random stream, so
they do not move when the number of lines changes.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any, cast

FIRST_LINE_ID = 428700  # FTD's spec shows "om:428720": keep the twin's ids in that range
FIRST_INVOICE_ID = 551000
INVOICE_NUMBER_OFFSET = 530000  # invoice number = id - offset: numbers never equal ids
TOKEN_ALPHABET = string.ascii_letters + string.digits
CENT = Decimal("0.01")

# id, code, extra boxes (bunch ranges come from the family)
BOX_TYPES = {"FB": 1, "HB": 2, "QB": 3, "EB": 4, "XB": 9}
BOX_SHARES = (("QB", 45), ("HB", 40), ("FB", 13), ("EB", 2))
ORIGIN_SHARES = ((1, 80), (2, 8), (3, 8), (4, 4))  # 1 open market, 2 future, 3 vendor, 4 K2K

# Data-entry problems a client must survive, placed in a few open-market lines.
PROBLEMS = (
    "price_zero",  # price "0.00"
    "price_empty",  # price ""
    "negative_quantity",  # on-hand boxes below zero
    "units_zero",  # unitsPerBox 0
    "units_mismatch",  # unitsPerBox != bunches x stemsBunch
    "unknown_box",  # boxTypeCode "XB"
    "duplicate",  # the same inventoryLineIds listed twice
)


@dataclass(frozen=True)
class Family:
    """A product family: how it is packed and priced."""

    category_id: int
    category: str
    code: str  # product code prefix, e.g. RS-FREEDOM-50
    name: str  # description prefix, e.g. "Rose"
    unit: str  # "Stem" | "Bunch": what the price is per
    stems_bunch: int
    bunches: dict[str, tuple[int, int]]  # per box type, bunches per box
    price: tuple[str, str]  # per unit, cheapest and dearest grade
    grades: tuple[str, ...]
    varieties: tuple[tuple[str, str], ...]  # (variety, colour)
    weight: int  # share of the lines


# Data tables read better one record per line.
# fmt: off
ROSE_BOXES = {"QB": (4, 5), "HB": (8, 12), "FB": (16, 24), "EB": (2, 2)}
FAMILIES = (
    Family(1, "Roses", "RS", "Rose", "Stem", 25, ROSE_BOXES, ("0.30", "1.10"),
           ("40cm", "50cm", "60cm", "70cm", "80cm", "90cm"),
           (("Freedom", "Red"), ("Explorer", "Red"), ("Hearts", "Red"), ("Mondial", "White"),
            ("Vendela", "Cream"), ("Playa Blanca", "White"), ("Pink Floyd", "Hot Pink"),
            ("Deep Purple", "Purple"), ("Tiffany", "Pink"), ("Escimo", "White"),
            ("High & Magic", "Bicolor"), ("Country Blues", "Lavender"), ("Brighton", "Yellow"),
            ("Movie Star", "Peach"), ("Quicksand", "Beige"), ("Orange Crush", "Orange"),
            ("Sweet Unique", "Pink"), ("Cherry O", "Red")), 50),
    Family(2, "Spray Roses", "SR", "Spray Rose", "Stem", 10,
           {"QB": (8, 10), "HB": (15, 20), "FB": (30, 40)}, ("0.35", "0.70"),
           ("40cm", "50cm", "60cm"),
           (("Lydia", "Pink"), ("Snowflake", "White"), ("Mikado", "Red"), ("Babe", "Pink"),
            ("Yellow Babe", "Yellow"), ("Rubicon", "Red"), ("Majolika", "Bicolor")), 10),
    Family(3, "Hydrangeas", "HY", "Hydrangea", "Bunch", 1,
           {"QB": (10, 12), "HB": (20, 25), "FB": (35, 40)}, ("0.95", "2.20"),
           ("Select", "Premium", "Jumbo"),
           (("White Premium", "White"), ("Shocking Blue", "Blue"), ("Verena Pink", "Pink"),
            ("Lime Green", "Green"), ("Antique Green", "Green"), ("Purple Tint", "Purple")), 10),
    Family(4, "Carnations", "CN", "Carnation", "Stem", 25,
           {"QB": (5, 6), "HB": (10, 12), "FB": (18, 20)}, ("0.12", "0.25"),
           ("Select", "Fancy"),
           (("Moonlight", "White"), ("Don Pedro", "Red"), ("Nobbio Burgundy", "Burgundy"),
            ("Polar Route", "White"), ("Hermes Orange", "Orange"), ("Komachi", "Green")), 10),
    Family(5, "Alstroemeria", "AL", "Alstroemeria", "Bunch", 10,
           {"QB": (8, 10), "HB": (15, 20), "FB": (30, 40)}, ("2.50", "4.50"),
           ("Select", "Fancy", "Super Select"),
           (("Whistler", "White"), ("Virginia", "White"), ("Tessa", "Red"),
            ("Himalaya", "Pink"), ("Planet", "Purple"), ("Bourgogne", "Burgundy")), 8),
    Family(6, "Greens", "GR", "", "Bunch", 10,
           {"QB": (10, 12), "HB": (20, 25), "FB": (40, 50)}, ("1.20", "3.50"),
           ("60cm", "70cm"),
           (("Eucalyptus Silver Dollar", "Green"), ("Eucalyptus Baby Blue", "Green"),
            ("Seeded Eucalyptus", "Green"), ("Ruscus Italian", "Green"),
            ("Ruscus Israeli", "Green"), ("Salal", "Green"), ("Leather Leaf", "Green")), 8),
    Family(7, "Gypsophila", "GY", "Gypsophila", "Bunch", 10,
           {"QB": (8, 10), "HB": (15, 20), "FB": (30, 32)}, ("2.10", "3.80"),
           ("750g", "1000g"),
           (("Million Star", "White"), ("Xlence", "White"), ("Tinted Pink", "Pink")), 4),
)

# key, name, code, active, customerType, price level, factor, credit limit, sales person, city, state
CUSTOMERS = (
    ("ftd", "FTD Inc", "FTD", 1, "E-commerce", "E-commerce", "1.05", 250000, 1, "Downers Grove", "IL"),
    ("ftd_old", "FTD Florists (old)", "FTDOLD", 0, "Wholesaler", "Wholesale", "1.00", 0, 1, "Downers Grove", "IL"),
    ("ftd_mercury", "FTD Mercury Network", "FTDM", 1, "Wholesaler", "Wholesale", "1.00", 20000, 1, "Downers Grove", "IL"),
    ("blossom", "Blossom & Co", "BLOSSOM", 1, "Florist", "Retail", "1.15", 8000, 2, "Orlando", "FL"),
    ("petal", "Petal Pushers Wholesale", "PETAL", 1, "Wholesaler", "Wholesale", "1.00", 40000, 2, "Atlanta", "GA"),
    ("garden", "Garden State Florist", "GSF", 1, "Florist", "Retail", "1.15", 5000, 3, "Newark", "NJ"),
    ("mfm", "Miami Flower Market", "MFM", 1, "Wholesaler", "Wholesale", "1.00", 60000, 3, "Miami", "FL"),
    ("rosabella", "Rosa Bella Floral", "ROSAB", 1, "Florist", "Retail", "1.15", 6000, 2, "Houston", "TX"),
    ("barn", "The Flower Barn", "FBARN", 1, "Mass Market", "Mass Market", "0.95", 90000, 1, "Columbus", "OH"),
    ("sunrise", "Sunrise Floral Supply", "SUNRISE", 1, "Wholesaler", "Wholesale", "1.00", 30000, 3, "Phoenix", "AZ"),
)
SALES_PEOPLE = {1: "Laura Gomez", 2: "Mike Torres", 3: "Ana Restrepo"}
CARRIERS = ((11, "FedEx", "FDX"), (14, "UPS", "UPS"), (21, "Armellini Express Lines", "ARM"),
            (2, "Customer Pick Up", "PICKUP"), (25, "USA Logistics", "USAL"))
FTD_CARRIERS = (11, 14, 21)
LOCATIONS = ((11, "Doral, FL"), (12, "Los Angeles, CA"))
LOCATION_IDS = tuple(location for location, _ in LOCATIONS)
FTD_SHIP_TOS = (("FTD Distribution Center", "3113 Woodcreek Dr", "Downers Grove", "IL", "60515"),
                ("FTD Fulfillment Miami", "8000 NW 25th St", "Doral", "FL", "33122"),
                ("FTD Cross-dock Medley", "10200 NW 89th Ave", "Medley", "FL", "33178"))
MARK_CODES = ("FTD", "BLM", "MFM", "RB")
# fmt: on


@dataclass
class Catalogue:
    """Rows for every komet_* table, plus the ids a caller needs to know."""

    company_id: str
    ftd_customer_id: int
    tokens: dict[str, str]
    customers: list[tuple] = field(default_factory=list)
    ship_tos: list[tuple] = field(default_factory=list)
    carriers: list[tuple] = field(default_factory=list)
    customer_carriers: list[tuple] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)  # (line_id, boxes)
    items: list[dict[str, Any]] = field(default_factory=list)  # komet_items columns
    item_lines: list[tuple] = field(default_factory=list)  # (item_id, line_id)
    invoices: list[tuple] = field(default_factory=list)
    invoice_details: list[tuple] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)


def make_token(seed: int, n: int) -> str:
    """A 50-character alphanumeric token, the n-th of this seed."""
    rng = random.Random(f"komet-token:{seed}:{n}")
    return "".join(rng.choice(TOKEN_ALPHABET) for _ in range(50))


def _slug(text: str) -> str:
    """Product-code words: High & Magic -> HIGH-MAGIC, 50cm -> 50, Super Select -> SUPER-SELECT."""
    text = text.removesuffix("cm").removesuffix("g") if text[:1].isdigit() else text
    words = ("".join(ch for ch in word if ch.isalnum()) for word in text.upper().split())
    return "-".join(w for w in words if w)


def _prices(family: Family, grade_index: int) -> tuple[str, ...]:
    """Dearer with the grade (stem length); nine noisy variants, drawn per line, within range."""
    lo, hi = Decimal(family.price[0]), Decimal(family.price[1])
    base = lo + (hi - lo) * grade_index / max(1, len(family.grades) - 1)
    return tuple(
        str(min(hi, max(lo, base + Decimal(n) / 100)).quantize(CENT)) for n in range(-4, 5)
    )


@dataclass(frozen=True)
class Product:
    """One (family, variety, grade): computed once, so the per-line loop only draws numbers."""

    id: int
    family: Family
    variety: str
    color: str
    grade: str
    code: str
    description: str
    prices: tuple[str, ...]


def _products() -> tuple[list[Product], list[float]]:
    """Every product and the cumulative weights that give each family its share of lines."""
    products: list[Product] = []
    weights: list[float] = []
    for fam in FAMILIES:
        share = fam.weight / (len(fam.varieties) * len(fam.grades))
        for variety, color in fam.varieties:
            for gi, grade in enumerate(fam.grades):
                products.append(Product(
                    5001 + len(products), fam, variety, color, grade,
                    f"{fam.code}-{_slug(variety)}-{_slug(grade)}",
                    f"{fam.name} {variety} {grade}".strip(), _prices(fam, gi),
                ))  # fmt: skip
                weights.append(share)
    return products, list(accumulate(weights))


def _people(cat: Catalogue, seed: int) -> dict[str, int]:
    """Customers, ship-tos, carriers; ids from their own stream so they ignore `lines`."""
    rng = random.Random(f"komet-ids:{seed}")
    order = list(range(len(CUSTOMERS)))
    rng.shuffle(order)  # FTD must not simply be the first id
    ids: dict[str, int] = {}
    next_id = rng.randint(2000, 6000)
    for index in order:
        next_id += rng.randint(3, 40)
        ids[CUSTOMERS[index][0]] = next_id
    stamp = "2024-03-11T15:42:07"
    for key, name, code, active, ctype, level, factor, credit, rep, city, state in CUSTOMERS:
        cid = ids[key]
        who = (SALES_PEOPLE[rep], f"C{cid:06d}", city, state, stamp)
        cat.customers.append((cid, name, code, active, ctype, level, factor, credit, *who))
    cat.carriers.extend(CARRIERS)
    ship_id = rng.randint(700, 900)
    for name, street, city, state, zip_code in FTD_SHIP_TOS:
        ship_id += rng.randint(1, 9)
        cat.ship_tos.append((ship_id, ids["ftd"], name, street, city, state, zip_code, "US"))
    cat.customer_carriers.extend((ids["ftd"], c) for c in FTD_CARRIERS)
    for key, name, *_rest in CUSTOMERS[1:]:
        ship_id += rng.randint(1, 9)
        city, state = cast(str, _rest[-2]), cast(str, _rest[-1])
        cat.ship_tos.append((ship_id, ids[key], name, "100 Main St", city, state, "00000", "US"))
        for carrier in rng.sample([c[0] for c in CARRIERS], rng.randint(1, 3)):
            cat.customer_carriers.append((ids[key], carrier))
    return ids


def _lines(cat: Catalogue, seed: int, count: int, today: date) -> None:
    """Inventory lines and the items that list them (a few items list two lines).

    Written for speed (100,000 lines in about a second): products are precomputed, the weighted
    draws are made in bulk, and the loop itself only draws plain random numbers.
    """
    rng = random.Random(f"komet-lines:{seed}")
    rand = rng.random
    products, cum = _products()
    chosen = rng.choices(products, cum_weights=cum, k=count)
    box_codes, box_weights = zip(*BOX_SHARES, strict=True)
    boxes_drawn = rng.choices(box_codes, cast("tuple[int, ...]", box_weights), k=count)
    origin_codes, origin_weights = zip(*ORIGIN_SHARES, strict=True)
    origins = rng.choices(origin_codes, origin_weights, k=count)
    starts = {1: (-3, 6), 2: (5, 26), 3: (1, 7), 4: (0, 5)}  # first ship day: offset, span
    day = {n: (today + timedelta(days=n)).isoformat() for n in range(-3, 41)}
    line_id = FIRST_LINE_ID
    while len(cat.lines) < count:
        n = len(cat.items)
        product, box, origin = chosen[n], boxes_drawn[n], origins[n]
        fam = product.family
        if box not in fam.bunches:
            box = "QB"
        lo, hi = fam.bunches[box]
        bunches = lo + int(rand() * (hi - lo + 1))
        offset, span = starts[origin]
        first = offset + int(rand() * span)
        ids = [line_id]
        if rand() < 0.02 and len(cat.lines) + 1 < count:  # two lines, one listing
            ids.append(line_id + 1)
        for lid in ids:
            boxes = 0 if rand() < 0.06 else min(60, int(rng.expovariate(0.125)) + 1)
            cat.lines.append((lid, boxes))
        cat.items.append({
            "id": n + 1, "first_line_id": ids[0], "line_ids": ",".join(map(str, ids)),
            "origin": origin, "company_product_id": product.id, "product_code": product.code,
            "description": product.description, "category_id": fam.category_id,
            "category": fam.category, "variety": product.variety, "color": product.color,
            "grade": product.grade, "box_type_id": BOX_TYPES[box], "box_type_code": box,
            "unit_type": fam.unit,
            "units_per_box": bunches * fam.stems_bunch if fam.unit == "Stem" else bunches,
            "bunches": bunches, "stems_bunch": fam.stems_bunch,
            "price": product.prices[int(rand() * 9)],
            "available_from": day[first], "available_to": day[first + 3 + int(rand() * 8)],
            "carrier_id": FTD_CARRIERS[int(rand() * 3)],
            "aging": int(rand() * 11) if origin == 1 else 0,
            "mark_code": MARK_CODES[int(rand() * 4)] if rand() < 0.08 else "",
            "location_id": LOCATION_IDS[0] if rand() < 0.85 else LOCATION_IDS[1],
        })  # fmt: skip
        cat.item_lines.extend((n + 1, lid) for lid in ids)
        line_id = ids[-1] + 1


def _problems(cat: Catalogue, seed: int) -> None:
    """Spoil a few open-market single-line items the way a busy data-entry desk does."""
    rng = random.Random(f"komet-problems:{seed}")
    eligible = [
        i for i, it in enumerate(cat.items) if it["origin"] == 1 and "," not in it["line_ids"]
    ]
    if len(cat.lines) < 50 or not eligible:
        return
    want = min(len(eligible), max(len(PROBLEMS), len(cat.lines) // 100))
    picks = sorted(rng.sample(eligible, want))
    boxes = {lid: n for lid, n in cat.lines}
    duplicates = []
    for n, index in enumerate(picks):
        kind = PROBLEMS[n % len(PROBLEMS)]
        item = cat.items[index]
        cat.problems.setdefault(kind, []).append(item["line_ids"])
        if kind == "price_zero":
            item["price"] = "0.00"
        elif kind == "price_empty":
            item["price"] = ""
        elif kind == "negative_quantity":
            boxes[int(item["line_ids"])] = -rng.randint(1, 5)
        elif kind == "units_zero":
            item["units_per_box"] = 0
        elif kind == "units_mismatch":
            item["units_per_box"] = (
                item["units_per_box"]
                + (item["stems_bunch"] if item["unit_type"] == "Stem" else 1) * 2
                + 5
            )
        elif kind == "unknown_box":
            item["box_type_code"], item["box_type_id"] = "XB", BOX_TYPES["XB"]
        else:
            duplicates.append(index)
    cat.lines = list(boxes.items())
    for index in reversed(duplicates):  # the copy sits next to its original
        cat.items.insert(index + 1, dict(cat.items[index]))
    for new_id, item in enumerate(cat.items, start=1):  # renumber: ids follow listing order
        item["id"] = new_id
    cat.item_lines = [(it["id"], int(n)) for it in cat.items for n in it["line_ids"].split(",")]


OUT_OF_WINDOW_SHARE = 0.03  # half far ahead (past two months), half already over
RESERVED_SHARE = 0.04  # open-market lines reserved for FTD (Komet's advice for marketplaces)
RESERVED_ELSEWHERE_SHARE = 0.01  # and for another customer, which FTD must never see


def _windows_and_reservations(cat: Catalogue, seed: int, today: date) -> None:
    """Lines `inventory.list` must leave out: windows wholly outside today..two months ahead,
    and lines reserved for a customer (listed only with `reservedInventory=true`, and only to
    that customer). Problem lines and two-line listings keep their place: tests look for them.
    Its own random stream, so every other draw of the seed stays as it was."""
    rng = random.Random(f"komet-windows:{seed}")
    spoilt = {ids for found in cat.problems.values() for ids in found}
    other = next(c[0] for c in cat.customers if c[0] != cat.ftd_customer_id and c[3] == 1)
    for item in cat.items:
        item["reserved_for"] = None
        if item["line_ids"] in spoilt or "," in item["line_ids"]:
            continue
        draw = rng.random()
        if draw < OUT_OF_WINDOW_SHARE / 2:
            first = today + timedelta(days=70 + int(rng.random() * 10))
            item["available_from"], item["available_to"] = (
                first.isoformat(),
                (first + timedelta(days=5)).isoformat(),
            )
        elif draw < OUT_OF_WINDOW_SHARE:
            last = today - timedelta(days=10 + int(rng.random() * 10))
            item["available_from"], item["available_to"] = (
                (last - timedelta(days=5)).isoformat(),
                last.isoformat(),
            )
        elif item["origin"] == 1:
            draw = rng.random()
            if draw < RESERVED_SHARE:
                item["reserved_for"] = cat.ftd_customer_id
            elif draw < RESERVED_SHARE + RESERVED_ELSEWHERE_SHARE:
                item["reserved_for"] = other


def _history(cat: Catalogue, seed: int, today: date) -> None:
    """Past invoices of ordinary customers, so invoice.list has something to page through."""
    rng = random.Random(f"komet-history:{seed}")
    others = [c for c in cat.customers if c[3] == 1 and c[0] != cat.ftd_customer_id]
    if not cat.items or not others:
        return
    carriers = {c[0]: c[1] for c in CARRIERS}
    detail_id = 9_100_000
    for n in range(30):
        customer = rng.choice(others)
        invoice_id = FIRST_INVOICE_ID + n
        ship = today - timedelta(days=rng.randint(1, 60))
        created = datetime.combine(ship - timedelta(days=rng.randint(1, 3)), datetime.min.time())
        created += timedelta(seconds=rng.randint(8 * 3600, 18 * 3600))
        updated = created + timedelta(minutes=rng.randint(5, 600))
        status = rng.choices((1, 4, 2), (85, 10, 5))[0]
        total = Decimal("0.00")
        for _ in range(rng.randint(1, 4)):
            item = rng.choice(cat.items)
            price = (Decimal(item["price"] or "0") * Decimal(customer[6])).quantize(CENT)
            boxes = rng.randint(1, 5)
            units = boxes * item["units_per_box"]
            line_total = (price * units).quantize(CENT)
            total += line_total
            detail_id += 1
            cat.invoice_details.append(
                (detail_id, invoice_id, item["description"], item["line_ids"], boxes, units,
                 str(price), str(line_total))
            )  # fmt: skip
        cat.invoices.append(
            (invoice_id, str(invoice_id - INVOICE_NUMBER_OFFSET), customer[0], None, "", status,
             created.strftime("%Y-%m-%dT%H:%M:%S"), ship.isoformat(), str(total),
             carriers[rng.choice(FTD_CARRIERS)], updated.strftime("%Y-%m-%dT%H:%M:%S"), "",
             customer[8], 0)
        )  # fmt: skip


def generate(seed: int, lines: int, today: date) -> Catalogue:
    """The whole seed, deterministic from `seed`, `lines` and the seeding day."""
    ids_rng = random.Random(f"komet-company:{seed}")
    cat = Catalogue(
        company_id=str(ids_rng.randint(1000, 9999)),
        ftd_customer_id=0,
        tokens={"customer": make_token(seed, 0), "company": make_token(seed, 1)},
    )
    ids = _people(cat, seed)
    cat.ftd_customer_id = ids["ftd"]
    _lines(cat, seed, lines, today)
    _problems(cat, seed)
    _windows_and_reservations(cat, seed, today)
    _history(cat, seed, today)
    return cat


# --- florists: FTD's buyers, and the ship-tos some of them already have in Komet -------------

# The florists who buy through FTD in the twin: repeat buyers, so the kit meets the same shop
# again. `komet` says what the wholesaler's Komet holds for it under the FTD customer: "code"
# = a ship-to whose shipToCode is the FTD member code; "address" = a ship-to keyed in by hand
# with no code and the address spelt a little differently (found by normalised address);
# "" = none yet (a new florist: the kit creates it with a Company token, or parks it).
# member code, shop, street, city, state, zip, phone, komet
# fmt: off
FLORISTS = (
    ("90-1234AA", "Blossom & Co", "1420 Orange Ave", "Orlando", "FL", "32803", "+1-407-555-0101", "code"),
    ("91-2087BK", "Petal Pushers", "77 Peachtree St NE", "Atlanta", "GA", "30303", "+1-404-555-0102", "code"),
    ("90-3311CF", "The Flower Cart", "215 Market St", "Philadelphia", "PA", "19106", "+1-215-555-0103", "code"),
    ("92-4410DM", "Bloom Room", "9 Commerce Way", "Miami", "FL", "33131", "+1-305-555-0104", "code"),
    ("91-5502EQ", "Rose & Thistle Florist", "300 Elm St", "Dallas", "TX", "75201", "+1-214-555-0105", "code"),
    ("90-6623FR", "Daisy Chain Flowers", "48 Lake Rd", "Chicago", "IL", "60601", "+1-312-555-0106", "address"),
    ("92-7745GT", "Twig & Petal", "1200 Main St", "Houston", "TX", "77002", "+1-713-555-0107", "address"),
    ("90-8867HW", "Garden Gate Florist", "61 Church St", "Charlotte", "NC", "28202", "+1-704-555-0108", "code"),
    ("91-9978JX", "Posy Place", "502 Broadway", "Nashville", "TN", "37203", "+1-615-555-0109", ""),
    ("92-1089KZ", "Lily Lane Flowers", "18 Park Blvd", "Denver", "CO", "80202", "+1-303-555-0110", ""),
    ("90-2190LB", "Sunflower Studio", "740 Oak Ave", "Phoenix", "AZ", "85004", "+1-602-555-0111", ""),
    ("91-3201MC", "Peony Parlor", "33 Maple Dr", "Boston", "MA", "02108", "+1-617-555-0112", ""),
)
# fmt: on


def komet_spelling(street: str) -> str:
    """How a sales rep keys in an address by hand: upper case, "Street" for "St", a full stop."""
    words = {"St": "Street.", "Ave": "Avenue", "Rd": "Road", "Dr": "Drive", "Blvd": "Boulevard"}
    return " ".join(words.get(w, w) for w in street.split()).upper()

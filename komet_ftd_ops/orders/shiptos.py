"""The Komet ship-to of an FTD florist: found by member code, else by address, else created.

Ship-tos belong to the Komet customer that stands for FTD, one per florist. A florist is matched
by `shipToCode` = FTD's `buyer.member_code`, else by normalised address (name, street, city,
ZIP). Two ship-tos that fit park the order for a person: never a guess.

The kit keeps a copy of the FTD customer's ship-tos (`ship_tos` in the state database), read in
full once a day and otherwise re-checked with `updatedAsOf` at most once a cycle.

Which token lists them: whether a Customer token may call `customer.shipto.list` is unknown (the
`customer_shipto_list` switch). The Customer token is used where the profile's switches say
`yes`; otherwise the Company token when the profile has one (Komet documents it there); with
neither, the Customer token is tried at most once a day, in case the account allows it.

A florist not in Komet: with a Company token, `customer.shipto.add` creates it EXACTLY ONCE.
The add is recorded (`ship_to_adds`) before it is sent; when its answer is lost, the ship-tos
are read back by code before anything is sent again, and never before the settle window.
Without a Company token, `[shipping] missing_ship_to` decides: park the order for the sales rep,
or send it to the profile's default ship-to and name the florist in the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import (
    ApiError,
    CustomerNotAllowed,
    MethodNotAllowed,
    OutcomeUnknown,
    RateLimited,
    TransportError,
)
from ..ftd.models import FtdOrder
from ..komet.client import KometClient
from ..komet.models import ShipTo
from ..state import shipping as shipping_rows
from ..state.store import iso
from .cycle import KOMET, OUTCOME_UNKNOWN, Parked

if TYPE_CHECKING:
    from .cycle import Cycle

FULL_READ_HOURS = 24  # the whole list is read again this often (a deleted ship-to drops out)
OVERLAP = timedelta(minutes=10)  # updatedAsOf reaches back this far: clocks differ
LOST = (TransportError, RateLimited)  # an answer that tells nothing of the outcome
READ_KEY = "shipping.ship_tos_read"  # kv: when the copy was last read, and how
REFUSED_KEY = "shipping.customer_list_refused_at"  # kv: the Customer token was refused

# Spellings a person keys in for the same street: compared in one form.
_WORDS = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "drive": "dr",
    "boulevard": "blvd",
    "lane": "ln",
    "place": "pl",
    "suite": "ste",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "and": "&",
}


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, usual abbreviations: "1420 Orange Avenue." -> "1420
    orange ave"."""
    words = re.sub(r"[^\w&\s]", " ", text.lower()).split()
    return " ".join(_WORDS.get(w, w) for w in words)


def address_key(name: str, street: str, city: str, zipcode: str) -> str:
    return "|".join((normalise(name), normalise(street), normalise(city), zipcode.strip()[:5]))


@dataclass(frozen=True)
class Florist:
    """Who bought an FTD order, and where the boxes go."""

    member_code: str
    name: str
    street: str
    city: str
    state: str
    zipcode: str
    country: str
    phone: str

    @classmethod
    def of(cls, order: FtdOrder) -> Florist:
        to = order.ship_to
        return cls(
            order.buyer.member_code.strip(),
            (order.buyer.name or to.name).strip(),
            to.address1.strip(),
            to.city.strip(),
            to.state.strip(),
            to.postal_code.strip(),
            to.country.strip(),
            to.phone.strip(),
        )

    @property
    def label(self) -> str:
        return ", ".join(p for p in (self.name, self.member_code) if p) or "an unnamed florist"

    @property
    def key(self) -> str:
        return address_key(self.name, self.street, self.city, self.zipcode)

    @property
    def addressed(self) -> bool:
        return bool(self.member_code or (self.street and self.city))


@dataclass(frozen=True)
class Found:
    ship_to_id: str | None  # None: Komet's default address for the customer
    how: str  # code | address | created | default
    note: str = ""


def missing_text(florist: Florist) -> str:
    """The sales rep's line for a florist Komet does not know (issue 11)."""
    return (
        f"florist {florist.label} has no ship-to in Komet: add it under Setup > Customers > "
        "FTD > Ship To, or give the kit a Company token"
    )


class ShipToBook:
    """The kit's copy of the FTD customer's Komet ship-tos (`ship_tos`): one owner."""

    def __init__(self, cycle: Cycle) -> None:
        self.cycle = cycle
        self.store = cycle.ledger.store
        self.profile = cycle.profile.name

    # -- which client may list -------------------------------------------------------------

    def company(self) -> KometClient | None:
        factory = getattr(self.cycle.clients, "company", None)
        return factory() if factory is not None else None

    def lister(self) -> KometClient | None:
        """The client that may call customer.shipto.list, or None (see the module docstring)."""
        cycle = self.cycle
        if cycle.switch("customer_shipto_list") == "yes":
            return cycle.clients.komet
        company = self.company()
        if company is not None:
            return company
        refused = self.store.get(self.profile, REFUSED_KEY)
        if refused and refused > iso(cycle.now - timedelta(hours=FULL_READ_HOURS)):
            return None
        return cycle.clients.komet

    # -- reads -----------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Bring the copy up to date (once a cycle); False when no token may list ship-tos."""
        cycle = self.cycle
        last: dict[str, Any] = self.store.get(self.profile, READ_KEY) or {}
        if last.get("cycle") == iso(cycle.now):
            return bool(last.get("listable", True))
        client = self.lister()
        if client is None:
            self._note_read(last, listable=False)
            return False
        full = not last.get("full") or last["full"] < iso(
            cycle.now - timedelta(hours=FULL_READ_HOURS)
        )
        since = None if full else datetime.fromisoformat(last["at"]) - OVERLAP
        try:
            rows = client.customer_shipto_list(cycle.customer, updated_as_of=since)
        except (MethodNotAllowed, CustomerNotAllowed):
            if client is not cycle.clients.komet:
                raise  # the Company token refused: a person must look at it
            self.store.put(self.profile, REFUSED_KEY, iso(cycle.now))
            self._note_read(last, listable=False)
            return False
        self.merge(rows, replace=full)
        stamp = iso(cycle.now)
        self.store.put(
            self.profile,
            READ_KEY,
            {"at": stamp, "full": stamp if full else last.get("full"), "cycle": stamp},
        )
        return True

    def _note_read(self, last: dict[str, Any], *, listable: bool) -> None:
        self.store.put(
            self.profile, READ_KEY, {**last, "cycle": iso(self.cycle.now), "listable": listable}
        )

    def merge(self, found: list[ShipTo], *, replace: bool = False) -> None:
        stamp = iso(self.cycle.now)
        with self.store.atomic() as tx:
            if replace:
                shipping_rows.forget_ship_tos(tx, self.profile)
            shipping_rows.save_ship_tos(
                tx,
                self.profile,
                [{c: getattr(r, c) for c in shipping_rows.SHIP_TO_COLUMNS} for r in found if r.id],
                stamp,
            )

    def by_code(self, code: str) -> list[str]:
        return shipping_rows.ship_to_ids_by_code(self.store, self.profile, code)

    def by_address(self, key: str) -> list[str]:
        return [
            str(r["id"])
            for r in shipping_rows.ship_to_addresses(self.store, self.profile)
            if address_key(r["name"], r["address"], r["city"], r["zipcode"]) == key
        ]

    def match(self, florist: Florist) -> str | None:
        """The one ship-to of this florist, None when there is none; parks when two fit."""
        for how, found in (
            ("code", self.by_code(florist.member_code) if florist.member_code else []),
            ("address", self.by_address(florist.key) if florist.street else []),
        ):
            if len(found) > 1:
                raise Parked(
                    "ship_to_ambiguous",
                    f"florist {florist.label}: ship-tos {', '.join(found)} all fit by {how}; "
                    "merge them in Komet or release the order with one",
                    retry=False,
                )
            if found:
                return found[0]
        return None

    def how(self, florist: Florist, ship_to_id: str) -> str:
        return "code" if ship_to_id in self.by_code(florist.member_code) else "address"


# -- creating one, exactly once ---------------------------------------------------------------


def _pending_add(cycle: Cycle, code: str) -> dict[str, Any] | None:
    return shipping_rows.ship_to_add(cycle.ledger.store, cycle.profile.name, code)


def _record_add(cycle: Cycle, florist: Florist, ship_to_id: str | None) -> None:
    with cycle.ledger.store.atomic() as tx:
        if ship_to_id is None:  # before the call: this is what a crash leaves behind
            shipping_rows.add_sending(
                tx,
                cycle.profile.name,
                florist.member_code,
                florist=florist.label,
                sent_at=iso(cycle.now),
                run_id=cycle.ledger.run_id,
            )
        else:
            shipping_rows.add_answered(tx, cycle.profile.name, florist.member_code, ship_to_id)


def _read_back(cycle: Cycle, company: KometClient, book: ShipToBook, florist: Florist,
               sent_at: str) -> str | None:  # fmt: skip
    """After a lost add: the ship-tos changed since it went out, by code."""
    cycle.reading_back(("shipto.add", florist.member_code))
    since = datetime.fromisoformat(sent_at) - OVERLAP
    book.merge(company.customer_shipto_list(cycle.customer, updated_as_of=since))
    found = book.by_code(florist.member_code)
    if len(found) > 1:
        raise Parked(
            "ship_to_ambiguous",
            f"florist {florist.label}: ship-tos {', '.join(found)} carry its code",
            retry=False,
        )
    return found[0] if found else None


def create(cycle: Cycle, company: KometClient, book: ShipToBook, florist: Florist) -> str:
    """customer.shipto.add for this florist, exactly once (see the module docstring)."""
    write = ("shipto.add", florist.member_code)
    pending = _pending_add(cycle, florist.member_code)
    if pending is not None:
        if pending["ship_to_id"]:
            return str(pending["ship_to_id"])
        found = _read_back(cycle, company, book, florist, pending["sent_at"])
        if found is not None:
            _record_add(cycle, florist, found)
            return found
        if not cycle.may_resend(write, pending["sent_at"]):
            raise _add_unknown(florist)
    _record_add(cycle, florist, None)
    cycle.sending(write)
    try:
        ship_to_id = company.customer_shipto_add(
            cycle.customer,
            name=florist.name,
            address=florist.street,
            ship_to_code=florist.member_code,
            city=florist.city,
            state=florist.state,
            zipcode=florist.zipcode,
            country=florist.country,
            phone=florist.phone,
        )
    except (*LOST, OutcomeUnknown):
        cycle.failed(KOMET, "komet_unavailable")
        found = _read_back(cycle, company, book, florist, iso(cycle.now))
        if found is None:
            raise _add_unknown(florist) from None
        ship_to_id = found
    except ApiError:
        with cycle.ledger.store.atomic() as tx:  # refused: nothing was created
            shipping_rows.forget_add(tx, cycle.profile.name, florist.member_code)
        raise
    _record_add(cycle, florist, ship_to_id)
    book.merge([ShipTo(ship_to_id, florist.member_code, florist.name, florist.street,
                       florist.city, florist.state, florist.zipcode, florist.country,
                       florist.phone, None, "")])  # fmt: skip
    return ship_to_id


def _add_unknown(florist: Florist) -> Parked:
    return Parked(
        OUTCOME_UNKNOWN,
        f"customer.shipto.add for florist {florist.label} sent and its answer lost, and the "
        "ship-to not in Komet yet; reading back again next cycle before creating",
        retry=True,
    )


# -- the decision -------------------------------------------------------------------------------


def find_ship_to(cycle: Cycle, florist: Florist) -> Found:
    """This florist's ship-to in Komet, created when the profile's Company token allows it.

    Workers wait for each other (`Cycle.single`): the copy is refreshed once a cycle by one of
    them, and one florist's ship-to is matched or created by one worker at a time, so two
    orders of a new florist in flight at once create it once."""
    book = ShipToBook(cycle)
    with cycle.single("ship-tos"):
        listable = book.refresh()
    with cycle.single(("florist", florist.member_code or florist.key)):
        if listable:
            found = book.match(florist)
            if found is not None:
                return Found(found, book.how(florist, found))
        company = book.company()
        if company is not None and florist.member_code:
            return Found(create(cycle, company, book, florist), "created")
    if cycle.profile.shipping.missing_ship_to == "park":
        raise Parked("no_ship_to", missing_text(florist), retry=True)
    default = cycle.profile.ship_to_id or None
    where = f"default ship-to {default}" if default else "the FTD customer's own address"
    return Found(default, "default", f"{missing_text(florist)}; sent to {where}")

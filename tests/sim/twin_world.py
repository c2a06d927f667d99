"""The order pipeline against the REAL twin process (loopback HTTP), with faults aimed at one call.

`ArmedTransport` wraps the clients' httpx transport: when the request it waits for goes out, it
switches the twin's own fault on (`/_sandbox/faults`, rate 1, that method only), lets the request
through, and switches it off again. So "a reset at the second web-order-item.add of order X" hits
exactly that call, with the twin's real fault behaviour (HTML 502, a hang, a TCP reset, the work
committed and the answer dropped, the quota message or a 429).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from komet_ftd_ops.connect import Clients, ftd_client, komet_client
from komet_ftd_ops.offers.ids import inventory_ids_of
from komet_ftd_ops.orders import OrderLedger, OrdersReport, process_orders
from komet_ftd_ops.sandbox.control import SandboxControl
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile
from komet_ftd_ops.state.calls import CallCounter
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing.invariants import violations

Match = Callable[[str, httpx.Request], bool]
TIMEOUT = 1.0  # client timeout; a hang lasts longer
HANG_MS = 2500
# The kit's settle window here: longer than the twin's `late_write_delay` (2 s), so a hung write
# the client gave up on has landed before the kit may send it again, as production's 60 s
# outlasts Komet's. At 0 a loaded machine let the next cycle re-add a line whose hung add then
# landed too: two lines in Komet for one FTD line.
SETTLE_S = 4
PATIENCE_S = 30  # settle(): how long orders may stay on their way once the window is over
FTD_ROUTES = {"acknowledge": "orders.acknowledge", "status": "orders.status"}


@dataclass
class Aim:
    """One fault, waiting for the request it is aimed at."""

    service: str
    kind: str
    method: str  # the twin's name for the call (Komet method, FTD route name)
    match: Match
    fired: bool = False


class ArmedTransport(httpx.BaseTransport):
    def __init__(self, service: str, control: SandboxControl, aims: list[Aim]) -> None:
        self.service = service
        self.control = control
        self.aims = aims
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        aim = next(
            (
                a
                for a in self.aims
                if not a.fired and a.service == self.service and a.match(self.service, request)
            ),
            None,
        )
        if aim is None:
            return self.inner.handle_request(request)
        aim.fired = True
        ms = HANG_MS if aim.kind == "hang" else 0
        self.control.add_fault(self.service, aim.kind, aim.method, 1.0, ms)
        try:
            return self.inner.handle_request(request)
        finally:
            self.control.call(self.service, "DELETE", "faults")

    def close(self) -> None:
        self.inner.close()


def body_of(request: httpx.Request) -> dict[str, Any]:
    try:
        return json.loads(request.content or b"{}")
    except ValueError:
        return {}


class TwinWorld:
    """A twin process, the sandbox profile, one kit store, and aimed faults."""

    def __init__(self, home: Path, info: dict[str, Any]) -> None:
        self.home = home
        self.control = SandboxControl(info)
        base = load_profile("sandbox", Home.at(home))
        self.profile = replace(
            base,
            timeout_seconds=TIMEOUT,
            orders=replace(base.orders, unknown_settle_seconds=SETTLE_S, confirm_every_minutes=0),
        )
        self.store = Home.at(home).open_store()
        self.aims: list[Aim] = []
        run_cycle(self.profile, self.store, self.clients())  # list the inventory on FTD

    def clients(self, komet_class: Any = None) -> Clients:
        komet = komet_client(
            self.profile,
            self.store,
            home=Home.at(self.home),
            transport=ArmedTransport("komet", self.control, self.aims),
        )
        if komet_class is not None:
            komet = komet_class(
                komet.config,
                transport=ArmedTransport("komet", self.control, self.aims),
                on_call=CallCounter(self.store, "komet"),
            )
        ftd = ftd_client(
            self.profile,
            home=Home.at(self.home),
            transport=ArmedTransport("ftd", self.control, self.aims),
        )
        return Clients(komet=komet, ftd=ftd, calls=CallCounter(self.store, "komet"))

    def cycle(self, komet_class: Any = None) -> OrdersReport:
        clients = self.clients(komet_class)
        try:
            return process_orders(
                self.profile, self.store, clients, dry_run=False, run_id=None, now=datetime.now(UTC)
            )
        finally:
            clients.komet.close()
            clients.ftd.close()

    def settle(self, cycles: int = 6) -> None:
        """Calm cycles until no order is on its way (acknowledged ones wait for the rep): at
        least `cycles` of them, and past that a cycle every half second until a write lost in
        the last ones is past its settle window and has been read back or sent again.

        On a busy machine a cycle with a hung call takes seconds, so the window is counted
        from the first cycle that started after it had passed, and the orders get `PATIENCE_S`
        more before this gives up and leaves the caller's checks to say what is stuck (an
        earlier fixed 9 s returned with a lost checkout still being read back)."""
        ledger = OrderLedger(self.store, self.profile.name)
        window_over = time.monotonic() + SETTLE_S
        cycled_after_window = 0
        for n in itertools.count(1):
            started = time.monotonic()
            self.cycle()
            cycled_after_window += started > window_over
            moving = [o for o in ledger.open_orders() if not o.held and o.state != "acknowledged"]
            if not moving:
                return
            gave_up = time.monotonic() > window_over + PATIENCE_S
            if n >= cycles and cycled_after_window >= 2 and gave_up:
                return
            if n >= cycles:
                time.sleep(0.5)

    def shop(self, orders: int, seed: int, oversell: float = 0.0) -> list[str]:
        return list(self.control.shop(orders, oversell=oversell, seed=seed)["orders"])

    def order(self, order_id: str) -> dict[str, Any]:
        return next(o for o in self.control.dump()["ftd"]["orders"] if o["order_id"] == order_id)

    def new_order(self, lines: int, seed: int) -> dict[str, Any]:
        """A fresh NEW order with `lines` lines, every earlier order settled first."""
        for attempt in range(40):
            self.settle()
            (order_id,) = self.shop(1, seed=seed * 100 + attempt)
            order = self.order(order_id)
            if len(order["lines"]) == lines:
                return order
        raise AssertionError(f"no {lines}-line order in 40 tries")

    def aim(self, service: str, kind: str, method: str, match: Match) -> Aim:
        aim = Aim(service, kind, method, match)
        self.aims.append(aim)
        return aim

    def aim_at_step(self, step: str, kind: str, order: dict[str, Any]) -> Aim:
        """`create`, `add1`..`addN`, `checkout` or `acknowledge` of this order."""
        if step == "create":
            return self.aim(
                "komet",
                kind,
                "web-order.create",
                lambda s, r: r.url.path.endswith("/web-order.create"),
            )
        if step == "checkout":
            return self.aim(
                "komet",
                kind,
                "web-order.checkout",
                lambda s, r: r.url.path.endswith("/web-order.checkout"),
            )
        if step == "acknowledge":
            path = f"/orders/{order['order_id']}/acknowledge"
            return self.aim(
                "ftd", kind, FTD_ROUTES["acknowledge"], lambda s, r: r.url.path.endswith(path)
            )
        line = order["lines"][int(step.removeprefix("add")) - 1]
        ids = ",".join(inventory_ids_of(line["offer_id"]))

        def is_line(service: str, request: httpx.Request) -> bool:
            return request.url.path.endswith("/web-order-item.add") and (
                str(body_of(request).get("inventoryIds")) == ids
            )

        return self.aim("komet", kind, "web-order-item.add", is_line)

    def violations(self, final: bool = True) -> list[str]:
        dump = self.control.dump()
        return violations(
            self.store,
            self.profile.name,
            dump["komet"],
            dump["ftd"],
            self.profile.ftd_customer_id,
            final=final,
        )

    def close(self) -> None:
        self.control.close()
        self.store.close()

"""A sync process for the kill tests: full sync cycles in a loop, every HTTP call announced.

    python tests/sim/sync_worker.py --home DIR [--cycles N] [--until-idle]

Prints `call <service> <method> <path>` before each request leaves and `cycle {...}` after each
cycle, so the test can SIGKILL it at a chosen point. Everything it knows between cycles is in
the state database under DIR; nothing else survives a kill, exactly as in production. Orders
move four at a time (`[orders] concurrency = 4`), so a kill finds several of them mid-call;
each announcement is one write, whole lines from whichever worker thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import replace
from pathlib import Path

import httpx

from komet_ftd_ops.connect import Clients, ftd_client, komet_client
from komet_ftd_ops.orders import OrderLedger
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile
from komet_ftd_ops.state.calls import CallCounter
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle

_OUT = threading.Lock()


def say(line: str) -> None:
    with _OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Announced(httpx.HTTPTransport):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        say(f"call {self.service} {request.method} {request.url.path}")
        return super().handle_request(request)


def idle(store: Store, profile: str) -> bool:
    """No order on its way (acknowledged ones wait for the sales rep, held ones for a person)."""
    open_orders = OrderLedger(store, profile).open_orders()
    return not [o for o in open_orders if not o.held and o.state != "acknowledged"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--until-idle", action="store_true")
    args = parser.parse_args()
    base = load_profile("sandbox", Home.at(args.home))
    profile = replace(
        base,
        timeout_seconds=2.0,
        orders=replace(
            base.orders, unknown_settle_seconds=0, confirm_every_minutes=0, concurrency=4
        ),
    )
    with Home.at(args.home).open_store() as store:
        for _ in range(args.cycles):
            komet = komet_client(
                profile, store, home=Home.at(args.home), transport=Announced("komet")
            )
            ftd = ftd_client(profile, home=Home.at(args.home), transport=Announced("ftd"))
            try:
                report = run_cycle(profile, store, Clients(komet, ftd, CallCounter(store)))
            finally:
                komet.close()
                ftd.close()
            say("cycle " + json.dumps(report.orders.counters()))
            if args.until_idle and idle(store, profile.name):
                say("idle")
                return


if __name__ == "__main__":
    main()

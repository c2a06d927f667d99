"""Fault injection for the twins: what a flaky network and a busy service do to a client.

Kinds (each for one service, optionally one method, at a rate in 0..1):

    latency            wait `ms` (with +-20% jitter) before answering
    error              a 502/503/504 with an HTML body, as a proxy in front of the service gives
    hang               accept the request and never answer within `ms` (default 1 hour)
    reset              drop the connection with a TCP reset before doing anything
    drop-after-commit  do the work, commit it, then drop the connection without an answer
    rate-limit         FTD: 429 with Retry-After; Komet: its daily-limit message
    sequence-gap       FTD only: a delta is refused with 409 as if FTD had lost a feed

A write whose answer the client never gets (a `hang`, or a client that timed out and left during
`latency`) may still land: the Komet twin's `late_writes` switch. The middleware asks the twin
(`late_write`) how long such a write takes to land; on a hang it then runs the write in a task
of its own after that delay, detached from the request, so the client leaving cancels nothing.
aiohttp (3.9 on) does not cancel a handler when its client disconnects (`handler_cancellation`
is off in every runner the twins use), so after `latency` the handler runs on; the twin itself
refuses to apply a write whose client is gone when late_writes is `never`.

A fault names a method only from the twin's own tables (`served_calls`): the board refuses any
other name, because a fault that can never strike turns a fault test into a happy-path test
without a word. The board is kept in the twin's SQLite file so faults survive a restart (which
is why `sandbox up` lists the active ones), and draws from a seeded random generator so a run can
be replayed.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import difflib
import json
import random
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from ..state.sqlite_file import SQLiteFile as Store

KINDS = (
    "latency",
    "error",
    "hang",
    "reset",
    "drop-after-commit",
    "rate-limit",
    "sequence-gap",
)
SERVICES = ("komet", "ftd")
# The kinds only one twin acts on, and the one call they strike there (the FTD twin reads the
# sequence-gap flag in its delta handler alone).
ONE_CALL_KINDS = {"sequence-gap": ("ftd", "inventory.delta")}

MIGRATIONS = [
    (
        "faults_0001",
        """
        CREATE TABLE faults (
            id INTEGER PRIMARY KEY,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            method TEXT,
            rate REAL NOT NULL,
            ms INTEGER NOT NULL
        )
        """,
    )
]

# Set on a request by the middleware when the sequence-gap fault strikes; the FTD twin reads it.
SEQUENCE_GAP = web.RequestKey("sequence_gap", bool)

HTML_ERROR = (
    "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
    "</center><hr><center>nginx</center></body></html>"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Fault:
    service: str
    kind: str
    method: str | None = None
    rate: float = 1.0
    ms: int = 0

    def describe(self) -> str:
        """One line for a person: `komet drop-after-commit on web-order-item.add, rate 0.2`."""
        only = ONE_CALL_KINDS.get(self.kind)
        method = self.method or (only[1] if only else None)
        where = f"on {method}" if method else "on every call"
        length = f", {self.ms} ms" if self.ms else ""
        return f"{self.service} {self.kind} {where}, rate {self.rate:g}{length}"


def served_calls() -> dict[str, tuple[str, ...]]:
    """The names a fault's `method` can match, per service: the twins' own method/route tables.

    Imported here, not at the top, because both twin apps import this module.
    """
    from .ftd.app import ROUTE_NAMES
    from .komet.app import METHODS

    return {"komet": tuple(METHODS), "ftd": tuple(ROUTE_NAMES)}


def check(fault: Fault) -> None:
    """Refuse (ValueError) a fault the twin would never fire, naming what it would accept."""
    if fault.service not in SERVICES:
        raise ValueError(f"unknown service {fault.service!r}; one of: {', '.join(SERVICES)}")
    if fault.kind not in KINDS:
        raise ValueError(f"unknown fault kind {fault.kind!r}; one of: {', '.join(KINDS)}")
    only = ONE_CALL_KINDS.get(fault.kind)
    if only and fault.service != only[0]:
        raise ValueError(f"{fault.kind} is for the {only[0]} twin only (it strikes {only[1]})")
    if fault.method is not None:
        calls = served_calls()[fault.service]
        if fault.method not in calls:
            close = difflib.get_close_matches(fault.method, calls, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(
                f"the {fault.service} twin serves no method {fault.method!r}{hint}; "
                f"one of: {', '.join(calls)}"
            )
        if only and fault.method != only[1]:
            raise ValueError(f"{fault.kind} strikes only {only[1]}, never {fault.method}")
    if not 0 <= fault.rate <= 1:
        raise ValueError("rate must be between 0 and 1")


class FaultBoard:
    """The faults switched on, shared by both twins in one server process (and by every
    wholesaler it serves: kept in wholesaler 1's file)."""

    def __init__(self, db: Store, seed: int = 0) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.injected: dict[str, int] = {}
        self.late: set[asyncio.Task[None]] = set()  # writes landing after a hang (kept alive)

    def add(self, fault: Fault) -> None:
        """Switch a fault on; ValueError for one the twin would never fire (see `check`)."""
        check(fault)
        with self.db.atomic() as db:
            db.execute(
                "INSERT INTO faults (service, kind, method, rate, ms) VALUES (?, ?, ?, ?, ?)",
                (fault.service, fault.kind, fault.method, fault.rate, fault.ms),
            )

    def clear(self, service: str | None = None) -> None:
        with self.db.atomic() as db:
            if service:
                db.execute("DELETE FROM faults WHERE service=?", (service,))
            else:
                db.execute("DELETE FROM faults")

    # `builtins.list`: inside this class body a bare `list` names the method below, not the type.
    # The method keeps its name: tests/sim/inproc.py replaces `board.list` to switch faults off.
    def list(self, service: str | None = None) -> builtins.list[Fault]:
        rows = self.db.query("SELECT service, kind, method, rate, ms FROM faults ORDER BY id")
        faults = [Fault(**dict(r)) for r in rows]
        return [f for f in faults if service is None or f.service == service]

    def draw(self, service: str, method: str) -> builtins.list[Fault]:
        """The faults that strike this call (each drawn independently at its rate)."""
        hits = []
        for fault in self.list(service):
            if fault.method and fault.method != method:
                continue
            if fault.rate >= 1 or self.rng.random() < fault.rate:
                hits.append(fault)
                key = f"{service}:{fault.kind}"
                self.injected[key] = self.injected.get(key, 0) + 1
        return hits


def call_name(request: web.Request) -> str:
    """The name a fault's `method` matches: Komet's method, or the FTD route's name."""
    info = request.match_info
    if "method" in info:
        return info["method"]
    route = info.route
    return (route.name if route is not None else None) or request.path


def _reset(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def html_error(code: int = 502) -> web.Response:
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
    return web.Response(
        status=code,
        text=HTML_ERROR.format(code=code, reason=reason.get(code, "Error")),
        content_type="text/html",
    )


LateWrite = Callable[[web.Request], float | None]


async def _land_later(request: web.Request, handler: Handler, delay: float) -> None:
    await asyncio.sleep(delay)
    with contextlib.suppress(Exception):  # its answer goes nowhere; the write is what counts
        await handler(request)


def middleware(
    board: FaultBoard,
    service: str,
    rate_limited: Callable[[web.Request], web.Response],
    late_write: LateWrite | None = None,
) -> Any:
    """aiohttp middleware injecting the board's faults into every non-/_sandbox/ call.

    `rate_limited(request)`: the service's own throttling answer (worded for the wholesaler
    the request's token belongs to).

    `late_write(request)`: None, or the seconds after which this write lands although its
    client gave up (see the module docstring)."""

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sandbox"):
            return await handler(request)
        hits = board.draw(service, call_name(request))
        kinds = {f.kind: f for f in hits}
        delay = late_write(request) if late_write is not None and hits else None
        if delay is not None:
            # Read the body while the client is still there: once it leaves, aiohttp fails
            # every read of the request's stream, but `read()` keeps what it read.
            try:
                await request.read()
            except Exception:
                delay = None
        if "latency" in kinds:
            ms = kinds["latency"].ms or 100
            await asyncio.sleep(ms / 1000 * board.rng.uniform(0.8, 1.2))
        if "reset" in kinds:
            _reset(request)
            raise asyncio.CancelledError  # nothing more to send on a dead connection
        if "hang" in kinds:
            if delay is not None:
                task = asyncio.get_running_loop().create_task(_land_later(request, handler, delay))
                board.late.add(task)
                task.add_done_callback(board.late.discard)
            await asyncio.sleep((kinds["hang"].ms or 3_600_000) / 1000)
            _reset(request)
            raise asyncio.CancelledError
        if "error" in kinds:
            return html_error(board.rng.choice((502, 503, 504)))
        if "rate-limit" in kinds:
            return rate_limited(request)
        request[SEQUENCE_GAP] = "sequence-gap" in kinds
        response = await handler(request)
        if "drop-after-commit" in kinds:
            _reset(request)
            raise asyncio.CancelledError
        return response

    return inject


def add_control_routes(app: web.Application, board: FaultBoard, service: str) -> None:
    """`/_sandbox/faults` (GET list, POST add, DELETE clear) for this service."""

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response(
            {"faults": [asdict(f) for f in board.list(service)], "injected": board.injected}
        )

    async def add_fault(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            fault = Fault(
                service=service,
                kind=str(body["kind"]),
                method=body.get("method") or None,
                rate=float(body.get("rate", 1.0)),
                ms=int(body.get("ms", 0)),
            )
            board.add(fault)
        except (KeyError, ValueError) as exc:
            return web.json_response(
                {"error": {"code": "bad_fault", "message": str(exc)}}, status=400
            )
        return web.json_response({"added": asdict(fault)})

    async def clear_faults(request: web.Request) -> web.Response:
        board.clear(service)
        return web.json_response({"cleared": service})

    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_post("/_sandbox/faults", add_fault)
    app.router.add_delete("/_sandbox/faults", clear_faults)


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))

"""Both twins in this process: the real aiohttp apps, called through an httpx transport.

No sockets: each request is turned into an aiohttp request and handed to the app on a private
event loop, so a call costs well under a millisecond and thousands of seeded schedules fit in
one test run. The order pipeline's workers call from several threads: the twins take one call
at a time (`InProcessTwins.lock`), as the real twin's one event loop does, and every call
checks that its thread holds no state transaction open (`CallInTransaction`: no HTTP call is
ever made inside `Store.atomic()`, orders/pipeline.py). The twin's state lives in an in-memory SQLite database that is
restored from a seeded template before each schedule.

Faults are injected here, at the transport, with the same meaning as the twin's fault middleware
(`komet_ftd_ops/sandbox/faults.py`), plus the crash: the process "dies" before or after the
service handled a call (`SimCrash`, a BaseException nothing in the kit catches), or the runner's
parent is killed mid-call (`KILL_PARENT`: its kernel dies with it, see `runs/processes.py`).
A process dies whole: once one worker's call crashed, every later call of that process (the
clients of one cycle, `SimProcess`) crashes before it goes out.

Time is virtual: `virtual_time(clock)` makes both twins read a `VirtualClock`, and a write that
hangs may still land on Komet later (the `late_writes` switch), within the same cycle: sooner
than any settle window, which is shorter than the 5 minutes between cycles.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import streams, web
from aiohttp.http import HttpVersion11, RawRequestMessage
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from komet_ftd_ops.sandbox import faults
from komet_ftd_ops.sandbox.ftd import app as ftd_app
from komet_ftd_ops.sandbox.komet import app as komet_app
from komet_ftd_ops.sandbox.komet import db as komet_db
from komet_ftd_ops.sandbox.server import TWIN_MIGRATIONS
from komet_ftd_ops.state.sqlite_file import SQLiteFile as Store
from komet_ftd_ops.state.store import transaction_open_here
from komet_ftd_ops.testing.clock import VirtualClock

KOMET_BASE = "http://komet.sim/api/"
FTD_BASE = "http://ftd.sim"


class SimCrash(BaseException):
    """The pipeline's process died here. BaseException: no `except Exception` swallows it."""


class CallInTransaction(BaseException):
    """A call made while its thread held a state transaction open: a bug, never caught."""


@dataclass
class SimProcess:
    """The clients of one cycle: dead after its first crash (every thread of it dies)."""

    dead: str = ""


# What a call can meet, as the twin's fault kinds (plus crashes) name them.
OK = "ok"
ERROR = "error"  # 502 page before the service did anything
HANG = "hang"  # no answer in time; the service never saw it
RESET = "reset"  # connection reset before the service did anything
DROP = "drop-after-commit"  # the service did the work, the answer is lost
RATE_LIMIT = "rate-limit"  # Komet: its daily-limit message; FTD: 429
CRASH_BEFORE = "crash-before"
CRASH_AFTER = "crash-after"
KILL_PARENT = "kill-parent"  # the runner's parent killed mid-call: the service did the work
FAULTS = (ERROR, HANG, RESET, DROP, RATE_LIMIT)
CRASHES = (CRASH_BEFORE, CRASH_AFTER, KILL_PARENT)
KINDS = FAULTS + CRASHES
# Komet's writes: a hung one may land later when the twin's `late_writes` switch says so.
KOMET_WRITES = ("web-order.create", "web-order-item.add", "web-order.checkout", "web-order.delete")

Decide = Callable[[str, str], str]  # (service, call name) -> kind


@dataclass
class CallLog:
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # service, name, kind
    threads: set[int] = field(default_factory=set)  # the threads that made them

    def count(self, service: str, kind: str | None = None) -> int:
        return sum(1 for s, _, k in self.calls if s == service and (kind is None or k == kind))


@contextmanager
def virtual_time(clock: VirtualClock) -> Iterator[None]:
    """Both twins read `clock` (stamps, today's date, feed timers) while inside."""
    patches = [
        (komet_db, "now_stamp", lambda: clock.now().strftime("%Y-%m-%dT%H:%M:%S")),
        (komet_db, "today", lambda: clock.now().date()),
        (ftd_app, "_now", clock.now),
        (ftd_app, "_now_ms", clock.epoch_ms),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


@dataclass
class LateWrites:
    """Writes that hung on the client and land on the twin a few calls later (or at the end
    of the cycle at the latest): what a slow Komet does, which only the settle window guards."""

    rng: random.Random
    on: bool = False  # the `late_writes` switch: "later"
    queue: list[tuple[int, str, httpx.Request]] = field(default_factory=list)
    landed: int = 0

    def hold(self, service: str, request: httpx.Request) -> None:
        self.queue.append((self.rng.randint(0, 3), service, request))

    def tick(self, twins: InProcessTwins) -> None:
        """One more call went by: land what is due."""
        due = [item for item in self.queue if item[0] <= 0]
        self.queue = [(n - 1, s, r) for n, s, r in self.queue if n > 0]
        for _, service, request in due:
            self._land(twins, service, request)

    def flush(self, twins: InProcessTwins) -> None:
        queue, self.queue = self.queue, []
        for _, service, request in queue:
            self._land(twins, service, request)

    def _land(self, twins: InProcessTwins, service: str, request: httpx.Request) -> None:
        twins.call(service, request)
        self.landed += 1


class _Transport:
    """Just enough of an asyncio transport for aiohttp's request object (no Mock: speed)."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


class _Protocol:
    max_field_size = 8190
    max_line_length = 8190
    max_headers = 128
    ssl_context = None
    _reading_paused = False

    def __init__(self) -> None:
        self.transport = _Transport()
        self.writer = None
        self.peername = self.transport.get_extra_info("peername")
        self.sockname = self.transport.get_extra_info("sockname")

    def pause_reading(self, **_: Any) -> None:
        pass

    def resume_reading(self, **_: Any) -> None:
        pass


def _request(
    app: web.Application, request: httpx.Request, loop: asyncio.AbstractEventLoop
) -> web.Request:
    """An aiohttp request for an httpx one, as aiohttp's own test helper builds it."""
    path = request.url.raw_path.decode()
    headers = CIMultiDictProxy(CIMultiDict(request.headers.items()))
    raw = tuple((k.encode(), v.encode()) for k, v in headers.items())
    message = RawRequestMessage(
        request.method, path, HttpVersion11, headers, raw, False, None, False, False, URL(path)
    )
    protocol = _Protocol()
    payload = streams.StreamReader(protocol, 2**16, loop=loop)  # type: ignore[arg-type]
    body = request.read()
    if body:
        payload.feed_data(body)
    payload.feed_eof()
    return web.Request(
        message,
        payload,
        protocol,
        None,
        None,
        loop,  # type: ignore[arg-type]
        client_max_size=6_000_000,
    )


class AppTransport(httpx.BaseTransport):
    """An httpx transport that hands each request to an aiohttp app, with faults."""

    def __init__(
        self,
        twins: InProcessTwins,
        service: str,
        decide: Decide,
        log: CallLog,
        late: LateWrites | None = None,
        process: SimProcess | None = None,
    ) -> None:
        self.twins = twins
        self.service = service
        self.decide = decide
        self.log = log
        self.late = late
        self.process = process if process is not None else SimProcess()

    def _name(self, request: httpx.Request) -> str:
        path = request.url.path
        if self.service == "komet":
            return path.split("/api/", 1)[-1]
        parts = path.strip("/").split("/")  # v1/suppliers/<id>/orders/<oid>/acknowledge
        route = "/".join(p for i, p in enumerate(parts) if i > 2 and not p.startswith("FTD-"))
        return f"{request.method} {route}"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        name = self._name(request)
        if transaction_open_here():
            raise CallInTransaction(f"{self.service} {name} called inside a state transaction")
        with self.twins.lock:
            if self.process.dead:
                raise SimCrash(f"{self.service} {name}: the process died at {self.process.dead}")
            try:
                return self._handle(request, name)
            except SimCrash as crash:
                self.process.dead = str(crash)
                raise

    def _handle(self, request: httpx.Request, name: str) -> httpx.Response:
        if self.late is not None and self.late.queue:
            self.late.tick(self.twins)
        kind = self.decide(self.service, name)
        self.log.calls.append((self.service, name, kind))
        self.log.threads.add(threading.get_ident())
        if kind == CRASH_BEFORE:
            raise SimCrash(f"crash before {self.service} {name}")
        if kind == ERROR:
            return httpx.Response(
                502,
                text=faults.HTML_ERROR.format(code=502, reason="Bad Gateway"),
                headers={"content-type": "text/html"},
            )
        if kind == HANG:
            late = self.late
            if late is not None and late.on and self.service == "komet" and name in KOMET_WRITES:
                late.hold(self.service, request)
            raise httpx.ReadTimeout("simulated hang", request=request)
        if kind == RESET:
            raise httpx.RemoteProtocolError("simulated reset", request=request)
        if kind == RATE_LIMIT:
            return self._rate_limited()
        response = self.twins.call(self.service, request)
        if kind == DROP:
            raise httpx.ReadError("simulated drop after commit", request=request)
        if kind in (CRASH_AFTER, KILL_PARENT):
            raise SimCrash(f"{kind} at {self.service} {name}")
        return response

    def _rate_limited(self) -> httpx.Response:
        if self.service == "komet":
            return httpx.Response(
                200, json={"status": "0", "message": "API request limit exceeded."}
            )
        return httpx.Response(
            429,
            json={"error": {"code": "rate_limited", "message": "retry after 1 second."}},
            headers={"Retry-After": "1"},
        )


class InProcessTwins:
    """The two twin apps over one in-memory database, restorable to a seeded template."""

    def __init__(self, *, lines: int = 300, seed: int = 7) -> None:
        self.db = Store(":memory:", migrations=TWIN_MIGRATIONS)
        self.lock = threading.RLock()  # one call at a time, from whichever worker
        self.loop = asyncio.new_event_loop()
        self.board = faults.FaultBoard(self.db, seed=seed)
        self.board.list = lambda service=None: []  # type: ignore[method-assign]  # faults: below
        self.komet_info = komet_app.seed(self.db, lines=lines, seed=seed)
        self.ftd_info = ftd_app.seed(self.db, seed=seed)
        self.template: sqlite3.Connection | None = None
        self.apps: dict[str, web.Application] = {}
        self._build_apps()

    def _build_apps(self) -> None:
        komet = komet_app.create_app(self.db, self.board)
        ftd = ftd_app.create_app(
            self.db, self.board, on_oversell=lambda o: komet_app.take_offer_stock(self.db, o)
        )
        for app in (komet, ftd):
            app.freeze()
        self.apps = {"komet": komet, "ftd": ftd}

    def save_template(self) -> None:
        """Remember the current state; `restore` goes back to it."""
        self.template = sqlite3.connect(":memory:")
        self.db.conn.backup(self.template)

    def restore(self) -> None:
        assert self.template is not None, "save_template first"
        self.template.backup(self.db.conn)
        self._build_apps()  # fresh in-memory listing noise, seeded as on a restarted twin

    def transport(
        self,
        service: str,
        decide: Decide,
        log: CallLog,
        late: LateWrites | None = None,
        process: SimProcess | None = None,
    ) -> AppTransport:
        return AppTransport(self, service, decide, log, late, process)

    def call(self, service: str, request: httpx.Request) -> httpx.Response:
        """Drive the app's coroutine by hand: an in-memory twin never waits on anything, so the
        event loop's scheduling (a tenth of a schedule's time) is skipped; a coroutine that does
        wait is finished on the loop instead."""
        coro = self._call(self.apps[service], request)
        asyncio.events._set_running_loop(self.loop)
        try:
            waiting = coro.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            asyncio.events._set_running_loop(None)
        coro.close()
        raise RuntimeError(f"the in-process twin waited on {waiting!r}; nothing in it should")

    async def _call(self, app: web.Application, request: httpx.Request) -> httpx.Response:
        answer = await app._handle(_request(app, request, self.loop))
        assert isinstance(answer, web.Response), type(answer)
        content = answer.body if isinstance(answer.body, bytes) else b""
        out_headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        if answer.content_type and "content-type" not in {k.lower() for k in out_headers}:
            out_headers["content-type"] = answer.content_type
        return httpx.Response(answer.status, headers=out_headers, content=content)

    def dump(self) -> dict:
        return {"komet": komet_db.dump(self.db), "ftd": ftd_app.dump(self.db)}

    def close(self) -> None:
        self.loop.close()
        self.db.close()

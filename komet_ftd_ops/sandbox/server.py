"""Run both twins in one process: Komet on one port, FTD on another, state in one SQLite file.

    python -m komet_ftd_ops.sandbox.server --home DIR [--komet-port N] [--ftd-port N]
                                           [--lines N] [--seed N] [--ftd-max-body BYTES]
                                           [--wholesalers N]

Port 0 picks a free port. Once both listen, the server writes `<home>/sandbox/info.json` (base
URLs, ids, sandbox tokens, FTD's body limit, pid); it removes it on a clean stop. With
`--wholesalers N` both servers serve N wholesalers (tenants.py): info.json describes the first
at the top, as before, and all N under "wholesalers" (each with the same URLs).
`komet-ftd-ops sandbox up` starts this in the background (see `control.py`). info.json and the
state file (`twin.sqlite3`, which holds the tokens too) are the owner's alone: mode 0600.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ..settings.home import Home
from ..state.sqlite_file import SQLiteFile as Store
from . import faults, tenants
from .ftd import app as ftd_app
from .komet import app as komet_app

TWIN_MIGRATIONS = faults.MIGRATIONS + komet_app.MIGRATIONS + ftd_app.MIGRATIONS


def _owner_only(path: Path) -> None:
    """Create `path` mode 0600 before SQLite opens it (or tighten one made before this rule).

    The file holds the sandbox tokens. SQLite gives the -wal and -shm files it creates the mode
    of the database file, so they follow; ones left from an older file are tightened here too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)


def open_twin_db(home: Path, number: int = 1) -> Store:
    """Wholesaler `number`'s file (1: `twin.sqlite3`, the one-wholesaler twin's), mode 0600."""
    path = tenants.db_path(Home.at(home), number)
    _owner_only(path)
    return Store(path, migrations=TWIN_MIGRATIONS)


def build(
    db: Store | Sequence[Store],
    *,
    lines: int,
    seed: int,
    ftd_max_body: int = ftd_app.BODY_LIMIT,
) -> tuple[web.Application, web.Application, dict]:
    """Seed (first start only) and assemble both apps around one fault board.

    `db`: one store, or one per wholesaler (tenants.py), each seeded on its own (seed + K - 1,
    `lines` each) with ids no other wholesaler holds. The info is wholesaler 1's, as the
    one-wholesaler twin's was; with several, `info["wholesalers"]` lists all of them."""
    stores = [db] if isinstance(db, Store) else list(db)
    board = faults.FaultBoard(stores[0], seed=seed)
    each: list[dict[str, Any]] = []
    for number, store in enumerate(stores, start=1):
        own_seed = tenants.seed_of(seed, number)
        komet_info = komet_app.seed(
            store,
            lines=lines,
            seed=own_seed,
            taken_company_ids={w["komet"]["company_id"] for w in each},
        )
        ftd_info = ftd_app.seed(
            store, seed=own_seed, taken_supplier_ids={w["ftd"]["supplier_id"] for w in each}
        )
        each.append({"komet": komet_info, "ftd": {**ftd_info, "max_body_bytes": ftd_max_body}})
    komet = komet_app.create_app(stores, board)
    ftd = ftd_app.create_app(
        stores,
        board,
        on_oversell=[_taker(store) for store in stores],
        max_body_bytes=ftd_max_body,
    )
    # Published so the kit's built-in sandbox profile uses the limit this twin enforces.
    info: dict[str, Any] = {"komet": dict(each[0]["komet"]), "ftd": dict(each[0]["ftd"])}
    if len(stores) > 1:
        info["wholesalers"] = each
    return komet, ftd, info


def _taker(store: Store) -> Callable[[str], None]:
    """FTD oversold one of this wholesaler's offers: its own Komet company loses the stock."""
    return lambda offer_id: komet_app.take_offer_stock(store, offer_id)


async def _serve(
    home: Path,
    komet_port: int,
    ftd_port: int,
    lines: int,
    seed: int,
    ftd_max_body: int,
    wholesalers: int = 1,
) -> None:
    stores = [open_twin_db(home, number) for number in range(1, wholesalers + 1)]
    komet, ftd, info = build(stores, lines=lines, seed=seed, ftd_max_body=ftd_max_body)
    runners = []
    urls = {}
    for name, app, port in (("komet", komet, komet_port), ("ftd", ftd, ftd_port)):
        # handler_cancellation off (aiohttp's default, said here because the late_writes
        # switch relies on it): a client that leaves does not cancel the write it sent.
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=False
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        urls[name] = f"http://127.0.0.1:{bound}"
        runners.append(runner)
    # One URL for every wholesaler, as in production: the token says whose data a call reaches.
    for entry in [info, *info.get("wholesalers", [])]:
        entry["komet"]["base_url"] = urls["komet"] + "/api/"
        entry["komet"]["root_url"] = urls["komet"]
        entry["ftd"]["base_url"] = urls["ftd"]
    info["pid"] = os.getpid()
    info["seed"] = seed
    path = Home.at(home).sandbox_info
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a .tmp left by a killed twin
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, indent=2)
    os.replace(tmp, path)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()
        for store in stores:
            store.close()
        if path.exists() and json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--komet-port", type=int, default=0)
    parser.add_argument("--ftd-port", type=int, default=0)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ftd-max-body", type=int, default=ftd_app.BODY_LIMIT)
    parser.add_argument("--wholesalers", type=int, default=1)
    args = parser.parse_args(argv)
    if args.ftd_max_body < 1:
        parser.error("--ftd-max-body must be a positive number of bytes")
    if not 1 <= args.wholesalers <= tenants.MAX_WHOLESALERS:
        parser.error(f"--wholesalers must be 1..{tenants.MAX_WHOLESALERS}")
    Home.at(args.home).sandbox_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        _serve(
            args.home.resolve(),
            args.komet_port,
            args.ftd_port,
            args.lines,
            args.seed,
            args.ftd_max_body,
            args.wholesalers,
        )
    )


if __name__ == "__main__":
    main()

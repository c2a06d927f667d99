"""`make run`: the twin plus the sync schedule in the foreground, on a fresh clone."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .config import SANDBOX
from .sandbox import control


def run_demo(root: Path, *, lines: int, every: str, max_cycles: int | None) -> None:
    from .scheduler import parse_every, schedule

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    info = control.up(root, lines=lines)
    click.echo(f"sandbox twin up: Komet {info['komet']['base_url']}  FTD {info['ftd']['base_url']}")
    click.echo(
        f"runs land in {root / 'runs' / SANDBOX}/<date>/ ; index: {root / 'runs' / 'index.html'}"
    )
    click.echo("first cycle now, then every " + every + " (Ctrl-C stops the schedule and the twin)")
    try:
        schedule(SANDBOX, parse_every(every), root, max_cycles=max_cycles)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        control.down(root)
        click.echo("sandbox twin stopped")

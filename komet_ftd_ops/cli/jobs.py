"""`komet-ftd-ops demo` (what `make run` does) and `quota` (a day of cycles against the quota)."""

from __future__ import annotations

import click

from ..offers.quota import plan_quota
from ..settings.profiles import load_profile
from ..state.calls import CallCounter
from .home import kit_home


@click.command()
@click.option("--profile", default="sandbox", show_default=True)
@click.option("--lines", type=int, default=None, help="Inventory lines (default: the last read).")
def quota(profile: str, lines: int | None) -> None:
    """What a day of cycles costs against Komet's daily quota, and today's spend.

    Example: komet-ftd-ops quota --profile acme --lines 20000
    """
    home = kit_home()
    prof = load_profile(profile, home)
    with home.open_store() as store:
        known = store.get(prof.name, "inventory.last_total")
        plan = plan_quota(prof, lines or known or 500)
        spent = CallCounter(store).today()
    click.echo(plan.describe())
    click.echo(f"spent today (UTC): {spent} of {plan.daily_quota}")
    if plan.warning:
        click.echo(f"WARNING: {plan.warning}")


@click.command()
@click.option(
    "--lines", type=int, default=300, show_default=True, help="Inventory lines the twin seeds."
)
@click.option("--every", default="5m", show_default=True, help="Cycle interval.")
@click.option(
    "--max-cycles",
    "max_ticks",
    type=int,
    default=None,
    help="Stop after N cycles (default: run until Ctrl-C).",
)
def demo(lines: int, every: str, max_ticks: int | None) -> None:
    """What `make run` does: start the twin, then the sync schedule in the foreground.

    The first cycle runs at once; Ctrl-C stops the schedule and the twin cleanly.

    Example: komet-ftd-ops demo --every 1m
    """
    from ..runs.demo import run_demo

    run_demo(kit_home(), lines=lines, every=every, max_ticks=max_ticks)

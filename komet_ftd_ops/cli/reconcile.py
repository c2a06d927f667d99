"""`komet-ftd-ops reconcile` and `health`: thin commands over the library.

Exit codes: `reconcile` exits 1 when problems exceed `--max-problems`, and with the runner's
codes when the notebook run itself did not finish (65/75/78/124; 75 too when it was skipped
because another run held the profile's lock); `health` exits 2 (CRITICAL, as a Nagios plugin)
with one line saying why.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import KometFtdOpsError
from ..runs import index as run_index
from ..runs import runner
from ..settings.home import Home
from ..settings.profiles import load_profile
from .home import kit_home

if TYPE_CHECKING:
    from ..ftd.models import FtdOrder
    from ..runs.health import HealthRules

RECONCILE_DEADLINE_S = 900.0  # a month of ship dates reads ~10 Komet pages; leave room


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@click.command()
@click.option("--profile", required=True, help="Profile name (profiles/<name>.toml).")
@click.option("--from", "date_from", required=True, callback=_day, help="First ship date.")
@click.option("--to", "date_to", required=True, callback=_day, help="Last ship date.")
@click.option(
    "--xlsx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Workbook to write [reports/<profile>/reconcile-<from>-to-<to>.xlsx].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts per category as JSON.")
@click.option(
    "--max-problems",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Exit 1 when more problems than this are found.",
)
@click.option(
    "--pending-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="An invoice awaiting confirmation longer than this is a problem.",
)
@click.option("--no-ftd", is_flag=True, help="Do not ask FTD; use the ledger's view of it.")
def reconcile(
    profile: str,
    date_from: str,
    date_to: str,
    xlsx: Path | None,
    as_json: bool,
    max_problems: int,
    pending_hours: float,
    no_ftd: bool,
) -> None:
    """FTD orders against Komet invoices for a range of ship dates, with an Excel report.

    Runs notebooks/reconcile.ipynb (recorded in runs/ and the run index), writes the workbook
    and prints the count per category: matched, missing_invoice, unexpected_invoice, mismatch,
    unreadable, pending_too_long, voided, rejected_lines. Exit 1 when problems exceed
    --max-problems.

    Example: komet-ftd-ops reconcile --profile sandbox --from 2026-11-01 --to 2026-11-30 --json
    """
    from ..reconcile import CATEGORIES, PROBLEMS, default_workbook

    if date_from > date_to:
        raise click.BadParameter(f"--from {date_from} is after --to {date_to}")
    home = kit_home()
    workbook = (xlsx or default_workbook(home, profile, date_from, date_to)).resolve()
    record = runner.run_kind(
        "reconcile",
        profile,
        home=home,
        parameters={
            "date_from": date_from,
            "date_to": date_to,
            "workbook": str(workbook),
            "pending_hours": pending_hours,
            "ask_ftd": not no_ftd,
        },
        deadline_s=RECONCILE_DEADLINE_S,
    )
    if record.status != run_index.OK:
        detail = record.reason or record.status
        click.echo(f"reconcile run {record.id} {record.status}: {detail}", err=True)
        if record.notebook:
            click.echo(f"see {record.notebook}", err=True)
        # A skipped run (another run held the profile's lock) is worth retrying: 75.
        sys.exit(runner.exit_code_for_run(record) or runner.EXIT_TEMPFAIL)
    counts = {c: int(record.counters.get(c, 0)) for c in CATEGORIES}
    problems = sum(counts[c] for c in PROBLEMS)
    if as_json:
        out = {**counts, "problems": problems, "workbook": str(workbook), "run_id": record.id,
               "notebook": str(record.notebook) if record.notebook else None}  # fmt: skip
        click.echo(json.dumps(out, indent=2))
    else:
        for category, n in counts.items():
            mark = " *" if category in PROBLEMS and n else ""
            click.echo(f"{category:<20} {n:>6}{mark}")
        click.echo(f"workbook: {workbook}")
        click.echo(f"notebook: {record.notebook}")
    if problems > max_problems:
        click.echo(f"{problems} problem(s), more than --max-problems {max_problems}", err=True)
        sys.exit(1)


@click.command()
@click.option("--profile", default=None, help="Profile name (profiles/<name>.toml).")
@click.option("--all", "all_profiles", is_flag=True,
              help="Every profile of the home: one line each, failing ones first.")  # fmt: skip
@click.option("--max-silence-min", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Critical when no sync succeeded in this many minutes.")  # fmt: skip
@click.option("--max-failures", type=click.IntRange(min=1), default=3, show_default=True,
              help="Critical when this many sync cycles failed in a row.")  # fmt: skip
@click.option("--max-new-min", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Critical when an FTD order stays NEW longer than this.")  # fmt: skip
@click.option("--max-problems", type=click.IntRange(min=0), default=0, show_default=True,
              help="Critical when the last reconciliation found more problems.")  # fmt: skip
@click.option("--ask-ftd", is_flag=True, help="Also list FTD's NEW orders (one FTD call).")
@click.option("--json", "as_json", is_flag=True, help="Every check as JSON (still one exit code).")
def health(
    profile: str | None,
    all_profiles: bool,
    max_silence_min: float,
    max_failures: int,
    max_new_min: float,
    max_problems: int,
    ask_ftd: bool,
    as_json: bool,
) -> None:
    """One line for monitoring: "ok: ..." (exit 0) or "critical: <why>" (exit 2).

    Critical when no sync succeeded in --max-silence-min minutes, --max-failures cycles failed
    in a row, an FTD order stays NEW longer than --max-new-min minutes, or the last
    reconciliation found more than --max-problems problems. Reads the state database only
    (never Komet), so it costs no quota; --ask-ftd adds FTD's own list of NEW orders.

    With --all, one line per profile of the home (every check, failing ones first), the
    failing profiles first; the exit code is the worst of them; --json lists them all.

    \b
    Example:
      komet-ftd-ops health --profile acme --max-silence-min 20
      komet-ftd-ops health --all --json
    """
    from ..errors import StateDamaged
    from ..runs.alerts import alert_on_health_change
    from ..runs.health import EXIT_CRITICAL, HealthRules, check_health, state_damaged

    if all_profiles == (profile is not None):
        raise click.UsageError("give either --profile NAME or --all.")
    home = kit_home()
    rules = HealthRules(max_silence_min, max_failures, max_new_min, max_problems)
    if profile is None:
        _health_all(home, rules, ask_ftd, as_json)
        return
    try:
        store = home.open_store()
    except StateDamaged as exc:  # a damaged database is a critical health, exit 2 like the rest
        result = state_damaged(profile, exc)
        click.echo(json.dumps(result.to_json(), indent=2) if as_json else result.line())
        sys.exit(EXIT_CRITICAL)
    with store:
        ftd_new = _ftd_new_orders(profile, home) if ask_ftd else None
        if isinstance(ftd_new, str):
            click.echo(f"critical: {profile}: {ftd_new}")
            sys.exit(EXIT_CRITICAL)
        result = check_health(store, profile, rules=rules, ftd_new=ftd_new)
        # under any scheduler, `health` too tells the profile's [alerts] targets of a change
        alert_on_health_change(store, home, profile, health=result)
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else result.line())
    if not result.ok:
        sys.exit(EXIT_CRITICAL)


def _health_all(home: Home, rules: HealthRules, ask_ftd: bool, as_json: bool) -> None:
    """`health --all`: every profile's line (or JSON), the exit code the worst of them."""
    from ..errors import StateDamaged
    from ..runs.alerts import alert_on_health_change
    from ..runs.health import EXIT_CRITICAL, Check, Health, check_all, state_damaged
    from ..settings.profiles import profile_names

    profiles = profile_names(home)
    if not profiles:
        click.echo(f"critical: no profiles under {home.profiles_dir}")
        sys.exit(EXIT_CRITICAL)
    try:
        store = home.open_store()
    except StateDamaged as exc:
        results = [state_damaged(p, exc) for p in profiles]
    else:
        with store:
            unasked: dict[str, str] = {}
            ftd_new: dict[str, list[FtdOrder]] = {}
            for name in profiles if ask_ftd else ():
                found = _ftd_new_orders(name, home)
                if isinstance(found, str):
                    unasked[name] = found
                else:
                    ftd_new[name] = found
            results = [
                Health(h.profile, [*h.checks, Check("ftd", False, unasked[h.profile])])
                if h.profile in unasked
                else h
                for h in check_all(store, profiles, rules=rules, ftd_new=ftd_new)
            ]
            results.sort(key=lambda h: (h.ok, h.profile))
            for result in results:
                alert_on_health_change(store, home, result.profile, health=result)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for result in results:
            click.echo(result.full_line())
    if not all(r.ok for r in results):
        sys.exit(EXIT_CRITICAL)


def _ftd_new_orders(profile: str, home: Home) -> list[FtdOrder] | str:
    """FTD's NEW orders, or one line saying why FTD could not be asked."""
    from ..connect import ftd_client

    try:
        with ftd_client(load_profile(profile, home), home=home) as ftd:
            return list(ftd.fetch_orders(status="NEW").orders)
    except KometFtdOpsError as exc:
        return f"cannot list FTD's NEW orders: {type(exc).__name__}: {exc}"

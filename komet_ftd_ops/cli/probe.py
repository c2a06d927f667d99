"""`komet-ftd-ops probe`: what a live Komet account does where Komet's pages are silent."""

from __future__ import annotations

import json

import click

from .home import kit_home


@click.command()
@click.option(
    "--profile", "profile_name", required=True, help="Profile to probe (sandbox: the twin)."
)
@click.option(
    "--writes",
    is_flag=True,
    help="Also create one test web order (1 box of a cheap line), read it back, delete it. "
    "It is never checked out.",
)
@click.option("--no-record", is_flag=True, help="Print only; leave the profile file as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def probe(profile_name: str, writes: bool, no_record: bool, as_json: bool) -> None:
    """Observe the Komet switches a safe call can show, and record them in the profile.

    Prints each switch of `sandbox set` as observed, unknown (asked, not told), assumed (not
    observable: the hardest reading, or what the profile already says) or documented, and
    writes the observed values to the profile's [komet.switches] table (nothing else in the
    file changes). Reads cost a handful of the day's Komet calls; --writes adds about eight.

    \b
    Example:
      komet-ftd-ops probe --profile acme
      komet-ftd-ops probe --profile acme --writes
    """
    from ..connect import komet_client
    from ..errors import TransportError
    from ..onboarding.conformance import probe as run_probe
    from ..onboarding.conformance import record_switches
    from ..settings.profiles import load_profile

    home = kit_home()
    profile = load_profile(profile_name, home)
    with home.open_store() as store, komet_client(profile, store, home=home) as komet:
        result = run_probe(komet, profile, writes=writes)
    if result.unreachable is not None and not result.observed():
        raise result.unreachable  # nothing learnt: one line, exit 75 (Komet down) or 78
    path = home.profile_path(profile.name)
    recorded = False if no_record else record_switches(path, result.observed())
    if as_json:
        click.echo(json.dumps({**result.to_json(), "recorded_in": str(path) if recorded else None}))
    else:
        click.echo(result.table())
        if result.unreachable is not None:
            click.echo(f"stopped early: {result.unreachable.message}")
        where = f"recorded in {path} [komet.switches]" if recorded else "nothing recorded"
        click.echo(f"{len(result.observed())} switch(es) observed; {where}")
    for problem in result.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if result.problems:
        raise SystemExit(78)  # a test web order was left behind: a person must delete it
    if isinstance(result.unreachable, TransportError):
        raise SystemExit(75)

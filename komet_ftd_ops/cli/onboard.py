"""`komet-ftd-ops onboard`: the onboarding notebook's checks, headless. One call: `onboard()`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..onboarding.customers_xlsx import MAX_EXPORT_MB, MAX_EXPORT_ROWS
from ..runs.runner import EXIT_CONFIG, EXIT_TEMPFAIL
from .home import kit_home

# CLI option → onboarding value name (non-secret values, and secret *references*).
VALUE_OPTIONS = (
    ("--ftd-customer-id", "ftd_customer_id", "FTD's customer ID in Komet (else: found)."),
    ("--company-id", "company_id", "Komet's Company ID (sent as X-ACCOUNT)."),
    ("--komet-base-url", "komet_base_url", "Komet API base URL."),
    ("--location-id", "location_id", "companyLocationId (multi-location companies only)."),
    ("--carrier-id", "carrier_id", "Default carrier (else: FTD's first carrier)."),
    ("--ship-to-id", "ship_to_id", "Default ship-to (else: FTD's first ship-to)."),
    (
        "--missing-ship-to",
        "missing_ship_to",
        "A florist with no ship-to in Komet and no Company token: park (for the sales rep) "
        "or default (send to the default ship-to).",
    ),
    ("--paid-users", "paid_users", "Paid Komet users: the daily quota is 1,000 per user."),
    ("--ftd-base-url", "ftd_base_url", "FTD marketplace API base URL."),
    ("--ftd-supplier-id", "ftd_supplier_id", "Your supplier ID at FTD."),
    ("--ftd-token-ref", "ftd_token_ref", "Reference to the FTD token (env:VAR, file:KEY)."),
)


def _value_options(func: click.decorators.FC) -> click.decorators.FC:
    for flag, name, help_text in reversed(VALUE_OPTIONS):
        func = click.option(flag, name, default=None, help=help_text)(func)
    return func


@click.command()
@click.option("--profile", "profile", required=True, help="Profile to onboard (sandbox: the twin).")
@click.option(
    "--customers-xlsx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Komet's customer export (Setup > Customers > Export to Excel).",
)
@click.option(
    "--max-export-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=MAX_EXPORT_MB,
    show_default=True,
    help="Refuse a customer export larger than this (filter it in Komet, or raise this).",
)
@click.option(
    "--max-export-rows",
    type=click.IntRange(min=1),
    default=MAX_EXPORT_ROWS,
    show_default=True,
    help="Refuse a customer export with more rows than this (all sheets together).",
)
@click.option("--token-ref", default="", help="Where the Customer token is: env:VAR, file:KEY.")
@click.option("--company-token-ref", default="", help="A Company token's reference: customer.list.")
@click.option(
    "--check-writes", is_flag=True, help="Also check writes: creates a test web order, deletes it."
)
@click.option("--no-write", is_flag=True, help="Check only: write no profile, sheet or preflight.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@_value_options
def onboard(
    profile: str,
    customers_xlsx: Path | None,
    max_export_mb: float,
    max_export_rows: int,
    token_ref: str,
    company_token_ref: str,
    check_writes: bool,
    no_write: bool,
    as_json: bool,
    **values: str | None,
) -> None:
    """Check the FTD token, find FTD's customer ID, write the profile, hand-off and preflight.

    Tokens are given by reference only (env:VAR, file:KEY in secrets.toml, sandbox:...); the
    token itself is never printed. Exits 78 when the preflight fails (75 when only the
    network failed it and the last passing preflight was kept: try again).

    \b
    Examples:
      komet-ftd-ops onboard --profile sandbox --check-writes --json
      komet-ftd-ops onboard --profile acme --company-id 4024 \\
          --token-ref env:KOMET_FTD_TOKEN --customers-xlsx ~/Downloads/Customers.xlsx
    """
    # Imported here: onboarding's client and session are no part of `run sync`'s CLI process.
    from ..onboarding import onboard as run_onboarding
    from ..onboarding import result_lines

    result = run_onboarding(
        profile,
        home=kit_home(),
        token_ref=token_ref,
        company_token_ref=company_token_ref,
        customers_xlsx=customers_xlsx,
        max_export_mb=max_export_mb,
        max_export_rows=max_export_rows,
        check_writes=check_writes,
        values={k: v for k, v in values.items() if v not in (None, "")},
        write=not no_write,
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        click.echo("\n".join(result_lines(result)))
    if not result.passed:  # 75 when only the network failed and the passing preflight was kept
        raise SystemExit(EXIT_TEMPFAIL if result.kept_preflight else EXIT_CONFIG)

"""`komet-ftd-ops sandbox ...`: start, stop and steer the twin of Komet and FTD."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ..errors import ConfigError
from ..komet.switches import SWITCHES
from ..sandbox.tenants import MAX_WHOLESALERS
from .home import kit_home
from .lazy import LazyChoice

if TYPE_CHECKING:
    from types import ModuleType

    from ..sandbox.control import SandboxControl

# The twin's modules load aiohttp and the twin's servers: imported by the commands that use them,
# so that `run sync` and `--help` do not pay for them (the choices below are read when needed).
KINDS = LazyChoice("komet_ftd_ops.sandbox.faults", "KINDS")
TAMPER_KINDS = LazyChoice("komet_ftd_ops.sandbox.komet.tamper", "KINDS")


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"komet_ftd_ops.sandbox.{name}")


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _control() -> SandboxControl:
    return _module("control").SandboxControl.for_home(kit_home())


def _one(info: dict[str, Any], wholesaler: int) -> dict[str, Any]:
    """Wholesaler K's part of info.json; one clear line when the twin serves fewer."""
    try:
        return _module("control").wholesaler(info, wholesaler)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


# Which wholesaler a command acts on, in a twin serving several (`up --wholesalers N`).
_wholesaler = click.option(
    "--wholesaler",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="K",
    help="Which wholesaler of the twin (profile sandbox, sandbox-2, ...).",
)


def _warn_active_faults(info: dict[str, Any]) -> None:
    for line in _module("control").active_faults_warning(
        info
    ):  # shared with `make run` (runs/demo.py)
        click.echo(line, err=True)


@click.group()
def sandbox() -> None:
    """The twin of Komet and FTD: real HTTP servers on 127.0.0.1.

    \b
    Example:
      komet-ftd-ops sandbox up --lines 2000 --seed 7
      komet-ftd-ops sandbox shop --orders 5
      komet-ftd-ops sandbox down
    """


@sandbox.command()
@click.option("--komet-port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--ftd-port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--lines", type=int, default=300, show_default=True, help="Inventory lines to seed.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the catalogue.")
@click.option(
    "--ftd-max-body",
    type=click.IntRange(min=1),
    default=5_000_000,
    show_default=True,
    metavar="BYTES",
    help="FTD's request body limit (413 above it); the sandbox profile follows it.",
)
@click.option(
    "--wholesalers",
    type=click.IntRange(1, MAX_WHOLESALERS),
    default=1,
    show_default=True,
    help="Wholesalers served side by side (a Komet company and an FTD supplier each, "
    "--lines each); profiles sandbox, sandbox-2, ... point at them.",
)
@click.option(
    "--onboard",
    is_flag=True,
    help="Onboard each wholesaler's profile whose preflight has not passed (as `make run` "
    "does for sandbox), so `schedule` runs them.",
)
def up(
    komet_port: int,
    ftd_port: int,
    lines: int,
    seed: int,
    ftd_max_body: int,
    wholesalers: int,
    onboard: bool,
) -> None:
    """Start both twins in the background; returns once they answer.

    \b
    Example:
      komet-ftd-ops sandbox up --lines 20000
      komet-ftd-ops sandbox up --ftd-max-body 20000   # full feeds go out in many parts
      komet-ftd-ops sandbox up --wholesalers 3 --onboard   # profiles sandbox, sandbox-2, sandbox-3
    """
    home = kit_home()
    info = _module("control").up(
        home,
        komet_port=komet_port,
        ftd_port=ftd_port,
        lines=lines,
        seed=seed,
        ftd_max_body=ftd_max_body,
        wholesalers=wholesalers,
        timeout=60 + wholesalers * lines / 1000,  # seeding on a first start: ~0.1 s per 1,000 lines
    )
    click.echo(f"komet twin: {info['komet']['base_url']}")
    click.echo(f"ftd twin:   {info['ftd']['base_url']}")
    names = _module("profiles").write_profiles(home, info)
    if wholesalers > 1:
        click.echo(f"wholesalers: {wholesalers} (profiles {', '.join(names)})")
    if onboard:
        for name, outcome in _module("profiles").onboard(home, names).items():
            click.echo(f"onboarding of {name}: {outcome}")
    _warn_active_faults(info)


@sandbox.command()
def down() -> None:
    """Stop the twin (its state stays in sandbox/twin.sqlite3).

    Example: komet-ftd-ops sandbox down
    """
    click.echo("stopped" if _module("control").down(kit_home()) else "not running")


@sandbox.command()
def status() -> None:
    """Is the twin running, and where; the active faults, if any, on stderr.

    Example: komet-ftd-ops sandbox status
    """
    info = _module("control").read_info(kit_home())
    if info is None:
        click.echo("not running")
        raise SystemExit(1)
    click.echo(
        f"running (pid {info['pid']}): komet {info['komet']['base_url']}, ftd {info['ftd']['base_url']}"
    )
    _warn_active_faults(info)


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_wholesaler
def info(as_json: bool, wholesaler: int) -> None:
    """Base URLs, ids and the sandbox tokens (sandbox tokens only: they guard nothing real).

    Example: komet-ftd-ops sandbox info --json --wholesaler 2
    """
    running = _module("control").read_info(kit_home())
    if running is None:
        raise click.ClickException(
            "the twin is not running; start it with `komet-ftd-ops sandbox up`."
        )
    data = _one(running, wholesaler)
    keep = {
        "komet": {
            k: data["komet"][k] for k in ("base_url", "company_id", "ftd_customer_id", "tokens")
        },
        "ftd": {k: data["ftd"][k] for k in ("base_url", "supplier_id", "token")},
    }
    if as_json:
        _echo_json(keep)
    else:
        for service, values in keep.items():
            for key, value in values.items():
                click.echo(f"{service}.{key}: {value}")


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default).")
@_wholesaler
def dump(as_json: bool, wholesaler: int) -> None:
    """The state of both twins: web orders, invoices, calls today, FTD orders and offers
    (of one wholesaler: its Komet company and its FTD supplier).

    Example: komet-ftd-ops sandbox dump --json --wholesaler 2 | jq '.komet.invoices | length'
    """
    _echo_json(_control().dump(wholesaler))


@sandbox.command(name="export-customers")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it [default: <home>/sandbox/customers.xlsx].",
)
@_wholesaler
def export_customers(out: Path | None, wholesaler: int) -> None:
    """The twin's customers as Komet's customer export (.xlsx), to rehearse onboarding with.

    Prints the file's path; give it to `onboard --customers-xlsx`.

    \b
    Example:
      komet-ftd-ops sandbox export-customers --out ~/Customers.xlsx
      komet-ftd-ops onboard --profile sandbox --customers-xlsx ~/Customers.xlsx
    """
    from ..sandbox.customers_export import export_customers as write_export

    click.echo(str(write_export(kit_home(), out.expanduser() if out else None, wholesaler)))


@sandbox.command()
@click.option("--orders", type=int, required=True, help="How many florists check out.")
@click.option(
    "--oversell", type=float, default=0.0, help="Share of orders buying stock Komet no longer has."
)
@click.option(
    "--late", type=float, default=0.0, help="Share of orders asking to ship today (past cutoff)."
)
@click.option(
    "--outside-window",
    type=float,
    default=0.0,
    help="Share of orders with a line whose offer is not available on the ship date.",
)
@click.option("--seed", type=int, default=None, help="Seed for a repeatable shopping spree.")
@_wholesaler
def shop(
    orders: int,
    oversell: float,
    late: float,
    outside_window: float,
    seed: int | None,
    wholesaler: int,
) -> None:
    """Florists check out offers listed on FTD: regular florists (some known to Komet, some
    new) and now and then a one-off shop; from one wholesaler's supplier listing.

    Example: komet-ftd-ops sandbox shop --orders 10 --oversell 0.2 --late 0.1
    """
    result = _control().shop(
        orders, oversell, seed, late=late, outside_window=outside_window, wholesaler=wholesaler
    )
    _echo_json(result)


@sandbox.command()
@click.option("--all", "all_", is_flag=True, help="Confirm every pending invoice.")
@click.option("--invoice", "invoice_id", default=None, help="Confirm one invoice by id.")
@_wholesaler
def confirm(all_: bool, invoice_id: str | None, wholesaler: int) -> None:
    """The sales rep confirms invoices in Komet; prints the ids confirmed (why none, on stderr).

    Example: komet-ftd-ops sandbox confirm --all
    """
    if all_ == bool(invoice_id):
        raise click.UsageError("give exactly one of --all or --invoice ID")
    result = _control().confirm(invoice_id, wholesaler)
    note = result.pop("note", None)
    _echo_json(result)
    if note:
        click.echo(note, err=True)


@sandbox.command()
@click.option("--kind", type=TAMPER_KINDS, required=True)
@click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option(
    "--age-hours", type=float, default=None, help="never-confirm: how old they look [72]."
)
@click.option("--json", "as_json", is_flag=True, help="Print the twin's JSON answer.")
@_wholesaler
def tamper(kind: str, count: int, age_hours: float | None, as_json: bool, wholesaler: int) -> None:
    """Change Komet behind the kit's back, as people do; prints the invoices changed.

    Each tamper picks invoices no earlier tamper touched. never-confirm invoices are skipped
    by `confirm --all` and look AGE_HOURS old. Exit 1 when there was nothing left to change.

    Example: komet-ftd-ops sandbox tamper --kind void-invoice --count 2
    """
    result = _control().tamper(kind, count, age_hours, wholesaler=wholesaler)
    if as_json:
        _echo_json(result)
    else:
        for c in result["changed"]:
            click.echo(
                f"invoice {c['invoice_id']} (no. {c['number']}, PO {c['customer_po'] or '-'}, "
                f"ship {c['ship_date']}): {c['detail']}"
            )
    if not result["changed"]:
        click.echo(f"{kind}: no untouched invoice left to change", err=True)
        raise SystemExit(1)


def _time_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not a time zone name (e.g. America/New_York)"
        ) from None
    return value


def _switch_options(command: Any) -> Any:
    """One `--<name-with-dashes>` option per switch of komet/switches.py, its values as choices."""
    for switch in reversed(list(SWITCHES.values())):
        command = click.option(
            f"--{switch.name.replace('_', '-')}",
            switch.name,
            type=click.Choice(switch.values),
            default=None,
            help=f"{switch.question} [twin default: {switch.default}]",
        )(command)
    return command


@sandbox.command(name="set")
@click.option("--autoconfirm", type=click.Choice(["on", "off"]), default=None)
@click.option("--json-style", type=click.Choice(["strings", "numbers"]), default=None)
@click.option("--quota", type=click.IntRange(min=0), default=None, help="Komet's daily limit.")
@click.option("--detail-box-limit", type=click.IntRange(min=0), default=None)
@click.option("--multi-location", type=click.Choice(["on", "off"]), default=None)
@click.option(
    "--company-tz",
    default=None,
    callback=lambda ctx, param, value: _time_zone(value),
    help="The company's time zone (quota-window company_tz), e.g. America/New_York.",
)
@click.option(
    "--late-write-delay",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds until a write the client gave up on lands (late-writes later).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--wholesaler",
    type=click.IntRange(min=1),
    default=None,
    metavar="K",
    help="Change one wholesaler's company only [default: every wholesaler; shown: the first].",
)
@_switch_options
def set_(as_json: bool, wholesaler: int | None, **options: Any) -> None:
    """Show (no option) or change the Komet twin's settings and switches.

    Every switch of komet/switches.py is an option, its name with dashes; without options
    every setting and switch is printed with its value. The twin keeps them per company: a
    change goes to every wholesaler it serves, or to one with --wholesaler.

    \b
    Example:
      komet-ftd-ops sandbox set
      komet-ftd-ops sandbox set --invoice-exists checkout --link-fields both
      komet-ftd-ops sandbox set --autoconfirm on --json-style numbers
      komet-ftd-ops sandbox set --wholesaler 2 --quota 50
    """
    values: dict[str, object] = {k: v for k, v in options.items() if v is not None}
    for flag in ("autoconfirm", "multi_location"):
        if flag in values:
            values[flag] = values[flag] == "on"
    ctl = _control()
    count = _module("control").wholesaler_count(ctl.info)
    if wholesaler is not None and wholesaler > count:
        raise click.UsageError(f"--wholesaler: this twin serves wholesalers 1..{count}")
    targets = [wholesaler] if wholesaler else list(range(count, 0, -1))  # the first last
    if values:
        for number in targets:
            current = ctl.settings("komet", wholesaler=number, **values)
    else:
        current = ctl.call("komet", "GET", "settings", wholesaler=targets[-1])
    if as_json:
        _echo_json(current)
        return
    width = max(len(k) for k in current)
    for key, value in current.items():
        shown = json.dumps(value) if isinstance(value, bool) else value
        click.echo(f"{key.replace('_', '-'):<{width}}  {shown}")


@sandbox.command()
@click.option(
    "--sell-elsewhere", type=float, required=True, help="Share of boxes other channels take."
)
@_wholesaler
def stock(sell_elsewhere: float, wholesaler: int) -> None:
    """Other sales channels take a share of one wholesaler's open-market stock.

    Example: komet-ftd-ops sandbox stock --sell-elsewhere 0.3
    """
    _echo_json(_control().stock(sell_elsewhere, wholesaler))


@sandbox.command()
@click.option("--service", type=click.Choice(["komet", "ftd"]), default=None)
@click.option("--kind", type=KINDS, default=None)
@click.option("--method", default=None, help="Only this method (Komet name or FTD route name).")
@click.option("--rate", type=float, default=1.0, show_default=True)
@click.option("--ms", type=int, default=0, help="Latency or hang length in ms.")
@click.option("--clear", is_flag=True, help="Switch every fault off.")
def faults(
    service: str | None, kind: str | None, method: str | None, rate: float, ms: int, clear: bool
) -> None:
    """Inject faults: latency, errors, hangs, resets, drops after commit, rate limits, sequence gaps.

    Faults are the twin's: they strike every wholesaler it serves alike.
    Without --service and --kind, lists the active faults. A --method the twin does not serve
    is refused (exit 2), as a fault that never strikes would make a fault test a happy-path one.

    \b
    Example:
      komet-ftd-ops sandbox faults --service komet --kind drop-after-commit --method web-order-item.add --rate 0.2
      komet-ftd-ops sandbox faults --service ftd --kind error --method orders.acknowledge
      komet-ftd-ops sandbox faults --clear
    """
    if (kind or method) and not clear:
        if not service or not kind:
            raise click.UsageError("to add a fault give both --service and --kind")
        try:  # refused here, before the twin is asked: a usage error, like an unknown --kind
            _module("faults").check(
                _module("faults").Fault(service, kind, method or None, rate, ms)
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    ctl = _control()
    if clear:
        ctl.clear_faults()
        click.echo("faults cleared")
        return
    if not service or not kind:
        _echo_json(ctl.faults())
        return
    _echo_json(ctl.add_fault(service, kind, method, rate, ms))


@sandbox.command()
@click.option("--profile", default="sandbox", show_default=True)
@click.option(
    "--final", is_flag=True, help="Nothing may still be on its way (after the last cycle)."
)
def check(profile: str, final: bool) -> None:
    """Check the exactly-once invariants: every FTD order has exactly one Komet web order with
    exactly its lines, or is rejected or parked with a reason; FTD's acknowledgements agree.

    Exits 1 and lists what is broken (BROKEN), and orders held for a person or stuck (HELD).

    Example: komet-ftd-ops sandbox check --final
    """
    from ..settings.profiles import load_profile
    from ..testing.invariants import held_or_stuck, violations

    home = kit_home()
    prof = load_profile(profile, home)
    ctl = _control()
    state = ctl.dump(_module("control").wholesaler_of(ctl.info, prof.komet_company_id))
    with home.open_store() as store:
        problems = violations(
            store, prof.name, state["komet"], state["ftd"], prof.ftd_customer_id, final=final
        )
        held = held_or_stuck(store, prof.name)  # not broken, but never "ok" over them
    orders = len(state["ftd"]["orders"])
    if problems or held:
        for line in problems:
            click.echo(f"BROKEN: {line}")
        for line in held:
            click.echo(f"HELD: {line}")
        raise SystemExit(1)
    click.echo(
        f"ok: {orders} FTD orders, each exactly once in Komet (or rejected/parked with a reason)"
    )

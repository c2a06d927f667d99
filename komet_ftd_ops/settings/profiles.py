"""Profiles: a TOML file under `<home>/profiles/<name>.toml` per Komet account.

A profile names base URLs, ids and defaults, and holds only *references* to secrets (see
`settings.secrets`). The built-in `sandbox` profile needs no file: it points at the running twin.

Every value is checked by type and range on load (pydantic, with the kinds of value in
`settings.values`, the file's shape in `settings.profile_file`); a bad one is one `ConfigError`
line naming the file and the key. The rules stay plain frozen dataclasses, so the rest of the
kit reads attributes and `dataclasses.replace` works as before (a replaced value is not
re-checked: that is for tests and benchmarks).

A profile that passed its checks is kept, as JSON, in `<home>/cache/profiles/<name>.json`
under the digest of everything its checks read: the file's bytes (and the twin's `info.json`
for `sandbox`) and the checks' own code. `load_profile` returns the kept profile while that
digest still matches, so a run's three processes (the command, papermill's child, the kernel)
do not each import pydantic and build its schemas, about 0.1 s of CPU apiece, to check a file
that has not changed. Any change to the file, the twin or the kit's checks is checked afresh;
a file that fails is never kept. The kept profile holds what the file holds: secret
*references*, never their values.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from .home import Home
from .secrets import check_secret_ref
from .values import (
    Bool,
    Count,
    Currency,
    DeadlineSeconds,
    EveryMinutes,
    Name,
    Percent,
    PositiveInt,
    Rule,
    SecretRef,
    TimeoutSeconds,
)

if TYPE_CHECKING:
    from .profile_file import ProfileFile

SANDBOX = "sandbox"
FTD_MAX_BODY_BYTES = 5_000_000  # FTD's contract: 5 MB per request body
# A misspelt key is refused, never silently ignored. pydantic reads a dataclass's config from
# `__pydantic_config__` (what its `with_config` sets), so these classes need no pydantic import.
FORBID = {"extra": "forbid"}


@dataclass(frozen=True)
class SyncRules:
    __pydantic_config__ = FORBID
    markup_pct: Percent = 0.0
    min_boxes: Count = 1
    max_aging_days: Count | None = None
    exclude_categories: tuple[Name, ...] = ()
    exclude_colors: tuple[Name, ...] = ()
    safety_buffer_boxes: Count = 0
    # Boxes held back per offer for what other channels sell before the next read: this share
    # of (their recent boxes an hour x the time between reads); 0 holds none (offers/holdback.py).
    holdback_pct: Percent = 100.0
    heal_every_minutes: Count = 60  # 0: a full feed every cycle
    full_after_downtime_minutes: Count = 30
    every_minutes: EveryMinutes = 5
    deadline_seconds: DeadlineSeconds = 240
    order_reserve_pct: Percent = 25.0  # share of Komet's daily quota held back for orders
    # When the quota cannot read every line every cycle, lines FTD sold are read again at once
    # (inventory.get) every cycle for this long after the sale.
    sold_refresh_minutes: Count = 60
    # A full read (every line, any colour) at least this often once slices are read: it finds
    # the colours no slice asks for yet (new stock, lines with no colour).
    full_read_every_minutes: PositiveInt = 1440
    feed_status_timeout_seconds: TimeoutSeconds = 30.0
    currency: Currency = "USD"


@dataclass(frozen=True)
class OrderRules:
    __pydantic_config__ = FORBID
    price_tolerance_pct: Percent = 1.0
    accept_partial: Bool = False
    overlap_seconds: Count = 120
    # A Komet write whose answer was lost is re-sent only after this long, so a request still
    # running on Komet's side cannot land after the read-back and add a line twice.
    unknown_settle_seconds: Count = 60
    # How often invoices are read for the sales rep's confirmation; 0 = every cycle, so a
    # confirmation reaches FTD within one cycle (one invoice.list while orders await it).
    confirm_every_minutes: Count = 0
    max_orders_per_cycle: PositiveInt = (
        200  # the rest wait for the next cycle (shadow stock covers them)
    )
    # Orders in flight at once (worker threads; the store has one writer, orders/pipeline.py).
    # 1 moves them one at a time in the run's own thread, as before.
    concurrency: PositiveInt = 4
    # A buyer's cancellation of a checked-out order the sales rep has not confirmed yet:
    # true = `web-order.delete` voids it in Komet; false = it goes to the sales rep (as once
    # confirmed).
    delete_on_cancel: Bool = False


@dataclass(frozen=True)
class AlertRules:
    __pydantic_config__ = FORBID
    # Apprise URLs embed credentials (a mail password, a Slack token), so a profile lists
    # secret references (`env:NAME`, `file:KEY`) that resolve to them, never the URLs.
    targets: tuple[SecretRef, ...] = ()


INVENTORY_SOURCES = ("open_market", "reserved", "both")


def _hardest() -> dict[str, str]:
    # Imported here: komet/ imports this module (its config is built from a Profile).
    from ..komet.switches import hardest

    return hardest()


@dataclass(frozen=True)
class InventoryRules:
    __pydantic_config__ = FORBID
    # Which of Komet's inventory lines become FTD offers: the open market (lines reserved for
    # no customer), the lines Komet reserves for the FTD customer (`reservedInventory`,
    # Komet's own answer to stale marketplace stock), or both (two reads, no offer twice).
    source: Literal["open_market", "reserved", "both"] = "open_market"


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name (e.g. America/New_York)") from None
    return value


def _clock(value: str) -> str:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{value!r} is not a time of day HH:MM (e.g. 14:00)")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError(f"{value!r} is not a time of day HH:MM (e.g. 14:00)")
    return f"{int(hours):02d}:{minutes}"


@dataclass(frozen=True)
class ShippingRules:
    __pydantic_config__ = FORBID
    # The wholesaler's clock: an FTD order placed before `cutoff` (local time) ships the next
    # day at the earliest; after it, the day after (FTD's wholesale store: 2 pm Eastern).
    time_zone: Annotated[str, Rule(strict=True, after=_time_zone)] = "America/New_York"
    cutoff: Annotated[str, Rule(strict=True, after=_clock)] = "14:00"
    # An order past the cutoff for its ship date, or outside an offer's window: reject those
    # lines to FTD (PAST_CUTOFF, OUTSIDE_WINDOW), or ship the whole order on the next possible
    # date and tell FTD so (the acknowledgement's ship_date). Never shipped late in silence.
    late_rule: Literal["reject", "next_day"] = "reject"
    # A florist with no ship-to in Komet, and no Company token to create one: park the order
    # for the sales rep, or send it to komet.ship_to_id (the run names the florist).
    missing_ship_to: Literal["park", "default"] = "default"


@dataclass(frozen=True)
class Profile:
    name: str
    komet_base_url: str
    komet_company_id: str
    ftd_customer_id: str
    komet_token_ref: str
    ftd_base_url: str
    ftd_supplier_id: str
    ftd_token_ref: str
    komet_company_token_ref: str = ""
    ftd_max_body_bytes: int = FTD_MAX_BODY_BYTES  # [ftd] max_body_bytes
    komet_location_id: str = ""
    komet_paid_users: int = 1
    komet_quota_share_pct: float = 80.0  # [komet] quota_share_pct: the kit's share of the quota
    carrier_id: str = ""
    ship_to_id: str = ""
    timeout_seconds: float = 20.0
    sync: SyncRules = field(default_factory=SyncRules)
    orders: OrderRules = field(default_factory=OrderRules)
    alerts: AlertRules = field(default_factory=AlertRules)
    inventory: InventoryRules = field(default_factory=InventoryRules)
    shipping: ShippingRules = field(default_factory=ShippingRules)
    # What Komet does where its pages are silent (komet/switches.py): the profile's
    # [komet.switches] table (what `komet-ftd-ops probe` observed), every other name at its
    # hardest reading.
    komet_switches: dict[str, str] = field(default_factory=_hardest)
    # Komet's transaction fee on orders placed through web orders, percent of the lines.
    komet_fee_pct: float = 1.5

    @property
    def daily_quota(self) -> int:
        return 1000 * max(1, self.komet_paid_users)

    @property
    def komet_page_rows(self) -> int:
        """The `rows` the kit asks of inventory.list: the most this account serves (switch)."""
        return int(self.komet_switches["max_rows"])

    def secret_refs(self) -> dict[str, str]:
        refs = {"komet_token": self.komet_token_ref, "ftd_token": self.ftd_token_ref}
        if self.komet_company_token_ref:
            refs["komet_company_token"] = self.komet_company_token_ref
        return refs


def _switches(given: Mapping[str, Any]) -> dict[str, str]:
    """The [komet.switches] table checked against komet/switches.py; the rest at hardest."""
    from ..komet.switches import SWITCHES

    values = _hardest()
    for name, value in given.items():
        if name not in SWITCHES:
            known = ", ".join(SWITCHES)
            raise ConfigError(f"[komet.switches] {name}: unknown switch (known: {known})")
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str):
            raise ConfigError(f"[komet.switches] {name}: must be a string (in quotes)")
        if text not in SWITCHES[name].values:
            allowed = ", ".join(f'"{v}"' for v in SWITCHES[name].values)
            raise ConfigError(f'[komet.switches] {name} = "{text}": must be one of {allowed}')
        values[name] = text
    return values


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}]: must be a table")
    return value


def _missing(data: Mapping[str, Any], where: str) -> None:
    """Required values absent or empty, all named at once (what onboarding still has to ask)."""
    komet, ftd = _section(data, "komet", where), _section(data, "ftd", where)
    required = {
        "komet.base_url": komet.get("base_url"),
        "komet.company_id": komet.get("company_id"),
        "komet.ftd_customer_id": komet.get("ftd_customer_id"),
        "komet.token": komet.get("token"),
        "ftd.base_url": ftd.get("base_url"),
        "ftd.supplier_id": ftd.get("supplier_id"),
        "ftd.token": ftd.get("token"),
    }
    missing = [k for k, v in required.items() if v is None or v == ""]
    if missing:
        raise ConfigError(f"{where}: lacks {', '.join(missing)}.")


def profile_from_dict(name: str, data: Mapping[str, Any], source: str | None = None) -> Profile:
    """Check the profile's values and build it. `source` (the file) starts every error line."""
    from .profile_file import check_file  # pydantic: only for a profile not checked before

    where = source or f"profile {name!r}"
    _missing(data, where)
    checked = check_file(data, where)
    try:
        return _build(name, checked)
    except ConfigError as exc:  # a literal token: the message names the key, never the value
        raise ConfigError(f"{where}: {exc}") from None


def _build(name: str, checked: ProfileFile) -> Profile:
    komet, ftd = checked.komet, checked.ftd
    for i, ref in enumerate(checked.alerts.targets):
        check_secret_ref(ref, f"alerts.targets[{i}]")
    return Profile(
        name=name,
        komet_base_url=komet.base_url.rstrip("/") + "/",
        komet_company_id=komet.company_id,
        ftd_customer_id=komet.ftd_customer_id,
        komet_token_ref=check_secret_ref(komet.token, "komet.token"),
        komet_company_token_ref=(
            check_secret_ref(komet.company_token, "komet.company_token")
            if komet.company_token
            else ""
        ),
        komet_location_id=komet.location_id,
        komet_paid_users=komet.paid_users,
        komet_quota_share_pct=komet.quota_share_pct,
        carrier_id=komet.carrier_id,
        ship_to_id=komet.ship_to_id,
        timeout_seconds=komet.timeout_seconds,
        ftd_base_url=ftd.base_url.rstrip("/"),
        ftd_supplier_id=ftd.supplier_id,
        ftd_token_ref=check_secret_ref(ftd.token, "ftd.token"),
        ftd_max_body_bytes=ftd.max_body_bytes,
        sync=checked.sync,
        orders=checked.orders,
        alerts=checked.alerts,
        inventory=checked.inventory,
        shipping=checked.shipping,
        komet_switches=_switches(komet.switches),
        komet_fee_pct=komet.transaction_fee_pct,
    )


def sandbox_profile_dict(home: Home, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The built-in profile: whatever twin is running under this home (`info`: its info.json,
    read here when not given)."""
    info = home.read_sandbox_info() if info is None else info
    ftd: dict[str, Any] = {
        "base_url": info["ftd"]["base_url"],
        "supplier_id": info["ftd"]["supplier_id"],
        "token": "sandbox:ftd",
    }
    if "max_body_bytes" in info["ftd"]:  # a twin started with `sandbox up --ftd-max-body`
        ftd["max_body_bytes"] = info["ftd"]["max_body_bytes"]
    return {
        "komet": {
            "base_url": info["komet"]["base_url"],
            "company_id": info["komet"]["company_id"],
            "ftd_customer_id": info["komet"]["ftd_customer_id"],
            "token": "sandbox:komet.customer",
            "company_token": "sandbox:komet.company",
            "timeout_seconds": 5.0,
        },
        "ftd": ftd,
    }


def profile_names(home: Home) -> list[str]:
    """Every profile of the home, sorted: each profiles/*.toml, and the built-in `sandbox` while
    its twin runs (it needs no file). The one list `schedule --all`, `health --all`, the runs
    page and the Airflow DAGs all take."""
    names = set()
    if home.profiles_dir.is_dir():
        names = {p.stem for p in home.profiles_dir.glob("*.toml") if p.is_file()}
    if home.sandbox_info.exists():
        names.add(SANDBOX)
    return sorted(names)


def load_profile(name: str, home: Home) -> Profile:
    """Read `<home>/profiles/<name>.toml`; `sandbox` works without a file. A profile checked
    before, unchanged since, comes from the cache (module docstring)."""
    path = home.profile_path(name)
    text = _read(path)
    twin = _read(home.sandbox_info) if name == SANDBOX else None
    if text is None and name != SANDBOX:
        raise ConfigError(
            f"no profile {name!r}: expected {path}. Create it with `komet-ftd-ops onboard "
            f"--profile {name}` or copy profiles/example.toml."
        )
    kept = home.checked_profile_path(name)
    digest = _digest(name, text, twin)
    profile = _kept(kept, digest)
    if profile is None:
        profile = _check(name, home, path, text, twin)
        _keep(kept, digest, profile)
    return profile


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _check(name: str, home: Home, path: Path, text: bytes | None, twin: bytes | None) -> Profile:
    """The file (over the twin's values for `sandbox`) checked and built: `ConfigError` if not."""
    if twin is None and name == SANDBOX:
        home.read_sandbox_info()  # raises: the twin is not running
    base = sandbox_profile_dict(home, json.loads(twin)) if twin is not None else None
    if text is None:
        assert base is not None  # load_profile: a file, or the twin's info, or an error
        return profile_from_dict(name, base)
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if base is not None:
        data = _over_twin(base, data)
    return profile_from_dict(name, data, source=str(path))


# What decides whether a profile passes its checks, besides the file: this code and pydantic's.
_CHECKS = ("profiles.py", "profile_file.py", "values.py", "secrets.py", "../komet/switches.py")


@cache
def _checks_digest() -> bytes:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _CHECKS:
        digest.update((here / name).read_bytes())
    for package in ("pydantic", "pydantic_core"):  # an upgrade checks every profile again
        spec = find_spec(package)
        origin = os.stat(spec.origin) if spec and spec.origin else None
        digest.update(repr((package, origin and (origin.st_mtime_ns, origin.st_size))).encode())
    return digest.digest()


def _digest(name: str, text: bytes | None, twin: bytes | None) -> str:
    digest = hashlib.sha256(_checks_digest())
    for part in (name.encode(), text, twin):
        digest.update(b"-" if part is None else len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _kept(path: Path, digest: str) -> Profile | None:
    """The profile kept under `digest`, or None (none kept, another digest, unreadable)."""
    try:
        kept = json.loads(path.read_bytes())
        if kept.get("digest") != digest:
            return None
        return _thaw(Profile, kept["profile"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _keep(path: Path, digest: str, profile: Profile) -> None:
    """Keep a checked profile (atomically: a reader sees the old file or the new one). A home
    the kit may not write to keeps nothing: every load checks the file, as before."""
    body = json.dumps({"digest": digest, "profile": asdict(profile)}).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _thaw(cls: Any, data: Mapping[str, Any]) -> Any:
    """A dataclass from its `asdict` JSON: nested rules rebuilt, lists back to tuples."""
    values = {}
    for f in fields(cls):
        value = data[f.name]
        if is_dataclass(f.default_factory):
            value = _thaw(f.default_factory, value)
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def _over_twin(base: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The sandbox file's tables laid over the twin's; a value that is not a table is left for
    the checks to name."""
    merged: dict[str, Any] = {**base, **data}
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = {**base[key], **value}
    return merged


def with_rules(profile: Profile, **sync: Any) -> Profile:
    """A copy of the profile with some sync rules changed (tests, benchmarks)."""
    return replace(profile, sync=replace(profile.sync, **sync))

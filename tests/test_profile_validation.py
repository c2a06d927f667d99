"""Profile values checked by type and range: one line naming the file and the key, exit 78.

Through the installed `komet-ftd-ops` (`quota` loads the profile and needs no network), with a
tmp home; the library's own messages are checked directly for the cheaper cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli import kfo

from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile, profile_from_dict

GOOD = """\
[komet]
base_url = "https://api.kometsales.com/api/"
company_id = "1207"
ftd_customer_id = "4821"
token = "env:KOMET_FTD_TOKEN"
timeout_seconds = 20

[ftd]
base_url = "https://ftd.example"
supplier_id = "SUP-1"
token = "env:FTD_SUPPLIER_TOKEN"

[sync]
deadline_seconds = 240
markup_pct = 5

[orders]
accept_partial = false
"""


def with_value(section: str, key: str, toml_value: str) -> str:
    """GOOD with `key` in `[section]` set (or added) to a raw TOML value."""
    tables = {t.splitlines()[0]: t.splitlines()[1:] for t in GOOD.strip().split("\n\n")}
    rows = [r for r in tables.setdefault(f"[{section}]", []) if r.split(" = ")[0] != key]
    tables[f"[{section}]"] = [*rows, f"{key} = {toml_value}"]
    return "\n\n".join("\n".join([head, *rows]) for head, rows in tables.items()) + "\n"


def write(home: Path, text: str, name: str = "acme") -> Path:
    path = home / "profiles" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("komet", "timeout_seconds", '"five"', '[komet] timeout_seconds = "five": must be a number'),
        ("sync", "deadline_seconds", "-5", "[sync] deadline_seconds = -5: must be > 0"),
        ("sync", "deadline_seconds", "86400", "[sync] deadline_seconds = 86400: must be <= 3600"),
        ("sync", "markup_pct", "150", "[sync] markup_pct = 150: must be <= 100"),
        ("sync", "every_minutes", "0", "[sync] every_minutes = 0: must be >= 1"),
        ("sync", "min_boxes", '"2"', '[sync] min_boxes = "2": must be a whole number'),
        ("sync", "exclude_colors", '"Black"', '[sync] exclude_colors = "Black": must be a list'),
        ("orders", "accept_partial", '"yes"', '[orders] accept_partial = "yes": must be true or false'),
        ("orders", "max_orders_per_cycle", "0", "[orders] max_orders_per_cycle = 0: must be >= 1"),
        ("komet", "paid_users", "2.5", "[komet] paid_users = 2.5: must be a whole number"),
        ("komet", "base_url", '"kometsales.com/api"', "[komet] base_url = \"kometsales.com/api\": must be an http(s) URL"),
        ("ftd", "base_url", '"ftp://ftd.example"', "must be an http(s) URL"),
        ("komet", "timeout_second", "5", "[komet] timeout_second = 5: unknown setting"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 24 else None,
)  # fmt: skip
def test_a_wrong_value_is_one_line_naming_the_file_and_key(
    home: Path, section: str, key: str, value: str, expected: str
) -> None:
    path = write(home, with_value(section, key, value))
    result = kfo(home, "quota", "--profile", "acme")
    assert result.returncode == 78, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and expected in lines[0]


def test_the_good_profile_loads_and_toml_ints_serve_as_floats(home: Path) -> None:
    write(home, GOOD)
    result = kfo(home, "quota", "--profile", "acme")
    assert result.returncode == 0, result.stderr
    profile = load_profile("acme", Home.at(home))
    assert profile.timeout_seconds == 20.0 and isinstance(profile.timeout_seconds, float)
    assert profile.sync.markup_pct == 5.0 and profile.sync.deadline_seconds == 240


def test_a_literal_token_is_refused_without_echoing_it(home: Path) -> None:
    path = write(home, GOOD.replace('"env:KOMET_FTD_TOKEN"', '"abc123SECRETtoken"'))
    result = kfo(home, "quota", "--profile", "acme")
    assert result.returncode == 78
    assert str(path) in result.stderr and "komet.token must be a secret reference" in result.stderr
    assert "abc123SECRETtoken" not in result.stdout + result.stderr


def _data(**sections: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "komet": {"base_url": "http://k", "company_id": "1", "ftd_customer_id": "9", "token": "env:X"},
        "ftd": {"base_url": "http://f", "supplier_id": "S", "token": "env:Y"},
    }  # fmt: skip
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


def test_a_secret_of_the_wrong_type_is_named_but_not_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        profile_from_dict("p", _data(komet={"token": 12345678901234}))
    assert "[komet] token: must be a string" in str(caught.value)
    assert "12345678901234" not in str(caught.value)


def test_every_bad_value_is_named_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        profile_from_dict(
            "p", _data(sync={"deadline_seconds": 0, "currency": "usd"}, snyc={"x": 1})
        )
    message = str(caught.value)
    assert "\n" not in message and message.startswith("profile 'p': ")
    assert "[sync] deadline_seconds = 0: must be > 0" in message
    assert '[sync] currency = "usd": must be a 3-letter currency code' in message
    assert "snyc = {...}: unknown setting" in message


@pytest.mark.parametrize(
    "values",
    [{"feed_status_timeout_seconds": float("nan")}, {"order_reserve_pct": -1}, {"max_aging_days": -1}],
)  # fmt: skip
def test_ranges_refuse_nan_and_negatives(values: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=rf"\[sync\] {next(iter(values))} = "):
        profile_from_dict("p", _data(sync=values))


def test_an_integer_id_is_kept_as_text_and_a_float_one_refused() -> None:
    assert profile_from_dict("p", _data(komet={"company_id": 1207})).komet_company_id == "1207"
    with pytest.raises(ConfigError, match=r"\[komet\] company_id = 1207.5: must be a string"):
        profile_from_dict("p", _data(komet={"company_id": 1207.5}))


def test_the_switches_table_is_checked_by_name_and_value_and_the_rest_is_hardest() -> None:
    from komet_ftd_ops.komet.switches import SWITCHES, hardest

    given = {"link_fields": "both", "max_rows": 5000}  # a bare TOML int serves for max_rows
    switches = profile_from_dict("p", _data(komet={"switches": given})).komet_switches
    assert switches == {**hardest(), "link_fields": "both", "max_rows": "5000"}
    assert set(switches) == set(SWITCHES)
    assert profile_from_dict("p", _data()).komet_switches == hardest()


@pytest.mark.parametrize(
    "switches, expected",
    [
        ({"link_feilds": "both"}, "[komet.switches] link_feilds: unknown switch (known: invoice_exists"),
        ({"link_fields": "all"}, '[komet.switches] link_fields = "all": must be one of "both", "customerPo"'),
        ({"merge_invoices": True}, "[komet.switches] merge_invoices: must be a string (in quotes)"),
    ],
)  # fmt: skip
def test_a_bad_switch_is_one_line_exit_78(
    home: Path, switches: dict[str, Any], expected: str
) -> None:
    rows = "\n".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v).replace(chr(39), chr(34))}"
        for k, v in switches.items()
    )
    path = write(home, GOOD.replace("\n[ftd]", f"\n[komet.switches]\n{rows}\n\n[ftd]"))
    result = kfo(home, "quota", "--profile", "acme")
    assert result.returncode == 78, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0] and expected in lines[0], lines[0]


def test_the_inventory_source_and_the_fee_rate_are_profile_settings() -> None:
    profile = profile_from_dict(
        "p", _data(inventory={"source": "both"}, komet={"transaction_fee_pct": 2})
    )
    assert (profile.inventory.source, profile.komet_fee_pct) == ("both", 2.0)
    default = profile_from_dict("p", _data())
    assert (default.inventory.source, default.komet_fee_pct) == ("open_market", 1.5)
    with pytest.raises(ConfigError, match=r"\[inventory\] source = \"market\": must be one of"):
        profile_from_dict("p", _data(inventory={"source": "market"}))


def test_the_example_profile_loads_with_its_switches_uncommented(home: Path) -> None:
    example = (Path(__file__).parents[1] / "profiles" / "example.toml").read_text()
    assert "# [komet.switches]" in example
    text = example.replace("# [komet.switches]", "[komet.switches]")
    for name in ("invoice_exists", "link_fields", "max_rows", "customer_checkout"):
        text = text.replace(f"# {name} = ", f"{name} = ")
    write(home, text)
    profile = load_profile("acme", Home.at(home))
    assert profile.komet_switches["link_fields"] == "neither"
    assert profile.inventory.source == "open_market"


def test_the_page_size_and_the_quota_plan_follow_the_max_rows_switch() -> None:
    from komet_ftd_ops.komet import KometConfig
    from komet_ftd_ops.offers.quota import plan_quota
    from komet_ftd_ops.settings.secrets import Secret

    hardest = profile_from_dict("a", _data())
    served = profile_from_dict("b", _data(komet={"switches": {"max_rows": "5000"}}))
    assert KometConfig.from_profile(hardest, Secret("t")).page_size == 500
    assert KometConfig.from_profile(served, Secret("t")).page_size == 5000
    # 100,000 lines: 200 calls a snapshot at 500 rows, 20 at 5,000
    assert (
        plan_quota(hardest, 100_000).pages_per_refresh,
        plan_quota(served, 100_000).pages_per_refresh,
    ) == (200, 20)

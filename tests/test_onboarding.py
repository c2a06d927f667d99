"""Onboarding against the real twin: the token check, FTD's customer ID, the profile, the
hand-off sheet and the preflight the scheduler asks for."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Twin
from openpyxl import Workbook

from komet_ftd_ops.cli.onboard import onboard as onboard_command
from komet_ftd_ops.onboarding import (
    DENIED,
    NEEDED_METHODS,
    OK,
    UNCHECKED,
    OnboardingSession,
    check_token,
    onboard,
    preflight_passed,
)
from komet_ftd_ops.onboarding.handoff import load_preflight
from komet_ftd_ops.onboarding.methods import METHOD_NAMES
from komet_ftd_ops.onboarding.widgets import OnboardingUI
from komet_ftd_ops.runs.runner import EXIT_CONFIG, EXIT_TEMPFAIL
from komet_ftd_ops.sandbox.catalogue import FTD_CARRIERS
from komet_ftd_ops.sandbox.komet.app import CUSTOMER_METHODS
from komet_ftd_ops.sandbox.komet.shiptos import CARRIER_DAYS
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile, sandbox_profile_dict
from komet_ftd_ops.settings.secrets import Secret


def here() -> Home:
    """The test's home (the `home` fixture sets KOMET_FTD_OPS_HOME)."""
    return Home.from_environment()


READS = [m.name for m in NEEDED_METHODS if m.kind == "read"]
WRITES = [m.name for m in NEEDED_METHODS if m.kind == "write"]


def customer_id(twin: Twin, name: str) -> str:
    return next(
        str(c["id"]) for c in twin.control("komet", "GET", "info")["customers"] if c["name"] == name
    )


def make_token(twin: Twin, *, customer: str | None = None, without: tuple[str, ...] = ()) -> str:
    """A new Customer token: every method a Customer token can have, less `without`."""
    body: dict[str, Any] = {
        "type": "customer",
        "customer_id": int(customer or twin.info["komet"]["ftd_customer_id"]),
        "methods": [m for m in CUSTOMER_METHODS if m not in without],
    }
    return twin.control("komet", "POST", "tokens", json=body)["token"]


def export_file(path: Path, twin: Twin) -> Path:
    """Komet's customer export for the twin's customers, with a title row above the header."""
    wb = Workbook()
    sheet = wb.active
    sheet.append(["Customers"])
    sheet.append(["Id", "Code", "Name", "Active"])
    for c in twin.control("komet", "GET", "info")["customers"]:
        sheet.append([str(c["id"]), c["code"], c["name"], "Yes" if c["active"] else "No"])
    wb.save(path)
    return path


def ftd_carriers_today() -> list[str]:
    """The FTD customer's carriers that drive today (UTC), the day onboarding asks about: on a
    weekend FedEx does not (sandbox/komet/shiptos.py), so this is not one fixed list."""
    weekday = datetime.now(UTC).weekday()
    return [str(c) for c in FTD_CARRIERS if weekday in CARRIER_DAYS[c]]


def web_orders(twin: Twin) -> list[dict[str, Any]]:
    return twin.control("komet", "GET", "dump")["web_orders"]


# --- check_token ---------------------------------------------------------------------------


# The Customer token may list ship-tos here (a switch; its hardest reading, no, is tested in
# test_a_customer_token_refused_the_ship_tos_is_a_warning_not_a_failure).
@pytest.mark.switches(customer_shipto_list="yes")
def test_a_good_token_can_call_every_read_and_is_bound_to_ftd(twin: Twin, home: Path) -> None:
    check = check_token(load_profile("sandbox", here()), "sandbox:komet.customer", home=here())

    assert check.ok, check.problems
    assert {m: check.methods[m].status for m in READS} == dict.fromkeys(READS, OK)
    assert {m: check.methods[m].status for m in WRITES} == dict.fromkeys(WRITES, UNCHECKED)
    assert check.bound_customer_id == twin.info["komet"]["ftd_customer_id"]
    assert check.bound_customer_name == "FTD Inc"
    assert (check.token_type, check.company_id_ok) == ("customer", True)
    # Ship-tos: the FTD customer's own and the florists' the twin seeds (sandbox/catalogue.py).
    assert [c.id for c in check.carriers] == ftd_carriers_today() and len(check.ship_tos) >= 3
    # Every call was counted in the kit's store like any other Komet call.
    assert (
        check.calls_made == twin.control("komet", "GET", "dump")["calls_today"] == check.calls_today
    )
    assert check.quota_left == 1000 - check.calls_made
    assert any("write methods" in w for w in check.warnings)


# The Customer token may list ship-tos here (a switch; its hardest reading, no, is tested in
# test_a_customer_token_refused_the_ship_tos_is_a_warning_not_a_failure).
@pytest.mark.switches(customer_shipto_list="yes")
def test_check_writes_creates_a_test_order_and_leaves_nothing_behind(
    twin: Twin, home: Path
) -> None:
    check = check_token(
        load_profile("sandbox", here()), "sandbox:komet.customer", check_writes=True, home=here()
    )

    assert check.ok and check.counts() == {OK: 12, DENIED: 0, UNCHECKED: 0}
    assert "deleted it" in check.methods["web-order.create"].how
    assert check.leftover_web_order is None
    orders = web_orders(twin)
    assert len(orders) == 1 and orders[0]["status"] == 3 and orders[0]["items"] == []  # deleted
    invoices = twin.control("komet", "GET", "dump")["invoices"]
    assert not any(i["webOrderId"] for i in invoices)  # the probes checked nothing out


def test_a_customer_token_refused_the_ship_tos_is_a_warning_not_a_failure(
    twin: Twin, home: Path
) -> None:
    # The hardest reading of customer_shipto_list: Komet's page names Company and Vendor tokens.
    check = check_token(load_profile("sandbox", here()), "sandbox:komet.customer", home=here())
    assert check.ok, check.problems
    assert check.methods["customer.shipto.list"].status == DENIED and check.ship_tos == []
    assert {m: check.methods[m].status for m in READS if m != "customer.shipto.list"} == {
        m: OK for m in READS if m != "customer.shipto.list"
    }
    assert any("customer.shipto.list" in w for w in check.warnings), check.warnings


def test_a_token_missing_methods_says_which_and_what_to_tick(twin: Twin, home: Path) -> None:
    missing = ("invoice.list", "web-order.create", "customer.shipto.list")
    token = make_token(twin, without=missing)
    check = check_token(
        load_profile("sandbox", here()), Secret(token), check_writes=True, home=here()
    )

    assert {m for m, s in check.statuses().items() if s == DENIED} == set(missing)
    assert check.methods["invoice.list"].detail == "not ticked on this token"
    assert not check.ok
    problem = next(p for p in check.problems if "cannot call" in p)
    assert "web-order.create, invoice.list" in problem and "Setup > Settings > Tokens" in problem
    assert any("customer.shipto.list (optional" in w for w in check.warnings)
    assert web_orders(twin) == []  # create was refused: no test order exists
    assert token not in json.dumps(check.as_dict())


def test_a_token_that_cannot_delete_never_creates_a_test_order(twin: Twin, home: Path) -> None:
    token = make_token(twin, without=("web-order.delete",))
    check = check_token(
        load_profile("sandbox", here()), Secret(token), check_writes=True, home=here()
    )

    assert check.methods["web-order.delete"].status == DENIED
    assert check.methods["web-order.create"].status == UNCHECKED
    assert check.methods["web-order-item.add"].status == OK  # probed on web order 0
    assert web_orders(twin) == []


def test_a_token_bound_to_another_customer_is_found_among_the_candidates(
    twin: Twin, home: Path
) -> None:
    mercury = customer_id(twin, "FTD Mercury Network")
    token = make_token(twin, customer=mercury)
    session = OnboardingSession(
        "sandbox", values={"ftd_customer_id": twin.info["komet"]["ftd_customer_id"]}
    )
    session.save_token(token)
    session.list_from_api()
    check = session.check_token()

    assert mercury and check.bound_customer_id == mercury
    ftd = twin.info["komet"]["ftd_customer_id"]
    assert any(
        f"bound to customer {mercury} (FTD Mercury Network), not to {ftd}" in p
        for p in check.problems
    )
    # Without candidates the check can only say it is not bound to the id it was given.
    alone = check_token(load_profile("sandbox", here()), Secret(token), home=here())
    assert alone.bound_customer_id is None
    assert any(f"not bound to {ftd}" in p for p in alone.problems)
    assert all(alone.methods[m].status == UNCHECKED for m in READS if m != "customer.details.get")


def test_a_wrong_company_id_is_told_apart_from_a_wrong_token(twin: Twin, home: Path) -> None:
    params = {**_target(twin), "company_id": "9999"}
    check = check_token(params, "sandbox:komet.customer", home=here())

    assert check.company_id_ok is False
    assert check.methods["customer.details.get"].status == OK  # classic: no X-ACCOUNT
    assert check.methods["ecommerce/inventory.list"].status == DENIED
    assert any("company ID 9999" in p and "X-ACCOUNT" in p for p in check.problems)

    unknown = check_token(_target(twin), Secret("x" * 50), home=here())
    assert any("does not know this token" in p for p in unknown.problems)
    assert unknown.company_id_ok is None


def test_a_spent_quota_stops_the_check_and_says_so(twin: Twin, home: Path) -> None:
    twin.control("komet", "POST", "settings", json={"quota": 3})
    check = check_token(load_profile("sandbox", here()), "sandbox:komet.customer", home=here())

    assert check.quota_spent and check.quota_left == 0
    assert any("daily request limit is spent" in p for p in check.problems)
    statuses = check.statuses()
    assert DENIED not in statuses.values()  # a spent quota is not a missing method
    assert statuses["ecommerce/inventory.list"] == OK
    assert statuses["invoice.list"] == UNCHECKED


def test_a_company_token_and_an_unknown_location_are_problems(twin: Twin, home: Path) -> None:
    check = check_token(load_profile("sandbox", here()), "sandbox:komet.company", home=here())
    assert check.token_type == "company"
    assert any("This is a Company token" in p for p in check.problems)

    located = check_token(
        {**_target(twin), "location_id": "99"}, "sandbox:komet.customer", home=here()
    )
    assert located.location_ok is False and any("location 99" in p for p in located.problems)
    assert check_token(
        {**_target(twin), "location_id": "11"}, "sandbox:komet.customer", home=here()
    ).location_ok


def _target(twin: Twin) -> dict[str, Any]:
    komet = twin.info["komet"]
    return {
        "base_url": komet["base_url"],
        "company_id": komet["company_id"],
        "customer_id": komet["ftd_customer_id"],
    }


# --- the whole onboarding ----------------------------------------------------------------------


# The Customer token may list ship-tos here (a switch; its hardest reading, no, is tested in
# test_a_customer_token_refused_the_ship_tos_is_a_warning_not_a_failure).
@pytest.mark.switches(customer_shipto_list="yes")
def test_onboarding_a_new_profile_from_the_export_writes_profile_sheet_and_preflight(
    twin: Twin, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = twin.info["komet"]["tokens"]["customer"]
    monkeypatch.setenv("ACME_KOMET_TOKEN", token)
    komet, ftd = twin.info["komet"], twin.info["ftd"]
    values = {"komet_base_url": komet["base_url"], "company_id": komet["company_id"],
              "ftd_base_url": ftd["base_url"], "ftd_supplier_id": ftd["supplier_id"],
              "ftd_token_ref": "sandbox:ftd"}  # fmt: skip
    assert preflight_passed("acme", here()) == (
        False,
        "no preflight for profile 'acme': run `komet-ftd-ops onboard --profile acme`.",
    )

    result = onboard(
        "acme",
        token_ref="env:ACME_KOMET_TOKEN",
        customers_xlsx=export_file(tmp_path / "c.xlsx", twin),
        values=values,
    )

    assert result.passed, result.preflight.reasons
    assert result.ftd_customer_id == komet["ftd_customer_id"] and result.customer_name == "FTD Inc"
    assert [c.name for c in result.candidates] == [
        "FTD Inc",
        "FTD Mercury Network",
        "FTD Florists (old)",
    ]
    profile = load_profile("acme", here())
    assert (profile.ftd_customer_id, profile.carrier_id, profile.komet_token_ref) == (
        komet["ftd_customer_id"],
        ftd_carriers_today()[0],  # the first carrier of the check's list
        "env:ACME_KOMET_TOKEN",
    )
    assert result.check is not None and profile.ship_to_id == result.check.ship_tos[0].id
    sheet = (home / "handoff" / "acme.md").read_text()
    assert komet["ftd_customer_id"] in sheet and komet["company_id"] in sheet
    assert Secret(token).masked() in sheet and "environment variable `ACME_KOMET_TOKEN`" in sheet
    ok, why = preflight_passed("acme", here())
    assert ok and "FTD customer" in why
    _assert_token_nowhere(home, token, result.as_dict())

    # The scheduler's gate notices a profile edited after its preflight.
    text = here().profile_path("acme").read_text().replace(komet["ftd_customer_id"], "5018")
    here().profile_path("acme").write_text(text)
    ok, why = preflight_passed("acme", here())
    assert not ok and "changed since its preflight (ftd_customer_id)" in why


def test_a_failed_preflight_is_stored_and_blocks_the_profile(twin: Twin, home: Path) -> None:
    token = make_token(twin, without=("ecommerce/inventory.list",))
    session = OnboardingSession("sandbox")
    session.save_token(token)
    result = session.finish()

    assert not result.passed
    ok, why = preflight_passed("sandbox", here())
    assert not ok and "ecommerce/inventory.list" in why and "failed" in why
    secrets = home / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600 and token in secrets.read_text()
    # A failed onboarding writes no profile: the built-in sandbox profile is untouched.
    assert not here().profile_path("sandbox").exists() and result.profile_path is None
    assert "NOT READY" in (home / "handoff" / "sandbox.md").read_text()
    _assert_token_nowhere(home, token, result.as_dict())


def _assert_token_nowhere(home: Path, token: str, output: dict[str, Any]) -> None:
    """Not in the profile, the sheet, the preflight, the output; only in secrets.toml."""
    assert token not in json.dumps(output, default=str)
    for path in [*home.glob("profiles/*"), *home.glob("handoff/*")]:
        assert token not in path.read_text(), path
    with sqlite3.connect(home / "state.sqlite3") as db:
        assert token not in json.dumps(db.execute("SELECT * FROM kv").fetchall())


def test_the_sandbox_profile_keeps_only_what_differs_from_the_twin(twin: Twin, home: Path) -> None:
    carrier = ftd_carriers_today()[-1]  # one that drives today: the preflight asks about today
    onboard("sandbox", values={"carrier_id": carrier})
    text = here().profile_path("sandbox").read_text()
    assert f'carrier_id = "{carrier}"' in text and "base_url" not in text  # the port changes
    assert (
        load_profile("sandbox", here()).komet_base_url
        == sandbox_profile_dict(here())["komet"]["base_url"]
    )
    result = onboard("sandbox", values={"carrier_id": "2"})  # not one of FTD's carriers
    assert any("carrier 2 is not one of FTD's carriers" in r for r in result.preflight.reasons)


# --- the CLI and the widgets -------------------------------------------------------------------


# The Customer token may list ship-tos here (a switch; its hardest reading, no, is tested in
# test_a_customer_token_refused_the_ship_tos_is_a_warning_not_a_failure).
@pytest.mark.switches(customer_shipto_list="yes")
def test_cli_onboard_sandbox_json_out_of_the_box(twin: Twin, home: Path) -> None:
    run = CliRunner().invoke(onboard_command, ["--profile", "sandbox", "--check-writes", "--json"])
    assert run.exit_code == 0, run.output
    out = json.loads(run.output)
    assert out["ftd_customer_id"] == twin.info["komet"]["ftd_customer_id"]
    assert out["token_check"] == dict.fromkeys(METHOD_NAMES, "ok")
    assert out["preflight"] == {"status": "pass", "reasons": [], "warnings": []}
    assert [c["bound"] for c in out["candidates"]] == [True, False, False]
    assert twin.info["komet"]["tokens"]["customer"] not in run.output


def test_cli_fails_with_reasons_for_a_bad_export_and_an_unset_token(
    twin: Twin, home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "Customers.xlsx"
    bad.write_text("Id,Name\n")
    run = CliRunner().invoke(
        onboard_command,
        [
            "--profile",
            "sandbox",
            "--customers-xlsx",
            str(bad),
            "--token-ref",
            "env:NOT_SET_ANYWHERE",
            "--json",
        ],
    )
    assert run.exit_code == EXIT_CONFIG
    out = json.loads(run.output)
    assert out["preflight"]["status"] == "fail"
    reasons = " ".join(out["preflight"]["reasons"])
    assert "not an Excel workbook" in reasons and "NOT_SET_ANYWHERE" in reasons
    assert set(out["token_check"].values()) == {"unchecked"}
    text = CliRunner().invoke(onboard_command, ["--profile", "sandbox", "--no-write"])
    assert text.exit_code == 0 and "Preflight: PASS" in text.output


# The Customer token may list ship-tos here (a switch; its hardest reading, no, is tested in
# test_a_customer_token_refused_the_ship_tos_is_a_warning_not_a_failure).
@pytest.mark.switches(customer_shipto_list="yes")
def test_widgets_save_the_token_empty_the_field_and_show_the_check(twin: Twin, home: Path) -> None:
    token = twin.info["komet"]["tokens"]["customer"]
    ui = OnboardingUI(OnboardingSession("sandbox", token_ref="env:UNUSED_HERE"))
    ui.token.value = token
    check = ui.run_check()

    assert check is not None and check.ok
    assert ui.token.value == "" and ui.session.token_ref == "file:komet_customer_token_sandbox"
    assert ui.check_out.value.count('class="kfo-status kfo-ok"') == len(READS)
    assert token not in ui.check_out.value + ui.token_status.value
    assert [v for _, v in ui.carrier.options] == ftd_carriers_today()
    ui.find_candidates(None, use_api=True)
    assert ui.candidates.value == twin.info["komet"]["ftd_customer_id"]
    assert "token bound here" in ui.candidates.label
    ui.candidates.value = customer_id(twin, "FTD Mercury Network")
    assert "the token is bound to" in ui.customer_out.value and "not to it" in ui.customer_out.value
    ui.candidates.value = twin.info["komet"]["ftd_customer_id"]
    result = ui.run_finish()
    assert result is not None and result.passed and "Preflight: PASS" in ui.finish_out.value


# --- without a twin ----------------------------------------------------------------------------


def test_the_method_list_is_what_a_customer_token_can_be_given() -> None:
    names = [m.name for m in NEEDED_METHODS]
    assert len(names) == 12 and set(names) <= set(CUSTOMER_METHODS)
    assert {m.name for m in NEEDED_METHODS if m.optional} == {
        "customer.shipto.list", "web-order-item.delete", "invoice.details.list",
    }  # fmt: skip
    assert all(len(m.why) > 40 for m in NEEDED_METHODS)


def test_an_unreachable_komet_is_unchecked_not_denied(home: Path) -> None:
    target = {"base_url": "http://127.0.0.1:9/api/", "company_id": "1", "customer_id": "2"}
    check = check_token(target, Secret("t" * 50), home=here())
    assert set(check.statuses().values()) == {UNCHECKED}
    assert any("no usable answer" in p and "check the base URL" in p for p in check.problems)


def test_the_sandbox_profile_without_a_running_twin_says_to_start_it(home: Path) -> None:
    result = onboard("sandbox")
    assert not result.passed
    assert "komet-ftd-ops sandbox up" in result.preflight.reasons[0]
    assert not preflight_passed("sandbox", here())[0]


# --- a passing fault never blocks the front door (issue 12, item 2) ---------------------------


def test_the_token_check_retries_a_read_whose_connection_dropped(twin: Twin, home: Path) -> None:
    # Half the customer.details.get calls lose their connection (a TCP reset); reads are
    # retried like every read of the kit, so the check passes as if nothing happened.
    fault = {"kind": "reset", "method": "customer.details.get", "rate": 0.5}
    twin.control("komet", "POST", "faults", json=fault)
    check = check_token(load_profile("sandbox", here()), "sandbox:komet.customer", home=here())

    assert twin.control("komet", "GET", "faults")["injected"].get("komet:reset", 0) >= 1
    assert check.ok, check.problems
    assert check.bound_customer_id == twin.info["komet"]["ftd_customer_id"]
    assert check.network_failure == ""


def test_a_check_the_network_fails_says_connection_dropped_not_check_the_base_url(
    twin: Twin, home: Path
) -> None:
    twin.control("komet", "POST", "faults", json={"kind": "reset"})  # every call, every retry
    result = onboard("sandbox", home=here(), token_ref="sandbox:komet.customer", check_writes=True)

    assert not result.passed and result.kept_preflight is None  # nothing passing to keep
    reasons = " ".join(result.preflight.reasons)
    assert "connection to Komet dropped" in reasons and "retries" in reasons
    assert "base URL" not in reasons
    assert result.check is not None and result.check.network_failure
    # --check-writes was given: no advice to tick it, only that the check stopped before writes.
    assert not any("tick 'check writes'" in w for w in result.preflight.warnings)
    assert any("stopped before them" in w for w in result.preflight.warnings)
    assert not preflight_passed("sandbox", here())[0]  # a first failure is stored as before


def test_a_recheck_the_network_fails_keeps_the_passing_preflight_and_its_sheet(
    twin: Twin, home: Path
) -> None:
    first = onboard("sandbox", home=here(), token_ref="sandbox:komet.customer", check_writes=True)
    assert first.passed, first.preflight.reasons
    sheet = here().handoff_path("sandbox")
    before = sheet.read_text()

    twin.control("komet", "POST", "faults", json={"kind": "reset"})
    again = onboard("sandbox", home=here(), token_ref="sandbox:komet.customer", check_writes=True)

    assert not again.passed and again.kept_preflight is not None
    assert again.kept_preflight.checked_at == first.preflight.checked_at
    why = again.preflight.reasons
    assert why[0].startswith(
        f"connection dropped: kept the passing preflight of {first.preflight.checked_at}"
    )
    assert "sandbox faults --clear" in why[0] and len(why) == 1
    assert again.check is not None and again.check.problems == why
    stored = load_preflight("sandbox", here())
    assert stored is not None and stored.passed and stored.checked_at == first.preflight.checked_at
    assert preflight_passed("sandbox", here())[0]  # the scheduler still lets the profile run
    assert sheet.read_text() == before and again.handoff_path == sheet

    run = CliRunner().invoke(onboard_command, ["--profile", "sandbox", "--check-writes"])
    assert run.exit_code == EXIT_TEMPFAIL, run.output  # worth retrying, not "needs a person"
    assert "connection dropped: kept the passing preflight" in run.output
    assert "check the base URL" not in run.output
    assert twin.info["komet"]["tokens"]["customer"] not in run.output


def test_a_real_problem_found_before_the_connection_dropped_replaces_the_passing_preflight(
    twin: Twin, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KFO_BLIP_TOKEN", twin.info["komet"]["tokens"]["customer"])
    assert onboard("sandbox", home=here(), token_ref="env:KFO_BLIP_TOKEN").passed
    # Same reference, another token: one without inventory.list; then invoice.list drops.
    monkeypatch.setenv("KFO_BLIP_TOKEN", make_token(twin, without=("ecommerce/inventory.list",)))
    twin.control("komet", "POST", "faults", json={"kind": "reset", "method": "invoice.list"})
    result = onboard("sandbox", home=here(), token_ref="env:KFO_BLIP_TOKEN")

    assert result.kept_preflight is None  # the check found news: it is not a blip
    assert any("cannot call ecommerce/inventory.list" in r for r in result.preflight.reasons)
    ok, why = preflight_passed("sandbox", here())
    assert not ok and "ecommerce/inventory.list" in why


def test_an_unreachable_komet_with_check_writes_does_not_say_tick_check_writes(home: Path) -> None:
    target = {"base_url": "http://127.0.0.1:9/api/", "company_id": "1", "customer_id": "2"}
    check = check_token(target, Secret("t" * 50), check_writes=True, home=here())
    assert check.network_failure and "ConnectError" in check.network_failure
    assert any("check the base URL" in p for p in check.problems)  # never answered: the URL
    assert not any("tick 'check writes'" in w for w in check.warnings)
    unticked = check_token(target, Secret("t" * 50), home=here())
    assert any("tick 'check writes'" in w for w in unticked.warnings)


def test_a_5xx_through_the_retries_says_the_service_is_down_not_the_base_url(
    twin: Twin, home: Path
) -> None:
    twin.control("komet", "POST", "faults", json={"kind": "error"})  # a proxy's 502/503/504
    check = check_token(load_profile("sandbox", here()), "sandbox:komet.customer", home=here())
    assert check.network_failure and "HTTP 50" in check.network_failure
    assert any("server error through the retries" in p for p in check.problems)
    assert not any("base URL" in p for p in check.problems)

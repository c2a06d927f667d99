"""`komet-ftd-ops probe` against the twin: each observable switch, set to each of its values,
is detected; what cannot be observed stays at the hardest reading and is not written; the
profile file changes only in its [komet.switches] table; --writes leaves no web order behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli import kfo
from conftest import Twin, start_twin

from komet_ftd_ops.connect import komet_client
from komet_ftd_ops.komet.client import KometClient
from komet_ftd_ops.komet.switches import SWITCHES, hardest
from komet_ftd_ops.onboarding.conformance import (
    ASSUMED,
    DOCUMENTED,
    NOT_OBSERVABLE,
    OBSERVED,
    UNKNOWN,
    ProbeResult,
    probe,
    record_switches,
)
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile


@contextmanager
def komet(home: Path) -> Iterator[KometClient]:
    kit = Home.at(home)
    with (
        kit.open_store() as store,
        komet_client(load_profile("sandbox", kit), store, home=kit) as k,
    ):
        yield k


def run(twin: Twin, home: Path, *, writes: bool = False, **switches: str) -> ProbeResult:
    if switches:
        twin.control("komet", "POST", "settings", json=switches)
    with komet(home) as client:
        return probe(client, load_profile("sandbox", Home.at(home)), writes=writes)


def live_web_orders(twin: Twin) -> list[dict]:
    """Web orders the twin still holds as pending or checked out (3 = deleted)."""
    return [w for w in web_orders(twin) if w["status"] != 3]


def web_orders(twin: Twin) -> list[dict]:
    return twin.control("komet", "GET", "dump")["web_orders"]


def test_the_largest_page_is_detected_for_each_value(home: Path) -> None:
    # A thousand lines: more than 500 are listed, so 500 and 5000 tell apart.
    twin = start_twin(home, lines=1000)
    try:
        for value in SWITCHES["max_rows"].values:
            row = run(twin, home, max_rows=value).row("max_rows")
            assert (row.value, row.kind) == (value, OBSERVED), row
    finally:
        twin.stop()


def test_a_small_inventory_cannot_tell_500_from_5000_and_stays_at_the_hardest(
    twin: Twin, home: Path
) -> None:
    result = run(twin, home, max_rows="5000")  # 300 lines: one page either way
    row = result.row("max_rows")
    assert (row.value, row.kind) == (hardest()["max_rows"], UNKNOWN) and "either way" in row.how
    assert "max_rows" not in result.observed()


def test_ship_tos_and_message_wording_are_detected_for_each_value(twin: Twin, home: Path) -> None:
    for value in SWITCHES["customer_shipto_list"].values:
        row = run(twin, home, customer_shipto_list=value).row("customer_shipto_list")
        assert (row.value, row.kind) == (value, OBSERVED), row
    for value in SWITCHES["messages"].values:
        result = run(twin, home, messages=value)
        assert (result.row("messages").value, result.row("messages").kind) == (value, OBSERVED)
        # The documented rule holds under both wordings: no web order listed without its id.
        rule = result.row("web-order-details.list needs webOrderId")
        assert (rule.value, rule.kind) == ("required", DOCUMENTED)


def test_link_fields_are_detected_for_each_value(twin: Twin, home: Path) -> None:
    # The test web order's invoice (it exists from the first add: the hardest reading) is the
    # FTD customer's one recent invoice; after that, reads alone show the link fields.
    first = run(twin, home, writes=True)
    assert first.row("link_fields").kind == OBSERVED
    for value in SWITCHES["link_fields"].values:
        row = run(twin, home, link_fields=value).row("link_fields")
        assert (row.value, row.kind) == (value, OBSERVED), row
    assert live_web_orders(twin) == []


@pytest.mark.parametrize("value", SWITCHES["invoice_exists"].values)
def test_when_the_invoice_exists_is_detected_by_one_test_order_left_deleted(
    twin: Twin, home: Path, value: str
) -> None:
    result = run(twin, home, writes=True, invoice_exists=value)
    row = result.row("invoice_exists")
    assert (row.value, row.kind) == (value, OBSERVED), row
    assert result.test_web_order and not result.problems
    fee = result.row("transaction fee on web orders")
    assert (fee.value, fee.kind) == ("1.5%", DOCUMENTED)
    assert live_web_orders(twin) == []  # created, read back, deleted: never checked out
    assert [str(w["id"]) for w in web_orders(twin)] == [result.test_web_order]


@pytest.mark.parametrize("value", SWITCHES["fee_on_invoice"].values)
def test_the_fee_on_the_invoice_is_detected_for_each_value(home: Path, value: str) -> None:
    # A fresh twin per value: an invoice keeps the fee line it was billed with.
    twin = start_twin(home, switches={"fee_on_invoice": value})
    try:
        first = run(twin, home, writes=True).row("fee_on_invoice")  # from the test order's invoice
        again = run(twin, home).row("fee_on_invoice")  # from the recent invoices, reads only
    finally:
        twin.stop()
    assert (first.value, first.kind) == (value, OBSERVED), first
    assert (again.value, again.kind) == (value, OBSERVED), again


def test_without_writes_the_rest_is_assumed_at_the_hardest(twin: Twin, home: Path) -> None:
    result = run(twin, home)
    for name in NOT_OBSERVABLE:
        row = result.row(name)
        assert (row.value, row.kind) == (hardest()[name], ASSUMED)
    assert (
        result.row("invoice_exists").kind == ASSUMED
        and "--writes" in result.row("invoice_exists").how
    )
    assert set(result.observed()) <= {
        "customer_shipto_list",
        "messages",
        "max_rows",
        "link_fields",
        "fee_on_invoice",
    }
    assert live_web_orders(twin) == [] and result.test_web_order is None


SANDBOX_TOML = """\
# my sandbox overrides; keep this comment
[komet]
timeout_seconds = 7.5   # a slow laptop

[sync]
markup_pct = 5          # five percent
"""


def test_the_cli_records_what_it_observed_and_leaves_the_rest_of_the_file_alone(
    twin: Twin, home: Path
) -> None:
    path = home / "profiles" / "sandbox.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SANDBOX_TOML)
    twin.control(
        "komet", "POST", "settings", json={"messages": "table", "customer_shipto_list": "yes"}
    )
    done = kfo(home, "probe", "--profile", "sandbox", "--writes")
    assert done.returncode == 0, done.stdout + done.stderr
    for word in ("observed", "assumed", "documented", "invoice_exists"):
        assert word in done.stdout
    text = path.read_text()
    assert text.startswith(SANDBOX_TOML.split("\n[sync]")[0])  # [komet] and its comments kept
    assert text.endswith("[sync]\nmarkup_pct = 5          # five percent\n")
    profile = load_profile("sandbox", Home.at(home))
    assert profile.timeout_seconds == 7.5 and profile.sync.markup_pct == 5
    assert profile.komet_switches["messages"] == "table"
    assert profile.komet_switches["customer_shipto_list"] == "yes"
    assert profile.komet_switches["invoice_exists"] == "first_add"
    # Not observable: not written, so the profile keeps the hardest reading.
    table = text.split("[komet.switches]")[1].split("\n[")[0]
    assert "merge_invoices" not in table and "late_writes" not in table

    # A second run rewrites the values in place, nothing else.
    twin.control("komet", "POST", "settings", json={"messages": "other"})
    again = kfo(home, "probe", "--profile", "sandbox", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["observed"]["messages"] == "other"
    after = path.read_text()
    assert after == text.replace('messages = "table"', 'messages = "other"')
    assert live_web_orders(twin) == []


def test_record_switches_creates_the_table_in_a_file_without_one(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    original = '[komet]\nbase_url = "https://k/"  # keep\n\n[ftd]\nsupplier_id = "S"\n'
    path.write_text(original)
    assert record_switches(path, {"link_fields": "customerPo"})
    text = path.read_text()
    before, after = text.split("[komet.switches]")
    assert before.rstrip() == original.split("\n\n[ftd]")[0]
    assert 'link_fields = "customerPo"' in after and after.rstrip().endswith('supplier_id = "S"')
    assert not record_switches(path, {}) and path.read_text() == text


def test_a_bad_profile_is_one_line_and_exit_78(home: Path) -> None:
    (home / "profiles").mkdir()
    (home / "profiles" / "acme.toml").write_text('[komet]\nbase_url = "x"\n')
    done = kfo(home, "probe", "--profile", "acme")
    assert done.returncode == 78 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_unreachable_komet_is_one_line_and_exit_75(home: Path) -> None:
    (home / "profiles").mkdir()
    (home / "profiles" / "down.toml").write_text(
        '[komet]\nbase_url = "http://127.0.0.1:9/"\ncompany_id = "1"\nftd_customer_id = "2"\n'
        'token = "env:KOMET_DOWN_TOKEN"\ntimeout_seconds = 2\n\n'
        '[ftd]\nbase_url = "http://127.0.0.1:9/"\nsupplier_id = "S"\ntoken = "env:KOMET_DOWN_TOKEN"\n'
    )
    env = {"KOMET_DOWN_TOKEN": "secret-down-token-1234"}
    os.environ.update(env)
    try:
        done = kfo(home, "probe", "--profile", "down")
    finally:
        os.environ.pop("KOMET_DOWN_TOKEN")
    assert done.returncode == 75, done.stdout + done.stderr
    # The retry policy says each retry as it waits; the error itself is one last line.
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Komet ") and "Traceback" not in done.stderr
    assert "secret-down-token-1234" not in done.stdout + done.stderr
    assert not (home / "profiles" / "down.toml").read_text().count("switches")

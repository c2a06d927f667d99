"""`health` turns red for each reason, with one line, and green again once it is dealt with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_reconcile
from click.testing import CliRunner
from conftest import TEST_PROFILE_TOML
from test_reconcile import Market

from komet_ftd_ops.cli.reconcile import health as health_command
from komet_ftd_ops.orders import OrderLedger, intake
from komet_ftd_ops.reconcile import save_last
from komet_ftd_ops.runs import index as run_index
from komet_ftd_ops.runs.health import HealthRules, check_health
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state.store import Store

market = test_reconcile.market  # the twin-trading fixture, shared

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Home.at(home).open_store() as s:
        yield s


def sync_run(store: Store, minutes_ago: float, status: str = "ok", reason: str | None = None,
             kind: str = "sync") -> None:  # fmt: skip
    started = NOW - timedelta(minutes=minutes_ago)
    run_id = f"{started:%Y%m%dT%H%M%S}Z-{kind}-{len(store.query('SELECT id FROM runs')):06x}"
    run_index.create_run(store, run_id=run_id, profile="acme", kind=kind, started_at=started,
                         kit_version="test")  # fmt: skip
    run_index.finish_run(store, run_id, status=status, duration_s=2, reason=reason,
                         failure_class="upstream" if status == "failed" else None,
                         finished_at=started + timedelta(seconds=2))  # fmt: skip


def health(store: Store, **rules: float) -> str:
    return check_health(store, "acme", rules=HealthRules(**rules), now=NOW).line()


def test_silence_turns_red_then_green(store: Store) -> None:
    assert health(store) == "critical: acme: no sync has ever succeeded"
    sync_run(store, 45)
    sync_run(store, 40, kind="reconcile")  # other kinds are not sync cycles
    assert health(store).startswith("critical: acme: no sync succeeded in 45 min (limit 30 min)")
    assert health(store, max_silence_min=60).startswith("ok: acme: last sync ok 45 min ago")
    sync_run(store, 3)
    line = health(store)
    assert line.startswith("ok: ") and "\n" not in line


def test_failures_in_a_row_turn_red_and_one_success_clears_them(store: Store) -> None:
    sync_run(store, 20)
    sync_run(store, 15, "failed", "ServiceUnavailable: Komet 503")
    sync_run(store, 10, "timed_out", "deadline of 240 s passed")
    sync_run(store, 7, "skipped", "another run holds the lock")  # neither breaks nor extends
    sync_run(store, 5, "failed", "ServiceUnavailable: Komet 503 again")
    assert "3 sync cycles failed in a row (last: ServiceUnavailable: Komet 503 again)" in health(
        store
    )
    assert health(store, max_failures=4).startswith("ok: ")
    sync_run(store, 1)
    assert health(store).startswith("ok: ")


def test_a_reconciliation_with_problems_turns_red_until_a_clean_one(store: Store) -> None:
    sync_run(store, 1)
    from komet_ftd_ops.reconcile.core import LAST_KEY

    store.put("acme", LAST_KEY, {"from": "2026-11-01", "to": "2026-11-30", "problems": 3,
                                 "counts": {"voided": 1, "mismatch": 2, "matched": 40}})  # fmt: skip
    assert health(store).endswith(
        "last reconciliation (2026-11-01..2026-11-30) found 3 problem(s): 2 mismatch, 1 voided"
    )
    assert health(store, max_problems=3).startswith("ok: ")
    store.put("acme", LAST_KEY, {"from": "2026-11-01", "to": "2026-11-30", "problems": 0})
    assert health(store).endswith("last reconciliation (2026-11-01..2026-11-30) clean")


def test_every_failing_check_is_on_the_one_line(store: Store) -> None:
    sync_run(store, 100, "failed", "x")
    line = health(store, max_failures=1)
    assert line.count(";") == 1 and "\n" not in line
    assert "no sync has ever succeeded" in line and "1 sync cycles failed in a row" in line


def test_the_command_exits_2_with_one_line_and_0_when_ok(home: Path, store: Store) -> None:
    runner = CliRunner()
    red = runner.invoke(health_command, ["--profile", "acme"])
    assert red.exit_code == 2 and red.output == "critical: acme: no sync has ever succeeded\n"
    run_index.create_run(store, run_id="r1", profile="acme", kind="sync",
                         started_at=datetime.now(UTC), kit_version="t")  # fmt: skip
    run_index.finish_run(store, "r1", status="ok", duration_s=1)
    green = runner.invoke(health_command, ["--profile", "acme", "--json"])
    assert green.exit_code == 0 and '"ok": true' in green.output


# --- against the twin: orders left NEW, tampering found by a reconciliation -----------------


def test_orders_left_new_turn_red_until_the_kit_acknowledges_them(market: Market) -> None:
    market.shop(3, seed=51)
    # The intake records them (as a cycle cut short after its first step would) ...
    ledger = OrderLedger(market.store, "sandbox")
    batch = intake.fetch(market.clients.ftd, market.store, "sandbox", 0)
    assert len(intake.record(ledger, batch, market.now).received) == 3
    rules = HealthRules(max_new_min=10, max_silence_min=600)
    later = market.now + timedelta(minutes=30)
    red = check_health(market.store, "sandbox", rules=rules, now=later)
    assert not red.ok and "3 FTD order(s) NEW for over 10 min" in red.line()
    assert check_health(market.store, "sandbox", rules=HealthRules(max_new_min=60, max_silence_min=600),
                        now=later).ok  # fmt: skip
    market.cycle()  # ... and the next cycle takes them to Komet and acknowledges them
    assert check_health(market.store, "sandbox", rules=rules, now=later).ok


def test_ask_ftd_sees_new_orders_the_ledger_never_received(market: Market) -> None:
    market.shop(2, seed=52)  # no cycle yet: only FTD knows them
    args = ["--profile", "sandbox", "--max-new-min", "0", "--max-silence-min", "600"]
    assert CliRunner().invoke(health_command, args).exit_code == 0  # the ledger alone: ok
    red = CliRunner().invoke(health_command, [*args, "--ask-ftd"])
    assert red.exit_code == 2 and "2 FTD order(s) NEW for over 0 min" in red.output
    market.cycle()
    assert CliRunner().invoke(health_command, [*args, "--ask-ftd"]).exit_code == 0


def test_tampering_turns_health_red_and_a_fix_turns_it_green(market: Market) -> None:
    market.trade(4, oversell=0.0, seed=53)
    forgotten = market.control.tamper("never-confirm", 1)["changed"][0]
    save_last(market.store, market.reconcile())
    rules = HealthRules(max_silence_min=600)
    red = check_health(market.store, "sandbox", rules=rules, now=market.now)
    assert not red.ok and red.line().endswith("found 1 problem(s): 1 pending_too_long")
    market.control.confirm(str(forgotten["invoice_id"]))  # a person confirms it at last
    save_last(market.store, market.reconcile())
    assert check_health(market.store, "sandbox", rules=rules, now=market.now).ok


# --- health --all: every profile of the home ------------------------------------------------


def _profiles(home: Path, *names: str) -> None:
    (home / "profiles").mkdir(exist_ok=True)
    for name in names:
        (home / "profiles" / f"{name}.toml").write_text(TEST_PROFILE_TOML)


def _recent_sync(store: Store, profile: str, status: str = "ok") -> None:
    started = datetime.now(UTC) - timedelta(minutes=2)
    run_id = run_index.new_run_id("sync", started)
    run_index.create_run(store, run_id=run_id, profile=profile, kind="sync", started_at=started,
                         kit_version="t")  # fmt: skip
    run_index.finish_run(store, run_id, status=status, duration_s=1, reason="Komet 503",
                         failure_class="upstream" if status == "failed" else None,
                         finished_at=started + timedelta(seconds=1))  # fmt: skip


def test_health_all_lists_every_profile_failing_ones_first_and_exits_with_the_worst(
    home: Path, store: Store
) -> None:
    _profiles(home, "alpha", "beta", "gamma")
    _recent_sync(store, "alpha")
    _recent_sync(store, "beta")
    for _ in range(3):
        _recent_sync(store, "beta", "failed")
    # gamma never ran

    red = CliRunner().invoke(health_command, ["--all"])

    assert red.exit_code == 2
    lines = red.output.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["beta", "gamma", "alpha"]
    assert lines[0].startswith("critical: beta: 3 sync cycles failed in a row (last: Komet 503)")
    assert lines[1].startswith("critical: gamma: no sync has ever succeeded")
    # every line says the profile's last success, orders waiting, held orders and failures
    assert lines[2].startswith("ok: alpha: ") and "last sync ok 2 min ago" in lines[2]
    assert "0 order(s) NEW" in lines[2] and "no order held" in lines[2]
    assert "0 failed in a row" in lines[2] and "last sync ok" in lines[0]

    as_json = CliRunner().invoke(health_command, ["--all", "--json"])
    assert as_json.exit_code == 2
    listed = json.loads(as_json.output)
    assert [(h["profile"], h["ok"]) for h in listed] == [
        ("beta", False), ("gamma", False), ("alpha", True),
    ]  # fmt: skip

    _recent_sync(store, "beta")
    _recent_sync(store, "gamma")
    green = CliRunner().invoke(health_command, ["--all"])
    assert green.exit_code == 0
    assert [line[:3] for line in green.output.splitlines()] == ["ok:"] * 3


def test_health_wants_one_profile_or_all(home: Path) -> None:
    assert CliRunner().invoke(health_command, []).exit_code == 2
    both = CliRunner().invoke(health_command, ["--all", "--profile", "acme"])
    assert both.exit_code == 2 and "either --profile NAME or --all" in both.output
    none = CliRunner().invoke(health_command, ["--all"])
    assert none.exit_code == 2 and none.output.startswith("critical: no profiles under ")

"""A cycle read at a glance: the headline, the notebook's warnings section, the HTML copy."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Twin

from komet_ftd_ops.cli import runs as cli_runs
from komet_ftd_ops.errors import ServiceUnavailable
from komet_ftd_ops.http.retry import RetryPolicy
from komet_ftd_ops.offers.feed import FeedOutcome
from komet_ftd_ops.orders.report import OrdersReport
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.cells import collect_warnings, show
from komet_ftd_ops.runs.headline import headline, problems
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.sync import CycleReport

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _report(dry_run: bool = False) -> CycleReport:
    orders = OrdersReport(
        "acme", received=5, invoiced=4, acknowledged=4, confirmed=2, rejected=1, parked=1
    )
    feed = FeedOutcome("delta", "", "f-1", 8, True, 12, 3, rejected=[{"offer_id": "x"}])
    report = CycleReport("acme", NOW, dry_run, feed=feed, orders=orders)
    report.komet_calls_cycle, report.komet_calls_today = 9, 310
    return report


def test_the_headline_gives_every_order_count_and_the_feed() -> None:
    assert _report().headline() == (
        "profile acme | orders: 5 received, 4 invoiced, 4 acknowledged, 2 confirmed, "
        "1 rejected, 1 parked | delta feed: 12 published, 3 withdrawn, 1 rejected by FTD | "
        "Komet calls 9 this cycle, 310 today"
    )


def test_the_run_index_headline_is_the_same_from_counters_alone() -> None:
    counters = json.loads(json.dumps(_report().counters()))  # as the run index keeps them
    line = headline(counters)

    assert line.startswith("orders: 5 received, 4 invoiced, 4 acknowledged, 2 confirmed")
    assert "delta feed: 12 published" in line and "9 this cycle, 310 today" in line
    assert problems(counters) == ["1 order(s) parked", "1 offer(s) rejected by FTD"]
    assert headline({"offers": 3}) == ""  # a notebook that records no cycle says nothing


def test_the_headline_says_how_old_the_listed_stock_is_and_the_share_used() -> None:
    report = _report()
    report.staleness = {"median": 4.4, "p95": 87.6, "max": 117.0}
    counters = json.loads(json.dumps(report.counters()))
    counters["quota_share_used_pct"] = 41.2  # what a cycle with a quota plan records

    line = headline(counters)

    assert "| offer age, min: median 4, p95 88, max 117 |" in line
    assert line.endswith("Komet calls 9 this cycle, 310 today, 41% of the kit's share")
    assert "offer age, min: median 4, p95 88, max 117" in report.headline()
    assert "offer age" not in _report().headline()  # no offers read: no ages to give


def test_a_dry_run_headline_says_what_would_be_sent() -> None:
    line = headline(_report(dry_run=True).counters())

    assert line.startswith("DRY RUN | orders: 5 received")
    assert "12 would publish, 3 to withdraw" in line


def test_a_cycle_without_inventory_says_no_feed_went_out() -> None:
    report = CycleReport("acme", NOW, False, orders=OrdersReport("acme"))

    assert "feed: none (inventory not refreshed this cycle)" in report.headline()
    assert "0 received, 0 invoiced, 0 acknowledged, 0 confirmed" in report.headline()


def test_retry_warnings_are_collected_not_written_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tries = iter([ServiceUnavailable("komet inventory.list: 503"), None])

    def flaky() -> str:
        if (exc := next(tries)) is not None:
            raise exc
        return "read"

    with collect_warnings() as warnings:
        assert RetryPolicy(backoff_base=0).call(flaky, sleep=lambda _: None) == "read"

    table = warnings.table()
    assert list(table["source"]) == ["komet_ftd_ops.http.retry"]
    assert "retry 1 of 3" in table["message"][0] and table["level"][0] == "warning"
    assert capsys.readouterr().err == ""
    # Outside the block the kit's loggers are as they were.
    assert logging.getLogger("komet_ftd_ops").propagate is True
    assert warnings.table().shape[0] == 1


def test_collected_warnings_go_to_stderr_when_the_block_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RuntimeError), collect_warnings():
        logging.getLogger("komet_ftd_ops.http.retry").warning("ftd feed: 502; retry 1 of 3")
        raise RuntimeError("the cycle failed")

    assert (
        "WARNING komet_ftd_ops.http.retry: ftd feed: 502; retry 1 of 3" in capsys.readouterr().err
    )


def test_an_empty_table_shows_none(capsys: pytest.CaptureFixture[str]) -> None:
    show(OrdersReport("acme").parked_table(), "parked orders")

    assert capsys.readouterr().out == "parked orders: none\n"


def test_a_dry_run_prints_its_plan_and_its_html_copy_has_no_code(twin: Twin, kit: Home) -> None:
    result = CliRunner().invoke(cli_runs.run, ["sync", "--profile", "sandbox", "--dry-run"])

    assert result.exit_code == 0, result.output
    plan, path = result.stdout.strip().splitlines()[-2:]
    assert plan.startswith("plan (dry run, nothing was sent): DRY RUN | orders: 0 received")
    assert "full feed (first_cycle): " in plan and " would publish, " in plan
    notebook = Path(path)
    with kit.open_store() as store:
        (record,) = runs.list_runs(store)
    assert record.notebook == notebook and record.status == runs.OK

    page = notebook.with_suffix(".html").read_text()
    code_cells = re.findall(r'class="jp-Cell jp-CodeCell[^"]*"', page)
    assert len(code_cells) >= 8 and all("jp-mod-noInput" in c for c in code_cells)
    assert "collect_warnings(" not in page and 'class="jp-InputPrompt' not in page  # no code
    assert "collect_warnings(" in notebook.read_text()  # the notebook keeps it
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page  # no pink block
    first = page.index("profile sandbox | DRY RUN | orders: 0 received")
    assert first < page.index('<h2 id="Warnings">') < page.index("warnings: none")
    assert "orders this cycle: none" in page and "parked orders: none" in page

"""The run index: rows, counters, `runs list`, prune and index.html (no kernels here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from komet_ftd_ops.cli import runs as cli_runs
from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.html import write_index
from komet_ftd_ops.runs.prune import prune
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state.store import Store

NOW = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Home.at(home).open_store() as db:
        yield db


def _add(
    store: Store,
    home: Path,
    run_id: str,
    started: datetime,
    status: str = runs.OK,
    *,
    profile: str = "a",
    files: bool = True,
    counters: dict[str, object] | None = None,
) -> runs.RunRecord:
    notebook = html = None
    if files:
        folder = home / "runs" / profile / f"{started:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        notebook = folder / f"{started:%H%M%S}Z-sync.ipynb"
        html = notebook.with_suffix(".html")
        notebook.write_text("{}")
        html.write_text("<html></html>")
    runs.create_run(
        store,
        run_id=run_id,
        profile=profile,
        kind="sync",
        started_at=started,
        kit_version="0.1.0",
        notebook=notebook,
        html_path=html,
        scheduled_at=started - timedelta(seconds=2),
    )
    if counters:
        runs.record_counters(store, run_id, counters)
    if status == runs.RUNNING:
        return runs.get_run(store, run_id)
    failure = {runs.FAILED: "upstream", runs.TIMED_OUT: "deadline"}.get(status)
    return runs.finish_run(
        store,
        run_id,
        status=status,
        duration_s=3.25,
        failure_class=failure,
        reason=f"{status} <because>" if failure else None,
        html_path=html,
    )


def test_counters_merge_into_the_row_and_unknown_runs_are_refused(store: Store, home: Path) -> None:
    _add(store, home, "r1", NOW, runs.RUNNING)

    assert runs.record_counters(store, "r1", {"offers": 3, "withdrawn": 0})
    assert runs.record_counters(store, "r1", {"withdrawn": 2, "orders": 1})
    assert runs.get_run(store, "r1").counters == {"offers": 3, "withdrawn": 2, "orders": 1}
    assert runs.record_counters(store, "", {"offers": 1}) is False  # opened by hand
    with pytest.raises(ConfigError):
        runs.record_counters(store, "nope", {"offers": 1})


def test_finishing_keeps_the_notebooks_counters(store: Store, home: Path) -> None:
    record = _add(store, home, "r1", NOW, runs.OK, counters={"offers": 7})

    assert record.counters == {"offers": 7}
    assert record.duration_s == 3.25 and record.lateness_s == 2.0


def test_abandoned_running_rows_are_failed(store: Store, home: Path) -> None:
    _add(store, home, "r1", NOW, runs.RUNNING)
    _add(store, home, "r2", NOW, runs.RUNNING, profile="b")

    assert runs.fail_abandoned_runs(store, "a") == ["r1"]
    assert runs.get_run(store, "r1").status == runs.FAILED
    assert runs.get_run(store, "r2").status == runs.RUNNING


def _timeline(store: Store, home: Path) -> dict[str, runs.RunRecord]:
    """Ten days ago, hourly for profile a: ok ok ok FAILED (skipped) ok ok ok TIMED_OUT ok ok;
    profile b has old ok runs at the same hours; and one recent ok run."""
    old = NOW - timedelta(days=10)
    statuses = ["ok", "ok", "ok", "failed", "ok", "ok", "ok", "timed_out", "ok", "ok"]
    records = {}
    for i, status in enumerate(statuses):
        records[f"a{i}"] = _add(store, home, f"a{i}", old + timedelta(hours=i), status)
        records[f"b{i}"] = _add(
            store, home, f"b{i}", old + timedelta(hours=i, minutes=1), profile="b"
        )
    records["skip"] = _add(
        store, home, "skip", old + timedelta(hours=3, minutes=30), runs.SKIPPED, files=False
    )
    records["recent"] = _add(store, home, "recent", NOW - timedelta(days=1))
    return records


def test_prune_keeps_failures_and_their_neighbours(store: Store, home: Path) -> None:
    records = _timeline(store, home)
    expected = {"a0", "a1", "a5", "a9"} | {f"b{i}" for i in range(10)}

    planned = prune(store, Home.at(home), older_than_days=7, dry_run=True, now=NOW)
    assert {r.id for r in planned} == expected
    assert all(r.notebook.exists() for r in planned)  # a dry run deletes nothing

    pruned = prune(store, Home.at(home), older_than_days=7, now=NOW)
    assert {r.id for r in pruned} == expected
    for run_id, record in records.items():
        after = runs.get_run(store, run_id)
        if run_id in expected:
            assert not record.notebook.exists() and not record.html.exists()
            assert after.pruned_at is not None and after.notebook is None
        elif record.notebook is not None:
            assert record.notebook.exists() and after.pruned_at is None
    assert not (home / "runs" / "b").exists()  # empty folders went with their last run
    assert prune(store, Home.at(home), older_than_days=7, now=NOW) == []
    assert "pruned" in (home / "runs" / "index.html").read_text()


def test_runs_list_json_via_the_cli(store: Store, home: Path) -> None:
    _timeline(store, home)

    result = CliRunner().invoke(cli_runs.runs, ["list", "--json", "--profile", "a", "--limit", "3"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["recent", "a9", "a8"]
    for key in (
        "id",
        "profile",
        "kind",
        "status",
        "started_at",
        "duration_s",
        "notebook",
        "counters",
        "failure_class",
        "reason",
    ):
        assert key in rows[0]
    assert rows[2]["failure_class"] is None and rows[1]["status"] == "ok"
    human = CliRunner().invoke(cli_runs.runs, ["list", "--limit", "2"])
    assert human.exit_code == 0 and len(human.stdout.splitlines()) == 2


def test_runs_prune_via_the_cli_says_what_it_would_remove(store: Store, home: Path) -> None:
    records = _timeline(store, home)
    # The CLI prunes against the real clock: everything in the timeline is in the past.
    result = CliRunner().invoke(cli_runs.runs, ["prune", "--older-than-days", "0", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert f"would remove a0: {records['a0'].notebook}" in result.stdout
    assert "a3" not in result.stdout and records["a0"].notebook.exists()


def test_the_index_is_static_newest_first_and_links_relative(store: Store, home: Path) -> None:
    _add(store, home, "old", NOW - timedelta(hours=1), runs.FAILED, counters={"offers": 2})
    _add(store, home, "new", NOW, runs.OK, counters={"offers": 5, "withdrawn": 1})

    page = write_index(store, Home.at(home)).read_text()

    table = page[page.index('<table id="runs">') :]  # every run, below the ones needing a look
    assert table.index(f"{NOW:%H:%M:%S}") < table.index(f"{NOW - timedelta(hours=1):%H:%M:%S}")
    assert f'href="a/{NOW:%Y-%m-%d}/{NOW:%H%M%S}Z-sync.html"' in page
    assert 'class="status failed"' in page and 'class="status ok"' in page
    assert "offers=5 · withdrawn=1" in page
    assert "&lt;because&gt;" in page  # reasons are escaped
    assert "<style>" in page and "<link" not in page and "<script" not in page
    assert [p.name for p in (home / "runs").iterdir() if p.is_file()] == ["index.html"]


def test_a_run_with_a_parked_order_comes_first_marked_as_a_problem(
    store: Store, home: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cycle = {"orders_received": 0, "orders_invoiced": 0, "orders_parked": 0, "dry_run": False}
    parked = {**cycle, "orders_received": 5, "orders_invoiced": 4, "orders_parked": 1}
    _add(
        store, home, "parked", now - timedelta(hours=2), counters={**parked, "offers_published": 40}
    )
    _add(store, home, "idle", now - timedelta(hours=1), counters=cycle)

    page = write_index(store, Home.at(home)).read_text()

    needs_a_look = page[page.index("Needs a look") : page.index("All runs")]
    assert (
        "1 order(s) parked" in needs_a_look
        and f"{now - timedelta(hours=1):%H:%M:%S}" not in needs_a_look
    )
    first_row = needs_a_look[needs_a_look.index("<tbody>") :].split("</tr>")[0]
    assert '<tr class="problem">' in first_row and "5 received, 4 invoiced" in first_row
    assert "1 parked" in first_row
    idle_row = next(r for r in page.split("</tr>") if f"{now - timedelta(hours=1):%H:%M:%S}" in r)
    assert '<tr class="routine">' in idle_row and "0 received" in idle_row
    assert "<svg" in page and "orders received (5, peak 5/h)" in page
    assert "offers published (40, peak 40/h)" in page

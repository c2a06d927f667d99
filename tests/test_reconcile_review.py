"""Run review: a note and a time in the state database; reviewed runs leave the to-review list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from komet_ftd_ops.cli.runs import runs as runs_group
from komet_ftd_ops.errors import ConfigError, DataError
from komet_ftd_ops.runs import index as run_index
from komet_ftd_ops.runs.review import review_run, reviewed_at, unreviewed_failures, unreviewed_frame
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state.store import Store

T0 = datetime(2026, 11, 28, 9, tzinfo=UTC)


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store(Home.at(home).state_db) as s:
        for n, status in enumerate(("ok", "failed", "timed_out", "skipped", "failed")):
            run_index.create_run(s, run_id=f"run-{n}", profile="acme" if n < 4 else "other",
                                 kind="sync", started_at=T0 + timedelta(minutes=n),
                                 kit_version="t")  # fmt: skip
            run_index.finish_run(s, f"run-{n}", status=status, duration_s=1, reason=f"why {n}")
        yield s


def test_failed_runs_stay_on_the_list_until_reviewed(store: Store) -> None:
    assert [r.id for r in unreviewed_failures(store, "acme")] == ["run-2", "run-1"]  # newest first
    assert [r.id for r in unreviewed_failures(store)] == ["run-4", "run-2", "run-1"]
    record = review_run(store, "run-1", "  Komet 503 for\n ten minutes; healed ", now=T0)
    assert record.reviewed == "Komet 503 for ten minutes; healed"  # one line
    assert reviewed_at(store, "run-1") == "2026-11-28T09:00:00.000000Z"
    assert [r.id for r in unreviewed_failures(store, "acme")] == ["run-2"]
    frame = unreviewed_frame(store, "acme")
    assert list(frame["id"]) == ["run-2"] and frame.loc[0, "reason"] == "why 2"


def test_a_review_needs_a_known_run_and_a_note(store: Store) -> None:
    with pytest.raises(ConfigError, match="no run 'nope'"):
        review_run(store, "nope", "x")
    with pytest.raises(DataError, match="needs a note"):
        review_run(store, "run-1", "   ")
    with pytest.raises(DataError, match="under 500"):
        review_run(store, "run-1", "x" * 501)


def test_runs_review_command_and_runs_list_show_it(home: Path, store: Store) -> None:
    runner = CliRunner()
    done = runner.invoke(runs_group, ["review", "run-2", "--note", "deadline: FTD slow; raised it"])
    assert done.exit_code == 0, done.output
    assert done.output == "reviewed run-2 (timed_out): deadline: FTD slow; raised it\n"
    listed = json.loads(runner.invoke(runs_group, ["list", "--profile", "acme", "--json"]).output)
    assert {r["id"]: r["reviewed"] for r in listed}["run-2"] == "deadline: FTD slow; raised it"
    assert (home / "runs" / "index.html").exists()  # rebuilt after the review
    missing = runner.invoke(runs_group, ["review", "run-9", "--note", "x"])
    assert missing.exit_code != 0

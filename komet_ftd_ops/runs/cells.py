"""What the run notebooks' cells call to show a cycle: its warnings and its tables.

A kernel has no logging handler, so Python's last-resort handler writes every warning to
stderr, which Jupyter draws as a pink error block, above the headline of a run that went fine
(a retried read is routine). Inside `collect_warnings()` the kit's log records (and Python
warnings) go to a collector instead, and the notebook shows them as a table under a
"Warnings" heading, after the headline. Empty tables print "none" rather than bare headers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd

# The kit's own loggers, httpx (the clients' transport) and Python's `warnings` (pandas...).
COLLECTED_LOGGERS = ("komet_ftd_ops", "httpx", "py.warnings")
WARNING_COLUMNS = ["time (UTC)", "level", "source", "message"]


class LogCollector(logging.Handler):
    """Keeps the records it is handed; the notebook shows them later as a table."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def table(self) -> pd.DataFrame:
        rows = [
            (
                datetime.fromtimestamp(r.created, UTC).strftime("%H:%M:%S"),
                r.levelname.lower(),
                r.name,
                r.getMessage(),
            )
            for r in self.records
        ]
        return pd.DataFrame(rows, columns=WARNING_COLUMNS)


@contextmanager
def collect_warnings(level: int = logging.WARNING) -> Iterator[LogCollector]:
    """Route the kit's warnings to a collector (not stderr) for the block.

    If the block raises, the collected records go to stderr after all, with the traceback they
    explain (a retry that failed three times is the story of the failure).
    """
    collector = LogCollector(level)
    loggers = [logging.getLogger(name) for name in COLLECTED_LOGGERS]
    saved = [(lg, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(collector)
        lg.propagate = False
    logging.captureWarnings(True)
    try:
        yield collector
    except BaseException:
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        for record in collector.records:
            print(formatter.format(record), file=sys.stderr)
        raise
    finally:
        logging.captureWarnings(False)
        for lg, propagate in saved:
            lg.removeHandler(collector)
            lg.propagate = propagate


def show(table: pd.DataFrame, what: str = "") -> None:
    """Display a table, or print 'none' (with what it is) when it has no rows."""
    if table.empty:
        print(f"{what}: none" if what else "none")
        return
    from IPython.display import display  # only inside a kernel

    if what:
        print(f"{what}:")
    display(table)


def warm_display() -> None:
    """Format a tiny table once as `show`'s display will (every mime type, published nowhere).

    The first display of a DataFrame in a process imports and builds pandas' HTML writer and
    IPython's formatters, about 0.3 s; a warm kernel (`runs.child --preload`) calls this between
    ticks so that a run's table cells pay only for their own tables.
    """
    from IPython import get_ipython

    table = pd.DataFrame({"warm": ["up"], "n": [1]})
    shell = get_ipython()
    if shell is None:  # not in a kernel: what display would call
        table._repr_html_()
        repr(table)
        return
    shell.display_formatter.format(table)

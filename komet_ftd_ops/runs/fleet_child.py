"""One run of `schedule --all`: the runner in a process of its own (the pool is `runs.fleet`).

    python -m komet_ftd_ops.runs.fleet_child PROFILE SCHEDULED_AT RESULT [--dry-run]
                                             [--notebook PATH]
    python -m komet_ftd_ops.runs.fleet_child --warm [--dry-run] [--notebook PATH]

--warm: a slot's warm runner. It starts its papermill child and kernel at once (the kernel
imports the run notebook's modules: `runs.kernel.WarmSlot`), then waits for one line on stdin,
{"profile", "scheduled_at", "result"}, and from there does what a cold runner does. End of file
instead: it stops its kernel and exits 0. The kernel is this process's (through the papermill
child) and dies with it.

The home comes from KOMET_FTD_OPS_HOME (the pool sets it). Exit code: the runner's (see
`runs.runner`). RESULT gets one JSON object, {"run_id", "status", "exit_code", "line"}, which
the pool logs; the run itself (its row, notebook, secret scan, deadline) is the runner's.
SIGTERM is Ctrl-C here: the runner kills its notebook and kernel and records the run
interrupted, and the process exits 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import KometFtdOpsError
from ..settings.home import Home
from .kernel import WarmSlot
from .processes import terminate_as_interrupt
from .runner import (
    EXIT_INTERRUPTED,
    exit_code_for,
    exit_code_for_run,
    notebooks_dir,
    prepare_runner,
    run_sync_notebook,
)
from .scheduler import describe_run


def _write(result: Path, **data: Any) -> None:
    tmp = result.with_name(f".{result.name}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(result)  # the pool never reads half a result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="komet_ftd_ops.runs.fleet_child")
    parser.add_argument("profile", nargs="?")
    parser.add_argument("scheduled_at", nargs="?", type=datetime.fromisoformat)
    parser.add_argument("result", nargs="?", type=Path)
    parser.add_argument("--warm", action="store_true", help="wait on stdin for the profile")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--notebook", type=Path, default=None)
    args = parser.parse_args(argv)
    home = Home.from_environment()
    warm = None
    if args.warm:
        warm = WarmSlot(home, args.notebook or notebooks_dir() / "sync.ipynb")
        warm.refill()
        prepare_runner(home)
        line = sys.stdin.readline()  # blocks until the pool hands this slot a run
        if not line.strip():
            warm.close()
            return 0
        job = json.loads(line)
        args.profile, args.result = job["profile"], Path(job["result"])
        args.scheduled_at = datetime.fromisoformat(job["scheduled_at"])
    elif args.result is None:
        parser.error("give PROFILE SCHEDULED_AT RESULT, or --warm")
    # Warnings only: the pool logs each run's outcome line; the profile names the line.
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s %(levelname)s {args.profile}: %(message)s"
    )
    try:
        return _run(args, home, warm)
    finally:
        if warm is not None:  # unused when the run was skipped: stop its kernel cleanly
            warm.close()


def _run(args: argparse.Namespace, home: Home, warm: WarmSlot | None) -> int:
    try:
        with terminate_as_interrupt():
            record = run_sync_notebook(
                args.profile,
                home=home,
                dry_run=args.dry_run,
                scheduled_at=args.scheduled_at,
                notebook=args.notebook,
                warm=warm,
            )
    except KeyboardInterrupt:  # the runner recorded the run as interrupted
        _write(args.result, run_id=None, status=None, exit_code=EXIT_INTERRUPTED,
               line="stopped (Ctrl-C or SIGTERM); the run is recorded as interrupted")  # fmt: skip
        return EXIT_INTERRUPTED
    except KometFtdOpsError as exc:  # could not start: a broken profile, a missing notebook
        code = exit_code_for(exc)
        _write(args.result, run_id=None, status=None, exit_code=code, line=f"could not run: {exc}")
        return code
    code = exit_code_for_run(record)
    _write(args.result, run_id=record.id, status=record.status, exit_code=code,
           line=describe_run(record))  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main())

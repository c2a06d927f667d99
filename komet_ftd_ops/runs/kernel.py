"""The runner's side of its papermill child (`runs.child`): started, handed a run, waited for.

    NotebookChild.start(home, source)        the child starts its kernel at once, which
                                             imports the notebook's modules as it starts
                                             (while the child loads papermill): a cold run
    NotebookChild.start(..., warm=True)      ... and waits for a run: the scheduler's warm
                                             kernel, started between ticks
    child.run(spec, lock_fd, deadline_s)     hand the run over (the lock's descriptor rides
                                             along), wait; at the deadline kill the child's
                                             process tree, kernel included
    child.close()                            an unused or finished child: end it, remove its
                                             temporary folder

One way for both: a cold run starts its child and hands the run over at once; a warm one was
started earlier, by the scheduler (`WarmSlot`), in the process that will run it. The child and
its kernel die with that process (parent-death signals), so a warm kernel never outlives its
runner, and it holds no lock until a run is handed over (then it holds the run's, as a cold
kernel does: `runs.handoff`).
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings.home import HOME_VARIABLE, Home, environment
from .processes import kill_process_tree

CHILD_MODULE = "komet_ftd_ops.runs.child"
CLOSE_WAIT_S = 10  # for a finished child to stop its kernel and exit, before it is killed
# `import a.b` / `from a.b import c` at the start of a line of a code cell
_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


def notebook_imports(source: Path) -> list[str]:
    """The modules the notebook's code cells import (what a warm kernel imports ahead)."""
    try:
        cells = json.loads(source.read_text(encoding="utf-8")).get("cells") or []
    except (OSError, ValueError, AttributeError):
        return []
    found: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        text = "".join(cell.get("source") or [])
        for match in _IMPORT.finditer(text):
            name = match.group(1) or match.group(2)
            if not name.startswith(".") and name not in found:
                found.append(name)
    return found


@dataclass(frozen=True)
class ChildResult:
    """How the child ended: `timed_out` (killed at the deadline), else its exit code and the
    result file's content (None when it wrote none) and the last line of its log."""

    timed_out: bool
    returncode: int | None
    result: dict[str, Any] | None
    log_tail: str


class NotebookChild:
    """One papermill child process and its kernel; used for at most one run."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, tmp: Path,
                 source: Path, cleanup: tempfile.TemporaryDirectory[str]) -> None:  # fmt: skip
        self.proc, self.sock, self.tmp, self.source = proc, sock, tmp, source
        self._cleanup = cleanup
        self.used = False

    @classmethod
    def start(cls, home: Home, source: Path, *, warm: bool = False) -> NotebookChild:
        cleanup = tempfile.TemporaryDirectory(prefix="komet-ftd-ops-run-")
        tmp = Path(cleanup.name)
        env = {
            **environment(),
            HOME_VARIABLE: str(home.root),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),  # connection files go with tmp
        }
        argv = [sys.executable, "-m", CHILD_MODULE, str(tmp / "result.json"), str(os.getpid()),
                str(source.parent), "--preload", ",".join(notebook_imports(source))]  # fmt: skip
        if warm:
            argv.append("--warm")
        ours, theirs = socket.socketpair()
        try:
            with (tmp / "child.log").open("wb") as log_fh:
                proc = subprocess.Popen(
                    argv,
                    stdin=theirs.fileno(),  # the spec (and the lock's descriptor) arrive here
                    stdout=log_fh,
                    stderr=subprocess.STDOUT,
                    cwd=home.root,
                    env=env,
                    start_new_session=True,
                )
        except BaseException:
            ours.close()
            cleanup.cleanup()
            raise
        finally:
            theirs.close()
        return cls(proc, ours, tmp, source, cleanup)

    def alive(self) -> bool:
        return not self.used and self.proc.poll() is None

    def ready(self) -> bool:
        """A warm child whose kernel is up and has imported the notebook's modules."""
        return self.alive() and (self.tmp / "ready").exists()  # child.READY

    def run(
        self,
        spec: dict[str, Any],
        deadline_s: float,
        lock_fd: int | None = None,
    ) -> ChildResult:
        """Hand the run over and wait until the child has written its result (it then stops
        its kernel while the runner goes on: `close` waits for that) or has ended; kill it and
        its kernel at the deadline (or on any exception, Ctrl-C included, which is re-raised)."""
        self.used = True
        ends = time.monotonic() + deadline_s
        try:
            try:
                socket.send_fds(self.sock, [json.dumps(spec).encode()],
                                [lock_fd] if lock_fd is not None else [])  # fmt: skip
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:  # the child died before the run: its log says why
                pass
            # a byte when the result is written, end of file when the child exits
            readable, _, _ = select.select([self.sock], [], [], deadline_s)
            if not readable:
                raise subprocess.TimeoutExpired(CHILD_MODULE, deadline_s)
            result_file = self.tmp / "result.json"
            if not result_file.exists():  # it ended without a result: let it finish dying
                self.proc.wait(timeout=max(0.0, ends - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_process_tree(self.proc)
            return ChildResult(True, None, None, "")
        except BaseException:
            kill_process_tree(self.proc)
            raise
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        lines = [x for x in self._log().splitlines() if x.strip()]
        return ChildResult(False, self.proc.poll(), result, lines[-1] if lines else "no output")

    def _log(self) -> str:
        try:
            return (self.tmp / "child.log").read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """End the child if it still runs (an unused warm kernel), remove its folder."""
        self.used = True
        self.sock.close()  # an unused child reads end of file and stops its kernel
        if not _exited_within(self.proc, CLOSE_WAIT_S):
            kill_process_tree(self.proc)
        self._cleanup.cleanup()


def _exited_within(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for `proc` to exit, at most `timeout_s`; True if it did (and is reaped).

    The end of a run waits here for the child (its kernel gone before it: the lock is free only
    then). `Popen.wait(timeout)` polls with sleeps of up to 50 ms; a pidfd (Linux 5.3) becomes
    readable the moment the process exits."""
    if proc.poll() is not None:  # reaped: its pid may be another process's by now
        return True
    try:
        pidfd = os.pidfd_open(proc.pid)  # not reaped: the pid is still this process's
    except OSError:  # an older kernel
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if not readable:
        return False
    proc.wait()  # exited: reaps at once
    return True


class WarmSlot:
    """At most one warm child for the next run of `source`, in the process that will run it
    (a slot of the scheduler): `refill()` between ticks, `take()` at the tick."""

    def __init__(self, home: Home, source: Path) -> None:
        self.home, self.source = home, source.resolve()
        self.child: NotebookChild | None = None

    def refill(self) -> None:
        if self.child is not None and not self.child.alive():
            self.child.close()
            self.child = None
        if self.child is None:
            self.child = NotebookChild.start(self.home, self.source, warm=True)

    def take(self, source: Path) -> NotebookChild | None:
        """The warm child, if it is alive and for this notebook; the slot is then empty."""
        child, self.child = self.child, None
        if child is not None and child.alive() and child.source == source.resolve():
            return child
        if child is not None:
            child.close()
        return None

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
            self.child = None

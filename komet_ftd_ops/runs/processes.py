"""The OS side of a run: the per-profile lock (`state.lease`), stop signals, and killing a run
with its kernel."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from ..settings.home import Home
from ..state.lease import Lease, hold_lease, home_url, store_url

if TYPE_CHECKING:
    import psutil

    from ..state.store import Store


# The lock's outcome: `fd` (SQLite: the flocked descriptor, hand it to every process of the run),
# `env` (PostgreSQL: what those processes need to re-check the lease), or `held_by` who has it.
ProfileLock = Lease


def lock_held_reason(profile: str, holder: str) -> str:
    """Why a run was skipped: what the lock (or the lease's holder) says of the run holding it."""
    return f"another run of profile {profile!r} holds the lock ({holder})"


@contextmanager
def acquire_profile_lock(
    home: Home, profile: str, note: str = "", *, store: Store | None = None
) -> Iterator[ProfileLock]:
    """Try the profile's run lock, non-blocking; release it (our share of it) on leaving.

    On SQLite the OS flock (`state.lease.flock_lease`: the runner hands `fd` to its child and
    the child to the kernel, so the lock lasts exactly as long as anything of the run is alive);
    on PostgreSQL the advisory lease of `state.lease`, held by this process, which the run's
    processes re-check before each write (`env`). `store` is the home's open store, when the
    caller has one (it says which database); else the home's settings do.
    """
    url = store_url(store) if store is not None else home_url(home)
    with hold_lease(home, profile, note, url) as lease:
        yield lease


@contextmanager
def profile_lock(home: Home, profile: str, note: str = "") -> Iterator[str | None]:
    """Hold the profile's run lock, non-blocking. Yields None if we hold it, else who holds it.

    The lock dies with its process (an flock, or the lease's database session), so a crashed
    runner never leaves the profile locked.
    """
    with acquire_profile_lock(home, profile, note) as lock:
        yield lock.held_by


# --- dying with the parent ------------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), and die at once if the
    parent is already gone (it may have died before this call: then we were re-parented).

    The run's processes each hold the profile lock (see `acquire_profile_lock`), so a survivor
    could not overlap the next run anyway (on PostgreSQL only the runner holds the lease, and
    the others re-check it before each write: `state.lease`); dying with the parent means a killed runner does not
    leave a headless notebook working on until it blocks the next runs. Elsewhere a no-op
    besides the parent check: the inherited lock still keeps runs apart, and the kernel's own
    parent poller (JPY_PARENT_PID) ends an orphaned kernel within a second.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent_preexec(parent_pid: int) -> Callable[[], None]:
    """`die_with_parent` as a Popen `preexec_fn`: runs in the new process before it execs the
    kernel (the death signal survives exec), so no gap exists in which the kernel is started
    but not yet bound to its parent."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def _bind() -> None:
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return _bind


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while inside (main thread only), so that both stop
    a run the same way: kill the child's process group, record the run, re-raise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def kill_process_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group and the group of every descendant.

    jupyter_client starts the kernel in a session of its own, so killing the child's group
    alone would leave the kernel running. The child is stopped first so it cannot start
    anything new while its descendants are listed.
    """
    # psutil (a dependency of ipykernel) only here: every process of a run imports this module,
    # and only a kill needs it.
    import psutil

    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGSTOP)
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    groups = {proc.pid}
    for child in descendants:
        with suppress(ProcessLookupError, psutil.NoSuchProcess):
            groups.add(os.getpgid(child.pid))
    groups.discard(os.getpgrp())  # never our own group
    for group in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    for child in descendants:
        with suppress(psutil.NoSuchProcess):
            child.kill()
    proc.wait()
    _wait_gone(descendants, timeout=5)


def _wait_gone(processes: list[psutil.Process], timeout: float) -> None:
    # Not our children, so not ours to reap: dead means gone or a zombie.
    import psutil

    deadline = time.monotonic() + timeout
    for process in processes:
        while time.monotonic() < deadline:
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)

"""The OS side of a run: the per-profile lock, stop signals, and killing a run with its kernel."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil  # a dependency of ipykernel


def lock_path(root: Path, profile: str) -> Path:
    return root / "locks" / f"{profile}.lock"


@contextmanager
def profile_lock(root: Path, profile: str, note: str = "") -> Iterator[str | None]:
    """Hold the profile's run lock, non-blocking. Yields None if held, else who holds it.

    An flock dies with its process, so a crashed runner never leaves the profile locked.
    """
    path = lock_path(root, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = True
        else:
            held = False
        if held:
            yield path.read_text(errors="replace").strip() or "another process"
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {note}\n".encode(), 0)
        try:
            yield None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
    deadline = time.monotonic() + timeout
    for process in processes:
        while time.monotonic() < deadline:
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)

"""Filesystem trouble during a run: which errors are the disk's, a check before the run starts,
and what to do with a notebook the disk cut short.

A full disk or a read-only `runs/` must end the run as `failed` (class `filesystem`, exit 74)
with one line saying so, and the run's row in the state database (which lives beside `runs/`,
not in it) is then its record: a truncated `.ipynb` is never left to look like one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from contextlib import suppress
from pathlib import Path

from ..errors import FilesystemError

# The errors that say "this file cannot be written here", not "the kit has a bug".
FILESYSTEM_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}
)
# Room a run needs before it starts: a sync notebook and its HTML copy take some tens of KB; a run
# that cannot even start its record is refused before its cells touch Komet or FTD.
MIN_FREE_BYTES = 64 * 1024
PARTIAL_SUFFIX = ".partial"


def is_filesystem_errno(code: int | None) -> bool:
    return code is not None and code in FILESYSTEM_ERRNOS


def filesystem_error(exc: OSError, doing: str) -> FilesystemError:
    """One line: what could not be done, where, and why (`[Errno 28] No space left...`)."""
    where = f" ({exc.filename})" if exc.filename else ""
    why = exc.strerror or str(exc)
    return FilesystemError(f"{doing}: {why}{where}", errno=exc.errno)


def check_room(folder: Path, min_free: int = MIN_FREE_BYTES) -> None:
    """Raise FilesystemError unless `folder` exists (made if need be), is writable and has
    `min_free` bytes free. A probe file is written and removed: the mode bits alone do not say
    whether a read-only mount (or root on one) can write."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        if not is_filesystem_errno(exc.errno):
            raise
        raise filesystem_error(exc, "the run's folder cannot be written") from None
    if free < min_free:
        raise FilesystemError(
            f"only {free // 1024} KB free in {folder} (a run needs {min_free // 1024} KB): "
            "make room, then run again",
            errno=errno.ENOSPC,
        )


def _complete(notebook: Path) -> bool:
    try:
        json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def set_aside_partial(notebook: Path) -> Path | None:
    """After a filesystem failure: a notebook that is not whole JSON is renamed `.partial` (or
    removed if it cannot be renamed); returns where the notebook now is, None if it is gone."""
    if not notebook.exists():
        return None
    if _complete(notebook):
        return notebook
    partial = notebook.with_name(notebook.name + PARTIAL_SUFFIX)
    try:
        os.replace(notebook, partial)
        return partial
    except OSError:
        with suppress(OSError):
            notebook.unlink()
    return notebook if notebook.exists() else None

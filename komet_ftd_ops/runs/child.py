"""The runner's child process: one papermill run, `python -m komet_ftd_ops.runs.child`.

The protocol (`runner._run_child` is the other side):

    stdin     one JSON object: input, output, parameters, cwd, result (paths as strings),
              lock_fd (the profile lock, inherited; or null), parent_pid (the runner)
    result    the file named by spec["result"] gets {"ok": true}, or {"ok": false,
              "in_notebook": <raised by a cell?>, "ename": <class name>, "evalue": <message>,
              "errno": <the OSError's errno, or null>}
    stdout    papermill's and the kernel's chatter; the runner keeps it as a log and reads only
              its last line, when no result file was written

The result goes to a file so that nothing the notebook prints can be mistaken for it. The
runner runs this in its own session and kills the whole group at the deadline.

No run may outlive its lock, nor its runner: this process dies with the runner (a parent-death
signal), the kernel dies with this process (the same, set before the kernel's exec), and both
inherit the locked descriptor, so the profile stays locked until the last of them is gone
(`runs.processes.acquire_profile_lock`). With the state in PostgreSQL the runner alone holds the
lease; the kernel inherits `KOMET_FTD_OPS_LEASE` in its environment and its store re-checks the
lease before every write (`state.lease`).
"""

import sys

# Before any other import: jsonschema (pulled in by papermill and nbformat) imports
# rfc3987_syntax only to check IRI formats, which notebooks never use, and building its grammar
# costs about 2 s in every fresh process. A None entry marks the module absent, so jsonschema
# skips those checks and papermill loads in well under a second instead of three. (The runner's
# SKIP_SLOW_IMPORT is the same name; it is not imported from there because importing the runner
# would load half the kit before this line. `komet_ftd_ops/__init__.py` and
# `runs/__init__.py`, which run before this module, import nothing.)
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import json  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402


def _kernel_manager_class(lock_fd: int | None) -> type:
    """jupyter_client's kernel manager, launching the kernel bound to this process: it gets the
    lock descriptor and dies when this process dies (jupyter_client starts kernels in a session
    of their own, which a kill of our group would not reach)."""
    from jupyter_client.manager import AsyncKernelManager

    from .processes import die_with_parent_preexec

    class BoundKernelManager(AsyncKernelManager):  # type: ignore[misc]
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if lock_fd is not None:
                kw["pass_fds"] = (*kw.get("pass_fds", ()), lock_fd)
            kw["preexec_fn"] = die_with_parent_preexec(os.getpid())
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return BoundKernelManager


def _errno(exc: BaseException) -> int | None:
    """The errno of the OSError behind `exc` (papermill may wrap it), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook the spec names; the result as the runner reads it."""
    import papermill  # after the line above, and only once the spec has been read

    try:
        papermill.execute_notebook(
            spec["input"],
            spec["output"],
            parameters=spec["parameters"],
            kernel_name="python3",
            language="python",
            cwd=spec["cwd"],
            progress_bar=False,
            log_output=False,
            kernel_manager_class=_kernel_manager_class(spec.get("lock_fd")),
        )
    except papermill.PapermillExecutionError as exc:  # a cell raised
        return {"ok": False, "in_notebook": True, "ename": exc.ename, "evalue": exc.evalue}
    except Exception as exc:  # papermill itself could not run it (bad notebook, no kernel...)
        return {
            "ok": False,
            "in_notebook": False,
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "errno": _errno(exc),
        }
    return {"ok": True}


def main() -> None:
    spec = json.load(sys.stdin)
    if spec.get("parent_pid"):
        from .processes import die_with_parent

        die_with_parent(int(spec["parent_pid"]))
    result = run(spec)
    with open(spec["result"], "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()

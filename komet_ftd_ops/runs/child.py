"""The runner's child process: one papermill run on a kernel it starts first.

    python -m komet_ftd_ops.runs.child RESULT PARENT_PID CWD [--warm] [--preload MOD,MOD...]

`runs.kernel.NotebookChild` is the other side. The child

1. dies with the runner (a parent-death signal);
2. reads the spec from stdin (a Unix socket from the runner, or a pipe by hand): one JSON
   object, input, output, parameters, cwd, env (what the run adds to the kernel's environment:
   the PostgreSQL lease), then end of file. The profile lock's descriptor, when the run holds an
   flock, rides along the first bytes (SCM_RIGHTS). A cold run's spec is there at once, and is
   read first, so the kernel inherits the lock at its start; a warm child (--warm, the
   scheduler's) reads it only after step 3, blocking until the tick hands the run over;
3. starts the kernel in CWD, bound to itself the same way (the kernelspec's command, ipykernel
   without its debugger: `runs.ipykernel_launch`); with --preload the kernel imports those
   modules as it starts (the run notebook's imports: a cold run's kernel pays them while this
   process loads papermill, a warm one between ticks);
4. hands the lock, env and cwd to the kernel over a socket the kernel inherited at its start
   (`runs.handoff`): a warm kernel then holds the lock exactly as if it had inherited it, so the
   profile stays locked until the last process of the run is gone. Until then a warm kernel
   belongs to no run and holds nothing;
5. has papermill execute the notebook on that kernel (papermill passes `km=` to nbclient's
   NotebookClient, which then neither starts nor stops a kernel), writes the result file, and
   shuts the kernel down.

RESULT gets {"ok": true}, or {"ok": false, "in_notebook": <raised by a cell?>, "ename",
"evalue", "errno": <the OSError's errno, or null>}. The result goes to a file so that nothing
the notebook prints can be mistaken for it; stdout is papermill's and the kernel's chatter,
which the runner keeps as a log. The runner runs this in its own session and kills the whole
group at the deadline.

The kernel's environment does not depend on the profile (it may start before the profile is
known): the home, a runtime folder, and the handoff socket's number.
"""

import sys
from types import ModuleType

# Before any other import: jsonschema (pulled in by papermill and nbformat) imports
# rfc3987_syntax only to check IRI formats, which notebooks never use, and building its grammar
# costs about 2 s in every fresh process. A None entry marks the module absent, so jsonschema
# skips those checks and papermill loads in well under a second instead of three. (The runner's
# SKIP_SLOW_IMPORT is the same name; it is not imported from there because importing the runner
# would load half the kit before this line. `komet_ftd_ops/__init__.py` and
# `runs/__init__.py`, which run before this module, import nothing.)
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
# papermill imports pyarrow.fs (pyarrow and numpy with it, a third of a second) to read notebooks
# from HDFS, inside a try that accepts its absence; run notebooks are local files.
sys.modules.setdefault("pyarrow.fs", None)  # type: ignore[arg-type]
# The other optional checkers of jsonschema's formats, for the same reason as rfc3987_syntax (the
# notebook schema checks no such format): webcolors, arrow (isoduration's) and the rest cost
# about 0.07 s of CPU in every child. jsonschema imports each inside `suppress(ImportError)`.
for _name in ("fqdn", "rfc3986_validator", "rfc3339_validator", "webcolors", "jsonpointer",
              "uri_template", "isoduration"):  # fmt: skip
    sys.modules.setdefault(_name, None)  # type: ignore[arg-type]


class _ImportedOnFirstUse(ModuleType):
    """A stand-in in sys.modules that imports the real module on its first attribute access
    (then sys.modules holds the real one). papermill imports requests (with urllib3,
    charset_normalizer, idna: about 0.25 s of CPU) for notebooks at http:// addresses, and click
    for its own command line, at import time; a run reads and writes local files and never
    touches either. (importlib's LazyLoader cannot do this: the next `import requests` reads
    the module's __spec__, which loads it.)"""

    def __getattr__(self, attr: str) -> object:
        import importlib

        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)


for _name in ("requests", "click"):
    sys.modules.setdefault(_name, _ImportedOnFirstUse(_name))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from contextlib import suppress  # noqa: E402
from queue import Empty  # noqa: E402
from typing import Any  # noqa: E402

READY = "ready"  # next to RESULT: a warm child's kernel is up and preloaded
STARTUP_TIMEOUT_S = 60  # papermill's default for a kernel to answer
# IPython's history database is of no use to a run and costs a SQLite file per kernel (nbclient
# passes the same argument when it starts a kernel itself).
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
# A preloaded notebook module whose `warm_display()` the kernel calls before the run.
WARM_DISPLAY_MODULE = "komet_ftd_ops.runs.cells"
KERNEL_EXIT_POLL_S = 0.005


def _kernel_manager(channel_fd: int, inherit: list[int]) -> Any:
    """jupyter_client's kernel manager, launching the kernel bound to this process: it gets the
    handoff socket (and `inherit`: a cold run's lock) and dies when this process dies
    (jupyter_client starts kernels in a session of their own, which a kill of our group would
    not reach)."""
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_path
    from traitlets import default

    from .handoff import CHANNEL_VARIABLE
    from .ipykernel_launch import kernel_command
    from .processes import die_with_parent_preexec

    class RunKernelClient(AsyncKernelClient):  # type: ignore[misc]
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """jupyter_client's wait (a kernel_info reply, then a message on IOPub: it is
            connected) without its last step, which reads IOPub until it has been quiet for
            0.2 s: 0.2 s of wall in every wait, and a run waits twice (here as the kernel
            starts, and in papermill). What that step drops are the status messages of the
            kernel_info requests, which nobody reads: nbclient and `_run_quietly` take only
            the messages whose parent is their own request."""
            ends = time.monotonic() + (STARTUP_TIMEOUT_S if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass  # IOPub not connected yet: ask again
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > ends:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    class BoundKernelManager(AsyncKernelManager):  # type: ignore[misc]
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kernel_cmd = kernel_command(kernel_cmd)  # ipykernel without its debugger
            kw["pass_fds"] = (*kw.get("pass_fds", ()), channel_fd, *inherit)
            kw["env"] = {**(kw.get("env") or os.environ), CHANNEL_VARIABLE: str(channel_fd)}
            kw["preexec_fn"] = die_with_parent_preexec(os.getpid())
            await super()._async_launch_kernel(kernel_cmd, **kw)

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            # jupyter_client checks every 100 ms whether a killed kernel is gone; the first
            # check comes too early, so every run waited 0.1 s for a kernel already dead (and
            # the runner, which keeps the lock until the kernel is gone, with it).
            await super()._async_wait(pollinterval=KERNEL_EXIT_POLL_S)

    class RunKernelSpecs(KernelSpecManager):  # type: ignore[misc]
        @default("kernel_dirs")
        def _kernel_dirs_default(self) -> list[str]:
            # jupyter_client's folders, IPython's last, found as IPython.paths finds it:
            # jupyter_client imports IPython (about 0.07 s of CPU) only to name that folder,
            # and nothing else in this process needs IPython (the kernel has its own).
            ipython = os.environ.get("IPYTHONDIR") or os.path.join("~", ".ipython")
            return [*jupyter_path("kernels"), os.path.join(os.path.expanduser(ipython), "kernels")]

    return BoundKernelManager(kernel_name="python3", client_factory=RunKernelClient,
                              kernel_spec_manager=RunKernelSpecs())  # fmt: skip


def _errno(exc: BaseException) -> int | None:
    """The errno of the OSError behind `exc` (papermill may wrap it), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None


async def _run_quietly(kc: Any, code: str) -> None:
    """Execute `code` in the kernel, outside the notebook (no history, no output kept)."""
    reply = await kc.execute_interactive(
        code, silent=True, store_history=False, timeout=STARTUP_TIMEOUT_S,
        output_hook=lambda msg: None,
    )  # fmt: skip
    content = reply["content"]
    if content.get("status") != "ok":
        raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")


def preload_code(preload: list[str]) -> str:
    """What the kernel runs as it starts: the notebook's imports (and the first display of a
    table, when the notebook shows tables). A module that does not import is the notebook's
    error to show, in its own cell; a warm-up is never a reason to fail the run."""
    # httpx imports its command line (click, rich, pygments: about 0.04 s of CPU) inside a try
    # that accepts its absence; a notebook's clients never use it.
    code = "__import__('sys').modules.setdefault('httpx._main', None)\n" if preload else ""
    code += "".join(f"try:\n import {m}\nexcept Exception:\n pass\n" for m in preload)
    if WARM_DISPLAY_MODULE in preload:
        code += f"try:\n from {WARM_DISPLAY_MODULE} import warm_display\n warm_display()\n"
        code += "except Exception:\n pass\n"
    return code


def _start_kernel(km: Any, cwd: str, preload: list[str]) -> Any:
    """Launch the kernel, which imports the preloaded modules as it starts (IPython's
    exec_lines, outside the notebook: no history, no output kept), while this process loads
    papermill (two cores: side by side); wait until it answers, the modules imported. Returns
    the client that waited (the handover uses it; papermill starts its own)."""
    from jupyter_core.utils import run_sync

    code = preload_code(preload)
    extra = [*KERNEL_ARGUMENTS, f"--IPKernelApp.exec_lines={code}"] if code else KERNEL_ARGUMENTS
    run_sync(km.start_kernel)(extra_arguments=extra, cwd=cwd)
    from .engine import prepare

    prepare()
    kc = km.client()
    kc.start_channels()
    run_sync(kc.wait_for_ready)(timeout=STARTUP_TIMEOUT_S)
    return kc


def read_spec(stream: Any) -> tuple[dict[str, Any], list[int]]:
    """The spec and the descriptors sent with it; blocks until the runner hands the run over."""
    fd = os.dup(stream.fileno())
    try:
        sock = socket.socket(fileno=fd)
    except OSError:  # a pipe (by hand, or a test): no descriptors
        os.close(fd)
        return json.loads(stream.read() or "null"), []
    with sock:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
        chunks = [data]
        while data:
            data = sock.recv(1 << 16)
            chunks.append(data)
    return json.loads(b"".join(chunks) or b"null"), fds


def hand_over(kc: Any, channel: socket.socket, spec: dict[str, Any], fds: list[int]) -> None:
    """Give the kernel the run's lock, environment and folder (`runs.handoff.take_run`)."""
    from jupyter_core.utils import run_sync

    message = json.dumps({"env": spec.get("env") or {}, "cwd": spec["cwd"]}).encode()
    socket.send_fds(channel, [message], fds)
    channel.close()
    try:
        run_sync(_run_quietly)(kc, "from komet_ftd_ops.runs.handoff import take_run\ntake_run()")
    finally:
        kc.stop_channels()


def run(spec: dict[str, Any], km: Any) -> dict[str, Any]:
    """Execute the notebook the spec names on the started kernel; the result as the runner
    reads it."""
    import papermill

    from .engine import ENGINE

    try:
        papermill.execute_notebook(
            spec["input"],
            spec["output"],
            parameters=spec["parameters"],
            engine_name=ENGINE,
            kernel_name="python3",
            language="python",
            cwd=spec["cwd"],
            progress_bar=False,
            log_output=False,
            km=km,
        )
    except papermill.PapermillExecutionError as exc:  # a cell raised
        return {"ok": False, "in_notebook": True, "ename": exc.ename, "evalue": exc.evalue}
    except Exception as exc:  # papermill itself could not run it (bad notebook...)
        return _failure(exc)
    return {"ok": True}


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "in_notebook": False, "ename": type(exc).__name__,
            "evalue": str(exc), "errno": _errno(exc)}  # fmt: skip


def _write(path: str, result: dict[str, Any]) -> None:
    """The result, whole (temp file + rename), then a byte on stdin's socket: the runner goes on
    with the run's files while this process stops the kernel."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)
    with suppress(OSError):  # a pipe (by hand): nobody listens
        os.write(sys.stdin.fileno(), b"!")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="komet_ftd_ops.runs.child")
    parser.add_argument("result")
    parser.add_argument("parent_pid", type=int)
    parser.add_argument("cwd")
    parser.add_argument("--warm", action="store_true", help="start the kernel before the run")
    parser.add_argument("--preload", default="")
    args = parser.parse_args(argv)
    if args.parent_pid:
        from .processes import die_with_parent

        die_with_parent(args.parent_pid)
    from jupyter_core.utils import run_sync

    from .startup import imports_without_gc

    spec, fds = (None, []) if args.warm else read_spec(sys.stdin)
    ours, theirs = socket.socketpair()
    with imports_without_gc():  # jupyter_client, then papermill as the kernel starts
        km = _kernel_manager(theirs.fileno(), fds)
    try:
        try:
            with imports_without_gc():
                kc = _start_kernel(km, args.cwd, [m for m in args.preload.split(",") if m])
        except Exception as exc:  # no kernel: say so, as papermill would have
            _write(args.result, _failure(exc))
            return
        theirs.close()
        if args.warm:
            with open(os.path.join(os.path.dirname(args.result), READY), "w"):
                pass  # the kernel is up and has imported the notebook's modules
            spec, fds = read_spec(sys.stdin)
        if spec is None:  # the runner let the warm kernel go unused
            return
        try:
            hand_over(kc, ours, spec, fds)
        except Exception as exc:
            _write(args.result, _failure(exc))
            return
        _write(args.result, run(spec, km))
        # Every output is in the notebook and every write of the run committed: a graceful
        # stop would only add the kernel's interpreter teardown (a second, with pandas loaded)
        # to each run. An unused warm kernel (above) is stopped gracefully.
        run_sync(km.shutdown_kernel)(now=True)
        sys.stdout.flush()
        os._exit(0)  # nothing left to tear down but the interpreter: the runner waits for it
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)()


if __name__ == "__main__":
    main()

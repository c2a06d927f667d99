"""How a run's kernel starts: ipykernel's own launcher (`python -m ipykernel_launcher`), without
its debugger.

    python -m komet_ftd_ops.runs.ipykernel_launch -f CONNECTION_FILE [ipykernel options]

`runs.child` starts the kernelspec's command with this module in place of `ipykernel_launcher`
(`kernel_command`). ipykernel imports debugpy and pydevd as every kernel starts, for a debugger
only a front end attaches (about 0.13 s of CPU in every run), and the kernelspec turns Python's
frozen modules off for that debugger's breakpoints. A run's kernel runs headless: nothing ever
attaches. Everything else is ipykernel's launch, unchanged, but for the garbage collector,
paused while the kernel imports (`runs.startup`), and numpy's BLAS kept to one thread
(`BLAS_THREADS`).
"""

import os
import sys
from pathlib import Path

# ipykernel asks for debugpy inside a try that accepts its absence (`_is_debugpy_available`).
sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]

LAUNCHER = "ipykernel_launcher"
FROZEN_OFF = "-Xfrozen_modules=off"
# As numpy loads (pandas loads it in every run), its OpenBLAS starts a worker thread for each
# further core, and each spins a while for work: about 0.1 s of CPU per run on two cores, for
# nothing, as neither the kit nor pandas nor Arrow calls BLAS. A value the user set is kept.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "1")


def kernel_command(cmd: list[str]) -> list[str]:
    """The kernelspec's command with this module for `-m ipykernel_launcher` (and frozen modules
    back on); any other command (a kernelspec of someone's own) unchanged."""
    try:
        at = cmd.index("-m")
    except ValueError:
        return cmd
    if cmd[at + 1 : at + 2] != [LAUNCHER]:
        return cmd
    return [c for c in cmd[:at] if c != FROZEN_OFF] + ["-m", __name__, *cmd[at + 2 :]]


if __name__ == "__main__":
    # As ipykernel_launcher: the folder is off sys.path while ipykernel loads (its shell puts
    # it back), so a module of the notebook's folder cannot shadow one of ipykernel's.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    os.environ.setdefault(*BLAS_THREADS)  # read by OpenBLAS as it loads, so before any import
    from komet_ftd_ops.runs.startup import imports_without_gc

    # ipykernel's launch_new_instance, in its two steps: the imports and the preload
    # (`--IPKernelApp.exec_lines`, run by initialize) without the collector (runs/startup.py)
    with imports_without_gc():
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize()
    app.start()

"""papermill's nbclient engine with cheaper progress saves; imported in the runner's child only.

papermill saves the output notebook at the start and at the end of every cell, each time
validating it against the notebook schema, deep-copying it and encoding it with the json module:
about 35 saves for the sync notebook, up to a second of CPU. Those saves are what a deadline kill
leaves behind (the cells that ran, the one that was running), so they stay for code cells, as
plain JSON (orjson, no copy, no schema check: strings are not split into lines, which nbformat
reads just the same); markdown cells, which produce nothing, are not saved around. papermill
still writes the finished notebook once more, in nbformat's own form and validated.
"""

from __future__ import annotations

import os
from contextlib import suppress
from typing import Any

import orjson
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE = "komet-ftd-ops"


class _ProgressManager(NotebookExecutionManager):  # type: ignore[misc]
    quiet = False

    def save(self, **kwargs: Any) -> None:
        if kwargs.get("nb"):
            self.nb = kwargs["nb"]
        if self.output_path and not self.quiet:
            tmp = f"{self.output_path}.tmp"  # readers never see half a notebook
            try:
                with open(tmp, "wb") as fh:
                    fh.write(
                        orjson.dumps(self.nb, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                    )
            except OSError:
                # The disk filled (or went away): what got written is the run's partial
                # record, which the runner sets aside as such (runs/filesystem.py); an older
                # whole save left in its place would pass for the record, a .tmp for litter.
                with suppress(OSError):
                    os.replace(tmp, self.output_path)
                raise
            os.replace(tmp, self.output_path)
        self.last_save_time = self.now()

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        self.quiet = cell.get("cell_type") != "code"
        try:
            super().cell_start(cell, cell_index, **kwargs)
        finally:
            self.quiet = False

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        self.quiet = cell.get("cell_type") != "code"
        try:
            super().cell_complete(cell, cell_index, **kwargs)
        finally:
            self.quiet = False


class RunEngine(NBClientEngine):  # type: ignore[misc]
    """NBClientEngine with `_ProgressManager` (papermill's `Engine.execute_notebook`, which
    builds the manager, is the one method that differs)."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        nb_man = _ProgressManager(nb, output_path=output_path, progress_bar=progress_bar,
                                  log_output=log_output, autosave_cell_every=autosave_cell_every)  # fmt: skip
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


def prepare() -> None:
    """Register the engine and compile nbformat's schema validator ahead of the run (a warm
    child does this between ticks)."""
    import nbformat

    papermill_engines.register(ENGINE, RunEngine)
    nbformat.validate(nbformat.v4.new_notebook())

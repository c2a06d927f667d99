"""Writes the template notebooks from the cell sources below, outputs cleared.

Run `python tools/make_notebooks.py` after editing a template here; the notebooks in notebooks/
are what JupyterLab opens and papermill runs. Keeping the sources here keeps notebook diffs small.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def notebook(cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source, tags in cells:
        cell = (
            nbformat.v4.new_markdown_cell(source)
            if kind == "md"
            else nbformat.v4.new_code_cell(source)
        )
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


SYNC = [
    ("md", "# Sync cycle: Komet open-market inventory → FTD, FTD orders → Komet\n\n"
     "One 5-minute cycle. Run by `komet-ftd-ops run sync --profile P` (papermill); the executed "
     "copy under `runs/` is the record of what happened. All logic is in `komet_ftd_ops.sync`.", []),
    ("code", "# Parameters (papermill injects the runner's values below this cell). Nothing secret here:\n"
     "# tokens are resolved inside the kernel from the profile's secret references.\n"
     'profile = "sandbox"  # profile name: <home>/profiles/<name>.toml, or the built-in sandbox\n'
     "dry_run = False  # True: read Komet and plan the feed, send nothing\n"
     'run_id = ""  # set by the runner so the run index gets this cycle\'s counters', ["parameters"]),
    ("code", "from IPython.display import display\n\n"
     "from komet_ftd_ops.sync import run_sync\n\n"
     "report = run_sync(profile, dry_run=dry_run, run_id=run_id or None)\n"
     "print(report.headline())\n"
     "for note in report.notes:\n"
     '    print("NOTE:", note)', []),
    ("md", "## Counters", []),
    ("code", "display(report.summary_table())", []),
    ("md", "## Orders: FTD checkouts → Komet web orders and invoices", []),
    ("code", "if report.orders is not None:\n"
     "    display(report.orders.orders_table())\n"
     "    display(report.orders.parked_table())", []),
    ("md", "## Inventory lines not published\n\nBad rows (kept out, with the reason) and rows the "
     "profile's rules leave out. A sample per reason; the counts are complete.", []),
    ("code", "display(report.rejected_reasons())\n"
     "display(report.rejected_sample())\n"
     "display(report.excluded_reasons())", []),
    ("md", "## Offers FTD rejected, and the largest quantity changes", []),
    ("code", "display(report.ftd_rejections())\ndisplay(report.largest_changes())", []),
    ("md", "## Komet calls against the daily quota", []),
    ("code", "display(report.quota_table())", []),
]  # fmt: skip

NOTEBOOKS = {"sync.ipynb": SYNC}


if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nbformat.write(notebook(cells), ROOT / "notebooks" / name)
        print("wrote", ROOT / "notebooks" / name)

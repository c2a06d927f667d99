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

ONBOARDING = [
    ("md", "# Onboarding: the FTD token, FTD's customer ID, the hand-off to FTD\n\n"
     "Komet's three steps, each checked as you go: **1.** create a Customer token with the "
     "methods below and check it, **2.** find the customer ID that stands for FTD in your "
     "Komet account, **3.** send FTD the customer ID and the token.\n\n"
     "Run all cells (*Run > Run All Cells*), then use the buttons. The token never goes into "
     "this notebook: pasted, it is saved to `secrets.toml` (mode 0600) and the field is "
     "emptied; headless, give a *reference* (`env:KOMET_FTD_TOKEN`). All logic is in "
     "`komet_ftd_ops.onboarding`; `komet-ftd-ops onboard --json` does the same from a shell.", []),
    ("code", "# Parameters (papermill injects values below this cell). Never a token here: only where\n"
     "# it is kept, e.g. env:KOMET_FTD_TOKEN or file:komet_customer_token (secrets.toml).\n"
     'profile = "sandbox"  # <home>/profiles/<name>.toml; sandbox = the running twin\n'
     'token_ref = ""  # Customer token reference; empty: from the profile, or paste it below\n'
     'company_token_ref = ""  # Company token reference, for customer.list; empty: the profile\n'
     'customers_xlsx = ""  # path to the Komet customer export (Setup > Customers > Export)\n'
     'ftd_customer_id = ""  # empty: found from the export, customer.list or the profile\n'
     'company_id = ""  # the Komet Company ID (X-ACCOUNT); empty: from the profile\n'
     'location_id = ""  # companyLocationId, multi-location companies only\n'
     'carrier_id = ""  # default carrier for FTD orders; empty: the first FTD carrier\n'
     'ship_to_id = ""  # default ship-to; empty: the first FTD ship-to\n'
     "check_writes = False  # True: also create a test web order and delete it again\n"
     "auto_run = True  # run every step as the notebook runs (papermill); False: buttons only\n"
     "strict = False  # True: fail the notebook when the preflight fails", ["parameters"]),
    ("code", "from komet_ftd_ops.onboarding import OnboardingSession\n"
     "from komet_ftd_ops.onboarding.widgets import OnboardingUI\n\n"
     "session = OnboardingSession(\n"
     "    profile, token_ref=token_ref, company_token_ref=company_token_ref,\n"
     "    values=dict(ftd_customer_id=ftd_customer_id, company_id=company_id,\n"
     "                location_id=location_id, carrier_id=carrier_id, ship_to_id=ship_to_id),\n"
     ")\n"
     "ui = OnboardingUI(session)", []),
    ("md", "## 1. The token\n\nCreate it in Komet (roles Admin or Setup), then paste it here. "
     "**Save token** stores it in `secrets.toml` and empties the field.", []),
    ("code", "ui.token_step()", []),
    ("md", "## 2. Check it\n\nRead methods are called for real; write methods only when the box "
     "is ticked (a test web order is created and deleted again). Also shows which customer the "
     "token is bound to, and the quota left today.", []),
    ("code", "ui.check_step(run=auto_run, check_writes=check_writes)", []),
    ("md", "## 3. FTD's customer ID\n\nFrom Komet's customer export (a path or an upload), or with "
     "a Company token from `customer.list`. Pick FTD in the list: it is checked against the "
     "customer the token is bound to.", []),
    ("code", "ui.customer_step(export=customers_xlsx, run=auto_run)", []),
    ("md", "## 4. The rest of the profile\n\nCompany ID, location, default carrier and ship-to "
     "(from FTD's customer record: `ecommerce/customer-carriers.list`, "
     "`customer.shipto.list`).", []),
    ("code", "ui.profile_step()", []),
    ("md", "## 5. Hand-off\n\nWrites the profile, the hand-off sheet for FTD (token masked) and "
     "the preflight. The scheduler will not start this profile until the preflight passes.", []),
    ("code", "ui.handoff_step(run=auto_run, strict=strict)", []),
]  # fmt: skip

RECONCILE = [
    ("md", "# Reconciliation: FTD orders against Komet invoices\n\n"
     "For a range of ship dates, every FTD order lands in one category: matched, "
     "missing_invoice, unexpected_invoice, mismatch, pending_too_long, voided or rejected_lines. "
     "Run by `komet-ftd-ops reconcile --profile P --from DATE --to DATE` (papermill); the "
     "workbook has every row. All logic is in `komet_ftd_ops.reconcile`.", []),
    ("code", "# Parameters (papermill injects the runner's values below this cell). Nothing secret here:\n"
     "# tokens are resolved inside the kernel from the profile's secret references.\n"
     'profile = "sandbox"  # profile name: <home>/profiles/<name>.toml, or the built-in sandbox\n'
     'date_from = ""  # first ship date, YYYY-MM-DD ("": a week before today)\n'
     'date_to = ""  # last ship date, YYYY-MM-DD ("": a week after today)\n'
     "pending_hours = 24.0  # an invoice awaiting confirmation longer than this is a problem\n"
     'workbook = ""  # the .xlsx to write ("": <home>/reports/<profile>/reconcile-<from>-to-<to>.xlsx)\n'
     "ask_ftd = True  # read FTD's current order statuses (False: the ledger's view only)\n"
     'run_id = ""  # set by the runner so the run index gets the counts', ["parameters"]),
    ("code", "from IPython.display import Image, display\n\n"
     "from komet_ftd_ops.reconcile import run_reconcile\n\n"
     "report = run_reconcile(profile, date_from, date_to, run_id=run_id or None,\n"
     "                       workbook=workbook or None, pending_hours=pending_hours, ask_ftd=ask_ftd)\n"
     "print(report.headline())", []),
    ("md", "## Summary per category", []),
    ("code", "display(report.summary_table())", []),
    ("md", "## Orders per ship date, and how long invoices wait for the sales rep", []),
    ("code", "display(Image(report.per_day_png()))\ndisplay(Image(report.pending_png()))", []),
    ("md", "## Problems (first rows; the workbook has all), with the run that handled each order", []),
    ("code", "display(report.problems_table())", []),
    ("md", "## Failed runs nobody has reviewed\n\n"
     "Mark one reviewed with `komet-ftd-ops runs review RUN --note TEXT`.", []),
    ("code", "display(report.unreviewed_table())", []),
]  # fmt: skip

NOTEBOOKS = {"sync.ipynb": SYNC, "onboarding.ipynb": ONBOARDING, "reconcile.ipynb": RECONCILE}


if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nbformat.write(notebook(cells), ROOT / "notebooks" / name)
        print("wrote", ROOT / "notebooks" / name)

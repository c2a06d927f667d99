"""The onboarding notebook's widgets: buttons and fields over `OnboardingSession`, no logic.

Every button calls one session method and renders what it returns. Errors of the kit are shown
in the step's output area (they never contain the token). The token field is a password field
that is emptied as soon as the token is saved, so the token never sits in the notebook's widget
state; what is shown afterwards is the reference and the masked token.

Each step can also run at once when displayed (`run=True`): that is how the notebook runs
headless under papermill. A step's box then carries the plain-text report as its `text/plain`
representation: JupyterLab shows the live widget, while papermill's output notebook (which keeps
no widget state) keeps the report.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..errors import ConfigError, KometFtdOpsError
from ..komet.models import Carrier, ShipTo
from . import (
    NEEDED_METHODS,
    NOT_NEEDED,
    TOKEN_ROLES,
    OnboardingResult,
    OnboardingSession,
    TokenCheck,
    check_lines,
    result_lines,
)
from .customers_xlsx import CustomerRow
from .report import candidate_lines

COLOURS = {"ok": "#1a7f37", "denied": "#cf222e", "unchecked": "#9a6700"}
WIDE = w.Layout(width="640px")
LABELS = {"description_width": "110px"}


def _e(text: Any) -> str:
    return html.escape(str(text))


def _button(label: str, css: str, style: str = "") -> w.Button:
    button = w.Button(description=label, button_style=style, layout=w.Layout(width="auto"))
    button.add_class(css)
    return button


def _output(css: str) -> w.HTML:
    out = w.HTML()
    out.add_class(css)
    return out


def _problems_html(problems: list[str], warnings: list[str]) -> str:
    items = [f'<li class="kfo-problem" style="color:#cf222e">{_e(p)}</li>' for p in problems]
    items += [f'<li class="kfo-warning" style="color:#9a6700">{_e(x)}</li>' for x in warnings]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def methods_html() -> str:
    """Step 1: what to tick on the token, and why."""
    rows = "".join(
        f"<tr><td><code>{_e(m.name)}</code></td><td>{'optional' if m.optional else 'required'}"
        f"</td><td>{_e(m.why)}</td></tr>"
        for m in NEEDED_METHODS
    )
    return (
        f"<p>Roles that may create tokens in Komet: <b>{', '.join(TOKEN_ROLES)}</b>. In Komet: "
        "Setup &gt; Settings &gt; Tokens &gt; New Token, Token Type <b>Customer</b>, bound to "
        "FTD's customer record. Tick exactly these methods:</p>"
        f'<table class="kfo-methods"><tr><th>method</th><th></th><th>why</th></tr>{rows}</table>'
        f"<p>Not needed (leave unticked): {', '.join(f'<code>{n}</code>' for n in NOT_NEEDED)}.</p>"
    )


def check_html(check: TokenCheck) -> str:
    counts = check.counts()
    rows = "".join(
        f'<tr><td><code>{_e(name)}</code></td><td class="kfo-status kfo-{r.status}" '
        f'style="color:{COLOURS[r.status]};font-weight:bold">{r.status}</td>'
        f"<td>{_e(r.how)}{': ' + _e(r.detail) if r.detail else ''}</td></tr>"
        for name, r in check.methods.items()
    )
    bound = (
        f"bound to <b>{_e(check.bound_customer_id)}</b> ({_e(check.bound_customer_name)})"
        if check.bound_customer_id
        else "<b>not bound to any customer tried</b>"
    )
    verdict = "ok" if check.ok else "problems"
    return (
        f'<p class="kfo-check-summary kfo-verdict-{verdict}">Token <code>{_e(check.token_masked)}'
        f"</code>: {_e(check.token_type)} token, {bound}. {counts['ok']} ok, "
        f"{counts['denied']} denied, {counts['unchecked']} unchecked. Quota: "
        f"{check.quota_left} of {check.target.daily_quota} calls left today"
        f"{' (SPENT)' if check.quota_spent else ''}.</p>"
        f'<table class="kfo-check">{rows}</table>' + _problems_html(check.problems, check.warnings)
    )


def result_html(result: OnboardingResult) -> str:
    preflight = result.preflight
    colour = COLOURS["ok"] if preflight.passed else COLOURS["denied"]
    sheet = result.handoff_path.read_text() if result.handoff_path else ""
    return (
        f'<p class="kfo-preflight kfo-preflight-{preflight.status}" style="color:{colour};'
        f'font-weight:bold">Preflight: {preflight.status.upper()}</p>'
        + _problems_html(preflight.reasons, preflight.warnings)
        + f"<p>Profile: <code>{_e(result.profile_path or '-')}</code><br>Hand-off sheet: "
        f"<code>{_e(result.handoff_path or '-')}</code></p>"
        + (f'<pre class="kfo-handoff">{_e(sheet)}</pre>' if sheet else "")
    )


class StepBox(w.VBox):
    """A step's widgets; `report` is what a notebook without widgets shows instead."""

    report = ""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None and self.report:
            bundle["text/plain"] = self.report
        return bundle


def _step(children: list[w.Widget], report: list[str] | str = "") -> StepBox:
    box = StepBox(children)
    box.report = report if isinstance(report, str) else "\n".join(report)
    return box


def _error_html(exc: Exception) -> str:
    return f'<p class="kfo-error" style="color:#cf222e"><b>{type(exc).__name__}</b>: {_e(exc)}</p>'


class OnboardingUI:
    """The widgets of the onboarding notebook, one `*_step()` per section."""

    def __init__(self, session: OnboardingSession) -> None:
        self.session = session
        self.result: OnboardingResult | None = None
        self.token = w.Password(placeholder="paste the Customer token here", layout=WIDE)
        self.token.add_class("kfo-token")
        self.token_status = _output("kfo-token-status")
        self.writes = w.Checkbox(
            description="also check write methods (creates a test web order, deletes it)",
            indent=False, layout=WIDE,
        )  # fmt: skip
        self.check_out = _output("kfo-check-result")
        self.export_path = w.Text(placeholder="path to Customers.xlsx", layout=WIDE)
        self.upload = w.FileUpload(accept=".xlsx", multiple=False, description="Upload .xlsx")
        self.candidates = w.Dropdown(
            description="FTD customer", options=[], layout=WIDE, style=LABELS
        )
        self.candidates.add_class("kfo-candidates")
        self.customer_out = _output("kfo-customer-result")
        values = session.values
        self.company_id = w.Text(
            str(values.get("company_id", "")), description="Company ID", style=LABELS
        )
        self.location_id = w.Text(
            str(values.get("location_id", "")), description="Location", style=LABELS
        )
        self.carrier = w.Dropdown(description="Carrier", options=[], layout=WIDE, style=LABELS)
        self.ship_to = w.Dropdown(description="Ship-to", options=[], layout=WIDE, style=LABELS)
        self.missing_ship_to = w.Dropdown(
            description="No ship-to",
            options=[
                ("send to the default ship-to, name the florist in the run", "default"),
                ("park the order for the sales rep", "park"),
            ],
            value=str(values.get("missing_ship_to") or "default"),
            layout=WIDE, style=LABELS,
        )  # fmt: skip
        self.finish_out = _output("kfo-finish-result")
        self.candidates.observe(self._picked, names="value")
        self._show_token()

    # --- helpers ---

    def _guarded(self, out: w.HTML, action: Callable[[], str]) -> bool:
        """Run a step; its HTML into `out`, or the kit's error. True when it ran."""
        try:
            out.value = action()
        except KometFtdOpsError as exc:
            out.value = _error_html(exc)
            return False
        return True

    def _apply_values(self) -> None:
        carrier, ship_to = self.carrier.value, self.ship_to.value
        self.session.set_values(
            company_id=self.company_id.value.strip(),
            location_id=self.location_id.value.strip(),
            **({"carrier_id": carrier} if carrier else {}),
            **({"ship_to_id": ship_to} if ship_to else {}),
            missing_ship_to=self.missing_ship_to.value,
        )

    def _show_token(self) -> None:
        ref = self.session.token_ref
        masked = self.session.token_masked()
        self.token_status.value = (
            f"Token in use: <code>{_e(ref)}</code> (<code>{_e(masked or '?')}</code>)"
            if ref
            else "No token yet: paste it above and press <b>Save token</b> or <b>Check token</b>."
        )

    def _save_token(self) -> str:
        if self.token.value.strip():
            try:
                self.session.save_token(self.token.value)
            finally:
                self.token.value = ""  # never leave the token in widget state
        self._show_token()
        return self.token_status.value

    # --- step 1: the token ---

    def token_step(self) -> w.Widget:
        save = _button("Save token", "kfo-save-token")
        save.on_click(lambda _: self._guarded(self.token_status, self._save_token))
        intro = w.HTML(methods_html())
        customer = self.session.ftd_customer_id or "FTD's customer (find its ID in step 3)"
        bind = w.HTML(f"<p>Bind the token to customer <b>{_e(customer)}</b>.</p>")
        report = [
            f"Token: {_plain(self.token_status.value)}",
            f"Bind it to customer {customer}. Roles that may create tokens: {', '.join(TOKEN_ROLES)}.",
            "Methods to tick:",
            *[
                f"  {m.name} ({'optional' if m.optional else 'required'}): {m.why}"
                for m in NEEDED_METHODS
            ],
        ]
        return _step([intro, bind, w.HBox([self.token, save]), self.token_status], report)

    # --- step 2: check it ---

    def run_check(self) -> TokenCheck | None:
        """What the Check button does: save a pasted token, then check it."""

        def action() -> str:
            self._save_token()
            self._apply_values()
            check = self.session.check_token(check_writes=self.writes.value)
            self._refresh_options()
            return check_html(check)

        ran = self._guarded(self.check_out, action)
        return self.session.check if ran else None

    def check_step(self, *, run: bool = False, check_writes: bool = False) -> w.Widget:
        self.writes.value = check_writes
        button = _button("Check token", "kfo-check-token", "primary")
        button.on_click(lambda _: self.run_check())
        report: list[str] | str = ""
        if run and self.session.token_ref:
            check = self.run_check()
            report = check_lines(check) if check else _plain(self.check_out.value)
        return _step([self.writes, button, self.check_out], report)

    # --- step 3: FTD's customer ID ---

    def find_candidates(
        self, export: str | Path | bytes | None = None, use_api: bool = True
    ) -> None:
        def action() -> str:
            if export:
                self.session.read_export(export)
            if use_api and self.session.company_token_ref:
                self.session.list_from_api()
            if self.session.token_ref and not self.session.check_is_current():
                self.run_check()  # find which candidate the token is bound to
            self._refresh_options()
            return self._customer_html()

        self._guarded(self.customer_out, action)

    def customer_step(self, *, export: str = "", run: bool = False) -> w.Widget:
        self.export_path.value = export or ""
        read = _button("Read export", "kfo-read-export")
        read.on_click(lambda _: self.find_candidates(self._export_source(), use_api=False))
        api = _button("Find FTD with customer.list (Company token)", "kfo-customer-list")
        api.on_click(lambda _: self.find_candidates(None, use_api=True))
        report: list[str] = []
        if run and (export or self.session.company_token_ref):
            self.find_candidates(export or None)
            report = [*self._customer_lines(), *_plain(self.customer_out.value).splitlines()]
        self._refresh_options()
        children = [w.HBox([self.export_path, read]), self.upload, api, self.candidates]
        return _step([*children, self.customer_out], report)

    def _export_source(self) -> str | bytes | None:
        if self.upload.value:
            return bytes(self.upload.value[0]["content"])
        return self.export_path.value.strip() or None

    def _picked(self, change: dict[str, Any]) -> None:
        if change.get("new"):
            self.session.choose_customer(change["new"])
            self.customer_out.value = self._customer_html()

    def _customer_lines(self) -> list[str]:
        s = self.session
        bound = s.check.bound_customer_id if s.check else None
        return [*candidate_lines(s.candidates, bound, s.ftd_customer_id), *s.notes[-2:]]

    def _customer_html(self) -> str:
        s = self.session
        problems = list(s.discovery_problems.values())
        ok, note = s.binding()
        colour = COLOURS["ok" if ok else "unchecked" if ok is None else "denied"]
        notes = "".join(f"<li>{_e(n)}</li>" for n in s.notes[-3:])
        return (
            f'<p class="kfo-binding" style="color:{colour}">FTD customer ID: {_e(note)}</p>'
            f"<ul>{notes}</ul>" + _problems_html(problems, [])
        )

    # --- step 4: the rest of the profile ---

    def _refresh_options(self) -> None:
        s, check = self.session, self.session.check
        bound = check.bound_customer_id if check else None
        options = [(_candidate_label(r, bound), r.customer_id) for r in s.candidates]
        if s.ftd_customer_id and s.ftd_customer_id not in [v for _, v in options]:
            options.insert(0, (f"{s.ftd_customer_id}  (from the profile)", s.ftd_customer_id))
        self.candidates.unobserve(self._picked, names="value")
        self.candidates.options = options
        self.candidates.value = s.ftd_customer_id or None
        self.candidates.observe(self._picked, names="value")
        if check:
            self._fill(self.carrier, check.carriers, s.values.get("carrier_id"))
            self._fill(self.ship_to, check.ship_tos, s.values.get("ship_to_id"))

    @staticmethod
    def _fill(box: w.Dropdown, rows: Sequence[Carrier | ShipTo], current: Any) -> None:
        """FTD's carriers or ship-tos; the profile's choice, else the first (as finish() does)."""
        options = [(f"{r.id}  {r.name}", r.id) for r in rows]
        box.options = options
        ids = [v for _, v in options]
        box.value = str(current) if current and str(current) in ids else (ids[0] if ids else None)

    def profile_step(self) -> w.Widget:
        self._refresh_options()
        note = w.HTML(
            "<p>Company ID: the number Komet gives your company (sent as X-ACCOUNT). Location: "
            "only for companies with several locations. Carrier and ship-to: the defaults for "
            "FTD orders, from FTD's customer record in Komet (run the token check to load them). "
            "No ship-to: what happens to an order from a florist Komet has no ship-to for, when "
            "the kit has no Company token to create one.</p>"
        )
        report = (
            f"Company ID {self.company_id.value or '-'}, location {self.location_id.value or '-'}, "
            f"carrier {self.carrier.value or '-'}, ship-to {self.ship_to.value or '-'}"
        )
        boxes = [
            self.company_id,
            self.location_id,
            self.carrier,
            self.ship_to,
            self.missing_ship_to,
        ]
        return _step([note, *boxes], report)

    # --- step 5: hand-off ---

    def run_finish(self) -> OnboardingResult | None:
        def action() -> str:
            self._apply_values()
            self.result = self.session.finish(check_writes=self.writes.value or None)
            return result_html(self.result)

        self._guarded(self.finish_out, action)
        return self.result

    def handoff_step(self, *, run: bool = False, strict: bool = False) -> w.Widget:
        button = _button("Write profile, hand-off sheet and preflight", "kfo-finish", "success")
        button.on_click(lambda _: self.run_finish())
        report: list[str] | str = ""
        if run:
            result = self.run_finish()
            report = result_lines(result) if result else _plain(self.finish_out.value)
            if strict and (result is None or not result.passed):
                reasons = "; ".join(result.preflight.reasons) if result else str(report)
                raise ConfigError(f"onboarding preflight failed: {reasons}")
        return _step([button, self.finish_out], report)


def _candidate_label(row: CustomerRow, bound: str | None) -> str:
    mark = "  ← token bound here" if row.customer_id == bound else ""
    return f"{row.label()}{mark}"


def _plain(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", html_text)).strip()

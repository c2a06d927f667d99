"""What nobody knows about Komet yet, named once.

Each switch is a behaviour Komet's public pages leave open (`docs/komet-api.md`, "Switches").
The same names are used in three places, so they live here, in production code:

- the twin serves every value behind `komet-ftd-ops sandbox set --<name> <value>`;
- `komet-ftd-ops probe` observes what it safely can on a live account and writes it to the
  profile's `[komet.switches]` table under these names;
- the kit reads that table, and assumes the hardest value for anything not observed.

`HARDEST` is the value that makes the kit's job hardest (the twin's default), unless the spec's
table names another default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Switch:
    name: str
    values: tuple[str, ...]
    default: str  # the twin's default: the hardest reading unless the spec names another
    question: str  # what is unknown, in one line

    def check(self, value: str) -> str:
        if value not in self.values:
            raise ValueError(f"{self.name} must be one of {', '.join(self.values)}, not {value!r}")
        return value


SWITCHES: dict[str, Switch] = {
    s.name: s
    for s in (
        Switch(
            "invoice_exists",
            ("first_add", "checkout"),
            "first_add",
            "when the invoice (Order #) exists: at the first web-order-item.add or at checkout",
        ),
        Switch(
            "link_fields",
            ("both", "customerPo", "webOrderId", "neither"),
            "neither",
            "which link fields invoice.list items carry",
        ),
        Switch(
            "merge_invoices",
            ("yes", "no"),
            "yes",
            "whether web orders of one customer merge into one invoice",
        ),
        Switch(
            "max_rows",
            ("30", "500", "5000"),
            "500",
            "the largest rows an ecommerce/inventory.list page serves",
        ),
        Switch(
            "quota_window",
            ("utc_day", "rolling_24h", "company_tz"),
            "rolling_24h",
            "when the daily request quota resets",
        ),
        Switch(
            "late_writes",
            ("never", "later"),
            "later",
            "whether a write that timed out on the client still lands on the server later",
        ),
        Switch(
            "customer_shipto_list",
            ("yes", "no"),
            "no",
            "whether a Customer token may call customer.shipto.list",
        ),
        Switch(
            "fee_on_invoice",
            ("none", "charge"),
            "charge",
            "whether the 1.5% transaction fee shows on the invoice as an additional charge",
        ),
        Switch(
            "messages",
            ("table", "other"),
            "other",
            "whether business failures use the spec's message table or other wording",
        ),
        Switch(
            "customer_checkout",
            ("yes", "no"),
            "yes",
            "whether a Customer token may call web-order.checkout",
        ),
        Switch(
            "account_header",
            ("checked", "ignored"),
            "checked",
            "whether a header token sent with another company's X-ACCOUNT is refused (401) "
            "or the token alone decides the company",
        ),
    )
}


def hardest() -> dict[str, str]:
    """Every switch at its default: what the kit assumes where nothing was observed."""
    return {name: s.default for name, s in SWITCHES.items()}

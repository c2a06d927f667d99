"""Deliberately wrong clients, to show that the tests would catch the mistake they make."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from komet_ftd_ops.http.formats import komet_date
from komet_ftd_ops.komet import KometClient
from komet_ftd_ops.komet.models import komet_ids


class NoWebOrderIdKomet(KometClient):
    """Sends web-order-item.add WITHOUT webOrderId: Komet then merges the line into any pending
    web order of the customer with the same carrier, date, ship-to and location (the trap)."""

    def web_order_item_add(  # type: ignore[override]
        self,
        customer_id: str,
        web_order_id: str,
        inventory_ids: Any,
        inventory_origin: int,
        price: Decimal | str | float,
        quantity: int,
        carrier_id: str,
        date: Any,
        ship_to_id: str | None = None,
        mark_code: str | None = None,
        company_location_id: str | None = None,
    ) -> dict[str, Any]:
        return self._write(
            "web-order-item.add",
            {
                "customerId": customer_id,
                "inventoryIds": komet_ids(inventory_ids),
                "inventoryOrigin": inventory_origin,
                "price": Decimal(str(price)),
                "quantity": quantity,
                "carrierId": carrier_id,
                "date": komet_date(date),
                "shipToId": ship_to_id,
                "companyLocationId": company_location_id,
            },
        )

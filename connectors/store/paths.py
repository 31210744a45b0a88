"""Every path of the VentasxMayor store API, in one place (shared/specs/store-api.md).

The store publishes no API documentation: if a path turns out to be different in
production, it is corrected here, in the spec, and in the simulator (sim/store.py keeps its
own copy, from the spec; tests/test_store_simulator.py reaches it through these).

Paths are relative (no leading slash) so that they join onto the configured base URL,
which ends with "/": `httpx.AsyncClient(base_url=...)` or `urljoin(base, path)`.
"""

from __future__ import annotations

from urllib.parse import quote

API_PREFIX = "api/v1/"

ORDERS = API_PREFIX + "orders"
"""GET: the orders waiting for the ERP (`erp_status=pending`, `limit`, `cursor`)."""

PRODUCTS = API_PREFIX + "products"
"""GET: the catalog's SKUs with stock and price (`limit`, `cursor`)."""

STOCK_PRICES = API_PREFIX + "products/stock-prices"
"""PATCH: update stock and/or price of up to 500 SKUs at once."""

ERP_SYNC_SUFFIX = "erp-sync"


def erp_sync(order_id: str) -> str:
    """POST: report an order's ERP result (`sent` with a reference, or `failed`)."""
    return f"{ORDERS}/{quote(order_id, safe='')}/{ERP_SYNC_SUFFIX}"

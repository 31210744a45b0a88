"""Client of the VentasxMayor store API (shared/specs/store-api.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import msgspec

from bridge import redact
from bridge.config import StoreConfig
from bridge.errors import AuthError, BridgeError, DataError, ProtocolError
from bridge.http import HttpSide, RetryPolicy, make_client, tls_verify
from bridge.model import Address, Buyer, Check, OrderItem, PushResult, StockPrice, StoreOrder
from connectors.store import paths

_ENCODER = msgspec.json.Encoder()

PAGE_LIMIT = 100


class OrderFormatError(DataError):
    default_code = "order_format"


def _text(obj: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise OrderFormatError(f"{where}: '{key}' is missing")
        return ""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise OrderFormatError(f"{where}: '{key}' must be text, got {type(value).__name__}")
    return value.strip()


def _money(obj: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> Decimal:
    value = obj.get(key, default)
    if value is None:
        raise OrderFormatError(f"{where}: '{key}' is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise OrderFormatError(f"{where}: '{key}' must be a decimal string, got {value!r}")
    text = str(value).strip()
    if "," in text:
        raise OrderFormatError(
            f"{where}: '{key}' is '{text}' with a decimal comma; the store API uses a point")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise OrderFormatError(f"{where}: '{key}' is '{text}', not a number") from None
    if not amount.is_finite():
        raise OrderFormatError(f"{where}: '{key}' is '{text}', not a finite number")
    if amount < 0:
        raise OrderFormatError(f"{where}: '{key}' is negative ({text})")
    return amount


def parse_order(raw: Mapping[str, Any]) -> StoreOrder:
    """Validate the store's order JSON. Raises OrderFormatError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise OrderFormatError("the order is not a JSON object")
    oid = _text(raw, "id", "order")
    where = f"order {raw.get('number') or oid}"
    number = _text(raw, "number", where)
    status = raw.get("status")
    if status not in (None, "confirmed"):
        raise OrderFormatError(f"{where}: status is '{status}', only confirmed orders are sent")
    b = raw.get("buyer")
    if not isinstance(b, Mapping):
        raise OrderFormatError(f"{where}: the buyer is missing")
    a = b.get("address") or {}
    if not isinstance(a, Mapping):
        raise OrderFormatError(f"{where}: the buyer's address must be an object")
    bw = f"{where}, buyer"
    address = Address(**{k: _text(a, k, bw + " address", required=False) for k in
                         ("street", "number", "floor", "city", "province", "postal_code")})
    buyer = Buyer(
        id=_text(b, "id", bw),
        business_name=_text(b, "business_name", bw),
        tax_id=_text(b, "tax_id", bw, required=False),
        tax_condition=_text(b, "tax_condition", bw, required=False),
        email=_text(b, "email", bw, required=False),
        phone=_text(b, "phone", bw, required=False),
        address=address,
    )
    raw_items = raw.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise OrderFormatError(f"{where}: the order has no items")
    items = []
    for n, it in enumerate(raw_items, 1):
        iw = f"{where}, item {n}"
        if not isinstance(it, Mapping):
            raise OrderFormatError(f"{iw}: not an object")
        sku = _text(it, "sku", iw)
        iw = f"{where}, item {n} (SKU {sku})"
        qty = it.get("quantity")
        if isinstance(qty, Decimal) and qty == qty.to_integral_value():
            qty = int(qty)
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise OrderFormatError(f"{iw}: quantity must be a whole number, got {qty!r}")
        if qty <= 0:
            raise OrderFormatError(f"{iw}: quantity must be positive, got {qty}")
        items.append(OrderItem(
            sku=sku,
            name=_text(it, "name", iw, required=False),
            quantity=qty,
            unit_price=_money(it, "unit_price", iw),
            discount_pct=_money(it, "discount_pct", iw, default="0"),
            subtotal=_money(it, "subtotal", iw, default="0"),
        ))
        if items[-1].discount_pct > 100:
            raise OrderFormatError(f"{iw}: discount is over 100%")
    return StoreOrder(
        id=oid,
        number=number,
        confirmed_at=_text(raw, "confirmed_at", where, required=False),
        buyer=buyer,
        items=tuple(items),
        payment_terms=_text(raw, "payment_terms", where, required=False),
        notes=_text(raw, "notes", where, required=False),
        total=_money(raw, "total", where, default="0"),
    )


class StoreClient(HttpSide):
    side = "the store"

    def __init__(self, config: StoreConfig, token: str, policy: RetryPolicy | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        redact.register(token)
        super().__init__(
            client or make_client(config.url, timeout_s=config.timeout_s,
                                  verify=tls_verify(config),
                                  headers={"Authorization": f"Bearer {token}",
                                           "Accept": "application/json"}),
            policy)
        self.config = config

    parse_order = staticmethod(parse_order)

    async def pending_orders(self) -> AsyncIterator[list[Mapping[str, Any]]]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"erp_status": "pending", "limit": PAGE_LIMIT}
            if cursor:
                params["cursor"] = cursor
            data = await self.call_json("GET", paths.ORDERS, params=params)
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise ProtocolError("the store's order list has no 'data' list",
                                    code="bad_response")
            yield data["data"]
            cursor = data.get("next_cursor")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    async def products(self) -> AsyncIterator[list[Mapping[str, Any]]]:
        """The store's current stock and price of every product, page by page."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            data = await self.call_json("GET", paths.PRODUCTS, params=params)
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise ProtocolError("the store's product list has no 'data' list",
                                    code="bad_response")
            yield [p for p in data["data"] if isinstance(p, Mapping)]
            cursor = data.get("next_cursor")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    async def report_sent(self, order_id: str, erp_reference: str) -> None:
        await self.request("POST", paths.erp_sync(order_id),
                           json={"status": "sent", "erp_reference": erp_reference})

    async def report_failed(self, order_id: str, message: str) -> None:
        # the message may quote what the ERP answered, which may quote our ERP token
        await self.request("POST", paths.erp_sync(order_id),
                           json={"status": "failed", "message": redact.redact(message)[:1000]})

    async def push_stock_prices(self, items: list[StockPrice]) -> PushResult:
        body = {"items": [{k: v for k, v in (("sku", i.sku), ("stock", i.stock),
                                             ("price", i.price)) if v is not None}
                          for i in items]}
        # str and int values only; msgspec writes 500 items ~10x faster than json.dumps
        data = await self.call_json("PATCH", paths.STOCK_PRICES, content=_ENCODER.encode(body),
                                    headers={"Content-Type": "application/json"})
        if not isinstance(data, dict) or not isinstance(data.get("updated"), int):
            raise ProtocolError("the store's answer to a stock/price update has no 'updated'",
                                code="bad_response")
        not_found = data.get("not_found") or []
        if not isinstance(not_found, list):
            raise ProtocolError("the store's 'not_found' is not a list", code="bad_response")
        return PushResult(updated=data["updated"], not_found=tuple(str(s) for s in not_found))

    async def checks(self) -> list[Check]:
        try:
            data = await self.call_json("GET", paths.PRODUCTS, params={"limit": 1})
        except AuthError as exc:
            return [Check("store reachable", True, self.config.url),
                    Check("store token", False, exc.message)]
        except BridgeError as exc:
            return [Check("store reachable", False, exc.message)]
        ok = isinstance(data, dict) and "data" in data
        return [Check("store reachable", True, self.config.url),
                Check("store token", ok, "accepted" if ok else "unexpected answer")]

"""Client of the VentasxMayor store API (shared/specs/store-api.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import httpx
import msgspec

from bridge import numbers, redact
from bridge.config import StoreConfig
from bridge.errors import AuthError, BridgeError, DataError, ProtocolError
from bridge.http import HttpSide, RetryPolicy, make_client, tls_verify
from bridge.model import Address, Buyer, Check, OrderItem, PushResult, StockPrice, StoreOrder
from bridge.paging import PageGuard
from connectors.store import paths

_ENCODER = msgspec.json.Encoder()

PAGE_LIMIT = 100
PRODUCTS_LIMIT = 500


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


# the store API's money: a decimal string with a point, no thousands separator ("1234.50")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _money(
    obj: Mapping[str, Any],
    key: str,
    where: str,
    *,
    default: str | None = None,
    maximum: Decimal = numbers.MAX_PRICE,
) -> Decimal:
    """An amount as the store API writes it (a decimal string; a JSON number is taken too),
    within Bridge's limits (bridge.numbers)."""
    value = obj.get(key, default)
    if value is None:
        raise OrderFormatError(f"{where}: '{key}' is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise OrderFormatError(
            f"{where}: '{key}' must be a decimal string, got {numbers.shown(value)}"
        )
    if isinstance(value, str):
        text = value.strip()
        if "," in text:
            raise OrderFormatError(
                f"{where}: '{key}' is {numbers.shown(text)} with a decimal comma or a "
                "thousands separator; the store API writes amounts as 1234.50"
            )
        if not _DECIMAL.fullmatch(text):
            raise OrderFormatError(
                f"{where}: '{key}' is {numbers.shown(text)}, not a number written as 1234.50"
            )
        amount = Decimal(text)
    else:
        amount = Decimal(value)
    try:
        return numbers.money(amount, maximum)
    except numbers.NumberError as exc:
        raise OrderFormatError(f"{where}: '{key}' {exc}") from None


def parse_order(raw: Mapping[str, Any]) -> StoreOrder:
    """Validate the store's order JSON. Raises OrderFormatError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise OrderFormatError("the order is not a JSON object")
    oid = _text(raw, "id", "order")
    where = f"order {numbers.label(raw.get('number') or oid)}"
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
    address = Address(
        **{
            k: _text(a, k, bw + " address", required=False)
            for k in ("street", "number", "floor", "city", "province", "postal_code")
        }
    )
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
        iw = f"{where}, item {n} (SKU {numbers.label(sku)})"
        try:
            qty = numbers.quantity(it.get("quantity"))
        except numbers.NumberError as exc:
            raise OrderFormatError(f"{iw}: quantity {exc}") from None
        items.append(
            OrderItem(
                sku=sku,
                name=_text(it, "name", iw, required=False),
                quantity=qty,
                unit_price=_money(it, "unit_price", iw),
                discount_pct=_money(
                    it, "discount_pct", iw, default="0", maximum=numbers.MAX_PERCENT
                ),
                subtotal=_money(it, "subtotal", iw, default="0", maximum=numbers.MAX_AMOUNT),
            )
        )
    return StoreOrder(
        id=oid,
        number=number,
        confirmed_at=_text(raw, "confirmed_at", where, required=False),
        buyer=buyer,
        items=tuple(items),
        payment_terms=_text(raw, "payment_terms", where, required=False),
        notes=_text(raw, "notes", where, required=False),
        total=_money(raw, "total", where, default="0", maximum=numbers.MAX_AMOUNT),
    )


class StoreClient(HttpSide):
    side = "the store"

    def __init__(
        self,
        config: StoreConfig,
        token: str,
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        redact.register(token)
        super().__init__(
            client
            or make_client(
                config.url,
                timeout_s=config.timeout_s,
                verify=tls_verify(config),
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            ),
            policy,
        )
        self.config = config

    parse_order = staticmethod(parse_order)

    async def _listing(
        self, path: str, name: str, params: dict[str, Any], key: str
    ) -> AsyncIterator[list[Any]]:
        """A cursor-paged list of the store's, page by page. It ends where the store gives
        no `next_cursor`; a cursor or a page the store already gave stops it with a
        ProtocolError (a store that ignores the cursor would list its first page forever),
        and so does a listing longer than bridge.paging.MAX_PAGES pages."""
        guard = PageGuard(self.side, f"the {name} list")
        cursor: str | None = None
        cursors: set[str] = set()
        while True:
            data = await self.call_json(
                "GET", path, params={**params, **({"cursor": cursor} if cursor else {})}
            )
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise ProtocolError(
                    f"{self.side}'s {name} list has no 'data' list", code="bad_response"
                )
            rows = data["data"]
            guard.page(
                guard.pages + 1,
                (  # an order's id, a product's SKU; or the row
                    r[key]
                    if isinstance(r, Mapping) and isinstance(r.get(key), str) and r[key]
                    else repr(r)
                    for r in rows
                ),
            )
            yield rows
            cursor = data.get("next_cursor")
            if not cursor:
                return
            if not isinstance(cursor, str):
                raise ProtocolError(
                    f"{self.side}'s {name} list has a next_cursor that is not "
                    f"text ({numbers.shown(cursor)})",
                    code="bad_response",
                )
            if cursor in cursors:
                raise ProtocolError(
                    f"{self.side} gave the same next_cursor twice in its {name} list: it "
                    f"ignores the cursor, so the listing was stopped after {guard.pages} "
                    "pages",
                    code="bad_response",
                )
            cursors.add(cursor)

    async def pending_orders(self) -> AsyncIterator[list[Mapping[str, Any]]]:
        async for rows in self._listing(
            paths.ORDERS, "order", {"erp_status": "pending", "limit": PAGE_LIMIT}, "id"
        ):
            yield rows

    async def products(self) -> AsyncIterator[list[Mapping[str, Any]]]:
        """The store's current stock and price of every product, page by page."""
        async for rows in self._listing(
            paths.PRODUCTS, "product", {"limit": PRODUCTS_LIMIT}, "sku"
        ):
            yield [p for p in rows if isinstance(p, Mapping)]

    async def report_sent(self, order_id: str, erp_reference: str) -> None:
        await self.request(
            "POST",
            paths.erp_sync(order_id),
            json={"status": "sent", "erp_reference": erp_reference},
        )

    async def report_failed(self, order_id: str, message: str) -> None:
        # the message may quote what the ERP answered, which may quote our ERP token
        await self.request(
            "POST",
            paths.erp_sync(order_id),
            json={"status": "failed", "message": redact.redact(message)[:1000]},
        )

    async def push_stock_prices(self, items: list[StockPrice]) -> PushResult:
        body = {
            "items": [
                {
                    k: v
                    for k, v in (("sku", i.sku), ("stock", i.stock), ("price", i.price))
                    if v is not None
                }
                for i in items
            ]
        }
        # str and int values only; msgspec writes 500 items ~10x faster than json.dumps
        data = await self.call_json(
            "PATCH",
            paths.STOCK_PRICES,
            content=_ENCODER.encode(body),
            headers={"Content-Type": "application/json"},
        )
        if not isinstance(data, dict) or not isinstance(data.get("updated"), int):
            raise ProtocolError(
                "the store's answer to a stock/price update has no 'updated'", code="bad_response"
            )
        not_found = data.get("not_found") or []
        if not isinstance(not_found, list):
            raise ProtocolError("the store's 'not_found' is not a list", code="bad_response")
        return PushResult(updated=data["updated"], not_found=tuple(str(s) for s in not_found))

    async def checks(self) -> list[Check]:
        try:
            data = await self.call_json("GET", paths.PRODUCTS, params={"limit": 1})
        except AuthError as exc:
            return [
                Check("store reachable", True, self.config.url),
                Check("store token", False, exc.message, code=exc.code),
            ]
        except BridgeError as exc:
            return [Check("store reachable", False, exc.message, code=exc.code)]
        ok = isinstance(data, dict) and "data" in data
        return [
            Check("store reachable", True, self.config.url),
            Check(
                "store token",
                ok,
                "accepted" if ok else "unexpected answer",
                code="token_accepted" if ok else "bad_response",
            ),
        ]

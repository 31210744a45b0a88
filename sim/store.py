"""A faithful simulator of the VentasxMayor store API (shared/specs/store-api.md).

A real HTTP server (aiohttp via `sim.kit.SimServer`) for tests and `bridge demo`:

    sim = StoreSimulator(products=demo_catalog(), seed=1)
    await sim.start()                 # or sim.start_in_thread() / `with sim:`
    sim.add_orders(5)
    ...  # point the bridge at sim.base_url with token "store-token"
    await sim.stop()

State lives in plain attributes for tests to inspect: `orders` (id → order JSON plus
`erp_status`, `erp_reference`, `erp_message` and `reports`, every erp-sync body received for
that order, accepted or not), `products` (sku → {"stock", "price"}), `patches` (every
stock-prices batch received), `applied_patches` (those that were applied) and `refused`
(products its own checks refuse, with why). It is only
changed on the server's loop: from another thread go through `sim.call(fn)`.

`paging` (sim.kit's PagingFaults) makes both lists misbehave: ignore the cursor (every page is
the first one) or serve a page twice, each time with a cursor of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hmac
import json
import logging
import random
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from sim.kit import FaultPlan, Handler, SimServer, json_body
from sim.ordergen import (
    AR_TZ,
    BuyerPool,
    OrderFactory,
    apply_changes,
    demo_catalog,
    money,
    new_order_id,
)

log = logging.getLogger(__name__)

INTERNAL_KEYS = ("erp_status", "erp_reference", "erp_message", "reports")
ORDERS_PAGE_MAX = 100
PRODUCTS_PAGE_MAX = 500
PRICE_RE = re.compile(r"[0-9]+(\.[0-9]{1,2})?")

# the paths of shared/specs/store-api.md, as the spec writes them (the store client keeps its
# own copy: tests/test_store_simulator.py reaches this server through the client's paths)
_ORDERS = "/api/v1/orders"  # "Orders waiting for the ERP": GET
_ERP_SYNC_SUFFIX = "/erp-sync"  # "Reporting an order's ERP result": POST .../orders/{id}/erp-sync
_PRODUCTS = "/api/v1/products"  # "Catalog": GET
_STOCK_PRICES = "/api/v1/products/stock-prices"  # "Catalog": PATCH
_KNOWN_METHODS = {_ORDERS: "GET", _PRODUCTS: "GET", _STOCK_PRICES: "PATCH"}

_ERROR_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Invalid or expired API token"),
    403: ("forbidden", "This token cannot access this resource"),
    404: ("not_found", "Not found"),
    409: ("conflict", "Conflicting update, try again"),
    413: ("batch_too_large", "Request too large"),
    422: ("unprocessable", "The request could not be processed"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Bad gateway"),
    503: ("unavailable", "Service temporarily unavailable"),
    504: ("gateway_timeout", "Gateway timeout"),
}


class _BadRequest(Exception):
    pass


def error(status: int, code: str, message: str, **headers: str) -> web.Response:
    resp = json_body({"error": code, "message": message}, status=status)
    resp.headers.update(headers)
    return resp


def _encode_cursor(kind: str, *key: Any) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(kind: str, text: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _BadRequest(f"cursor '{text}' is not valid") from None
    if (
        not isinstance(data, list)
        or len(data) != len(types) + 1
        or data[0] != kind
        or not all(
            isinstance(v, t) and not isinstance(v, bool)
            for v, t in zip(data[1:], types, strict=True)
        )
    ):
        raise _BadRequest(f"cursor '{text}' is not valid")
    return tuple(data[1:])


def _limit(request: web.Request, maximum: int) -> int:
    text = request.query.get("limit")
    if text is None or text == "":
        return maximum
    try:
        limit = int(text)
    except ValueError:
        raise _BadRequest(f"limit '{text}' is not a whole number") from None
    if limit < 1:
        raise _BadRequest(f"limit must be at least 1, got {limit}")
    return min(limit, maximum)


def _sort_time(confirmed_at: Any) -> int | None:
    """Microseconds since the epoch of an ISO 8601 time (naive times are Argentine)."""
    if not isinstance(confirmed_at, str):
        return None
    try:
        when = datetime.fromisoformat(confirmed_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=AR_TZ)
    return int(when.timestamp() * 1_000_000)


def _item_problem(item: Any) -> tuple[str | None, str | None]:
    """(sku, problem) of one stock-prices item; problem None when the item is valid."""
    if not isinstance(item, dict):
        return None, "must be an object with a sku"
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        return None, "sku must be a non-empty string"
    if "stock" in item:
        stock = item["stock"]
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            return sku, "stock must be a non-negative integer"
    if "price" in item:
        price = item["price"]
        if not isinstance(price, str) or not PRICE_RE.fullmatch(price):
            return sku, 'price must be a decimal string such as "1234.50"'
    return sku, None


class StoreSimulator(SimServer):
    """The store's API: pending orders as a queue, ERP-result reports, catalog and
    stock/price updates. See the module docstring for the state it keeps."""

    def __init__(
        self,
        *,
        token: str = "store-token",
        products: Iterable[tuple[str, int, str]] = (),
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        seed: int = 0,
        max_batch: int = 500,
    ) -> None:
        super().__init__(latency_s=latency_s, faults=faults)
        self.token = token
        self.token_expired = False
        self.seed = seed
        self.max_batch = max_batch
        self.products: dict[str, dict[str, Any]] = {
            sku: {"stock": int(stock), "price": money(price)} for sku, stock, price in products
        }
        self.orders: dict[str, dict[str, Any]] = {}
        self.patches: list[list[Any]] = []
        self.applied_patches: list[list[dict[str, Any]]] = []
        # products the store's own checks refuse (sku -> why, say "archived"): a batch
        # holding one is refused whole with a 422 naming the item, as for an invalid item
        self.refused: dict[str, str] = {}
        self.buyers = BuyerPool(seed)
        # Without products of its own the simulator sells from a demo catalog (whose SKUs
        # are then unknown to `products`).
        self._demo = [(sku, price) for sku, _, price in demo_catalog(seed)]
        self.factory = OrderFactory(self._catalog(), seed, self.buyers)
        self._keys: dict[str, tuple[int, int]] = {}
        self._seq = 0
        # a misbehaving store: records listed again, as they are, at the end of the first
        # page of pending orders (the same id twice with other contents, say)
        self.listed_again: list[dict[str, Any]] = []
        self._generator: asyncio.Task[None] | None = None
        self._generator_rng = random.Random(f"generator-{seed}")

        self.app.middlewares.append(self._auth_middleware)
        r = self.app.router
        r.add_get(_ORDERS, self._list_orders)
        r.add_post(f"{_ORDERS}/{{order_id}}{_ERP_SYNC_SUFFIX}", self._erp_sync)
        r.add_get(_PRODUCTS, self._list_products)
        r.add_patch(_STOCK_PRICES, self._stock_prices)
        r.add_route("*", "/{tail:.*}", self._fallback)

    # -- naming and errors ------------------------------------------------------------------
    def route_name(self, request: web.Request) -> str:
        path = request.path
        if path == _ORDERS:
            return "orders"
        if path.startswith(_ORDERS + "/") and path.endswith(_ERP_SYNC_SUFFIX):
            return "erp-sync"
        if path == _PRODUCTS:
            return "products"
        if path == _STOCK_PRICES:
            return "stock-prices"
        return "other"

    def fault_response(self, status: int) -> web.StreamResponse:
        code, message = _ERROR_CODES.get(status, (f"http_{status}", f"HTTP error {status}"))
        if status == 429:
            message = f"Too many requests, retry after {self.faults.retry_after_s} s"
            return error(status, code, message, **{"Retry-After": str(self.faults.retry_after_s)})
        return error(status, code, message)

    # -- auth -------------------------------------------------------------------------------
    def expire_token(self) -> None:
        """Reject the current token from now on (as when the merchant revokes it)."""
        self.token_expired = True

    def set_token(self, token: str) -> None:
        self.token = token
        self.token_expired = False

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or self.token_expired:
            return False
        return hmac.compare_digest(value.strip().encode(), self.token.encode())

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request):
            return error(
                401,
                "unauthorized",
                "Invalid or expired API token",
                **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            return await handler(request)
        except _BadRequest as exc:
            return error(400, "bad_request", str(exc))

    # -- state helpers (call on the server loop) --------------------------------------------
    def _catalog(self) -> list[tuple[str, str]]:
        if not self.products:
            return list(self._demo)
        in_stock = [(sku, p["price"]) for sku, p in self.products.items() if p["stock"] > 0]
        return in_stock or [(sku, p["price"]) for sku, p in self.products.items()]

    def add_order(self, order: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Add a confirmed order, pending for the ERP, and return the stored record.

        Without `order`, one is generated from the simulator's products at current prices
        (`kw` go to `OrderFactory.make`: n_items, buyer, items, overrides). A given order is
        stored as it is (a copy; `kw` override its fields), however malformed: tests use this
        for bad CUITs, unknown SKUs, zero quantities. An order without an "id" is kept under
        a generated key (see `pending_ids()`) and listed without one."""
        if order is None:
            self.factory.catalog = self._catalog()
            record = self.factory.make(**kw)
        else:
            record = apply_changes(copy.deepcopy(dict(order)), kw)
        oid = record.get("id")
        if not isinstance(oid, str) or not oid:
            oid = new_order_id()
        if oid in self.orders:
            raise ValueError(f"order {oid} already exists")
        record.update(erp_status="pending", erp_reference=None, erp_message=None, reports=[])
        self._seq += 1
        when = _sort_time(record.get("confirmed_at"))
        if when is None:  # no usable time: sorts as confirmed now
            when = int(datetime.now(AR_TZ).timestamp() * 1_000_000)
        self._keys[oid] = (when, self._seq)
        self.orders[oid] = record
        return record

    def add_orders(self, n: int, **kw: Any) -> list[dict[str, Any]]:
        return [self.add_order(**kw) for _ in range(n)]

    def requeue(self, order_id: str, **changes: Any) -> dict[str, Any]:
        """Put a failed (or still pending) order back in the pending list, as when the
        merchant fixes it in the store's admin. `changes` are merged into the order:
        `buyer={"tax_id": "..."}` or `buyer__tax_id="..."` changes the buyer's tax id only."""
        order = self.orders[order_id]
        if order["erp_status"] == "sent":
            raise ValueError(f"order {order_id} was already sent to the ERP")
        fixed = {k.split("__")[0] for k in changes} & {"id", *INTERNAL_KEYS}
        if fixed:
            raise ValueError(f"requeue cannot change {', '.join(sorted(fixed))}")
        apply_changes(order, changes)
        order.update(erp_status="pending", erp_reference=None, erp_message=None)
        when = _sort_time(order.get("confirmed_at"))
        if when is not None:
            self._keys[order_id] = (when, self._keys[order_id][1])
        return order

    def pending_ids(self) -> list[str]:
        """Ids of the pending orders in the order the API lists them."""
        return [oid for _, oid in self._pending()]

    def ids_with_status(self, erp_status: str) -> list[str]:
        return [oid for oid, o in self.orders.items() if o["erp_status"] == erp_status]

    def _pending(self) -> list[tuple[tuple[int, int], str]]:
        return sorted(
            (self._keys[oid], oid) for oid, o in self.orders.items() if o["erp_status"] == "pending"
        )

    @staticmethod
    def _public(order: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if k not in INTERNAL_KEYS}

    # -- order generator (demo) -------------------------------------------------------------
    def start_generator(self, every_s: float, jitter_s: float = 0.0) -> None:
        """Add an order every `every_s` ± `jitter_s` seconds, from a task on the server loop,
        until `stop_generator()` or `stop()`."""
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        self.call(lambda: self._start_generator(every_s, jitter_s))

    def _start_generator(self, every_s: float, jitter_s: float) -> None:
        self._cancel_generator()
        loop = asyncio.get_running_loop()
        self._generator = loop.create_task(self._generate(every_s, jitter_s))

    async def _generate(self, every_s: float, jitter_s: float) -> None:
        rng = self._generator_rng
        while True:
            await asyncio.sleep(max(0.0, every_s + rng.uniform(-jitter_s, jitter_s)))
            try:
                self.add_order()
            except Exception:  # keep generating; the demo shows the log
                log.exception("the store simulator could not generate an order")

    def stop_generator(self) -> None:
        self.call(self._cancel_generator)

    def _cancel_generator(self) -> None:
        if self._generator is not None:
            self._generator.cancel()
            self._generator = None

    @property
    def generating(self) -> bool:
        return self._generator is not None and not self._generator.done()

    async def stop(self) -> None:
        task, self._generator = self._generator, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    # -- handlers ---------------------------------------------------------------------------
    @staticmethod
    async def _json(request: web.Request) -> Any:
        try:
            return msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            raise _BadRequest("the request body is not valid JSON") from None

    async def _list_orders(self, request: web.Request) -> web.StreamResponse:
        status = request.query.get("erp_status")
        if status != "pending":
            raise _BadRequest(
                f"erp_status '{status or ''}' is not supported: only 'pending' can be listed"
            )
        limit = _limit(request, ORDERS_PAGE_MAX)
        page, next_cursor = self._paged(request, "orders", (int, int), self._pending(), limit)
        data = [self._public(self.orders[oid]) for _, oid in page]
        if not request.query.get("cursor"):
            data += [self._public(r) for r in self.listed_again]
        return json_body({"data": data, "next_cursor": next_cursor})

    async def _erp_sync(self, request: web.Request) -> web.StreamResponse:
        oid = request.match_info["order_id"]
        order = self.orders.get(oid)
        if order is None:
            return error(404, "not_found", f"order {oid} not found")
        body = await self._json(request)
        if not isinstance(body, dict):
            raise _BadRequest("the request body must be a JSON object")
        order["reports"].append(copy.deepcopy(body))
        status = body.get("status")
        if status == "sent":
            ref = body.get("erp_reference")
            if not isinstance(ref, str) or not ref.strip():
                return error(
                    422, "invalid_report", "erp_reference is required when status is 'sent'"
                )
            if order["erp_status"] == "sent" and order["erp_reference"] != ref:
                return error(
                    409, "conflict", f"order already sent with reference {order['erp_reference']}"
                )
            order.update(erp_status="sent", erp_reference=ref, erp_message=None)
        elif status == "failed":
            message = body.get("message")
            if not isinstance(message, str) or not message.strip():
                return error(422, "invalid_report", "message is required when status is 'failed'")
            if order["erp_status"] == "sent":
                return error(
                    409, "conflict", f"order already sent with reference {order['erp_reference']}"
                )
            order.update(erp_status="failed", erp_message=message)
        else:
            return error(
                422, "invalid_report", f"status must be 'sent' or 'failed', got {status!r}"
            )
        return json_body({"id": oid, "erp_status": order["erp_status"]})

    async def _list_products(self, request: web.Request) -> web.StreamResponse:
        limit = _limit(request, PRODUCTS_PAGE_MAX)
        keyed = [((sku,), sku) for sku in sorted(self.products)]
        page, next_cursor = self._paged(request, "products", (str,), keyed, limit)
        return json_body(
            {
                "data": [{"sku": s, **self.products[s]} for _, s in page],
                "next_cursor": next_cursor,
            }
        )

    def _paged(
        self,
        request: web.Request,
        kind: str,
        types: tuple[type, ...],
        keyed: list[tuple[tuple[Any, ...], Any]],
        limit: int,
    ) -> tuple[list[tuple[tuple[Any, ...], Any]], str | None]:
        """The page a request's cursor asks for, of `keyed` ((key, item) sorted by key),
        and the cursor of the next one (None at the end). A cursor carries the key of the
        last row served (later pages start after it, whatever was reported meanwhile) and
        the number of its page, for the paging faults (`self.paging`): ignoring the cursor
        answers the first page, a repeated page answers the rows up to the cursor again;
        either way with a cursor of its own; `shuffle` answers the page in a random order."""
        cursor = request.query.get("cursor")
        number, after = 1, None
        if cursor:
            *key, previous = _decode_cursor(kind, cursor, (*types, int))
            after, number = tuple(key), previous + 1
        served = self.paging.served(number)
        if after is None or served == 1:
            rest = keyed
        elif served < number:  # the page before, again
            rest = [p for p in keyed if p[0] <= after][-limit:]
            rest += [p for p in keyed if p[0] > after]
        else:
            rest = [p for p in keyed if p[0] > after]
        page = rest[:limit]
        more = len(rest) > limit
        cursor = _encode_cursor(kind, *page[-1][0], number) if more else None
        return self.paging.rows(page), cursor

    async def _stock_prices(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise _BadRequest('the request body must be {"items": [...]}')
        # kept as decoded: nothing here changes a request's items afterwards
        self.patches.append(items)
        if len(items) > self.max_batch:
            return error(
                413,
                "batch_too_large",
                f"{len(items)} items in one request; at most {self.max_batch} allowed",
            )
        for n, item in enumerate(items, 1):
            sku, problem = _item_problem(item)
            if problem is None and sku in self.refused:
                problem = self.refused[sku]
            if problem:
                where = f"item {n} (SKU {sku})" if sku is not None else f"item {n}"
                return error(422, "invalid_item", f"{where}: {problem}")
        updated = 0
        not_found: list[str] = []
        for item in items:
            product = self.products.get(item["sku"])
            if product is None:
                if item["sku"] not in not_found:
                    not_found.append(item["sku"])
                continue
            if "stock" in item:
                product["stock"] = item["stock"]
            if "price" in item:
                product["price"] = money(item["price"])
            updated += 1
        self.applied_patches.append(items)
        return json_body({"updated": updated, "not_found": not_found})

    async def _fallback(self, request: web.Request) -> web.StreamResponse:
        allowed = _KNOWN_METHODS.get(request.path)
        if allowed is None and self.route_name(request) == "erp-sync":
            allowed = "POST"
        if allowed is not None:
            return error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.path}",
                Allow=allowed,
            )
        return error(404, "not_found", f"no such endpoint: {request.method} {request.path}")

"""Acqua connector: see shared/specs/erp-apis.md. Everything there about Acqua's API except
the vendor page (Instance, Username, Password; two-level auth; DNI vs CUIT from the
document's format; 409 retried 5 times; products matched by SKU) is *assumed*, so every
path, parameter, envelope key and code lives in AcquaConfig.

What this connector handles, so the engine never sees it:
- two tokens: a public *read* token (no credentials) for stock and prices, and a *write*
  token (username + password) for customers and transactions. Each is cached with its
  `expires_in`, renewed shortly before it runs out, and renewed once when a 401 says it is
  no longer good (then the request is tried once more);
- stock and prices come from two paginated lists, merged here by SKU page by page;
- a 409 whose body says the externalId (or the customer's document) already exists is a
  duplicate (reconcile, never a second order); any other 409 is a concurrent write, retried
  like Dragonfish's (5 tries, 1 s apart); writes are serialized.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property, partial
from typing import Any, ClassVar, Literal

import httpx

from bridge import numbers, redact
from bridge.errors import (
    AmbiguousWriteError,
    AuthError,
    BridgeError,
    ConfigError,
    ConflictError,
    DataError,
    DuplicateError,
    NotFoundError,
    ProtocolError,
)
from bridge.http import Reply
from bridge.model import (
    Capabilities,
    CatalogItem,
    Check,
    RowProblem,
    StoreOrder,
    ValidBuyer,
)
from bridge.numbers import to_decimal
from bridge.paging import PageGuard
from connectors.acqua.config import AcquaConfig
from connectors.kit import BearerSession, ErpClient, Token, json_number

Level = Literal["read", "write"]
Which = Literal["stock", "prices"]
Entry = CatalogItem | RowProblem

# keys under which an id may come back (assumed: "id")
ID_KEYS = ("id", "customerId", "transactionId", "code")
CENT = Decimal("0.01")


def _digits(text: Any) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


def _first_id(data: Any) -> str | None:
    if isinstance(data, dict):
        for key in ID_KEYS:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


class AcquaClient(ErpClient):
    kind: ClassVar[str] = "acqua"
    capabilities: ClassVar[Capabilities] = Capabilities(
        orders=True,
        customers=True,
        incremental_catalog=False,
        sku_lookup=False,
        write_concurrency=1,
    )
    side = "Acqua"
    secret_names = ("erp.password",)
    config: AcquaConfig

    def base_url(self) -> str:
        return self.config.base_url

    @cached_property
    def sessions(self) -> dict[Level, BearerSession]:
        """The two tokens, each renewed shortly before its `expires_in` runs out (at most a
        quarter of its lifetime before)."""

        def margin(lifetime: float) -> float:
            return min(self.config.token_renew_margin_s, lifetime / 4)

        levels: tuple[Level, ...] = ("read", "write")
        return {
            level: BearerSession(partial(self._fetch_token, level), margin=margin)
            for level in levels
        }

    # -- errors ------------------------------------------------------------------------------
    def error_message(self, response: httpx.Response) -> str:
        message = super().error_message(response)
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            return self.scrub(message)
        if isinstance(data, dict):
            # field-level validation details, where Acqua gives them
            details = data.get("errors") or data.get("details")
            if isinstance(details, list):
                parts = []
                for d in details[:5]:
                    if isinstance(d, dict):
                        text = " ".join(str(d[k]) for k in ("field", "message") if d.get(k))
                        if text:
                            parts.append(text)
                    elif isinstance(d, str):
                        parts.append(d)
                if parts:
                    message = f"{message} ({'; '.join(parts)})"
        return self.scrub(message)

    @staticmethod
    def _error_code(response: httpx.Response) -> str:
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            return ""
        if isinstance(data, dict):
            code = data.get("error") or data.get("code")
            return str(code) if isinstance(code, (str, int)) else ""
        return ""

    def _is_duplicate(self, response: httpx.Response) -> bool:
        code = self._error_code(response).lower()
        cfg = self.config
        if code and code in (cfg.duplicate_order_code.lower(), cfg.duplicate_customer_code.lower()):
            return True
        phrase = cfg.duplicate_phrase.lower()
        return bool(phrase) and phrase in self.error_message(response).lower()

    def classify(self, response: httpx.Response, message: str, *, write: bool) -> BridgeError:
        # a 409 is either "already exists" (a duplicate: final) or a concurrent write
        # (retried by HttpSide's policy): only the body tells them apart
        if response.status_code == 409:
            said = f": {message}" if message else ""
            if self._is_duplicate(response):
                return DuplicateError(
                    f"Acqua already has it (HTTP 409{said})", status=409, server_message=message
                )
            return ConflictError(
                f"Acqua reported a conflict (HTTP 409{said})", status=409, server_message=message
            )
        return super().classify(response, message, write=write)

    # -- tokens ------------------------------------------------------------------------------
    def _lifetime(self, data: dict[str, Any]) -> float:
        raw = to_decimal(data.get("expires_in"))
        return float(raw) if raw is not None and raw > 0 else self.config.token_default_lifetime_s

    async def _fetch_token(self, level: Level) -> Token:
        cfg = self.config
        try:
            if level == "read":
                data = await self.call_json("POST", cfg.public_token_path, json={})
            else:
                data = await self.call_json(
                    "POST",
                    cfg.token_path,
                    json={"username": cfg.username, "password": self.secrets["erp.password"]},
                )
        except AuthError as exc:
            raise self._credentials_error(level, exc) from None
        except NotFoundError as exc:
            raise ConfigError(
                f"Acqua has no instance '{cfg.instance}' at {cfg.base_url} (HTTP 404 on "
                f"{'the public token' if level == 'read' else 'login'}"
                f"{': ' + exc.server_message if exc.server_message else ''}); check Instance "
                "in Bridge's settings",
                code="acqua_instance",
                status=404,
                server_message=exc.server_message,
            ) from None
        if isinstance(data, dict):
            value = data.get("token") or data.get("access_token")
            if isinstance(value, str) and value.strip():
                # masked from here on, whatever echoes it (an error text, a log line)
                redact.register(value.strip(), slot=f"acqua.{level}")
                return Token(value.strip(), self._lifetime(data))
        what = "public read token" if level == "read" else "write token"
        raise ProtocolError(
            f"Acqua's answer to the {what} request has no 'token'", code="bad_response"
        )

    def _credentials_error(self, level: Level, exc: BridgeError) -> AuthError:
        said = f": {exc.server_message}" if exc.server_message else ""
        status = f"HTTP {exc.status}" if exc.status else "refused"
        if level == "write":
            return AuthError(
                f"Acqua rejected the login of user '{self.config.username}' on instance "
                f"'{self.config.instance}' ({status}{said}); the username or password is wrong "
                "or has expired — check Username and Password in Bridge's settings",
                code="acqua_credentials",
                status=exc.status,
                server_message=exc.server_message,
            )
        return AuthError(
            f"Acqua refused the public read token for instance '{self.config.instance}' "
            f"({status}{said}); check Instance in Bridge's settings",
            code="acqua_public_token",
            status=exc.status,
            server_message=exc.server_message,
        )

    async def _authed(
        self,
        level: Level,
        method: str,
        path: str,
        *,
        write: bool = False,
        ok: Callable[[int], bool] = lambda s: 200 <= s < 300,
        **kw: Any,
    ) -> Reply:
        """A request with the level's bearer token; a 401 renews the token once and tries
        again (a 401 means the server did not act on the request, so a write is safe to
        repeat)."""

        async def send(token: Token) -> Reply:
            return await self.request(
                method,
                path,
                write=write,
                ok=ok,
                decode=True,
                headers={"Authorization": f"Bearer {token.value}"},
                **kw,
            )

        return await self.sessions[level].call(
            send, lambda exc, _renewed: self._rejected(level, path, exc)
        )

    def _rejected(self, level: Level, path: str, exc: AuthError) -> AuthError:
        said = f": {exc.server_message}" if exc.server_message else ""
        if exc.status == 403:
            who = f"user '{self.config.username}'" if level == "write" else "the public read token"
            return AuthError(
                f"Acqua denied {who} access to {path} (HTTP 403{said}); ask Acqua to grant the "
                "permission, or check Username in Bridge's settings",
                code="acqua_forbidden",
                status=403,
                server_message=exc.server_message,
            )
        if level == "write":
            return AuthError(
                f"Acqua rejected a new write token of user '{self.config.username}' on "
                f"{path} (HTTP {exc.status}{said}); check Username and Password in Bridge's "
                "settings",
                code="acqua_credentials",
                status=exc.status,
                server_message=exc.server_message,
            )
        return AuthError(
            f"Acqua rejected a new public read token on {path} (HTTP {exc.status}{said}); "
            "check Instance in Bridge's settings",
            code="acqua_public_token",
            status=exc.status,
            server_message=exc.server_message,
        )

    async def _get(self, level: Level, path: str, params: dict[str, Any]) -> Any:
        return (await self._authed(level, "GET", path, params=params)).data

    def _items(self, data: Any, path: str) -> list[Any]:
        if isinstance(data, list):
            return data
        if isinstance(data, dict) and isinstance(data.get(self.config.items_key), list):
            return list(data[self.config.items_key])
        raise ProtocolError(
            f"Acqua's answer to {path} has no '{self.config.items_key}' list", code="bad_response"
        )

    async def _lookup(self, path: str, params: dict[str, Any]) -> list[Any]:
        """A filtered list (write level); a 404 counts as 'none'."""
        reply = await self._authed(
            "write", "GET", path, params=params, ok=lambda s: 200 <= s < 300 or s == 404
        )
        if reply.status == 404:
            return []
        return self._items(reply.data, path)

    # -- catalog -----------------------------------------------------------------------------
    def _page_params(self, page: int, per_page: int, prices: bool) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {cfg.page_param: page, cfg.limit_param: per_page}
        if prices and cfg.price_list:
            params[cfg.price_list_param] = cfg.price_list
        return params

    async def _page(self, which: Which, page: int, per_page: int) -> tuple[list[Any], int | None]:
        cfg = self.config
        path = cfg.stock_path if which == "stock" else cfg.prices_path
        try:
            data = await self._get(
                "read", path, self._page_params(page, per_page, which == "prices")
            )
        except DataError as exc:
            if (
                which == "prices"
                and cfg.price_list
                and not isinstance(exc, NotFoundError)
                and cfg.price_list.lower() in (exc.server_message or "").lower()
            ):
                raise ConfigError(
                    f"erp.price_list: Acqua refused the price list '{cfg.price_list}' "
                    f"({exc.server_message})",
                    code="price_list_unknown",
                    status=exc.status,
                    server_message=exc.server_message,
                ) from None
            raise
        items = self._items(data, path)
        total = data.get(cfg.total_key) if isinstance(data, dict) else None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            total = None
        return items, total

    def _stock_row(self, row: Any) -> tuple[str, Decimal] | RowProblem:
        field = self.config.stock_field
        if not isinstance(row, dict) or not str(row.get("sku") or "").strip():
            return RowProblem("?", f"Acqua sent a stock row without 'sku': {row!r:.120}")
        sku = str(row["sku"]).strip()
        available = to_decimal(row.get(field))
        if available is None:
            return RowProblem(sku, f"'{field}' is {row.get(field)!r}, not a number")
        try:
            return sku, numbers.stock(available)
        except numbers.NumberError as exc:
            return RowProblem(sku, f"'{field}' {exc}")

    def _price_row(self, row: Any) -> tuple[str, Decimal | None] | RowProblem:
        field = self.config.price_field
        if not isinstance(row, dict) or not str(row.get("sku") or "").strip():
            return RowProblem("?", f"Acqua sent a price row without 'sku': {row!r:.120}")
        sku = str(row["sku"]).strip()
        raw = row.get(field)
        price = to_decimal(raw)
        if raw is not None and price is None:
            return RowProblem(sku, f"price {raw!r} is not a number")
        if price is not None and price < 0:
            return RowProblem(sku, f"negative price {price} in Acqua")
        try:
            return sku, None if price is None else numbers.price(price)
        except numbers.NumberError as exc:
            return RowProblem(sku, f"price {exc}")

    async def catalog(self, since: float | None = None) -> AsyncIterator[list[Entry]]:
        """Stock and prices, merged by SKU as their pages arrive. Both lists are read side by
        side (page n of each together, at most `concurrency` pages in flight, consumed in
        order); a SKU is yielded as soon as both its stock and its price were seen, so when
        the two lists share an order (the usual case) only about a page is held. A SKU whose
        price never comes is yielded without a price when the price list ends; a price whose
        SKU has no stock row is reported as a problem when the stock list ends."""
        # Acqua has no "changed since" filter (assumed): always the whole list
        per_page = self.config.page_size
        (stock_rows, stock_total), (price_rows, price_total) = await asyncio.gather(
            self._page("stock", 1, per_page), self._page("prices", 1, per_page)
        )
        # a server may cap `limit` below ours: page by what it really returns
        got = max(len(stock_rows), len(price_rows))
        if 0 < got < per_page and max(stock_total or 0, price_total or 0) > got:
            per_page = got
        lists: tuple[Which, Which] = ("stock", "prices")
        n_pages: dict[Which, int] = {}
        next_page: dict[Which, int] = {"stock": 2, "prices": 2}
        totals: dict[Which, int | None] = {"stock": stock_total, "prices": price_total}
        guards = {
            w: PageGuard(
                self.side, f"the {w} list", max_pages=self.config.max_pages, setting="erp.max_pages"
            )
            for w in lists
        }
        merger = _Merger(self)
        inflight: deque[tuple[Which, int, asyncio.Task[tuple[list[Any], int | None]]]] = deque()
        dropped: list[asyncio.Task[Any]] = []

        def read_on(which: Which, page: int, rows: list[Any], total: int | None) -> None:
            """Check the page, then plan the list's pages: an empty or short page is its
            last, whatever its total said (the pages asked for beyond it are dropped); after
            the last planned page, more pages if the list has no total and this one came
            back full, or if the total grew while we paged."""
            guard = guards[which]
            guard.page(page, ((r.get("sku") or r) if isinstance(r, dict) else r for r in rows))
            if total is not None:
                totals[which] = total
            if guard.last(len(rows), per_page):
                n_pages[which] = page
                for entry in [e for e in inflight if e[0] == which and e[1] > page]:
                    inflight.remove(entry)
                    entry[2].cancel()
                    dropped.append(entry[2])
                return
            if page >= n_pages.get(which, 0):
                wanted = page + 1 if total is None else guard.planned(total, per_page)
                n_pages[which] = max(page, wanted)

        def finished(which: Which) -> list[Entry]:
            if next_page[which] <= n_pages[which] or any(w == which for w, _, _ in inflight):
                return []
            return merger.prices_done() if which == "prices" else merger.stock_done()

        read_on("stock", 1, stock_rows, stock_total)
        read_on("prices", 1, price_rows, price_total)
        out = merger.add_stock(stock_rows) + merger.add_prices(price_rows)
        out += finished("prices") + finished("stock")
        if out:
            yield out

        try:
            while True:
                # keep `concurrency` pages in flight, the two lists interleaved
                while len(inflight) < self.config.concurrency:
                    left = [w for w in lists if next_page[w] <= n_pages[w]]
                    if not left:
                        break
                    which = min(left, key=lambda w: next_page[w])
                    page = next_page[which]
                    next_page[which] += 1
                    inflight.append(
                        (which, page, asyncio.create_task(self._page(which, page, per_page)))
                    )
                if not inflight:
                    break
                which, page, task = inflight.popleft()
                rows, total = await task
                read_on(which, page, rows, total)
                out = merger.add_stock(rows) if which == "stock" else merger.add_prices(rows)
                out += finished(which)
                if out:
                    yield out
        finally:
            # a failed page (or a reader that stopped early): drop the pages in flight, and
            # collect every dropped one so that no failure is left unretrieved
            for _, _, task in inflight:
                task.cancel()
                dropped.append(task)
            inflight.clear()
            if dropped:
                await asyncio.gather(*dropped, return_exceptions=True)
        for which in lists:
            guards[which].finish(totals[which], per_page)
        rest = merger.finish()
        if rest:
            yield rest

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        """One SKU through the lists' `sku` filter (assumed; capabilities.sku_lookup is off
        until it is confirmed). Only an exact match counts."""
        cfg = self.config
        stock_data, price_data = await asyncio.gather(
            self._get("read", cfg.stock_path, {cfg.sku_param: sku}),
            self._get(
                "read",
                cfg.prices_path,
                {
                    cfg.sku_param: sku,
                    **({cfg.price_list_param: cfg.price_list} if cfg.price_list else {}),
                },
            ),
        )
        merger = _Merger(self)
        rows = [
            r
            for r in self._items(stock_data, cfg.stock_path)
            if isinstance(r, dict) and str(r.get("sku") or "").strip() == sku
        ]
        prices = [
            r
            for r in self._items(price_data, cfg.prices_path)
            if isinstance(r, dict) and str(r.get("sku") or "").strip() == sku
        ]
        if not rows:
            return None
        found = merger.add_stock(rows[:1]) + merger.add_prices(prices) + merger.finish()
        return next((e for e in found if e.sku == sku), None)

    # -- customers ---------------------------------------------------------------------------
    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        doc = buyer.document
        numbers = [doc.number]
        if doc.kind == "CUIT" and doc.dni:
            numbers.append(doc.dni)  # a person's CUIT holds their DNI
        for number in numbers:
            rows = await self._lookup(
                self.config.customers_path, {self.config.document_param: number}
            )
            for row in rows:
                if isinstance(row, dict) and _digits(row.get("documentNumber")) == number:
                    code = _first_id(row)
                    if code:
                        return code
        return None

    def customer_body(self, vb: ValidBuyer) -> dict[str, Any]:
        b, doc, cfg = vb.buyer, vb.document, self.config
        condition = cfg.tax_conditions.get(vb.condition.value)
        if not condition:
            raise ConfigError(
                f"erp.tax_conditions has no Acqua name for '{vb.condition.value}'",
                code="config_field",
            )
        a = b.address
        address = {
            k: v
            for k, v in (
                ("street", a.street),
                ("number", a.number),
                ("floor", a.floor),
                ("city", a.city),
                ("province", a.province),
                ("postalCode", a.postal_code),
            )
            if v
        }
        body: dict[str, Any] = {
            "name": b.business_name,
            "documentType": doc.kind,  # "DNI" | "CUIT", decided from the document's format
            "documentNumber": doc.number,
            "taxCondition": condition,
        }
        if address:
            body["address"] = address
        if b.phone:
            body["phone"] = b.phone
        if b.email:
            body["email"] = b.email
        return body

    async def create_customer(self, buyer: ValidBuyer) -> str:
        body = self.customer_body(buyer)
        try:
            async with self.write_lock:
                reply = await self._authed(
                    "write", "POST", self.config.customers_path, json=body, write=True
                )
        except DuplicateError as exc:
            # created meanwhile (or by hand in the office): use that one
            found = await self.find_customer(buyer)
            if found:
                return found
            raise DuplicateError(
                f"Acqua says a customer with {buyer.document.kind} "
                f"{buyer.document.formatted()} already exists, but it cannot be found by that "
                f"document ({exc.server_message or 'HTTP 409'}); check the customer in Acqua",
                code="customer_duplicate_unresolved",
                status=exc.status,
                server_message=exc.server_message,
            ) from None
        code = _first_id(reply.data)
        if not code:
            raise AmbiguousWriteError(
                "Acqua created a customer but did not say its id", code="bad_response"
            )
        return code

    # -- orders ------------------------------------------------------------------------------
    async def find_order(self, order: StoreOrder) -> str | None:
        rows = await self._lookup(
            self.config.transactions_path, {self.config.external_id_param: order.number}
        )
        for row in rows:
            if isinstance(row, dict) and str(row.get("externalId") or "") == order.number:
                ref = _first_id(row)
                if ref:
                    return ref
        return None

    def order_body(self, order: StoreOrder, customer_code: str) -> dict[str, Any]:
        items = []
        for item in order.items:
            if self.config.discount_mode == "percent":
                discount = item.discount_pct
            else:
                discount = (
                    item.unit_price * item.quantity * item.discount_pct / Decimal(100)
                ).quantize(CENT, rounding=ROUND_HALF_UP)
            items.append(
                {
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "unitPrice": json_number(item.unit_price),
                    "discount": json_number(discount),
                }
            )
        return {
            "customerId": customer_code,
            "externalId": order.number,
            "items": items,
            "paymentTerms": order.payment_terms,
            "notes": order.notes,
        }

    async def create_order(
        self, order: StoreOrder, customer_code: str, buyer: ValidBuyer | None = None
    ) -> str:
        body = self.order_body(order, customer_code)
        try:
            async with self.write_lock:
                reply = await self._authed(
                    "write", "POST", self.config.transactions_path, json=body, write=True
                )
        except DuplicateError as exc:
            raise DuplicateError(
                f"Acqua already has a transaction for order {order.number}"
                f"{' (' + exc.server_message + ')' if exc.server_message else ''}",
                server_message=exc.server_message,
                status=exc.status,
            ) from None
        ref = _first_id(reply.data)
        if not ref:
            raise AmbiguousWriteError(
                f"Acqua accepted order {order.number} but did not say the transaction's id",
                code="bad_response",
            )
        return ref

    # -- doctor ------------------------------------------------------------------------------
    async def checks(self) -> list[Check]:
        out: list[Check] = []
        try:
            await self.sessions["read"].token()
            out.append(Check("ERP reachable", True, self.config.base_url))
            out.append(Check("ERP read token", True, "public token obtained"))
        except (AuthError, ConfigError) as exc:
            out.append(Check("ERP reachable", True, self.config.base_url))
            out.append(Check("ERP read token", False, exc.message, code=exc.code))
            return out
        except BridgeError as exc:
            return [Check("ERP reachable", False, exc.message, code=exc.code)]
        try:
            await self._page("stock", 1, 1)
            out.append(Check("ERP stock query", True, "accepted"))
        except BridgeError as exc:
            out.append(Check("ERP stock query", False, exc.message, code=exc.code))
        try:
            await self.sessions["write"].token()
            out.append(
                Check(
                    "ERP credentials",
                    True,
                    f"write token obtained for user '{self.config.username}'",
                )
            )
        except BridgeError as exc:
            out.append(Check("ERP credentials", False, exc.message, code=exc.code))
        return out


class _Merger:
    """Stock and price rows joined by SKU; whatever is complete is handed out at once."""

    def __init__(self, client: AcquaClient) -> None:
        self.client = client
        self.stock: dict[str, Decimal] = {}  # stock seen, price not yet
        self.prices: dict[str, Decimal | None] = {}  # price seen, stock not yet
        self.emitted: set[str] = set()
        self.stock_over = False
        self.prices_over = False

    def add_stock(self, rows: list[Any]) -> list[Entry]:
        out: list[Entry] = []
        for row in rows:
            parsed = self.client._stock_row(row)
            if isinstance(parsed, RowProblem):
                if parsed.sku in self.emitted or parsed.sku in self.stock:
                    continue  # a repeated row: the first one counts
                out.append(parsed)
                if parsed.sku != "?":
                    # reported: its price, seen or to come, is not used either
                    self.prices.pop(parsed.sku, None)
                    self.emitted.add(parsed.sku)
                continue
            sku, available = parsed
            if sku in self.emitted or sku in self.stock:
                continue  # a repeated stock row: the first one counts
            if sku in self.prices:
                out.append(CatalogItem(sku, available, self.prices.pop(sku)))
                self.emitted.add(sku)
            elif self.prices_over:
                out.append(CatalogItem(sku, available, None))
                self.emitted.add(sku)
            else:
                self.stock[sku] = available
        return out

    def add_prices(self, rows: list[Any]) -> list[Entry]:
        out: list[Entry] = []
        for row in rows:
            parsed = self.client._price_row(row)
            if isinstance(parsed, RowProblem):
                if parsed.sku in self.emitted:
                    continue  # a repeated row: the first one counts
                # a bad price: the SKU's stock is not pushed either (reported instead)
                out.append(parsed)
                if parsed.sku != "?":
                    self.stock.pop(parsed.sku, None)
                    self.emitted.add(parsed.sku)
                continue
            sku, price = parsed
            if sku in self.stock:
                out.append(CatalogItem(sku, self.stock.pop(sku), price))
                self.emitted.add(sku)
            elif sku in self.emitted or sku in self.prices:
                continue  # a repeated price row: the first one counts
            elif self.stock_over:
                out.append(RowProblem(sku, "Acqua lists a price for it but no stock row"))
                self.emitted.add(sku)
            else:
                self.prices[sku] = price
        return out

    def prices_done(self) -> list[Entry]:
        """The price list ended: stock still waiting has no price in the list."""
        self.prices_over = True
        out: list[Entry] = [
            CatalogItem(sku, available, None) for sku, available in self.stock.items()
        ]
        self.emitted.update(self.stock)
        self.stock.clear()
        return out

    def stock_done(self) -> list[Entry]:
        self.stock_over = True
        out: list[Entry] = [
            RowProblem(sku, "Acqua lists a price for it but no stock row") for sku in self.prices
        ]
        self.emitted.update(self.prices)
        self.prices.clear()
        return out

    def finish(self) -> list[Entry]:
        out: list[Entry] = []
        if not self.prices_over:
            out += self.prices_done()
        if not self.stock_over:
            out += self.stock_done()
        return out

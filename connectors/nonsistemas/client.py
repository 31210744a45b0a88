"""NonSistemas connector: see shared/specs/erp-apis.md (everything there is *assumed*; the
assumed names live in `NonSistemasConfig`).

- Stock and prices only, one way: orders are off (capabilities.orders is False), and the
  order methods refuse to run.
- A sync session begins with a login (POST username/password -> Bearer token); the token is
  used for the whole catalog pass. A 401 in the middle of it (the token expired) makes one
  new login, shared by the pages in flight, and the request is sent again once. A token
  whose `expires_in` is about to run out is renewed before the next request.
- The stock query filters by modification date (`desde`): the engine passes the start of
  the last successful sync minus an overlap; None (a full resync) sends no `desde`.
- Pages follow `total`; numbers may come as JSON numbers or as text, with a decimal comma
  ("1234,50", "1.234,50"). A row that cannot be used becomes a RowProblem naming its SKU.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from bridge import redact
from bridge.errors import (
    AuthError,
    BridgeError,
    ConfigError,
    DataError,
    NotFoundError,
    ProtocolError,
)
from bridge.http import HttpSide, RetryPolicy, json_client
from bridge.model import (
    Capabilities,
    CatalogItem,
    Check,
    RowProblem,
    StoreOrder,
    ValidBuyer,
)
from bridge.numbers import catalog_item, shown
from bridge.paging import PageGuard, count
from connectors.nonsistemas.config import NonSistemasConfig

log = logging.getLogger("bridge.nonsistemas")

NO_ORDERS = "NonSistemas takes no orders"

# "1234", "-3", "1234.5", "1234,50"
_PLAIN = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
# "1.234.567,50" (dots group thousands, comma for decimals)
_DOT_GROUPS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
# "1,234,567.50"
_COMMA_GROUPS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def parse_number(value: Any) -> Decimal | None:
    """A finite number from a JSON number or a numeric text (decimal point or comma,
    optional thousands grouping); None for anything else (NaN, Infinity, garbage, bools).
    A lone comma is a decimal comma: "1,234" is 1.234."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "").replace("\u00a0", "")
    if _PLAIN.match(text):
        text = text.replace(",", ".")
    elif _DOT_GROUPS.match(text):
        text = text.replace(".", "").replace(",", ".")
    elif _COMMA_GROUPS.match(text):
        text = text.replace(",", "")
    else:
        return None
    return Decimal(text)


def desde_zone(setting: str) -> timezone | None:
    """The tzinfo for `desde_timezone` (None: this computer's local time)."""
    if setting == "local":
        return None
    if setting == "utc":
        return UTC
    sign = -1 if setting.startswith("-") else 1
    hours, minutes = setting[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def format_desde(ts: float, fmt: str = "iso", zone: str = "local") -> str:
    """A POSIX time as NonSistemas' `desde`, to the second (rounded down, i.e. earlier)."""
    tz = desde_zone(zone)
    moment = datetime.fromtimestamp(math.floor(ts), tz or UTC)
    moment = moment.astimezone(tz) if tz is not None else moment.astimezone()
    if fmt == "iso":
        text = moment.isoformat(timespec="seconds")
        return text[:-6] + "Z" if zone == "utc" and text.endswith("+00:00") else text
    return moment.strftime(fmt)


def parse_moment(value: Any) -> float | None:
    """An ISO-8601 date-time (naive: local time) as a POSIX time, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.timestamp()


async def _cancel(tasks: dict[int, asyncio.Task[Any]]) -> None:
    """Drop the pages in flight, collecting them so that no failure is left unretrieved."""
    for task in tasks.values():
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    tasks.clear()


class NonSistemasClient(HttpSide):
    kind: ClassVar[str] = "nonsistemas"
    capabilities: ClassVar[Capabilities] = Capabilities(
        orders=False,
        customers=False,
        incremental_catalog=True,
        sku_lookup=False,
        no_orders_reason="NonSistemas only sends stock and prices (one-way): orders are not "
        "taken to it",
    )
    side = "NonSistemas"

    def __init__(
        self,
        config: NonSistemasConfig,
        secrets: Mapping[str, str],
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            client or json_client(config.url, config, max_connections=config.concurrency + 2),
            policy,
        )
        self.config = config
        self._password = secrets["erp.password"]
        redact.register(self._password)
        self._token: str | None = None
        self._expires_at: float | None = None  # monotonic; None: unknown
        self._margin_s = 0.0
        self._generation = 0  # bumped by every login
        self._login_lock = asyncio.Lock()
        self.logins = 0

    # -- auth --------------------------------------------------------------------------------
    def _clean(self, text: str) -> str:
        """A server's text without our password in it (some servers echo the request)."""
        return text.replace(self._password, "***") if text and self._password else text

    async def login(self) -> None:
        """Sign in and keep the Bearer token for this session. Wrong credentials raise
        AuthError naming the user (never the password)."""
        cfg = self.config
        body = {cfg.login_username_key: cfg.username, cfg.login_password_key: self._password}
        try:
            data = await self.call_json("POST", cfg.login_path, json=body)
        except AuthError as exc:
            said = self._clean(exc.server_message or "")
            raise AuthError(
                f"NonSistemas rejected the username '{cfg.username}' or its password "
                f"(HTTP {exc.status}{': ' + said if said else ''}); check Username and "
                "Password in the ERP settings (the password may have been changed or "
                "have expired)",
                code="login_rejected",
                status=exc.status,
                server_message=said,
            ) from None
        except NotFoundError as exc:
            raise ConfigError(
                f"NonSistemas has no login at '{cfg.login_path}' (HTTP 404); check the URL "
                "(and erp.login_path)",
                code="login_not_found",
                status=exc.status,
                server_message=self._clean(exc.server_message or ""),
            ) from None
        except DataError as exc:
            said = self._clean(exc.server_message or "")
            raise AuthError(
                f"NonSistemas refused the login of '{cfg.username}' (HTTP {exc.status}"
                f"{': ' + said if said else ''}); check Username and Password in the ERP "
                "settings",
                code="login_refused",
                status=exc.status,
                server_message=said,
            ) from None
        token = data.get(cfg.token_key) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise ProtocolError(
                f"NonSistemas' login answer has no '{cfg.token_key}'", code="bad_response"
            )
        lifetime = parse_number(data.get(cfg.expires_key))
        # masked from here on, whatever echoes it (an error text, a log line)
        redact.register(token.strip(), slot="nonsistemas.session")
        self._token = token.strip()
        self._generation += 1
        self.logins += 1
        if lifetime is not None and lifetime > 0:
            self._margin_s = min(30.0, float(lifetime) / 10)
            self._expires_at = time.monotonic() + float(lifetime)
        else:
            self._expires_at = None

    async def _ensure_token(self) -> tuple[str, int]:
        """The current token (renewed first if it is about to expire) and its generation."""
        async with self._login_lock:
            if self._token is None or (
                self._expires_at is not None
                and time.monotonic() >= self._expires_at - self._margin_s
            ):
                await self.login()
            assert self._token is not None
            return self._token, self._generation

    async def _renew(self, generation: int) -> None:
        """A new login after a 401, unless another request already did one."""
        async with self._login_lock:
            if self._generation == generation:
                await self.login()

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET with the session's token; after a 401, one new login and one more try."""
        token, generation = await self._ensure_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"{self.config.auth_scheme} {token}"}
            try:
                return await self.call_json("GET", path, params=params, headers=headers)
            except AuthError as exc:
                said = f": {exc.server_message}" if exc.server_message else ""
                if attempt == 2:
                    raise AuthError(
                        f"NonSistemas refused the token it had just issued for "
                        f"'{self.config.username}' (HTTP {exc.status}{said}); check that "
                        "this user may read stock and prices",
                        code="token_refused",
                        status=exc.status,
                        server_message=exc.server_message,
                    ) from None
                await self._renew(generation)
                token, generation = await self._ensure_token()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- catalog -----------------------------------------------------------------------------
    def _params(self, desde: str | None, page: int) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {}
        if desde is not None:
            params[cfg.param_desde] = desde
        params[cfg.param_page] = page
        params[cfg.param_limit] = cfg.page_size
        return params

    async def _page(self, desde: str | None, page: int) -> tuple[list[Any], int]:
        cfg = self.config
        try:
            data = await self._get(cfg.stock_path, self._params(desde, page))
        except NotFoundError as exc:
            raise ConfigError(
                f"NonSistemas has no stock query at '{cfg.stock_path}' (HTTP 404); check the "
                "URL (and erp.stock_path)",
                code="stock_not_found",
                status=exc.status,
                server_message=exc.server_message,
            ) from None
        items = data.get(cfg.items_key) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(
                f"NonSistemas' answer to {cfg.stock_path} has no '{cfg.items_key}' list",
                code="bad_response",
            )
        total = count(parse_number(data.get(cfg.total_key)))
        if total is None:
            raise ProtocolError(
                f"NonSistemas' answer to {cfg.stock_path} has no valid "
                f"'{cfg.total_key}' ({shown(data.get(cfg.total_key))})",
                code="bad_response",
            )
        return items, total

    def row(self, row: Any) -> CatalogItem | RowProblem:
        cfg = self.config
        if not isinstance(row, dict):
            return RowProblem("?", f"NonSistemas sent a row that is not an object: {row!r:.120}")
        raw_sku = row.get(cfg.field_sku)
        sku = (
            str(raw_sku).strip()
            if isinstance(raw_sku, (str, int)) and not isinstance(raw_sku, bool)
            else ""
        )
        if not sku:
            return RowProblem(
                "?", f"NonSistemas sent a row without '{cfg.field_sku}': {row!r:.120}"
            )
        raw_stock = row.get(cfg.field_stock)
        available = parse_number(raw_stock)
        if available is None:
            return RowProblem(sku, f"stock ('{cfg.field_stock}') is {raw_stock!r}, not a number")
        raw_price = row.get(cfg.field_precio)
        price: Decimal | None = None
        if raw_price is not None and raw_price != "":
            price = parse_number(raw_price)
            if price is None:
                return RowProblem(
                    sku, f"price ('{cfg.field_precio}') is {raw_price!r}, not a number"
                )
            if price < 0:
                return RowProblem(sku, f"negative price {raw_price!r} in NonSistemas")
        return catalog_item(
            sku,
            available,
            price,
            stock_name=f"stock ('{cfg.field_stock}')",
            price_name=f"price ('{cfg.field_precio}')",
        )

    def _keys(self, items: list[Any]) -> Iterable[Any]:
        """What tells a page's rows apart (for PageGuard): each row's SKU (a row without
        one: the row itself)."""
        sku = self.config.field_sku
        return ((r.get(sku) or r) if isinstance(r, dict) else r for r in items)

    def _rows(
        self, items: list[Any], since: float | None, stale: list[int]
    ) -> list[CatalogItem | RowProblem]:
        if since is not None:
            # a diagnostic for an assumed API: does the server honour `desde`?
            for r in items:
                moment = (
                    parse_moment(r.get(self.config.field_modified)) if isinstance(r, dict) else None
                )
                if moment is not None and moment < since - 1:
                    stale[0] += 1
        return [self.row(r) for r in items]

    async def catalog(
        self, since: float | None = None
    ) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        """Page by page, every item changed since `since` (None: all of them). Each call is
        one sync session: it begins with a new login."""
        cfg = self.config
        async with self._login_lock:
            await self.login()
        desde = None if since is None else format_desde(since, cfg.desde_format, cfg.desde_timezone)
        stale = [0]
        first = cfg.first_page
        guard = PageGuard(
            self.side,
            f"the stock list ({cfg.stock_path})",
            max_pages=cfg.max_pages,
            setting="erp.max_pages",
        )
        items, total = await self._page(desde, first)
        guard.page(first, self._keys(items))
        yield self._rows(items, since, stale)
        # a server may cap `limit` below ours: page by what it really returns
        per_page = cfg.page_size
        if 0 < len(items) < per_page and total > len(items):
            per_page = len(items)
        # the pages `total` makes, read until an empty or short page
        pages = 1 if guard.last(len(items), per_page) else guard.planned(total, per_page)
        sem = asyncio.Semaphore(cfg.concurrency)

        async def fetch(page: int) -> tuple[list[Any], int]:
            async with sem:
                return await self._page(desde, page)

        # a sliding window: at most `concurrency` pages in flight, none held beyond that
        pending: dict[int, asyncio.Task[tuple[list[Any], int]]] = {}
        index = 1  # 0-based index of the next page to ask for
        try:
            while index < pages or pending:
                while index < pages and len(pending) < cfg.concurrency:
                    pending[index] = asyncio.create_task(fetch(first + index))
                    index += 1
                at = min(pending)
                items, total = await pending.pop(at)
                guard.page(first + at, self._keys(items))
                if items:
                    yield self._rows(items, since, stale)
                if guard.last(len(items), per_page):
                    # the end, whatever `total` said: the pages asked for beyond it are
                    # dropped
                    pages = at + 1
                    await _cancel(pending)
                else:
                    # the list grew while we paged: ask for the pages it grew by too
                    pages = max(pages, guard.planned(total, per_page))
        finally:
            # a failed page (or a consumer that stopped early): drop the pages in flight
            await _cancel(pending)
        guard.finish(total, per_page)
        if stale[0]:
            log.warning(
                "NonSistemas listed %d items modified before desde=%s: it may be "
                "ignoring the '%s' filter (check erp.param_desde and "
                "erp.desde_format)",
                stale[0],
                desde,
                cfg.param_desde,
            )

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        return None  # NonSistemas has no per-SKU query (capabilities.sku_lookup is False)

    # -- orders: none ------------------------------------------------------------------------
    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        raise ConfigError(NO_ORDERS, code="no_orders")

    async def create_customer(self, buyer: ValidBuyer) -> str:
        raise ConfigError(NO_ORDERS, code="no_orders")

    async def find_order(self, order: StoreOrder) -> str | None:
        raise ConfigError(NO_ORDERS, code="no_orders")

    async def create_order(
        self, order: StoreOrder, customer_code: str, buyer: ValidBuyer | None = None
    ) -> str:
        raise ConfigError(NO_ORDERS, code="no_orders")

    # -- doctor ------------------------------------------------------------------------------
    async def checks(self) -> list[Check]:
        try:
            async with self._login_lock:
                await self.login()
        except (AuthError, ConfigError) as exc:
            return [
                Check("ERP reachable", True, self.config.url),
                Check("ERP login", False, exc.message),
            ]
        except BridgeError as exc:
            return [Check("ERP reachable", False, exc.message)]
        out = [
            Check("ERP reachable", True, self.config.url),
            Check("ERP login", True, f"signed in as '{self.config.username}'"),
        ]
        try:
            params = self._params(None, self.config.first_page)
            params[self.config.param_limit] = 1
            data = await self._get(self.config.stock_path, params)
            total = data.get(self.config.total_key) if isinstance(data, dict) else None
            out.append(Check("ERP stock query", True, f"{total} items"))
        except BridgeError as exc:
            out.append(Check("ERP stock query", False, exc.message))
        return out

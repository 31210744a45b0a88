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
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

from bridge import redact
from bridge.errors import (
    AuthError,
    BridgeError,
    ConfigError,
    DataError,
    NotFoundError,
    ProtocolError,
)
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
from connectors.kit import BearerSession, ErpClient, Token, parse_number
from connectors.nonsistemas.config import NonSistemasConfig

log = logging.getLogger("bridge.nonsistemas")

NO_ORDERS = "NonSistemas takes no orders"


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


class NonSistemasClient(ErpClient):
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
    secret_names = ("erp.password",)
    config: NonSistemasConfig

    @cached_property
    def session(self) -> BearerSession:
        """The Bearer token, renewed a tenth of its lifetime (at most 30 s) before it runs
        out."""
        return BearerSession(self.login, margin=lambda lifetime: min(30.0, lifetime / 10))

    # -- auth --------------------------------------------------------------------------------
    async def login(self) -> Token:
        """Sign in: a new Bearer token (the session keeps it). Wrong credentials raise
        AuthError naming the user (never the password)."""
        cfg = self.config
        body = {
            cfg.login_username_key: cfg.username,
            cfg.login_password_key: self.secrets["erp.password"],
        }
        try:
            data = await self.call_json("POST", cfg.login_path, json=body)
        except AuthError as exc:
            said = self.scrub(exc.server_message or "")
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
                server_message=self.scrub(exc.server_message or ""),
            ) from None
        except DataError as exc:
            said = self.scrub(exc.server_message or "")
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
        return Token(
            token.strip(), float(lifetime) if lifetime is not None and lifetime > 0 else None
        )

    def _token_refused(self, exc: AuthError, renewed: bool) -> AuthError:
        if not renewed:
            return exc
        said = f": {exc.server_message}" if exc.server_message else ""
        return AuthError(
            f"NonSistemas refused the token it had just issued for "
            f"'{self.config.username}' (HTTP {exc.status}{said}); check that "
            "this user may read stock and prices",
            code="token_refused",
            status=exc.status,
            server_message=exc.server_message,
        )

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET with the session's token; after the server refuses it (401, or a 403 from
        installs that answer an expired token so), one new login and one more try."""

        async def send(token: Token) -> Any:
            headers = {"Authorization": f"{self.config.auth_scheme} {token.value}"}
            return await self.call_json("GET", path, params=params, headers=headers)

        return await self.session.call(send, self._token_refused, renew_on=lambda exc: True)

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
        await self.session.renew()
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
            await self.session.renew()
        except (AuthError, ConfigError) as exc:
            return [
                Check("ERP reachable", True, self.config.url),
                Check("ERP login", False, exc.message, code=exc.code),
            ]
        except BridgeError as exc:
            return [Check("ERP reachable", False, exc.message, code=exc.code)]
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
            out.append(Check("ERP stock query", False, exc.message, code=exc.code))
        return out

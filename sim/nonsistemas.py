"""A NonSistemas API server for tests, following the *assumed* API of
shared/specs/erp-apis.md:

- `POST /api/login {"username","password"}` -> `{"token","expires_in"}`; wrong credentials
  answer 401 `{"message": ...}`;
- `GET /api/stock-precios?desde=<ISO-8601>&page=&limit=` with `Authorization: Bearer
  <token>` -> `{"items": [{"sku","stock","precio","fechaModificacion"}], "total": n}`; an
  expired or unknown token answers 401; `desde` keeps the items modified at or after it;
  pages are 1-based, in a stable order (the catalog's); `paging` (sim.kit's PagingFaults)
  makes the list claim another total, ignore `page` or serve a page twice.

Stock and prices come from a `SimCatalog` (the Dragonfish simulator's generator: the same
SKUs, and `store_rows(list_code)` seeds a store simulator to match); each item also has a
modification time, bumped by `change()`, `mutate()` and `corrupt()`.

Route names for fault rules: "login", "stock-precios" (anything else: "other").
State lives on the server's loop: from another thread go through `sim.call(fn)`.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from array import array
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from sim.catalog import SimCatalog
from sim.kit import FaultPlan, SimServer, json_body

LOGIN = "/api/login"
STOCK = "/api/stock-precios"

BAD_CREDENTIALS = "Usuario o contraseña incorrectos"
PASSWORD_EXPIRED = "La contraseña del usuario venció; cámbiela en NonSistemas"
NO_TOKEN = "Falta el token de acceso"
BAD_TOKEN = "Token inválido"
EXPIRED_TOKEN = "Token vencido"


def _error(status: int, message: str) -> web.Response:
    return json_body({"message": message}, status=status)


def _offset(text: str) -> timezone:
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _number(x: float) -> int | float:
    x = round(float(x), 2) + 0.0
    return int(x) if x.is_integer() else x


class NonSistemasSimulator(SimServer):
    def __init__(
        self,
        *,
        username: str = "bridge",
        password: str = "clave-nonsistemas",
        catalog: SimCatalog | None = None,
        list_code: str = "LISTA1",
        token_lifetime_s: float = 3600.0,
        decimal_comma: bool = False,
        stock_as_text: bool = False,
        max_limit: int = 1000,
        server_offset: str = "-03:00",
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        seed: int = 1,
    ) -> None:
        """`decimal_comma`: prices go out as text with a decimal comma ("1234,50");
        `stock_as_text`: stock as text ("12"); `max_limit` caps `limit`; `server_offset` is
        the UTC offset of the server's dates (and of a `desde` without one)."""
        super().__init__(latency_s=latency_s, faults=faults)
        self.username = username
        self.password = password
        self.password_expired = False
        self.catalog = catalog if catalog is not None else SimCatalog.generate(200, seed=seed)
        self.list_code = list_code
        self.token_lifetime_s = token_lifetime_s
        self.decimal_comma = decimal_comma
        self.stock_as_text = stock_as_text
        self.max_limit = max_limit
        self.tz = _offset(server_offset)
        # token -> expiry (POSIX time)
        self.tokens: dict[str, float] = {}
        self.logins = 0
        # every stock query's parameters, in arrival order
        self.queries: list[dict[str, str]] = []
        # raw field values sent instead of the catalog's, per item index
        self.overrides: dict[int, dict[str, Any]] = {}
        rng = random.Random(f"nonsistemas-{seed}")
        now = time.time()
        self.modified = array(
            "d", (now - 86400 * rng.uniform(1, 30) for _ in range(len(self.catalog)))
        )
        self.app.router.add_post(LOGIN, self._login)
        self.app.router.add_get(STOCK, self._stock)
        self.app.router.add_route("*", "/{tail:.*}", self._other)

    # -- naming -----------------------------------------------------------------------------
    def route_name(self, request: web.Request) -> str:
        path = request.path.rstrip("/")
        if path == LOGIN:
            return "login"
        if path == STOCK:
            return "stock-precios"
        return "other"

    def fault_response(self, status: int) -> web.StreamResponse:
        headers = {"Retry-After": str(self.faults.retry_after_s)} if status == 429 else {}
        return web.json_response(
            {"message": f"Error {status} (simulado)"}, status=status, headers=headers
        )

    # -- test helpers -----------------------------------------------------------------------
    def _index(self, sku: str) -> int:
        i = self.catalog.find(sku)
        if i is None:
            raise KeyError(sku)
        return i

    def touch(self, sku: str, at: float | None = None) -> None:
        """Set the item's modification time (now by default)."""
        self.modified[self._index(sku)] = time.time() if at is None else at

    def change(self, sku: str, stock: float | None = None, price: float | None = None) -> None:
        """Change an item's available stock and/or price; its fechaModificacion is now."""
        i = self._index(sku)
        if stock is not None:
            self.catalog.set_stock(sku, float(stock) + self.catalog.comprometido[i])
        if price is not None:
            self.catalog.set_price(sku, self.list_code, price)
        self.modified[i] = time.time()

    def mutate(self, fraction: float, seed: int) -> list[str]:
        """SimCatalog.mutate, with the modification time of the changed items bumped."""
        changed = self.catalog.mutate(fraction, seed)
        now = time.time()
        for sku in changed:
            self.modified[self._index(sku)] = now
        return changed

    def corrupt(self, which: str, /, **fields: Any) -> None:
        """Send these raw values for the item whose SKU is `which` (wire names: sku, stock,
        precio, fechaModificacion); it counts as modified now."""
        i = self._index(which)
        self.overrides.setdefault(i, {}).update(fields)
        self.modified[i] = time.time()

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on."""
        for token in self.tokens:
            self.tokens[token] = 0.0

    def available(self, sku: str) -> float:
        """The stock the server sends for `sku` (Disponible)."""
        return self.catalog.disponible(sku)

    def price(self, sku: str) -> float:
        return self.catalog.price(sku, self.list_code)

    def item(self, i: int) -> dict[str, Any]:
        cat = self.catalog
        stock = _number(cat.stock[i] - cat.comprometido[i])
        price = round(cat.prices[self.list_code][i], 2)
        row: dict[str, Any] = {
            "sku": cat.sku(i),
            "stock": str(stock) if self.stock_as_text else stock,
            "precio": f"{price:.2f}".replace(".", ",") if self.decimal_comma else _number(price),
            "fechaModificacion": datetime.fromtimestamp(self.modified[i], self.tz).isoformat(
                timespec="seconds"
            ),
        }
        row.update(self.overrides.get(i, {}))
        return row

    # -- handlers ---------------------------------------------------------------------------
    async def _login(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            return _error(400, "El cuerpo no es JSON válido")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            return _error(400, "Faltan username y password")
        if body["username"] != self.username or body["password"] != self.password:
            return _error(401, BAD_CREDENTIALS)
        if self.password_expired:
            return _error(401, PASSWORD_EXPIRED)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_lifetime_s
        self.logins += 1
        return json_body({"token": token, "expires_in": int(self.token_lifetime_s)})

    def _authorized(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, NO_TOKEN)
        expiry = self.tokens.get(token.strip())
        if expiry is None:
            return _error(401, BAD_TOKEN)
        if expiry <= time.time():
            return _error(401, EXPIRED_TOKEN)
        return None

    async def _stock(self, request: web.Request) -> web.StreamResponse:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        query = dict(request.query)
        self.queries.append(query)
        try:
            page = int(query.get("page", "1"))
            limit = int(query.get("limit", "100"))
        except ValueError:
            return _error(400, "page y limit deben ser números enteros")
        if page < 1 or limit < 1:
            return _error(400, "page y limit deben ser mayores que cero")
        limit = min(limit, self.max_limit)
        since = float("-inf")
        if "desde" in query:
            try:
                moment = datetime.fromisoformat(query["desde"].strip())
            except ValueError:
                return _error(400, f"Fecha 'desde' inválida: {query['desde']}")
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.tz)
            since = moment.timestamp()
        inactive, modified = self.catalog.inactive, self.modified
        selected = [
            i for i in range(len(self.catalog)) if i not in inactive and modified[i] >= since
        ]
        # a server that pages wrongly (self.paging) answers another page, or claims
        # another total, than the one its rows make
        start = (self.paging.served(page) - 1) * limit
        items = self.paging.rows([self.item(i) for i in selected[start : start + limit]])
        return json_body({"items": items, "total": self.paging.total(len(selected))})

    async def _other(self, request: web.Request) -> web.StreamResponse:
        return _error(404, f"No existe {request.method} {request.path}")

"""A Salesforce Virtual Seller server for tests and `bridge demo`, after
shared/specs/erp-apis.md. One server plays the three hosts, told apart by path (on loopback
every host is 127.0.0.1, so the Host header cannot tell them apart; the path stands in for
the host name):

- the generic login server, login.salesforce.com (`login_url`, the server's root):
  `POST /services/oauth2/token`;
- the org's My Domain, acme.my.salesforce.com (`my_domain_url`, under `my_domain_prefix`):
  `POST /<my_domain_prefix>/services/oauth2/token`;
- the instance (`instance_url`, under `instance_prefix`): the Apex REST API below. In
  Salesforce the instance URL is the My Domain, so `my_domain_prefix` defaults to
  `instance_prefix` (or "mydomain" when the instance has no prefix).

Login (observed behaviour). Both token endpoints serve both grants, form-encoded:
`grant_type=password&client_id&client_secret&username&password` (the password followed by
the security token, if the org has one) and `grant_type=client_credentials&client_id&
client_secret`. Errors as Salesforce answers them, HTTP 400 `{"error", "error_description"}`:
`invalid_client_id` "client identifier invalid", `invalid_client` "invalid client
credentials", `unsupported_grant_type` "grant type not supported", and `invalid_grant`:

- "authentication failure": a wrong user or password, and also any password login when the
  org blocks the username-password flow (`allow_password_flow=False`: the default in orgs
  created since Summer '23; Salesforce does not say which of the two it is);
- "no client credentials user enabled": client credentials when the app does not have that
  flow enabled with a "Run As" user (`client_credentials_enabled=False`);
- "request not supported on this domain": client credentials at the generic login server
  (`require_my_domain=True`, the default: only the My Domain serves it).

A token answer names the instance's URL, which is this server again. Every token request
is recorded in `token_requests` (grant, which host, the form's field names).

The instance's Apex REST API (assumed shape, as the connector's defaults): Bearer tokens
that expire (`expire_tokens()`, `token_ttl_s`), 401 `[{"message": "Session expired or
invalid", "errorCode": "INVALID_SESSION_ID"}]`; `services/apexrest/vs/stock` with stock per
warehouse across two companies whose SKUs carry the company's prefix, price lists
`Lista_000` / `Lista_001`, paginated, filtered by warehouse, company (repeated or
comma-joined), priceList and sku (`paging`, sim.kit's PagingFaults, makes it claim another
totalSize, never done before it, ignore `page` or serve a page twice);
`services/apexrest/vs/orders` to create orders (origin +
externalId, duplicates refused) and to look them up by externalId. Errors in Salesforce's
REST style `[{"message": "...", "errorCode": "..."}]`.

Route names for fault rules and counters: "oauth", "stock", "orders" ("other" otherwise).
State lives on the server's loop: from another thread read it through `sim.call(fn)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web

from bridge.fiscal import FiscalError, validate_cuit, validate_dni
from sim.kit import FaultPlan, SimServer, json_body

TOKEN_PATH = "/services/oauth2/token"
APEX = "/services/apexrest/"
STOCK_PATH = APEX + "vs/stock"
ORDERS_PATH = APEX + "vs/orders"
ORG_ID = "00D8c000001SIMxEAM"
USER_ID = "0058c00000SIMuAAA"  # the integration user (username-password)
RUN_AS_USER_ID = "0058c00000SIMrAAA"  # the client credentials app's "Run As" user

# company -> (SKU prefix, its warehouses)
COMPANIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "EMPRESA1": ("E1-", ("DEP-CENTRAL", "DEP-NORTE")),
    "EMPRESA2": ("E2-", ("DEP-CENTRAL", "DEP-SUR")),
}
WAREHOUSES = tuple(dict.fromkeys(w for _, ws in COMPANIES.values() for w in ws))
# price list code -> factor over the base price
PRICE_LISTS = {"Lista_000": 1.0, "Lista_001": 1.35}
DEFAULT_PRICE_LIST = "Lista_000"
DOCUMENT_TYPES = ("CUIT", "DNI")
TAX_CONDITIONS = ("1", "4", "5", "6")
_NOUNS = ("Remera", "Buzo", "Campera", "Pantalón", "Zapatilla", "Bota", "Media", "Gorra")
_STYLES = ("Lisa", "Estampada", "Básica", "Oversize", "Clásica", "Deportiva")

_FAULTS = {
    400: ("INVALID_QUERY_FILTER_OPERATOR", "Bad request"),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    409: ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"),
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if "
        "you contact support: 1234567-89012 (-1234567890)",
    ),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable"),
}


@dataclass(frozen=True)
class TokenRequest:
    """One request to a token endpoint: its grant_type, the host it came through ("login":
    the generic login server, "my_domain": the org's My Domain), the form's field names (no
    values) and the status answered."""

    grant_type: str
    host: Literal["login", "my_domain"]
    fields: tuple[str, ...]
    status: int


class SfError(Exception):
    """Answer `status` with Salesforce's REST error list."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []


def sf_error(
    status: int,
    code: str,
    message: str,
    fields: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields:
        body["fields"] = fields
    resp = json_body([body], status=status)
    if headers:
        resp.headers.update(headers)
    return resp


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_body({"error": error, "error_description": description}, status=status)


@dataclass
class Product:
    sku: str
    name: str
    company: str
    prices: dict[str, float | None]
    # warehouse -> [on hand, reserved]
    stock: dict[str, list[float]] = field(default_factory=dict)


def generate_products(per_company: int, seed: int) -> dict[str, Product]:
    """A compact seeded catalog: `per_company` products in each company, stocked in some of
    its warehouses; a few at zero, one below zero, one without a Lista_001 price, one
    priced 0."""
    rng = random.Random(seed)
    out: dict[str, Product] = {}
    for company, (prefix, warehouses) in COMPANIES.items():
        for n in range(1, per_company + 1):
            sku = f"{prefix}{rng.choice('RBCPZ')}{n:04d}"
            name = f"{rng.choice(_NOUNS)} {rng.choice(_STYLES)}"
            base = round(rng.uniform(900, 45000), 2)
            prices: dict[str, float | None] = {
                code: round(base * f, 2) for code, f in PRICE_LISTS.items()
            }
            product = Product(sku, name, company, prices)
            chosen = [w for w in warehouses if rng.random() < 0.7] or [warehouses[0]]
            for w in chosen:
                on_hand = 0 if rng.random() < 0.1 else rng.randint(1, 80)
                reserved = rng.randint(1, 5) if on_hand and rng.random() < 0.15 else 0
                product.stock[w] = [float(on_hand), float(reserved)]
            out[sku] = product
    skus = sorted(out)
    if len(skus) >= 4:
        out[skus[1]].prices["Lista_001"] = None
        out[skus[2]].prices = dict.fromkeys(PRICE_LISTS, 0.0)
        first = out[skus[3]]
        w = next(iter(first.stock))
        first.stock[w] = [2.0, 5.0]  # more reserved than on hand: available below zero
    return out


class SalesforceVSSimulator(SimServer):
    def __init__(
        self,
        *,
        username: str = "integracion@mayorista.com.ar",
        password: str = "Clave-Segura-2024",
        security_token: str = "",
        client_id: str = "3MVG9SIMULATORxCONSUMERxKEY",
        client_secret: str = "SIMULATOR-CONSUMER-SECRET-0042",
        per_company: int = 12,
        seed: int = 1,
        products: dict[str, Product] | None = None,
        instance_prefix: str = "",
        my_domain_prefix: str | None = None,
        allow_password_flow: bool = True,
        client_credentials_enabled: bool = True,
        require_my_domain: bool = True,
        token_ttl_s: float | None = None,
        max_page_size: int = 2000,
        duplicate_status: int = 400,
        duplicate_code: str = "DUPLICATE_EXTERNAL_ID",
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(latency_s=latency_s, faults=faults)
        self.username = username
        # the user's password; with a security token the login needs both, concatenated
        self.password = password
        self.security_token = security_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.products = products if products is not None else generate_products(per_company, seed)
        self.instance_prefix = (
            "/" + instance_prefix.strip("/") if instance_prefix.strip("/") else ""
        )
        my_domain = (my_domain_prefix if my_domain_prefix is not None else instance_prefix).strip(
            "/"
        )
        self.my_domain_prefix = "/" + (my_domain or "mydomain")
        # the org's OAuth settings (see the module's docstring)
        self.allow_password_flow = allow_password_flow
        self.client_credentials_enabled = client_credentials_enabled
        self.require_my_domain = require_my_domain
        self.token_requests: list[TokenRequest] = []
        self.token_ttl_s = token_ttl_s
        self.max_page_size = max_page_size
        self.duplicate_status = duplicate_status
        self.duplicate_code = duplicate_code
        # access token -> expiry (POSIX time, inf: until expired by hand)
        self.tokens: dict[str, float] = {}
        self.logins = 0
        self.orders: dict[str, dict[str, Any]] = {}
        self._by_external: dict[str, str] = {}
        self._next_order = 1
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    # -- naming -----------------------------------------------------------------------------
    @property
    def login_url(self) -> str:
        """The generic login server (login.salesforce.com)."""
        return self.base_url

    @property
    def my_domain_url(self) -> str:
        """The org's My Domain (https://acme.my.salesforce.com/), with its trailing slash."""
        return f"http://{self.host}:{self.port}{self.my_domain_prefix}/"

    def _token_host(self, path: str) -> Literal["login", "my_domain"] | None:
        """Which host a token request came through, or None if it is not one."""
        if path == TOKEN_PATH:
            return "login"
        if path == self.my_domain_prefix + TOKEN_PATH:
            return "my_domain"
        return None

    @property
    def instance_url(self) -> str:
        """As Salesforce gives it: no trailing slash."""
        return f"http://{self.host}:{self.port}{self.instance_prefix}"

    def _api_path(self, path: str) -> str | None:
        """The path relative to the instance, or None outside of it."""
        prefix = self.instance_prefix
        if prefix and not path.startswith(prefix + "/"):
            return None
        return path[len(prefix) :]

    def route_name(self, request: web.Request) -> str:
        if self._token_host(request.path) is not None:
            return "oauth"
        api = self._api_path(request.path)
        if api is not None:
            api = api.rstrip("/")
            if api == STOCK_PATH:
                return "stock"
            if api == ORDERS_PATH or api.startswith(ORDERS_PATH + "/"):
                return "orders"
        return "other"

    def fault_response(self, status: int) -> web.StreamResponse:
        code, message = _FAULTS.get(status, (f"HTTP_{status}", f"HTTP error {status}"))
        headers = {"Retry-After": str(self.faults.retry_after_s)} if status == 429 else None
        return sf_error(status, code, message, headers=headers)

    # -- test helpers -----------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (session timeout, logout)."""
        self.tokens.clear()

    def set_password(self, password: str, security_token: str | None = None) -> None:
        """The user's password changed (and with it, in Salesforce, the security token)."""
        self.password = password
        if security_token is not None:
            self.security_token = security_token

    def order_by_external(self, external_id: str) -> dict[str, Any] | None:
        oid = self._by_external.get(external_id.strip().upper())
        return self.orders.get(oid) if oid else None

    def skus(self, company: str | None = None) -> list[str]:
        return sorted(s for s, p in self.products.items() if company in (None, p.company))

    def available(self, sku: str, warehouse: str | None = None) -> float:
        """On hand minus reserved, in one warehouse or all of them."""
        stock = self.products[sku].stock
        return sum(h - r for w, (h, r) in stock.items() if warehouse in (None, w))

    def price(self, sku: str, price_list: str = DEFAULT_PRICE_LIST) -> float | None:
        return self.products[sku].prices.get(price_list)

    def set_stock(self, sku: str, warehouse: str, on_hand: float, reserved: float = 0) -> None:
        self.products[sku].stock[warehouse] = [float(on_hand), float(reserved)]

    def set_price(self, sku: str, price_list: str, price: float | None) -> None:
        self.products[sku].prices[price_list] = price

    def store_rows(
        self, price_list: str = DEFAULT_PRICE_LIST, warehouse: str | None = None
    ) -> Iterator[tuple[str, int, str]]:
        """(sku, stock, price) per product, to seed the store simulator."""
        for sku in self.skus():
            price = self.price(sku, price_list) or 0.0
            yield sku, max(0, int(self.available(sku, warehouse))), f"{price:.2f}"

    # -- dispatch ---------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            host = self._token_host(request.path)
            if host is not None:
                return await self._token(request, host)
            route = self.route_name(request)
            if route == "other":
                where = self._api_path(request.path) or request.path
                rel = where[len(APEX) - 1 :] if where.startswith(APEX) else where
                raise SfError(404, "NOT_FOUND", f"Could not find a match for URL {rel}")
            self._authorize(request)
            if route == "stock":
                if request.method != "GET":
                    raise SfError(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{request.method}' not allowed. Allowed are GET",
                    )
                return self._stock(request)
            if request.method == "GET":
                return self._find_orders(request)
            if request.method == "POST":
                return await self._create_order(request)
            raise SfError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are GET,POST",
            )
        except SfError as exc:
            return sf_error(exc.status, exc.code, exc.message, exc.fields)

    # -- login ------------------------------------------------------------------------------
    async def _token(
        self, request: web.Request, host: Literal["login", "my_domain"]
    ) -> web.StreamResponse:
        form: dict[str, str] = {}
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            raw = (await request.read()).decode("utf-8", "replace")
            form = dict(parse_qsl(raw, keep_blank_values=True))
        response = self._grant(request, host, form)
        self.token_requests.append(
            TokenRequest(form.get("grant_type", ""), host, tuple(form), response.status)
        )
        return response

    def _grant(
        self, request: web.Request, host: Literal["login", "my_domain"], form: dict[str, str]
    ) -> web.Response:
        if request.method != "POST":
            return oauth_error("invalid_request", "must use HTTP POST", 405)
        if request.content_type != "application/x-www-form-urlencoded":
            return oauth_error("unsupported_grant_type", "grant type not supported")
        grant = form.get("grant_type")
        if grant not in ("password", "client_credentials"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if grant == "client_credentials" and host == "login" and self.require_my_domain:
            return oauth_error("invalid_grant", "request not supported on this domain")
        if form.get("client_id") != self.client_id:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        ):
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "client_credentials":
            if not self.client_credentials_enabled:
                return oauth_error("invalid_grant", "no client credentials user enabled")
            return self._issue(host, RUN_AS_USER_ID)
        expected = self.password + self.security_token
        if (
            not self.allow_password_flow
            or form.get("username", "").lower() != self.username.lower()
            or not hmac.compare_digest(form.get("password", "").encode(), expected.encode())
        ):
            return oauth_error("invalid_grant", "authentication failure")
        return self._issue(host, USER_ID)

    def _issue(self, host: Literal["login", "my_domain"], user_id: str) -> web.Response:
        self.logins += 1
        token = f"{ORG_ID[:15]}!AR{secrets.token_urlsafe(48)}"
        self.tokens[token] = time.time() + self.token_ttl_s if self.token_ttl_s else float("inf")
        issued = str(int(time.time() * 1000))
        base = self.my_domain_url if host == "my_domain" else self.login_url
        identity = f"{base}id/{ORG_ID}/{user_id}"
        signature = base64.b64encode(
            hmac.new(
                self.client_secret.encode(), (identity + issued).encode(), hashlib.sha256
            ).digest()
        ).decode()
        return json_body(
            {
                "access_token": token,
                "instance_url": self.instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": signature,
            }
        )

    def _authorize(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = self.tokens.get(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        if expiry is None or expiry < time.time():
            raise SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    # -- stock ------------------------------------------------------------------------------
    def _stock(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        page = _int(q.get("page"), 1, "page")
        size = min(_int(q.get("pageSize"), 200, "pageSize"), self.max_page_size)
        warehouses = _multi(q.getall("warehouse", []))
        companies = _multi(q.getall("company", []))
        for w in warehouses:
            if w.upper() not in WAREHOUSES:
                raise SfError(400, "INVALID_FILTER", f"Unknown warehouse: {w}", ["warehouse"])
        for c in companies:
            if c.upper() not in COMPANIES:
                raise SfError(400, "INVALID_FILTER", f"Unknown company: {c}", ["company"])
        price_list = q.get("priceList") or DEFAULT_PRICE_LIST
        lists = {c.lower(): c for c in PRICE_LISTS}
        if price_list.lower() not in lists:
            raise SfError(400, "INVALID_FILTER", f"Unknown price list: {price_list}", ["priceList"])
        price_list = lists[price_list.lower()]
        sku = (q.get("sku") or "").strip().upper()
        wanted_w = {w.upper() for w in warehouses}
        wanted_c = {c.upper() for c in companies}
        rows = []
        for key in sorted(self.products):
            p = self.products[key]
            if (sku and key.upper() != sku) or (wanted_c and p.company not in wanted_c):
                continue
            for w in sorted(p.stock):
                if wanted_w and w not in wanted_w:
                    continue
                on_hand, reserved = p.stock[w]
                rows.append(self._row(p, w, on_hand, reserved, price_list))
        # a server that pages wrongly (self.paging) answers another page, or claims
        # another total (and is done only there), than the one its rows make
        start = (self.paging.served(page) - 1) * size
        chunk = self.paging.rows(rows[start : start + size])
        total = self.paging.total(len(rows))
        return json_body(
            {
                "totalSize": total,
                "page": page,
                "pageSize": size,
                "done": start + size >= total,
                "records": chunk,
            }
        )

    @staticmethod
    def _row(
        p: Product, warehouse: str, on_hand: float, reserved: float, price_list: str
    ) -> dict[str, Any]:
        return {
            "sku": p.sku,
            "name": p.name,
            "company": p.company,
            "warehouse": warehouse,
            "onHand": on_hand,
            "reserved": reserved,
            "available": on_hand - reserved,
            "priceList": price_list,
            "price": p.prices.get(price_list),
            "prices": [{"priceList": c, "price": v} for c, v in p.prices.items() if v is not None],
        }

    # -- orders -----------------------------------------------------------------------------
    def _find_orders(self, request: web.Request) -> web.StreamResponse:
        external = request.query.get("externalId")
        found = [
            o
            for o in self.orders.values()
            if external is None or o["externalId"].upper() == external.strip().upper()
        ]
        records = [
            {
                k: o[k]
                for k in ("id", "orderNumber", "externalId", "origin", "status", "createdDate")
            }
            for o in found
        ]
        return json_body({"totalSize": len(records), "done": True, "records": records})

    async def _create_order(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise SfError(
                400, "JSON_PARSER_ERROR", "Unexpected character in the request body: it is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        missing = [
            f
            for f in ("origin", "externalId", "customer", "items")
            if body.get(f) in (None, "", [])
        ]
        if missing:
            raise SfError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        origin, external = str(body["origin"]).strip(), str(body["externalId"]).strip()
        existing = self.order_by_external(external)
        if existing is not None:
            raise SfError(
                self.duplicate_status,
                self.duplicate_code,
                f"Ya existe un pedido con externalId {external} (origen "
                f"{existing['origin']}): {existing['orderNumber']}",
                ["externalId"],
            )
        customer = self._customer(body["customer"])
        items = [self._item(n, raw) for n, raw in enumerate(_list(body["items"], "items"), 1)]
        price_list = body.get("priceList")
        if price_list is not None and price_list not in PRICE_LISTS:
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Lista de precios inexistente: {price_list}",
                ["priceList"],
            )
        warehouse = body.get("warehouse")
        if warehouse is not None and str(warehouse).upper() not in WAREHOUSES:
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Depósito inexistente: {warehouse}",
                ["warehouse"],
            )
        n = self._next_order
        self._next_order += 1
        oid = f"a0V8c{n:010d}AAE"
        record = {
            "id": oid,
            "orderNumber": f"PV-{n:06d}",
            "origin": origin,
            "externalId": external,
            "status": "Borrador",
            "createdDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "customer": customer,
            "items": items,
            "paymentTerms": str(body.get("paymentTerms") or ""),
            "notes": str(body.get("notes") or ""),
            "priceList": price_list or DEFAULT_PRICE_LIST,
            "warehouse": warehouse,
        }
        self.orders[oid] = record
        self._by_external[external.upper()] = oid
        return json_body(
            {"id": oid, "orderNumber": record["orderNumber"], "success": True, "errors": []},
            status=201,
        )

    @staticmethod
    def _customer(raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "customer must be an object", ["customer"])
        name = str(raw.get("name") or "").strip()
        if not name:
            raise SfError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [customer.name]",
                ["customer.name"],
            )
        doc_type = raw.get("documentType")
        if doc_type not in DOCUMENT_TYPES:
            raise SfError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Tipo de documento: bad value for restricted picklist field: {doc_type}",
                ["customer.documentType"],
            )
        number = str(raw.get("documentNumber") or "")
        try:
            if doc_type == "CUIT":
                validate_cuit(number)
            else:
                validate_dni(number)
        except FiscalError:
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Número de documento inválido para {doc_type}: {number}",
                ["customer.documentNumber"],
            ) from None
        tax = raw.get("taxCondition")
        if tax not in TAX_CONDITIONS:
            raise SfError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Condición fiscal: bad value for restricted picklist field: {tax}",
                ["customer.taxCondition"],
            )
        if tax in ("1", "6") and doc_type != "CUIT":
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Un cliente Responsable Inscripto o Monotributo necesita CUIT",
                ["customer.documentType"],
            )
        email = str(raw.get("email") or "")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise SfError(
                400,
                "INVALID_EMAIL_ADDRESS",
                f"Email: invalid email address: {email}",
                ["customer.email"],
            )
        return dict(raw)

    def _item(self, n: int, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise SfError(400, "JSON_PARSER_ERROR", f"items[{n}] must be an object")
        sku = str(raw.get("sku") or "").strip()
        product = self.products.get(sku) or next(
            (p for s, p in self.products.items() if s.upper() == sku.upper()), None
        )
        if product is None:
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Producto inexistente: {sku}",
                ["items.sku"],
            )
        qty = raw.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Cantidad inválida para {sku}: {qty}",
                ["items.quantity"],
            )
        price, discount = raw.get("unitPrice"), raw.get("discount", 0)
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Precio inválido para {sku}: {price}",
                ["items.unitPrice"],
            )
        if (
            isinstance(discount, bool)
            or not isinstance(discount, int | float)
            or not 0 <= discount <= 100
        ):
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"Descuento inválido para {sku}: {discount}",
                ["items.discount"],
            )
        return {
            "sku": product.sku,
            "company": product.company,
            "quantity": qty,
            "unitPrice": price,
            "discount": discount,
        }


def _int(text: str | None, default: int, name: str) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise SfError(
            400, "INVALID_FILTER", f"{name} must be a whole number: {text}", [name]
        ) from None
    if value < 1:
        raise SfError(400, "INVALID_FILTER", f"{name} must be at least 1: {value}", [name])
    return value


def _multi(values: list[str]) -> list[str]:
    """Repeated parameters, each possibly comma-joined."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise SfError(
            400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
        )
    return value

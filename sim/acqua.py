"""An Acqua API server for tests (and a future demo), faithful to the *assumed* API of
shared/specs/erp-apis.md and to AcquaConfig's defaults:

- served under `/{instance}/api/` (the real one, assumed, at `https://{instance}.<host>/api/`);
  an unknown instance answers 404 `instance_not_found`;
- `POST auth/public-token` (no credentials) -> a *read* token; `POST auth/token
  {username, password}` -> a *write* token; both `{"token", "token_type", "expires_in"}`,
  JWT-shaped, expiring after `token_lifetime_s`;
- stock and prices need a token of either level; customers and transactions need a write
  token (a read token gets 401 `insufficient_scope`); an expired or unknown token gets 401;
- lists paginated with `page` (1-based) and `limit` (capped at `max_limit`), in the envelope
  `{"items", "page", "limit", "total"}`; a page past the end is empty; `paging` (sim.kit's
  PagingFaults) makes a list claim another total, ignore `page` or serve a page twice;
- errors as `{"error": <code>, "message": <text>}` (validation: also `errors: [{field,
  message}]`);
- a write arriving while another one is being saved answers 409 `conflict`; a transaction
  whose `externalId` exists answers 409 `duplicate_external_id`, a customer whose document
  exists 409 `duplicate_document`.

Route names for fault rules and counters: "public-token", "token", "stock", "prices",
"customers", "transactions" ("other" for anything else).

State lives on the server's loop: from another thread read it through `sim.call(fn)`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeGuard

from aiohttp import web

from bridge.fiscal import cuit_check_digit
from sim import jwt
from sim.catalog import DEFAULT_LIST, LISTS, SimCatalog
from sim.kit import FaultPlan, SimServer

TAX_CONDITIONS = ("RESPONSABLE_INSCRIPTO", "MONOTRIBUTO", "EXENTO", "CONSUMIDOR_FINAL")
NEEDS_CUIT = ("RESPONSABLE_INSCRIPTO", "MONOTRIBUTO")

_ROUTES: dict[tuple[str, ...], str] = {
    ("auth", "public-token"): "public-token",
    ("auth", "token"): "token",
    ("products", "stock"): "stock",
    ("products", "prices"): "prices",
    ("customers",): "customers",
    ("transactions",): "transactions",
}
_FAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("invalid_token", "Missing or invalid token"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    409: ("conflict", "Another write is in progress; retry"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Bad gateway"),
    503: ("unavailable", "Service unavailable"),
    504: ("gateway_timeout", "Gateway timeout"),
}


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.errors = errors


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_body(
    status: int,
    error: str,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if errors:
        body["errors"] = errors
    return _json(body, status, headers)


def _num(x: float) -> int | float:
    x = round(float(x), 4) + 0.0
    return int(x) if x.is_integer() else x


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _valid_cuit(number: str) -> bool:
    if len(number) != 11 or not number.isdigit():
        return False
    return cuit_check_digit(number[:10]) == int(number[10])


class AcquaSimulator(SimServer):
    def __init__(
        self,
        *,
        instance: str = "Beauties",
        username: str = "tienda",
        password: str = "clave-acqua-sim",
        catalog: SimCatalog | None = None,
        token_lifetime_s: float = 3600.0,
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        max_limit: int = 500,
        default_price_list: str = DEFAULT_LIST,
        prices_order: Literal["same", "reversed"] = "same",
        unpriced: Iterable[str] = (),
        conflict_on_concurrent_writes: bool = True,
        write_hold_s: float = 0.02,
        send_total: bool = True,
    ) -> None:
        super().__init__(latency_s=latency_s, faults=faults)
        self.instance = instance
        self.username = username
        self.password = password
        self.catalog = catalog if catalog is not None else SimCatalog.generate(200, seed=1)
        self.token_lifetime_s = token_lifetime_s
        self.max_limit = max_limit
        self.default_price_list = default_price_list
        self.prices_order = prices_order
        # SKUs with stock but no row in the price list
        self.unpriced: set[str] = set(unpriced)
        self.conflict_on_concurrent_writes = conflict_on_concurrent_writes
        self.write_hold_s = write_hold_s
        # False: list answers carry no "total" (a client must page until a short page)
        self.send_total = send_total
        self.customers: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        # token -> (level, expires at, time.monotonic())
        self._tokens: dict[str, tuple[str, float]] = {}
        self.tokens_issued: Counter[str] = Counter()
        self._key = secrets.token_bytes(16)
        self._next_customer = 1
        self._next_transaction = 1
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    # -- naming -----------------------------------------------------------------------------
    @property
    def base_url_template(self) -> str:
        """For AcquaConfig.base_url_template: this server, any instance."""
        return f"http://{self.host}:{self.port}/{{instance}}/api/"

    config_template = base_url_template

    @property
    def base_url(self) -> str:
        return self.base_url_template.format(instance=self.instance)

    def _split(self, path: str) -> tuple[str, list[str]] | None:
        """(instance, segments after api/), or None outside of /{instance}/api/."""
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[1].lower() != "api":
            return None
        return parts[0], [p.lower() for p in parts[2:]]

    def route_name(self, request: web.Request) -> str:
        split = self._split(request.path)
        if split is None:
            return "other"
        rest = tuple(split[1])
        return _ROUTES.get(rest) or _ROUTES.get(rest[:1], "other")

    def fault_response(self, status: int) -> web.StreamResponse:
        error, message = _FAULT_ERRORS.get(status, (f"http_{status}", f"HTTP error {status}"))
        headers = {"Retry-After": str(self.faults.retry_after_s)} if status == 429 else None
        return error_body(status, error, message, headers=headers)

    # -- test helpers -----------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far counts as expired from now on."""
        self._tokens = {t: (level, 0.0) for t, (level, _) in self._tokens.items()}

    def transaction_by_external(self, external_id: str) -> dict[str, Any] | None:
        for trx in self.transactions.values():
            if trx["externalId"] == external_id:
                return trx
        return None

    def transactions_for(self, external_id: str) -> list[dict[str, Any]]:
        return [t for t in self.transactions.values() if t["externalId"] == external_id]

    def customer_by_document(self, number: str) -> dict[str, Any] | None:
        for c in self.customers.values():
            if c["documentNumber"] == number:
                return c
        return None

    def add_customer(self, **fields: Any) -> dict[str, Any]:
        """A customer entered by hand in Acqua (no validation)."""
        record = {
            "name": "",
            "documentType": "DNI",
            "documentNumber": "",
            "taxCondition": "CONSUMIDOR_FINAL",
            "address": None,
            "phone": "",
            "email": "",
            **fields,
        }
        cid = self._new_customer_id()
        record.update(id=cid, createdAt=_now())
        self.customers[cid] = record
        return record

    # -- dispatch ---------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except ApiError as exc:
            return error_body(exc.status, exc.error, exc.message, exc.errors)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        split = self._split(request.path)
        if split is None:
            raise ApiError(404, "not_found", f"No route for {request.path}")
        instance, rest = split
        if instance.lower() != self.instance.lower():
            raise ApiError(404, "instance_not_found", f"Instance '{instance}' does not exist")
        route = self.route_name(request)
        method = request.method
        if route == "public-token" and method == "POST":
            return self._issue("read")
        if route == "token" and method == "POST":
            body = await _read_body(request)
            if body.get("username") != self.username or body.get("password") != self.password:
                raise ApiError(401, "invalid_credentials", "Invalid username or password")
            return self._issue("write")
        if route in ("stock", "prices"):
            self._authorize(request, "read")
            if method != "GET":
                raise ApiError(405, "method_not_allowed", f"{method} is not allowed here")
            return self._listing(
                request, self._stock_rows if route == "stock" else self._price_rows
            )
        if route in ("customers", "transactions"):
            self._authorize(request, "write")
            store = self.customers if route == "customers" else self.transactions
            if method == "GET" and len(rest) == 1:
                return self._listing(
                    request, self._customer_rows if route == "customers" else self._transaction_rows
                )
            if method == "GET" and len(rest) == 2:
                found = store.get(request.path.rstrip("/").rsplit("/", 1)[1])
                if found is None:
                    raise ApiError(404, "not_found", f"{route[:-1].capitalize()} not found")
                return _json(found)
            if method == "POST" and len(rest) == 1:
                body = await _read_body(request)
                create = self._create_customer if route == "customers" else self._create_transaction
                return await self.hold_write_slot(lambda: create(body))
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed here")
        if route in ("public-token", "token"):
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed here")
        raise ApiError(404, "not_found", f"No route for {request.path}")

    # -- auth -------------------------------------------------------------------------------
    def _issue(self, level: str) -> web.Response:
        now = time.time()
        claims = {
            "iss": f"acqua-sim/{self.instance}",
            "scope": level,
            "sub": self.username if level == "write" else "public",
            "iat": int(now),
            "exp": int(now + self.token_lifetime_s),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._key)
        self._tokens[token] = (level, time.monotonic() + self.token_lifetime_s)
        self.tokens_issued[level] += 1
        return _json(
            {"token": token, "token_type": "Bearer", "expires_in": _num(self.token_lifetime_s)}
        )

    def _authorize(self, request: web.Request, needed: str) -> None:
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        found = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise ApiError(401, "invalid_token", "Missing or invalid token")
        level, expires = found
        if time.monotonic() >= expires:
            raise ApiError(401, "token_expired", "Token expired")
        if needed == "write" and level != "write":
            raise ApiError(
                401,
                "insufficient_scope",
                "This operation needs a write token (log in with username and password)",
            )

    def write_conflict(self) -> Exception:
        return ApiError(409, "conflict", "Another write is in progress; retry")

    # -- lists ------------------------------------------------------------------------------
    def _listing(
        self,
        request: web.Request,
        rows: Callable[[dict[str, str]], tuple[int, Callable[[int, int], list[Any]]]],
    ) -> web.Response:
        params = dict(request.query)
        page = _int_param(params, "page", 1)
        limit = _int_param(params, "limit", 50)
        if page < 1:
            raise ApiError(400, "invalid_parameter", "page must be 1 or more")
        if limit < 1:
            raise ApiError(400, "invalid_parameter", "limit must be 1 or more")
        limit = min(limit, self.max_limit)
        total, render = rows(params)
        # a server that pages wrongly (self.paging) answers another page, or claims
        # another total, than the one its rows make
        start = min(total, (self.paging.served(page) - 1) * limit)
        end = min(total, start + limit)
        body: dict[str, Any] = {
            "items": self.paging.rows(render(start, end)),
            "page": page,
            "limit": limit,
        }
        if self.send_total:
            body["total"] = self.paging.total(total)
        return _json(body)

    @staticmethod
    def _sliced(rows: Sequence[Any]) -> tuple[int, Callable[[int, int], list[Any]]]:
        return len(rows), lambda a, b: list(rows[a:b])

    def _active(self, params: dict[str, str]) -> Sequence[int]:
        cat = self.catalog
        indices = cat.select("", list_code=DEFAULT_LIST, zero_price=True, zero_stock=True)
        sku = params.get("sku")
        if sku is not None:
            i = cat.find(sku.strip())
            return [i] if i is not None and i not in cat.inactive else []
        return indices

    def _stock_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        cat = self.catalog
        indices = self._active(params)

        def render(a: int, b: int) -> list[Any]:
            out = []
            for i in indices[a:b]:
                stock, reserved = cat.stock[i], cat.comprometido[i]
                out.append(
                    {
                        "sku": cat.sku(i),
                        "description": cat.art_desc[cat.var_art[i]],
                        "stock": _num(stock),
                        "reserved": _num(reserved),
                        "available": _num(stock - reserved),
                    }
                )
            return out

        return len(indices), render

    def _price_list(self, params: dict[str, str]) -> str:
        wanted = (params.get("priceList") or self.default_price_list).strip().lower()
        for code, name in LISTS.items():
            if wanted in (code.lower(), name.lower()):
                return code
        raise ApiError(
            400, "unknown_price_list", f"Price list '{params.get('priceList')}' does not exist"
        )

    def _price_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        cat = self.catalog
        code = self._price_list(params)
        indices: Sequence[int] = self._active(params)
        if self.unpriced:
            indices = [i for i in indices if cat.sku(i) not in self.unpriced]
        if self.prices_order == "reversed":
            indices = list(reversed(indices))
        prices = cat.prices[code]

        def render(a: int, b: int) -> list[Any]:
            return [
                {"sku": cat.sku(i), "priceList": code, "price": _num(prices[i]), "currency": "ARS"}
                for i in indices[a:b]
            ]

        return len(indices), render

    def _customer_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        doc = "".join(c for c in params.get("document", "") if c.isdigit())
        rows = [
            c
            for c in self.customers.values()
            if not params.get("document") or c["documentNumber"] == doc
        ]
        return self._sliced(rows)

    def _transaction_rows(
        self, params: dict[str, str]
    ) -> tuple[int, Callable[[int, int], list[Any]]]:
        ext = params.get("externalId")
        rows = [t for t in self.transactions.values() if ext is None or t["externalId"] == ext]
        return self._sliced(rows)

    # -- writes -----------------------------------------------------------------------------
    def _new_customer_id(self) -> str:
        cid = f"CUS-{self._next_customer:06d}"
        self._next_customer += 1
        return cid

    def _create_customer(self, body: dict[str, Any]) -> web.Response:
        errors: list[dict[str, str]] = []

        def bad(field: str, message: str) -> None:
            errors.append({"field": field, "message": message})

        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            bad("name", "is required")
        elif len(name) > 120:
            bad("name", "is longer than 120 characters")
        doc_type, number = body.get("documentType"), body.get("documentNumber")
        if doc_type not in ("DNI", "CUIT"):
            bad("documentType", "must be DNI or CUIT")
        if not isinstance(number, str) or not number.isascii() or not number.isdigit():
            bad("documentNumber", "must be a string of digits")
        elif doc_type == "DNI" and len(number) not in (7, 8):
            bad("documentNumber", f"'{number}' is not a DNI (7 or 8 digits)")
        elif doc_type == "CUIT" and not _valid_cuit(number):
            bad("documentNumber", f"'{number}' is not a valid CUIT")
        condition = body.get("taxCondition")
        if condition not in TAX_CONDITIONS:
            bad("taxCondition", f"'{condition}' is not one of {', '.join(TAX_CONDITIONS)}")
        elif condition in NEEDS_CUIT and doc_type != "CUIT":
            bad("taxCondition", f"{condition} requires a CUIT")
        email = body.get("email")
        if email not in (None, "") and (not isinstance(email, str) or "@" not in email):
            bad("email", f"'{email}' is not an e-mail address")
        phone = body.get("phone")
        if phone not in (None, "") and (not isinstance(phone, str) or len(phone) > 30):
            bad("phone", "must be text of at most 30 characters")
        address = body.get("address")
        if address is not None and not isinstance(address, (dict, str)):
            bad("address", "must be an object or text")
        if errors:
            raise ApiError(400, "validation_error", "The customer has invalid fields", errors)
        assert isinstance(number, str)
        existing = self.customer_by_document(number)
        if existing is not None:
            raise ApiError(
                409,
                "duplicate_document",
                f"A customer with document {number} already exists ({existing['id']})",
            )
        cid = self._new_customer_id()
        record = {
            "id": cid,
            "name": name,
            "documentType": doc_type,
            "documentNumber": number,
            "taxCondition": condition,
            "address": address,
            "phone": phone or "",
            "email": email or "",
            "createdAt": _now(),
        }
        self.customers[cid] = record
        return _json(record, status=201)

    def _create_transaction(self, body: dict[str, Any]) -> web.Response:
        customer_id = body.get("customerId")
        if not isinstance(customer_id, str) or customer_id not in self.customers:
            raise ApiError(400, "unknown_customer", f"Customer '{customer_id}' does not exist")
        external = body.get("externalId")
        if not isinstance(external, str) or not external.strip() or len(external) > 64:
            raise ApiError(400, "validation_error", "externalId must be text of 1 to 64 characters")
        for name, limit in (("paymentTerms", 100), ("notes", 500)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise ApiError(
                    400, "validation_error", f"{name} must be text of at most {limit} characters"
                )
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "validation_error", "A transaction needs at least one item")
        lines: list[tuple[int, dict[str, Any]]] = []
        for n, item in enumerate(items):
            where = f"items[{n}]"
            if not isinstance(item, dict):
                raise ApiError(400, "validation_error", f"{where} must be an object")
            sku = item.get("sku")
            index = self.catalog.find(sku.strip()) if isinstance(sku, str) else None
            if index is None or index in self.catalog.inactive:
                raise ApiError(400, "unknown_sku", f"Unknown SKU '{sku}' in {where}")
            qty, price = item.get("quantity"), item.get("unitPrice")
            discount = item.get("discount", 0)
            if not _is_number(qty) or qty <= 0:
                raise ApiError(
                    400,
                    "validation_error",
                    f"{where}: quantity must be a positive number (SKU {sku})",
                )
            if not _is_number(price) or price < 0:
                raise ApiError(
                    400,
                    "validation_error",
                    f"{where}: unitPrice must be a number of 0 or more (SKU {sku})",
                )
            if not _is_number(discount) or not 0 <= discount <= 100:
                raise ApiError(
                    400,
                    "validation_error",
                    f"{where}: discount must be a percentage from 0 to 100 (SKU {sku})",
                )
            lines.append(
                (index, {"sku": sku, "quantity": qty, "unitPrice": price, "discount": discount})
            )
        existing = self.transaction_by_external(external)
        if existing is not None:
            raise ApiError(
                409,
                "duplicate_external_id",
                f"A transaction with externalId '{external}' already exists ({existing['id']})",
            )
        # saved: everything below changes state, nothing below can fail
        tid = f"TRX-{self._next_transaction:06d}"
        number = self._next_transaction
        self._next_transaction += 1
        for index, line in lines:
            self.catalog.add_comprometido_at(index, float(line["quantity"]))
        total = sum(
            ln["quantity"] * ln["unitPrice"] * (100 - ln["discount"]) / 100 for _, ln in lines
        )
        record = {
            "id": tid,
            "number": number,
            "externalId": external,
            "customerId": customer_id,
            "items": [ln for _, ln in lines],
            "paymentTerms": body.get("paymentTerms") or "",
            "notes": body.get("notes") or "",
            "total": round(total, 2),
            "status": "confirmed",
            "createdAt": _now(),
        }
        self.transactions[tid] = record
        return _json(
            {
                "id": tid,
                "number": number,
                "externalId": external,
                "status": "confirmed",
                "total": record["total"],
            },
            status=201,
        )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S-03:00", time.gmtime(time.time() - 3 * 3600))


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number") from None


async def _read_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object")
    return body


__all__ = ["NEEDS_CUIT", "TAX_CONDITIONS", "AcquaSimulator"]

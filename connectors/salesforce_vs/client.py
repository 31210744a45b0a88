"""Salesforce Virtual Seller connector: see shared/specs/erp-apis.md.

Observed (Salesforce's standard OAuth2 flows; `erp.auth_flow` chooses one):
- client credentials (the default): `POST {my_domain_url}services/oauth2/token`,
  form-encoded `grant_type=client_credentials&client_id&client_secret`; only the org's My
  Domain serves it (login.salesforce.com answers `invalid_grant` "request not supported on
  this domain"); an app without the flow enabled or without a "Run As" user answers
  `invalid_grant` "no client credentials user enabled";
- username-password (older orgs): `POST {my_domain_url or login_url}services/oauth2/token`,
  form-encoded
  `grant_type=password&client_id&client_secret&username&password`; an org that blocks the
  flow answers `invalid_grant` "authentication failure", as a wrong password does;
- both answer `{"access_token", "instance_url", ...}`; every API call goes to
  `instance_url` with `Authorization: Bearer <access_token>`;
- there is no refresh token: on a 401 a new token is requested once and the call retried;
- login errors: HTTP 400 `{"error": "invalid_grant", "error_description": "..."}`; API
  errors: a list `[{"errorCode": "...", "message": "..."}]`.

A refused login is an AuthError whose message names the flow and whose code says it too:
`login_<error>` for the username-password flow (`login_invalid_grant`, ... as before client
credentials existed), `login_cc_<error>` for client credentials (`login_cc_invalid_grant`,
...); `login_refused` / `login_cc_refused` when Salesforce gave no error code.

Assumed (Apex REST; every path, parameter and code is in SalesforceVSConfig, the row and
answer field names are the constants below):
- `GET stock_path?page=&pageSize=&warehouse=&company=&priceList=[&sku=]` ->
  `{"totalSize", "done", "records": [{"sku", "company", "warehouse", "available",
  "priceList", "price", "prices": [{"priceList", "price"}]}]}`, one row per SKU and
  warehouse, sorted by SKU: rows of one SKU are added up (also across a page boundary);
- `POST orders_path {origin, externalId, customer{...}, items[...], paymentTerms, notes}` ->
  `{"id", "orderNumber"}`; a duplicate externalId is refused (400 or 409) with an errorCode
  in `duplicate_codes`;
- `GET order_lookup_path?externalId=` -> `{"records": [{"id", "orderNumber", "externalId",
  "origin"}]}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

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
    RateLimitedError,
)
from bridge.http import Reply, html_title, json_client
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
from connectors.kit import BearerSession, ErpClient, Token
from connectors.salesforce_vs.config import CLIENT_CREDENTIALS, SalesforceVSConfig

log = logging.getLogger(__name__)

# observed
TOKEN_PATH = "services/oauth2/token"
# assumed: field names of the Apex REST answers
F_RECORDS = "records"
F_DONE = "done"
F_TOTAL = "totalSize"
F_SKU = "sku"
F_WAREHOUSE = "warehouse"
F_COMPANY = "company"
F_PRICE = "price"
F_PRICES = "prices"
F_PRICE_LIST = "priceList"
F_ID = "id"
F_EXTERNAL_ID = "externalId"
F_ORIGIN = "origin"
F_SUCCESS = "success"
F_ERRORS = "errors"
# Salesforce's answer to a path no Apex class serves
NO_URL_MATCH = "could not find a match for url"

SWITCH_TO_CLIENT_CREDENTIALS = (
    "Salesforce is retiring this flow: switch to client credentials (setting "
    "Authentication / erp.auth_flow = client_credentials, with your org's My Domain URL)"
)
# username-password flow: Salesforce's error code -> what to check
PASSWORD_HINTS = {
    "invalid_grant": (
        "check the Username and the Password; if your org requires a security token, type "
        "the password immediately followed by the token. If they are right, the org blocks "
        "the username-password flow (the default in orgs created since Summer '23; Login "
        "History says 'Username-Password Flow Disabled'): " + SWITCH_TO_CLIENT_CREDENTIALS
    ),
    "invalid_client_id": "check the Client ID (the connected app's Consumer Key)",
    "invalid_client": (
        "check the Client ID and the Client Secret (the connected app's Consumer Key and "
        "Consumer Secret)"
    ),
    "unsupported_grant_type": (
        "the org does not allow the username-password flow ('Allow OAuth Username-Password "
        "Flows' in Salesforce Setup); " + SWITCH_TO_CLIENT_CREDENTIALS
    ),
}
PASSWORD_HINT = "check the Username, Password, Client ID and Client Secret"
CC_APP_HINT = (
    "the Connected App or External Client App must have 'Enable Client Credentials Flow' "
    "turned on and a 'Run As' user set (a user with API access to Virtual Seller)"
)
CC_DOMAIN_HINT = (
    "the client credentials flow only works at your org's My Domain URL (e.g. "
    "https://acme.my.salesforce.com/, in Salesforce Setup > My Domain), never at "
    "login.salesforce.com or test.salesforce.com"
)
# client credentials flow: Salesforce's error code -> what to check
CC_HINTS = {
    "invalid_grant": f"{CC_APP_HINT}; and {CC_DOMAIN_HINT}",
    "invalid_client_id": (
        "check the Client ID (the Consumer Key of the Connected App or External Client App)"
    ),
    "invalid_client": (
        "check the Client ID and the Client Secret (the Consumer Key and Consumer Secret of "
        "the Connected App or External Client App)"
    ),
    "unsupported_grant_type": f"{CC_DOMAIN_HINT}; and {CC_APP_HINT}",
}
# client credentials' invalid_grant descriptions that say which of the two it is
CC_DESCRIPTION_HINTS = {
    "request not supported on this domain": CC_DOMAIN_HINT,
    "no client credentials user enabled": CC_APP_HINT,
    "no valid scopes defined": (
        "the Connected App or External Client App needs the OAuth scope 'Manage user data "
        "via APIs (api)'"
    ),
}
CC_HINT = f"check the Client ID, the Client Secret and the My Domain URL; {CC_APP_HINT}"


def sf_errors(data: Any) -> list[tuple[str, str]]:
    """(errorCode, message) pairs from Salesforce's error styles: the OAuth `{"error",
    "error_description"}`, the REST list `[{"errorCode", "message"}]`, or an object with an
    `errors` list."""
    out: list[tuple[str, str]] = []
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("error"), str):
            out.append((item["error"], str(item.get("error_description") or "")))
        elif isinstance(item.get("message"), str) or isinstance(item.get("errorCode"), str):
            out.append(
                (
                    str(item.get("errorCode") or item.get("statusCode") or ""),
                    str(item.get("message") or ""),
                )
            )
        elif isinstance(item.get(F_ERRORS), list):
            out.extend(sf_errors(item[F_ERRORS]))
    return out


def format_errors(errors: list[tuple[str, str]]) -> str:
    parts = []
    for code, message in errors:
        if message and code:
            parts.append(f"{message} ({code})")
        elif message or code:
            parts.append(message or code)
    return "; ".join(parts)


def _fold(text: Any) -> str:
    return str(text or "").strip().casefold()


class SalesforceVSClient(ErpClient):
    kind: ClassVar[str] = "salesforce_vs"
    capabilities: ClassVar[Capabilities] = Capabilities(
        orders=True,
        customers=False,
        incremental_catalog=False,
        sku_lookup=True,
        write_concurrency=1,
    )
    side = "Salesforce"
    # which of them a config needs depends on its flow (`_login_form`)
    secret_names = ("erp.password", "erp.client_secret")
    config: SalesforceVSConfig
    # Virtual Seller gets one write at a time (capabilities.write_concurrency): write_lock

    def base_url(self) -> str:
        """Where the token is asked for: the org's My Domain (client credentials; the
        username-password flow too when one is set), else the login server. The API calls
        go to the `instance_url` the login answers."""
        return self.config.my_domain_url or self.config.login_url

    def http_client(self) -> httpx.AsyncClient:
        # the default pool: its stock pages are read one at a time
        return json_client(self.base_url(), self.config)

    @property
    def client_credentials(self) -> bool:
        return self.config.auth_flow == CLIENT_CREDENTIALS

    @cached_property
    def session(self) -> BearerSession:
        """The access token (no refresh token: a 401 asks for a new one)."""
        return BearerSession(self._login)

    @property
    def instance_url(self) -> str | None:
        """Where the API calls go (what the last login said), once logged in."""
        token = self.session.current()
        return token.base_url if token is not None else None

    @property
    def flow_name(self) -> str:
        return "client credentials" if self.client_credentials else "username-password"

    @property
    def api_user(self) -> str:
        """Who the API calls run as, for messages."""
        if self.client_credentials:
            return "the 'Run As' user of the client credentials app"
        return f"the user {self.config.username}"

    # -- errors ------------------------------------------------------------------------------
    def error_message(self, response: httpx.Response) -> str:
        try:
            data = json.loads(response.content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return html_title(response.text) or response.reason_phrase
        return self._scrub(format_errors(sf_errors(data))) or response.reason_phrase

    def _scrub(self, text: str) -> str:
        """Never let a secret out in a message, whatever a server echoes."""
        token = self.session.current()
        return self.scrub(text, token.value if token is not None else None)

    def _is_duplicate(self, message: str | None) -> bool:
        text = (message or "").upper()
        return any(code in text for code in self.config.duplicate_codes)

    def classify(self, response: httpx.Response, message: str, *, write: bool) -> BridgeError:
        # Salesforce's own meanings of some statuses: a duplicate answered with 409 must
        # not be retried as a conflict, and 403 REQUEST_LIMIT_EXCEEDED is the org's API
        # limit, not bad credentials
        exc = super().classify(response, message, write=write)
        if (
            isinstance(exc, (ConflictError, DataError))
            and write
            and not isinstance(exc, DuplicateError)
            and self._is_duplicate(exc.server_message)
        ):
            return DuplicateError(
                f"Salesforce refused the write as a duplicate (HTTP {exc.status}: "
                f"{exc.server_message})",
                server_message=exc.server_message,
                status=exc.status,
            )
        if isinstance(exc, AuthError) and exc.status == 403:
            if "REQUEST_LIMIT_EXCEEDED" in (exc.server_message or ""):
                return RateLimitedError(
                    f"Salesforce's API request limit for the org is used up ({exc.server_message})"
                    "; it frees up over the next 24 h",
                    server_message=exc.server_message,
                    status=exc.status,
                )
            exc.message = (
                f"Salesforce denied access (HTTP 403: {exc.server_message}); "
                f"{self.api_user} may lack permission for the Virtual Seller API (profile "
                "or permission set)"
            )
        return exc

    # -- session -----------------------------------------------------------------------------
    def _login_form(self) -> dict[str, str]:
        """The token request's form for the configured flow; ConfigError when a secret it
        needs is not set."""
        cfg = self.config
        password, client_secret = self.secrets["erp.password"], self.secrets["erp.client_secret"]
        needed = [("erp.client_secret", client_secret)]
        if not self.client_credentials:
            needed.insert(0, ("erp.password", password))
        for name, value in needed:
            if not value:
                raise ConfigError(
                    f"{name}: not set; run `bridge secrets set {name}`", code="secret_missing"
                )
        if self.client_credentials:
            return {
                "grant_type": "client_credentials",
                "client_id": cfg.client_id,
                "client_secret": client_secret,
            }
        return {
            "grant_type": "password",
            "client_id": cfg.client_id,
            "client_secret": client_secret,
            "username": cfg.username,
            "password": password,
        }

    def _login_refused(self, reply: Reply) -> AuthError:
        """The refused login as an AuthError that names the flow, with that flow's hint and
        error code."""
        try:
            data = json.loads(reply.content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = None
        errors = sf_errors(data)
        code, description = errors[0] if errors else ("", "")
        said = (
            self._scrub(f"{description} ({code})" if description else code)
            or html_title(reply.text)
            or f"HTTP {reply.status}"
        )
        if self.client_credentials:
            hint = CC_HINTS.get(code, CC_HINT)
            if code == "invalid_grant":
                hint = CC_DESCRIPTION_HINTS.get(description.strip().lower(), hint)
            message = (
                f"Salesforce refused the client credentials login at {self.base_url()}: "
                f"{said}; {hint}"
            )
            prefix = "login_cc_"
        else:
            hint = PASSWORD_HINTS.get(code, PASSWORD_HINT)
            message = (
                f"Salesforce refused the username-password login of {self.config.username} "
                f"at {self.base_url()}: {said}; {hint}"
            )
            prefix = "login_"
        return AuthError(
            message,
            code=f"{prefix}{code}" if code else f"{prefix}refused",
            server_message=self._scrub(description or code),
            status=reply.status,
        )

    async def _login(self) -> Token:
        form = self._login_form()
        reply = await self.request(
            "POST",
            self.base_url() + TOKEN_PATH,
            data=form,
            decode=True,
            ok=lambda s: 200 <= s < 300 or s in (400, 401),
        )
        if reply.status >= 400:
            raise self._login_refused(reply)
        data = reply.data
        token = data.get("access_token") if isinstance(data, dict) else None
        instance = data.get("instance_url") if isinstance(data, dict) else None
        if (
            not isinstance(token, str)
            or not token
            or not isinstance(instance, str)
            or not instance.startswith(("http://", "https://"))
        ):
            raise ProtocolError(
                f"Salesforce's answer to the {self.flow_name} login has no access_token or "
                "instance_url",
                code="bad_response",
            )
        # masked from here on, whatever echoes it (an error text, a log line)
        redact.register(token, slot="salesforce_vs.session")
        return Token(token, base_url=instance.rstrip("/") + "/")

    async def _api(
        self,
        method: str,
        path: str,
        *,
        write: bool = False,
        ok: Callable[[int], bool] = lambda s: 200 <= s < 300,
        **kw: Any,
    ) -> Reply:
        """A call to the instance with the session token; on a 401, one new token and one
        more try (the request was refused, so even a write is safe to repeat)."""

        async def send(token: Token) -> Reply:
            return await self.request(
                method,
                token.base_url + path,
                write=write,
                ok=ok,
                decode=True,
                headers={"Authorization": f"Bearer {token.value}"},
                **kw,
            )

        return await self.session.call(send, self._session_refused)

    def _session_refused(self, exc: AuthError, renewed: bool) -> AuthError:
        if renewed and exc.status == 401:
            exc.message = (
                f"Salesforce refused a session it had just issued (HTTP 401: "
                f"{exc.server_message}); check that {self.api_user} and the "
                "connected app may use the Virtual Seller API"
            )
        return exc

    def _no_such_path(self, exc: BridgeError, setting: str) -> ConfigError:
        return ConfigError(
            f"Salesforce has no API at erp.{setting} = '{getattr(self.config, setting)}' "
            f"({exc.server_message}); check that setting against the Virtual Seller install",
            code="config_path",
            server_message=exc.server_message,
            status=exc.status,
        )

    # -- catalog -----------------------------------------------------------------------------
    def _filters(self) -> list[tuple[str, str]]:
        cfg = self.config
        params: list[tuple[str, str]] = []
        if cfg.warehouse:
            params.append((cfg.warehouse_param, cfg.warehouse))
        if cfg.companies:
            if cfg.companies_style == "comma":
                params.append((cfg.company_param, ",".join(cfg.companies)))
            else:
                params.extend((cfg.company_param, c) for c in cfg.companies)
        if cfg.price_list:
            params.append((cfg.price_list_param, cfg.price_list))
        return params

    async def _stock_page(
        self, page: int, extra: list[tuple[str, str]], page_size: int | None = None
    ) -> tuple[list[Any], bool, int | None]:
        """One page of stock rows: (records, done, totalSize)."""
        cfg = self.config
        size = page_size or cfg.page_size
        params = [
            *self._filters(),
            *extra,
            (cfg.page_param, str(page)),
            (cfg.page_size_param, str(size)),
        ]
        try:
            reply = await self._api("GET", cfg.stock_path, params=params)
        except NotFoundError as exc:
            if NO_URL_MATCH in (exc.server_message or "").lower():
                raise self._no_such_path(exc, "stock_path") from None
            return [], True, 0
        data = reply.data
        if isinstance(data, list):  # a bare list: one page with everything
            return data, True, len(data)
        if not isinstance(data, dict) or not isinstance(data.get(F_RECORDS), list):
            raise ProtocolError(
                f"Salesforce's answer to {cfg.stock_path} has no '{F_RECORDS}' list",
                code="bad_response",
            )
        records = data[F_RECORDS]
        total = data.get(F_TOTAL)
        done = data.get(F_DONE)
        if not isinstance(done, bool):
            done = len(records) < size
        return records, done or not records, total if isinstance(total, int) else None

    async def _stock_pages(self, extra: list[tuple[str, str]]) -> AsyncIterator[list[Any]]:
        """The stock list's pages until Salesforce says it is done (or a page comes back
        empty); a page that repeats an earlier one, or more pages than the total makes,
        stop it with a ProtocolError."""
        guard = PageGuard(
            self.side,
            f"the stock list ({self.config.stock_path})",
            max_pages=self.config.max_pages,
            setting="erp.max_pages",
        )
        page = 1
        limit = self.config.max_pages
        total: int | None = None
        while True:
            records, done, total = await self._stock_page(page, extra)
            guard.page(
                page,
                (  # a row without an SKU: the row itself
                    (r[F_SKU], r.get(F_COMPANY), r.get(F_WAREHOUSE), r.get(F_PRICE_LIST))
                    if isinstance(r, dict) and r.get(F_SKU)
                    else r
                    for r in records
                ),
            )
            yield records
            if done:
                break
            if total is not None and records:
                # a server that caps pageSize pages by what it returns
                limit = min(limit, guard.planned(total, len(records)) + 2)
            page += 1
            if page > limit:
                raise ProtocolError(
                    f"Salesforce kept listing stock past page {limit} (it never said it was done)",
                    code="bad_response",
                )
        guard.finish(total, self.config.page_size)

    def _wanted(self, row: dict[str, Any]) -> bool:
        """Rows of other warehouses or companies than the configured ones (a server that
        ignores a filter) are left out here, so that their stock is never added."""
        cfg = self.config
        wh = row.get(F_WAREHOUSE)
        if cfg.warehouse and wh is not None and _fold(wh) != _fold(cfg.warehouse):
            return False
        company = row.get(F_COMPANY)
        return not (
            cfg.companies
            and company is not None
            and _fold(company) not in {_fold(c) for c in cfg.companies}
        )

    def _price(self, row: dict[str, Any]) -> tuple[Decimal | None, str | None]:
        """(price, problem) of a row in the configured list (None: no price)."""
        code = self.config.price_list
        raw: Any = None
        if (
            not code
            or _fold(row.get(F_PRICE_LIST)) == _fold(code)
            or (F_PRICE_LIST not in row and not isinstance(row.get(F_PRICES), list))
        ):
            raw = row.get(F_PRICE)
        else:
            for p in row.get(F_PRICES) or []:
                if isinstance(p, dict) and _fold(p.get(F_PRICE_LIST)) == _fold(code):
                    raw = p.get(F_PRICE)
                    break
        if raw is None:
            return None, None
        price = to_decimal(raw)
        if price is None:
            return None, f"price {raw!r} is not a number"
        if price < 0:
            return None, f"negative price {price} in Salesforce"
        try:
            return numbers.price(price), None
        except numbers.NumberError as exc:
            return None, f"price {exc}"

    def _item(self, sku: str, rows: list[dict[str, Any]]) -> CatalogItem | RowProblem:
        field = self.config.stock_field
        available = Decimal(0)
        price: Decimal | None = None
        for row in rows:
            qty = to_decimal(row.get(field))
            where = f" in warehouse {row[F_WAREHOUSE]}" if row.get(F_WAREHOUSE) else ""
            if qty is None:
                return RowProblem(sku, f"'{field}'{where} is {row.get(field)!r}, not a number")
            try:
                # each warehouse's within the limits before they are added up
                available += numbers.stock(qty)
            except numbers.NumberError as exc:
                return RowProblem(sku, f"'{field}'{where} {exc}")
            row_price, problem = self._price(row)
            if problem:
                return RowProblem(sku, problem)
            if price is None:
                price = row_price
        return numbers.catalog_item(sku, available, price, stock_name=f"'{field}' (all warehouses)")

    async def _grouped(
        self, extra: list[tuple[str, str]]
    ) -> AsyncIterator[list[tuple[str, list[dict[str, Any]]] | RowProblem]]:
        """Page by page, the rows grouped by SKU. Rows of one SKU (one per warehouse) come
        together: the last SKU of a page is held until the next page shows whether it goes
        on there."""
        held: tuple[str, list[dict[str, Any]]] | None = None
        async for records in self._stock_pages(extra):
            out: list[tuple[str, list[dict[str, Any]]] | RowProblem] = []
            for row in records:
                sku = str(row.get(F_SKU) or "").strip() if isinstance(row, dict) else ""
                if not sku:
                    out.append(
                        RowProblem(
                            "?", f"Salesforce sent a stock row without '{F_SKU}': {row!r:.120}"
                        )
                    )
                    continue
                assert isinstance(row, dict)
                if not self._wanted(row):
                    continue
                if held is not None and held[0] == sku:
                    held[1].append(row)
                    continue
                if held is not None:
                    out.append(held)
                held = (sku, [row])
            if out:
                yield out
        if held is not None:
            yield [held]

    async def catalog(
        self, since: float | None = None
    ) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        # no "changed since" filter: always the whole list (diffed by the engine)
        async for groups in self._grouped([]):
            yield [g if isinstance(g, RowProblem) else self._item(*g) for g in groups]

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        rows: list[dict[str, Any]] = []
        async for groups in self._grouped([(self.config.sku_param, sku)]):
            for g in groups:
                if not isinstance(g, RowProblem) and g[0].casefold() == sku.casefold():
                    rows.extend(g[1])
        return self._item(sku, rows) if rows else None

    # -- customers (inline in the order) -----------------------------------------------------
    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        raise ConfigError(
            "Salesforce Virtual Seller takes the buyer inline in the order; "
            "there is no customer to look up",
            code="no_customers",
        )

    async def create_customer(self, buyer: ValidBuyer) -> str:
        raise ConfigError(
            "Salesforce Virtual Seller takes the buyer inline in the order; "
            "there is no customer to create",
            code="no_customers",
        )

    # -- orders ------------------------------------------------------------------------------
    def customer_body(self, vb: ValidBuyer) -> dict[str, Any]:
        cfg, b, doc = self.config, vb.buyer, vb.document
        tax = cfg.tax_conditions.get(vb.condition.value)
        if tax is None:
            raise ConfigError(
                f"erp.tax_conditions has no code for '{vb.condition.value}'", code="config_field"
            )
        a = b.address
        return {
            "name": b.business_name,
            "documentType": cfg.document_types.get(doc.kind, doc.kind),
            "documentNumber": doc.number,
            "taxCondition": tax,
            "email": b.email,
            "phone": b.phone,
            "address": {
                "street": a.street,
                "number": a.number,
                "floor": a.floor,
                "city": a.city,
                "province": a.province,
                "postalCode": a.postal_code,
            },
        }

    def order_body(self, order: StoreOrder, buyer: ValidBuyer) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "origin": cfg.identifier,
            "externalId": order.number,
            "customer": self.customer_body(buyer),
            "items": [
                {
                    "sku": i.sku,
                    "quantity": i.quantity,
                    "unitPrice": float(i.unit_price),
                    "discount": float(i.discount_pct),
                }
                for i in order.items
            ],
            "paymentTerms": order.payment_terms,
            "notes": order.notes[: cfg.notes_max],
        }
        if cfg.price_list:
            body["priceList"] = cfg.price_list
        if cfg.warehouse:
            body["warehouse"] = cfg.warehouse
        return body

    def _reference(self, record: dict[str, Any]) -> str | None:
        for key in (self.config.order_reference_field, F_ID):
            value = record.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
        return None

    async def create_order(self, order: StoreOrder, customer_code: str, buyer: ValidBuyer) -> str:
        body = self.order_body(order, buyer)
        try:
            async with self.write_lock:
                reply = await self._api("POST", self.config.orders_path, json=body, write=True)
        except DuplicateError as exc:
            raise DuplicateError(
                f"Salesforce already has order {order.number} (externalId): {exc.server_message}",
                server_message=exc.server_message,
                status=exc.status,
            ) from None
        except NotFoundError as exc:
            if NO_URL_MATCH in (exc.server_message or "").lower():
                raise self._no_such_path(exc, "orders_path") from None
            raise
        except DataError as exc:
            raise DataError(
                f"Salesforce refused order {order.number} (HTTP {exc.status}): "
                f"{exc.server_message}",
                code=exc.code,
                server_message=exc.server_message,
                status=exc.status,
            ) from None
        data = reply.data
        if isinstance(data, dict) and data.get(F_SUCCESS) is False:
            message = format_errors(sf_errors(data)) or "success: false"
            if self._is_duplicate(message):
                raise DuplicateError(
                    f"Salesforce already has order {order.number} (externalId): {message}",
                    server_message=message,
                )
            raise DataError(
                f"Salesforce refused order {order.number}: {message}",
                server_message=message,
                status=reply.status,
            )
        ref = self._reference(data) if isinstance(data, dict) else None
        if ref is None:
            raise AmbiguousWriteError(
                f"Salesforce accepted order {order.number} but did not say its reference",
                code="bad_response",
            )
        return ref

    async def find_order(self, order: StoreOrder) -> str | None:
        cfg = self.config
        try:
            reply = await self._api(
                "GET", cfg.order_lookup_path, params=[(cfg.order_lookup_param, order.number)]
            )
        except NotFoundError as exc:
            if NO_URL_MATCH in (exc.server_message or "").lower():
                raise self._no_such_path(exc, "order_lookup_path") from None
            return None
        data = reply.data
        if isinstance(data, dict) and isinstance(data.get(F_RECORDS), list):
            records = data[F_RECORDS]
        elif isinstance(data, list):
            records = data
        elif isinstance(data, dict) and F_EXTERNAL_ID in data:
            records = [data]
        else:
            raise ProtocolError(
                f"Salesforce's answer to {cfg.order_lookup_path} has no '{F_RECORDS}' list",
                code="bad_response",
            )
        for rec in records:
            if not isinstance(rec, dict) or str(rec.get(F_EXTERNAL_ID, "")) != order.number:
                continue
            origin = rec.get(F_ORIGIN)
            if origin is not None and _fold(origin) != _fold(cfg.identifier):
                continue  # the same number from another origin is another order
            ref = self._reference(rec)
            if ref:
                return ref
        return None

    # -- doctor ------------------------------------------------------------------------------
    async def _filter_check(
        self, name: str, what: str, extra: list[tuple[str, str]], field: str, wanted: list[str]
    ) -> Check:
        cfg = self.config
        params = [*extra, (cfg.page_param, "1"), (cfg.page_size_param, "20")]
        try:
            reply = await self._api("GET", cfg.stock_path, params=params)
        except BridgeError as exc:
            return Check(name, False, exc.server_message or exc.message)
        data = reply.data
        records = data.get(F_RECORDS) if isinstance(data, dict) else data
        records = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
        if not records:
            return Check(
                name,
                False,
                f"Salesforce lists no stock for {what}; check the name "
                "(it must match Virtual Seller's exactly)",
            )
        folded = {_fold(w) for w in wanted}
        others = {
            str(r[field])
            for r in records
            if r.get(field) is not None and _fold(r[field]) not in folded
        }
        if others:
            return Check(
                name,
                True,
                f"{what} found, but the answer also had "
                f"{', '.join(sorted(others)[:3])}: the server seems to "
                f"ignore the '{extra[0][0]}' parameter; Bridge leaves "
                "those rows out itself",
            )
        return Check(name, True, f"{what} found")

    async def checks(self) -> list[Check]:
        cfg = self.config
        out: list[Check] = []
        try:
            # a new login: the credentials as they are now, not a session from before
            instance = (await self.session.renew()).base_url
            who = "client credentials" if self.client_credentials else cfg.username
            out.append(Check("ERP login", True, f"{who} on {instance}"))
        except BridgeError as exc:
            return [Check("ERP login", False, exc.message, code=exc.code)]
        try:
            await self._api(
                "GET", cfg.stock_path, params=[(cfg.page_param, "1"), (cfg.page_size_param, "1")]
            )
            out.append(Check("ERP stock query", True, cfg.stock_path))
        except BridgeError as exc:
            if NO_URL_MATCH in (exc.server_message or "").lower():
                exc = self._no_such_path(exc, "stock_path")
            out.append(Check("ERP stock query", False, exc.message, code=exc.code))
            return out
        if cfg.warehouse:
            out.append(
                await self._filter_check(
                    "ERP warehouse",
                    f"warehouse '{cfg.warehouse}'",
                    [(cfg.warehouse_param, cfg.warehouse)],
                    F_WAREHOUSE,
                    [cfg.warehouse],
                )
            )
        for company in cfg.companies:
            out.append(
                await self._filter_check(
                    "ERP company",
                    f"company '{company}'",
                    [(cfg.company_param, company)],
                    F_COMPANY,
                    [company],
                )
            )
        if cfg.price_list:
            out.append(
                await self._filter_check(
                    "ERP price list",
                    f"price list '{cfg.price_list}'",
                    [(cfg.price_list_param, cfg.price_list)],
                    F_PRICE_LIST,
                    [cfg.price_list],
                )
            )
        return out

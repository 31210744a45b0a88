"""Dragonfish (ZooLogic) connector: see shared/specs/erp-apis.md.

Quirks handled here, so the engine never sees them:
- the token goes raw in `Authorization` (no `Bearer `), the client id in `idCliente`;
- list answers come in an envelope whose `Siguiente` carries the server's own idea of its
  host: we follow page numbers, never that URL;
- "no results" is a 404;
- errors arrive in the HTTP reason phrase (sometimes also in a `Mensaje` body);
- concurrent writes answer 409 (retried 5 times, 1 s apart) — writes are serialized here;
- a duplicate order is refused with "La combinación de plataforma y número de operación ya
  existe": it means the order is already there (reconcile, never a second order).
"""

from __future__ import annotations

import asyncio
import math
import time
import unicodedata
from collections.abc import AsyncIterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx
import msgspec

from bridge.errors import (
    AmbiguousWriteError,
    AuthError,
    BridgeError,
    ConfigError,
    DataError,
    DuplicateError,
    NotFoundError,
    ProtocolError,
)
from bridge.http import HttpSide, RetryPolicy, decode_json, make_client
from bridge.model import (
    Capabilities,
    CatalogItem,
    Check,
    RowProblem,
    StoreOrder,
    ValidBuyer,
)
from connectors.dragonfish.config import DragonfishConfig
from connectors.dragonfish.jwt import read_claims

CATALOG = "ConsultaStockYPrecios/"
CUSTOMERS = "Cliente/"
ORDERS = "Pedido/"
OPERATIONS = "Operacionecommerce/"
PROVINCES = "Provincia/"
SERVICE_INFO = "ObtenerInformacionServicio"

KNOWN_PROVINCES = {
    "ciudad autonoma de buenos aires": "00",
    "caba": "00",
    "capital federal": "00",
    "buenos aires": "01",
    "provincia de buenos aires": "01",
}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def split_sku(sku: str) -> tuple[str, str, str]:
    parts = sku.split("!")
    if len(parts) == 1:
        return parts[0], "", ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise DataError(f"SKU '{sku}' is neither ARTICULO nor ARTICULO!COLOR!TALLE",
                    code="sku_format")


class CatalogRow(msgspec.Struct):
    """The fields of a ConsultaStockYPrecios row that Bridge reads (a row has ~20 more).
    Untyped: each value is checked by `_row`, so one bad value makes one bad row."""

    Articulo: Any = None
    Color: Any = None
    Talle: Any = None
    Stock: Any = None
    Disponible: Any = None
    Lista: Any = None
    Precio: Any = None


class PricedRow(CatalogRow):
    """A row with its prices in every list: read only when a row is not priced in the
    configured list (the server ignored `lista`), as it doubles the decoding work."""

    Precios: Any = None

    @classmethod
    def of(cls, row: Any) -> Any:
        """A row of a generically decoded answer as a PricedRow (non-objects as they came,
        for `_row` to report)."""
        if not isinstance(row, dict):
            return row
        return cls(**{f: row.get(f) for f in cls.__struct_fields__})


class CatalogPage(msgspec.Struct):
    Resultados: list[CatalogRow]
    TotalRegistros: Any = None
    Siguiente: Any = None


class PricedPage(CatalogPage):
    Resultados: list[PricedRow]  # type: ignore[assignment]


# JSON numbers as exact Decimals, as the generic decoder does
CATALOG_SHAPE = msgspec.json.Decoder(CatalogPage, float_hook=Decimal)
PRICED_SHAPE = msgspec.json.Decoder(PricedPage, float_hook=Decimal)


def catalog_page(data: Any) -> CatalogPage:
    """A decoded ConsultaStockYPrecios answer as a CatalogPage: as it is when it had the
    usual shape, else built from the generic decoding (rows checked one by one by `_row`)."""
    if isinstance(data, CatalogPage):
        return data
    if not isinstance(data, dict) or not isinstance(data.get("Resultados"), list):
        raise ProtocolError(f"Dragonfish's answer to {CATALOG} has no 'Resultados' list",
                            code="bad_response")
    return CatalogPage([PricedRow.of(r) for r in data["Resultados"]],
                       data.get("TotalRegistros"), data.get("Siguiente"))


def _number(value: Any) -> Decimal | None:
    if type(value) is Decimal:  # the usual case: JSON numbers are decoded as Decimal
        return value if value.is_finite() else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


class DragonfishClient(HttpSide):
    kind: ClassVar[str] = "dragonfish"
    capabilities: ClassVar[Capabilities] = Capabilities(
        orders=True, customers=True, incremental_catalog=False, sku_lookup=True,
        write_concurrency=1)
    side = "Dragonfish"

    def __init__(self, config: DragonfishConfig, secrets: Mapping[str, str] | str,
                 policy: RetryPolicy | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        token = secrets if isinstance(secrets, str) else secrets["erp.token"]
        headers = {"idCliente": config.cliente, "Authorization": token,
                   "Content-Type": "application/json", "Accept": "application/json"}
        if config.base_de_datos:
            headers["BaseDeDatos"] = config.base_de_datos
        super().__init__(
            client or make_client(config.endpoint, timeout_s=config.timeout_s,
                                  verify=config.verify_tls, headers=headers,
                                  max_connections=config.concurrency + 2),
            policy)
        self.config = config
        self._token = token
        self._lista_code: str | None = None
        self._provinces: dict[str, str | None] = {}
        self._write_lock = asyncio.Lock()

    # -- errors ------------------------------------------------------------------------------
    def error_message(self, response: httpx.Response) -> str:
        reason = response.reason_phrase or ""
        body = ""
        try:
            data = response.json()
            if isinstance(data, dict):
                body = str(data.get("Mensaje") or data.get("Message") or data.get("message") or "")
        except (ValueError, UnicodeDecodeError):
            pass
        generic = {"", "bad request", "conflict", "not found", "unauthorized",
                   "internal server error", "ok"}
        if body and (reason.lower() in generic or len(body) > len(reason)):
            return body
        return reason or body

    # -- lists -------------------------------------------------------------------------------
    async def _list(self, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """An envelope, or None for Dragonfish's 404 'no results'."""
        response = await self.request("GET", path, params=params, decode=True,
                                      ok=lambda s: 200 <= s < 300 or s == 404)
        if response.status_code == 404:
            return None
        data = getattr(response, "data", None)
        if not isinstance(data, dict) or not isinstance(data.get("Resultados"), list):
            raise ProtocolError(f"Dragonfish's answer to {path} has no 'Resultados' list",
                                code="bad_response")
        return data

    async def _catalog_page(self, params: dict[str, Any]) -> CatalogPage | None:
        """A page of ConsultaStockYPrecios (None for the 404 'no results')."""
        response = await self.request("GET", CATALOG, params=params, decode=True,
                                      shape=CATALOG_SHAPE,
                                      ok=lambda s: 200 <= s < 300 or s == 404)
        if response.status_code == 404:
            return None
        data = getattr(response, "data", None)
        code = params.get("lista")
        if isinstance(data, CatalogPage) and code is not None and \
                any(str(r.Lista or "") != code for r in data.Resultados):
            # rows priced in another list: their price is among the row's `Precios`
            data = await asyncio.to_thread(decode_json, response, self.side, PRICED_SHAPE)
        return catalog_page(data)

    # -- price list --------------------------------------------------------------------------
    async def lista_code(self) -> str | None:
        """The configured price list's code, resolved by name once."""
        name = self.config.lista.strip()
        if not name:
            return None
        if self._lista_code is None:
            data = await self._list(self.config.listas_path, {"query": name})
            rows = data["Resultados"] if data else []
            match = [r for r in rows if _fold(str(r.get("Descripcion", ""))) == _fold(name)]
            if not match:
                known = ", ".join(f"'{r.get('Descripcion')}'" for r in rows[:5])
                raise ConfigError(
                    f"erp.lista: Dragonfish has no price list named '{name}'"
                    + (f" (similar: {known})" if known else ""), code="price_list_unknown")
            self._lista_code = str(match[0]["Codigo"])
        return self._lista_code

    # -- catalog -----------------------------------------------------------------------------
    def _row(self, row: Any, code: str | None) -> CatalogItem | RowProblem:
        if not isinstance(row, CatalogRow) or not str(row.Articulo or "").strip():
            shown = msgspec.structs.asdict(row) if isinstance(row, CatalogRow) else row
            return RowProblem("?", f"Dragonfish sent a stock row without 'Articulo': "
                                   f"{shown!r:.120}")
        art = str(row.Articulo).strip()
        color = str(row.Color or "").strip()
        talle = str(row.Talle or "").strip()
        sku = f"{art}!{color}!{talle}" if (color or talle) else art
        raw = getattr(row, self.config.stock_field)
        available = _number(raw)
        if available is None:
            return RowProblem(sku, f"'{self.config.stock_field}' is {raw!r}, not a number")
        price: Decimal | None
        if code is None or str(row.Lista or "") == code:
            price = _number(row.Precio)
            if row.Precio is not None and price is None:
                return RowProblem(sku, f"price {row.Precio!r} is not a number")
        else:
            price = None
            for p in getattr(row, "Precios", None) or []:
                if isinstance(p, dict) and _fold(str(p.get("Lista", ""))) == _fold(self.config.lista):
                    price = _number(p.get("Precio"))
                    if price is None:
                        return RowProblem(sku, f"price {p.get('Precio')!r} is not a number")
        if price is not None and price < 0:
            return RowProblem(sku, f"negative price {price} in Dragonfish")
        return CatalogItem(sku=sku, available=available, price=price)

    def _catalog_params(self, code: str | None, page: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.config.page_size, "page": page,
                                  # without these, items at zero stock or price are left
                                  # out and the store would keep showing their old stock
                                  "stockcero": "true", "preciocero": "true"}
        if code:
            params["lista"] = code
        return params

    async def catalog(self, since: float | None = None
                      ) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        # Dragonfish has no "changed since" filter: always the whole list (diffed by the
        # engine against what was pushed last)
        code = await self.lista_code()
        first = await self._catalog_page(self._catalog_params(code, 1))
        if first is None:
            return
        yield [self._row(r, code) for r in first.Resultados]
        total = first.TotalRegistros
        if not isinstance(total, int) or total < 0:
            raise ProtocolError("Dragonfish's catalog answer has no 'TotalRegistros'",
                                code="bad_response")
        # a server may cap `limit` below ours: page by what it really returns
        per_page = self.config.page_size
        got = len(first.Resultados)
        if 0 < got < per_page and total > got:
            per_page = got
        pages = max(1, math.ceil(total / per_page))
        sem = asyncio.Semaphore(self.config.concurrency)

        async def fetch(page: int) -> CatalogPage | None:
            async with sem:
                return await self._catalog_page(self._catalog_params(code, page))

        # a sliding window: at most `concurrency` requests in flight (the semaphore), and
        # as many pages again asked for ahead, so that requests keep going out while the
        # engine works on a page; nothing held beyond that
        pending: dict[int, asyncio.Task[CatalogPage | None]] = {}
        ahead = 2 * self.config.concurrency
        next_page = 2
        last: CatalogPage | None = first
        try:
            while next_page <= pages or pending:
                while next_page <= pages and len(pending) < ahead:
                    pending[next_page] = asyncio.create_task(fetch(next_page))
                    next_page += 1
                page = min(pending)
                data = await pending.pop(page)
                if data is None:
                    continue
                last = data
                yield [self._row(r, code) for r in data.Resultados]
            # the catalog grew while we paged: keep going while the server says there is more
            while last is not None and last.Siguiente and \
                    len(last.Resultados) >= per_page:
                last = await self._catalog_page(self._catalog_params(code, next_page))
                next_page += 1
                if last is not None:
                    yield [self._row(r, code) for r in last.Resultados]
        finally:
            for task in pending.values():
                task.cancel()

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        code = await self.lista_code()
        params = {"preciocero": "true", "stockcero": "true", "exacto": "true", "query": sku}
        if code:
            params["lista"] = code
        data = await self._catalog_page(params)
        for row in data.Resultados if data else []:
            item = self._row(row, code)
            if item.sku == sku:
                return item
        return None

    # -- customers ---------------------------------------------------------------------------
    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        doc = buyer.document
        wanted_docs = {doc.number} | ({doc.dni} if doc.dni else set())
        queries = [doc.number] + ([doc.dni] if doc.dni and doc.dni != doc.number else [])
        if buyer.buyer.email:
            queries.append(buyer.buyer.email)
        fields = ("NroDocumento", self.config.field_cuit)
        for q in queries:
            data = await self._list(CUSTOMERS, {"query": q})
            for row in data["Resultados"] if data else []:
                if not isinstance(row, dict) or not row.get("Codigo"):
                    continue
                docs = {"".join(ch for ch in str(row.get(f) or "") if ch.isdigit())
                        for f in fields} - {""}
                if doc.kind == "CUIT" and doc.number in docs:
                    return str(row["Codigo"])
                if doc.kind == "DNI" and docs & wanted_docs:
                    return str(row["Codigo"])
                if q == buyer.buyer.email and str(row.get("EMail", "")).strip().lower() == \
                        buyer.buyer.email.lower() and not (docs - wanted_docs):
                    # same e-mail and no conflicting document on file
                    return str(row["Codigo"])
        return None

    async def province_code(self, name: str) -> str | None:
        key = _fold(name)
        if not key:
            return None
        if key in KNOWN_PROVINCES:
            return KNOWN_PROVINCES[key]
        if key not in self._provinces:
            data = await self._list(PROVINCES, {"query": name})
            rows = data["Resultados"] if data else []
            exact = [r for r in rows if _fold(str(r.get("Descripcion", ""))) == key]
            pick = exact or (rows if len(rows) == 1 else [])
            self._provinces[key] = str(pick[0]["Codigo"]) if pick else None
        return self._provinces[key]

    async def customer_body(self, vb: ValidBuyer) -> dict[str, Any]:
        b, doc, cfg = vb.buyer, vb.document, self.config
        body: dict[str, Any] = {"Nombre": b.business_name[:60]}
        nro = doc.dni or doc.number
        if len(nro) <= cfg.nro_documento_max:
            body["NroDocumento"] = nro
        if doc.kind == "CUIT":
            body[cfg.field_cuit] = doc.number
        body[cfg.field_tipo_documento] = cfg.tipo_documento.get(doc.kind, doc.kind)
        code = cfg.situacion_fiscal.get(vb.condition.value)
        if code is None:
            raise ConfigError(f"erp.situacion_fiscal has no code for '{vb.condition.value}'",
                              code="config_field")
        body[cfg.field_situacion_fiscal] = code
        if b.email:
            body["EMail"] = b.email
        if b.phone:
            body["Movil"] = b.phone[:30]
        a = b.address
        street = a.street
        if a.number.isdigit():
            body["Numero"] = int(a.number)
        elif a.number:
            street = f"{street} {a.number}"
        if street:
            body["Calle"] = street[:70]
        if a.floor:
            body["Piso"] = a.floor[:3]
        if a.city:
            body["Localidad"] = a.city[:70]
        if a.postal_code:
            body["CodigoPostal"] = a.postal_code[:8]
        province = await self.province_code(a.province)
        if province:
            body["Provincia"] = province
        lista = await self.lista_code()
        if lista:
            body["ListaDePrecio"] = lista
        return body

    async def create_customer(self, buyer: ValidBuyer) -> str:
        body = await self.customer_body(buyer)
        async with self._write_lock:
            data = await self.call_json("POST", CUSTOMERS, json=body, write=True)
        if not isinstance(data, dict) or not data.get("Codigo"):
            raise AmbiguousWriteError("Dragonfish created a customer but did not say its code",
                                      code="bad_response")
        return str(data["Codigo"])

    # -- orders ------------------------------------------------------------------------------
    async def find_order(self, order: StoreOrder) -> str | None:
        data = await self._list(OPERATIONS, {"Ecommerce": self.config.ecommerce,
                                             "Numero": order.number})
        for row in data["Resultados"] if data else []:
            if isinstance(row, dict) and str(row.get("Numero")) == order.number and row.get("Pedido"):
                return str(row["Pedido"])
        return None

    async def order_body(self, order: StoreOrder, customer_code: str) -> dict[str, Any]:
        cfg = self.config
        lines = []
        for item in order.items:
            art, color, talle = split_sku(item.sku)
            net = (item.unit_price * (Decimal(100) - item.discount_pct) / Decimal(100)).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP)
            lines.append({"Articulo": art, "Color": color, "Talle": talle,
                          "Cantidad": float(item.quantity), "Precio": float(net)})
        obs = " | ".join(x for x in (f"Pedido web {order.number}", order.payment_terms,
                                     order.notes) if x)
        body: dict[str, Any] = {
            "Cliente": customer_code,
            "Motivo": cfg.motivo,
            "NroOPEcommerce": order.number,
            cfg.field_ecommerce: cfg.ecommerce,
            "Obs": obs[:250],
            "FacturaDetalle": lines,
        }
        lista = await self.lista_code()
        if lista:
            body["ListaDePrecios"] = lista
        if cfg.vendedor:
            body["Vendedor"] = cfg.vendedor
        return body

    async def create_order(self, order: StoreOrder, customer_code: str,
                           buyer: ValidBuyer | None = None) -> str:
        body = await self.order_body(order, customer_code)
        try:
            async with self._write_lock:
                data = await self.call_json("POST", ORDERS, json=body, write=True)
        except DataError as exc:
            text = (exc.server_message or "").lower()
            if self.config.duplicate_phrase.lower() in text and "operaci" in text:
                raise DuplicateError(
                    f"Dragonfish already has order {order.number} ({exc.server_message})",
                    server_message=exc.server_message, status=exc.status) from None
            raise
        if not isinstance(data, dict) or not data.get("Codigo"):
            raise AmbiguousWriteError(
                f"Dragonfish accepted order {order.number} but did not say its code",
                code="bad_response")
        return str(data["Codigo"])

    # -- doctor ------------------------------------------------------------------------------
    def token_expiry(self) -> float | None:
        try:
            exp = read_claims(self._token).get("exp")
        except ValueError:
            return None
        return float(exp) if isinstance(exp, (int, float)) else None

    async def checks(self) -> list[Check]:
        out: list[Check] = []
        try:
            await self.request("GET", SERVICE_INFO)
            out.append(Check("ERP reachable", True, self.config.endpoint))
        except BridgeError as exc:
            return [Check("ERP reachable", False, exc.message)]
        exp = self.token_expiry()
        if exp is None:
            out.append(Check("ERP token format", False,
                             "the token is not a JWT; Dragonfish expects the JWT it issued"))
        else:
            days = (exp - time.time()) / 86400
            out.append(Check("ERP token expiry", days > 0,
                             f"expires in {days:.0f} days" if days > 0 else "expired"))
        try:
            await self._list(CATALOG, {"limit": 1, "page": 1})
            out.append(Check("ERP token", True, "accepted"))
        except AuthError as exc:
            out.append(Check("ERP token", False, exc.message))
            return out
        except BridgeError as exc:
            out.append(Check("ERP stock query", False, exc.message))
            return out
        if self.config.lista:
            try:
                code = await self.lista_code()
                out.append(Check("ERP price list", True, f"'{self.config.lista}' = {code}"))
            except (ConfigError, NotFoundError) as exc:
                out.append(Check("ERP price list", False, exc.message))
            except BridgeError as exc:
                out.append(Check("ERP price list", False, exc.message))
        return out


CLIENT = DragonfishClient

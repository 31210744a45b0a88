"""Dragonfish (ZooLogic) connector: see shared/specs/erp-apis.md, section "Dragonfish".

Quirks handled here, so the engine never sees them:
- the token goes raw in `Authorization` (no `Bearer `), the client id in `idCliente`; some
  installs want a session opened first (`POST Autenticar`): after a 401 (once per request),
  or always, by setting;
- answers use each entity's own casing (`CUIT`, `EMail`): every field is read through
  `answers.field`, case-insensitively;
- list answers come in an envelope whose `Siguiente` carries the server's own idea of its
  host: we follow page numbers, never that URL; "no results" is a 404, and an unknown path
  is a 404 HTML page ("Endpoint not found");
- `query` is a substring search (SQL LIKE) over several columns: every hit is re-checked
  exactly; `GET Entity/{code}/` may answer 200 `{}` for an unknown code: a record exists
  only when the answer carries that code;
- errors arrive in the HTTP reason phrase (sometimes also in a `Mensaje` body);
- concurrent writes answer 409 (retried 5 times, 1 s apart) — writes are serialized here.

Exactly once needs an ERP-side key that Bridge controls (a `Pedido` has no external-number
field). Two order modes (`erp.modo_pedidos`):
- `operacion`: an `Operacionecommerce` with the platform code and the store's order number;
  Dragonfish refuses a second one ("La combinación de plataforma y número de operación ya
  existe") and makes the Pedido itself, listed in the operation's `CompAfec`;
- `pedido`: a `Pedido` whose `Obs` starts with an unambiguous marker of the store's order
  number (`erp.marcador_obs`), looked up with `query` and re-checked exactly before any resend.
Customers get a `Codigo` derived from the buyer's document (`erp.codigo_cliente`), so that
Dragonfish itself refuses a second creation and a lost reply is settled by reading it back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from contextlib import aclosing
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import msgspec

from bridge.errors import (
    AmbiguousWriteError,
    AuthError,
    BridgeError,
    ConfigError,
    DataError,
    DuplicateError,
    OrderConfigError,
    ProtocolError,
    TransientError,
)
from bridge.fiscal import Document, TaxCondition
from bridge.http import (
    Reply,
    RetryPolicy,
    decode_json,
    looks_html,
    make_client,
    tls_verify,
)
from bridge.model import (
    Capabilities,
    CatalogItem,
    Check,
    Finding,
    RowProblem,
    StoreOrder,
    ValidBuyer,
)
from bridge.numbers import catalog_item, to_decimal
from bridge.paging import PageGuard, count
from connectors.dragonfish.answers import digits, field, fold, name_key, results, same_code, text
from connectors.dragonfish.config import DragonfishConfig
from connectors.dragonfish.jwt import read_claims
from connectors.kit import ErpClient

CATALOG = "ConsultaStockYPrecios/"
CUSTOMERS = "Cliente/"
ORDERS = "Pedido/"
OPERATIONS = "Operacionecommerce/"
AUTHENTICATE = "Autenticar"
SWAGGER = "swagger.json"
PROVINCES = "Provincia/"
SERVICE_INFO = "ObtenerInformacionServicio"

KNOWN_PROVINCES = {
    "ciudad autonoma de buenos aires": "00",
    "caba": "00",
    "capital federal": "00",
    "buenos aires": "01",
    "provincia de buenos aires": "01",
}


def split_sku(sku: str) -> tuple[str, str, str]:
    parts = sku.split("!")
    if len(parts) == 1:
        return parts[0], "", ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise DataError(f"SKU '{sku}' is neither ARTICULO nor ARTICULO!COLOR!TALLE", code="sku_format")


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
        return cls(**{f: field(row, f) for f in cls.__struct_fields__})


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
    if not isinstance(data, dict) or not isinstance(field(data, "Resultados"), list):
        raise ProtocolError(
            f"Dragonfish's answer to {CATALOG} has no 'Resultados' list", code="bad_response"
        )
    return CatalogPage(
        [PricedRow.of(r) for r in results(data)],
        field(data, "TotalRegistros"),
        field(data, "Siguiente"),
    )


def _row_keys(page: CatalogPage | None) -> Iterable[Any]:
    """What tells a catalog page's rows apart (for PageGuard): each row's variant (a row
    without an article: the row itself)."""
    for r in page.Resultados if page is not None else ():
        yield (
            (r.Articulo, r.Color, r.Talle)
            if isinstance(r, CatalogRow) and r.Articulo not in (None, "")
            else r
        )


async def _cancel(tasks: dict[int, asyncio.Task[Any]]) -> None:
    """Drop the pages in flight (the listing ended, failed, or its reader stopped early),
    collecting them so that no failure is left unretrieved."""
    for task in tasks.values():
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    tasks.clear()


# the store's IVA conditions and the document kinds, as Dragonfish's tables name them
CONDITION_NAMES: dict[TaxCondition, tuple[str, ...]] = {
    TaxCondition.RESPONSABLE_INSCRIPTO: (
        "responsable inscripto",
        "iva responsable inscripto",
        "resp inscripto",
    ),
    TaxCondition.CONSUMIDOR_FINAL: ("consumidor final",),
    TaxCondition.MONOTRIBUTO: (
        "monotributo",
        "responsable monotributo",
        "monotributista",
        "resp monotributo",
    ),
    TaxCondition.EXENTO: ("exento", "iva exento", "sujeto exento", "iva sujeto exento"),
}
DOCUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "DNI": ("dni", "documento nacional de identidad"),
    "CUIT": ("cuit", "clave unica de identificacion tributaria"),
}
# pages read when looking a record up (a LIKE search can match many); bounded
LOOKUP_PAGES = 20
LOOKUP_LIMIT = 200


class NoSuchEntity(ConfigError):
    """The install serves no such entity (a 404 HTML page, "Endpoint not found")."""

    default_code = "entity_missing"


def match_name(table: Mapping[str, str] | None, names: Iterable[str]) -> str | None:
    """The code whose description is one of `names` (compared by `name_key`), if exactly
    one is."""
    if not table:
        return None
    wanted = {name_key(n) for n in names}
    hits = [code for code, desc in table.items() if name_key(desc) in wanted]
    return hits[0] if len(hits) == 1 else None


class DragonfishClient(ErpClient):
    kind: ClassVar[str] = "dragonfish"
    capabilities: ClassVar[Capabilities] = Capabilities(
        orders=True, customers=True, incremental_catalog=False, sku_lookup=True, write_concurrency=1
    )
    side = "Dragonfish"
    secret_names = ("erp.token",)
    config: DragonfishConfig

    def __init__(
        self,
        config: DragonfishConfig,
        secrets: Mapping[str, str] | str,
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        # the token goes in every request and in the Autenticar body
        super().__init__(
            config, {"erp.token": secrets} if isinstance(secrets, str) else secrets, policy, client
        )
        self._lista_code: str | None = None
        self._provinces: dict[str, str | None] = {}
        self._tables: dict[str, dict[str, str] | None] = {}
        self._template: dict[str, Any] | None = None
        # sessions opened with Autenticar (a generation number: requests that saw the same
        # one fail together and open one new session between them)
        self.sessions = 0
        self._session_lock = asyncio.Lock()

    @property
    def _token(self) -> str:
        return self.secrets["erp.token"]

    def base_url(self) -> str:
        return self.config.endpoint

    def http_client(self) -> httpx.AsyncClient:
        """The pooled client, with the headers every request carries (the token among
        them)."""
        config = self.config
        headers = {
            "idCliente": config.cliente,
            "Authorization": self._token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if config.base_de_datos:
            headers["BaseDeDatos"] = config.base_de_datos
        return make_client(
            self.base_url(),
            timeout_s=config.timeout_s,
            verify=tls_verify(config),
            headers=headers,
            max_connections=config.concurrency + 2,
        )

    # -- errors ------------------------------------------------------------------------------
    def error_message(self, response: httpx.Response) -> str:
        reason = response.reason_phrase or ""
        body = ""
        try:
            data = response.json()
            body = str(field(data, "Mensaje") or field(data, "Message") or "")
        except (ValueError, UnicodeDecodeError):
            pass
        generic = {
            "",
            "bad request",
            "conflict",
            "not found",
            "unauthorized",
            "internal server error",
            "ok",
        }
        if body and (reason.lower() in generic or len(body) > len(reason)):
            return body
        return reason or body

    def _says_duplicate(self, folded: str) -> bool:
        return fold(self.config.duplicate_phrase) in folded

    def classify(self, response: httpx.Response, message: str, *, write: bool) -> BridgeError:
        """A refusal of a duplicate key (a repeated operation, a customer code taken) is a
        refusal whatever its 4xx status: a 409 that says "ya existe" is not Dragonfish being
        busy, and retrying it cannot help."""
        status = response.status_code
        if (
            400 <= status < 500
            and status not in (401, 403, 429)
            and self._says_duplicate(fold(message))
        ):
            return DataError(
                f"Dragonfish refused the request (HTTP {status}: {message})",
                status=status,
                server_message=message,
            )
        return super().classify(response, message, write=write)

    # -- session -----------------------------------------------------------------------------
    async def request(self, method: str, url: str, **kw: Any) -> Reply:
        """HttpSide.request, with a session opened by `Autenticar` where the install
        wants one: before the first request ("siempre"), or after a 401, once ("auto")."""
        mode = self.config.autenticar
        if url == AUTHENTICATE or mode == "nunca":
            return await super().request(method, url, **kw)
        if mode == "siempre" and self.sessions == 0:
            await self.open_session(0)
        seen = self.sessions
        try:
            return await super().request(method, url, **kw)
        except AuthError as exc:
            if exc.status != 401:
                raise
            # a refused request changed nothing: after a new session it can be sent again
            if not await self.open_session(seen, quiet=True):
                raise
        return await super().request(method, url, **kw)

    async def open_session(self, seen: int, *, quiet: bool = False) -> bool:
        """POST Autenticar unless another request already did since generation `seen`.
        False (with `quiet`) when Dragonfish refuses it: the caller's own error says more."""
        async with self._session_lock:
            if self.sessions != seen:
                return True
            try:
                await super().request(
                    "POST",
                    AUTHENTICATE,
                    json={"IdCliente": self.config.cliente, "JWToken": self._token},
                )
            except AuthError:
                if quiet:
                    return False
                raise
            self.sessions += 1
            return True

    def _served(self, reply: Reply, path: str) -> None:
        """A 404 is "no results", unless it is the HTML page of a path the install does not
        serve ("Endpoint not found")."""
        if looks_html(reply):
            raise NoSuchEntity(
                f"Dragonfish serves no '{path}' at {self.config.endpoint} (HTTP 404, Endpoint "
                "not found): check erp.endpoint, or this install's version",
                status=404,
            )

    # -- reading -----------------------------------------------------------------------------
    async def list_page(self, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """An envelope, or None for Dragonfish's 404 'no results'. NoSuchEntity when the
        install serves no such path."""
        reply = await self.request(
            "GET", path, params=params, decode=True, ok=lambda s: 200 <= s < 300 or s == 404
        )
        if reply.status == 404:
            self._served(reply, path)
            return None
        data = reply.data
        if not isinstance(data, dict) or not isinstance(field(data, "Resultados"), list):
            raise ProtocolError(
                f"Dragonfish's answer to {path} has no 'Resultados' list", code="bad_response"
            )
        return data

    async def rows(
        self, path: str, params: Mapping[str, Any], pages: int = LOOKUP_PAGES
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The rows of a listing, page after page, objects only. The end is where the
        rows received reach `TotalRegistros` (a server may cap `limit` below ours), or an
        empty page, or a short page without `Siguiente`. A listing longer than `pages`
        pages raises: a lookup that stopped early must not be taken for "not found"; so
        does a page that repeats an earlier one (a server that ignores `page`)."""
        seen = 0
        guard = PageGuard(self.side, path, max_pages=pages)
        for page in range(1, pages + 1):
            data = await self.list_page(path, {**params, "limit": LOOKUP_LIMIT, "page": page})
            got = results(data)
            guard.page(page, (text(r, "Codigo") or r for r in got))
            seen += len(got)
            for row in got:
                if isinstance(row, dict):
                    yield row
            total = count(field(data, "TotalRegistros"))
            if (
                not got
                or (total is not None and seen >= total)
                or (total is None and not field(data, "Siguiente") and len(got) < LOOKUP_LIMIT)
            ):
                return
        raise TransientError(
            f"Dragonfish lists more than {pages} pages for {path} {dict(params)}; the lookup "
            "stopped there, so nothing is created or sent on its account",
            code="lookup_incomplete",
        )

    async def lookup(
        self,
        path: str,
        params: Mapping[str, Any],
        exact: Callable[[dict[str, Any]], bool],
        pages: int = LOOKUP_PAGES,
        *,
        coded: bool = True,
    ) -> tuple[dict[str, Any] | None, int]:
        """The first row of a listing that passes the exact re-check (and, with `coded`,
        carries a `Codigo`), and how many rows were read to find it (or not)."""
        listed = 0
        async with aclosing(self.rows(path, params, pages)) as rows:
            async for row in rows:
                listed += 1
                if (text(row, "Codigo") or not coded) and exact(row):
                    return row, listed
        return None, listed

    async def first(
        self,
        path: str,
        params: Mapping[str, Any],
        exact: Callable[[dict[str, Any]], bool],
        pages: int = LOOKUP_PAGES,
        *,
        coded: bool = True,
    ) -> dict[str, Any] | None:
        return (await self.lookup(path, params, exact, pages, coded=coded))[0]

    async def read(self, path: str, code: str) -> dict[str, Any] | None:
        """One record by its code, or None. Some versions answer 200 with `{}` (or an empty
        body) for an unknown code: a record exists only if the answer carries that code."""
        reply = await self.request(
            "GET", f"{path}{quote(code.strip(), safe='')}/", ok=lambda s: 200 <= s < 300 or s == 404
        )
        if reply.status == 404:
            self._served(reply, path)
            return None
        if not reply.content.strip():
            return None
        data = decode_json(reply, self.side)
        if isinstance(data, dict) and same_code(text(data, "Codigo"), code):
            return data
        return None

    async def table(self, path: str) -> dict[str, str] | None:
        """A code table of the install (Codigo -> Descripcion or Nombre), read once; None
        when the install does not serve it."""
        if path not in self._tables:
            try:
                self._tables[path] = {
                    text(r, "Codigo"): text(r, "Descripcion") or text(r, "Nombre")
                    async for r in self.rows(path, {}, pages=5)
                    if text(r, "Codigo")
                }
            except NoSuchEntity:
                self._tables[path] = None
        return self._tables[path]

    # -- price list --------------------------------------------------------------------------
    async def price_lists(self, query: str | None = None) -> list[tuple[str, str]]:
        """(Codigo, Nombre) of the price lists, all or those a `query` finds."""
        params = {"query": query} if query else {}
        return [
            (text(r, "Codigo"), text(r, "Nombre"))
            async for r in self.rows(self.config.listas_path, params, pages=5)
        ]

    async def lista_code(self) -> str | None:
        """The configured price list's code, resolved once by an exact (case-, accent- and
        space-insensitive) match on the list's `Nombre`."""
        name = self.config.lista.strip()
        if not name:
            return None
        if self._lista_code is None:
            lists = await self.price_lists(name)
            match = {c for c, n in lists if fold(n) == fold(name)}
            if not match:
                # the LIKE search can miss what an exact match finds (`$`, spacing): all
                lists = await self.price_lists()
                match = {c for c, n in lists if fold(n) == fold(name)}
            if not match:
                known = ", ".join(f"'{n}'" if n else f"code {c} (no Nombre)" for c, n in lists)
                raise ConfigError(
                    f"erp.lista: Dragonfish has no price list named '{name}'; its lists are: "
                    + (known or "none"),
                    code="price_list_unknown",
                )
            if len(match) > 1:
                raise ConfigError(
                    f"erp.lista: several Dragonfish price lists are named "
                    f"'{name}' (codes {', '.join(sorted(match))})",
                    code="price_list_ambiguous",
                )
            self._lista_code = match.pop()
        return self._lista_code

    # -- catalog -----------------------------------------------------------------------------
    async def _catalog_page(self, params: dict[str, Any]) -> CatalogPage | None:
        """A page of ConsultaStockYPrecios (None for the 404 'no results')."""
        reply = await self.request(
            "GET",
            CATALOG,
            params=params,
            decode=True,
            shape=CATALOG_SHAPE,
            ok=lambda s: 200 <= s < 300 or s == 404,
        )
        if reply.status == 404:
            self._served(reply, CATALOG)
            return None
        data = reply.data
        code = params.get("lista")
        if (
            isinstance(data, CatalogPage)
            and code is not None
            and any(str(r.Lista or "") != code for r in data.Resultados)
        ):
            # rows priced in another list: their price is among the row's `Precios`
            data = await asyncio.to_thread(decode_json, reply, self.side, PRICED_SHAPE)
        return catalog_page(data)

    def _row(self, row: Any, code: str | None) -> CatalogItem | RowProblem:
        if not isinstance(row, CatalogRow) or not str(row.Articulo or "").strip():
            shown = msgspec.structs.asdict(row) if isinstance(row, CatalogRow) else row
            return RowProblem(
                "?", f"Dragonfish sent a stock row without 'Articulo': {shown!r:.120}"
            )
        art = str(row.Articulo).strip()
        color = str(row.Color or "").strip()
        talle = str(row.Talle or "").strip()
        sku = f"{art}!{color}!{talle}" if (color or talle) else art
        raw = getattr(row, self.config.stock_field)
        available = to_decimal(raw)
        if available is None:
            return RowProblem(sku, f"'{self.config.stock_field}' is {raw!r}, not a number")
        price: Decimal | None
        if code is None or str(row.Lista or "") == code:
            price = to_decimal(row.Precio)
            if row.Precio is not None and price is None:
                return RowProblem(sku, f"price {row.Precio!r} is not a number")
        else:
            price = None
            for p in getattr(row, "Precios", None) or []:
                if fold(text(p, "Lista")) == fold(self.config.lista):
                    price = to_decimal(field(p, "Precio"))
                    if price is None:
                        return RowProblem(sku, f"price {field(p, 'Precio')!r} is not a number")
        if price is not None and price < 0:
            return RowProblem(sku, f"negative price {price} in Dragonfish")
        return catalog_item(sku, available, price, stock_name=f"'{self.config.stock_field}'")

    def _catalog_params(self, code: str | None, page: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "limit": self.config.page_size,
            "page": page,
            # without these, items at zero stock or price are left
            # out and the store would keep showing their old stock
            "stockcero": "true",
            "preciocero": "true",
        }
        if code:
            params["lista"] = code
        return params

    async def catalog(
        self, since: float | None = None
    ) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        # Dragonfish has no "changed since" filter: always the whole list (diffed by the
        # engine against what was pushed last)
        code = await self.lista_code()
        guard = PageGuard(
            self.side,
            f"the catalog ({CATALOG})",
            max_pages=self.config.max_pages,
            setting="erp.max_pages",
        )
        first = await self._catalog_page(self._catalog_params(code, 1))
        if first is None:
            return
        guard.page(1, _row_keys(first))
        yield [self._row(r, code) for r in first.Resultados]
        total = count(first.TotalRegistros)
        if total is None:
            raise ProtocolError(
                "Dragonfish's catalog answer has no 'TotalRegistros'", code="bad_response"
            )
        # a server may cap `limit` below ours: page by what it really returns
        per_page = self.config.page_size
        got = len(first.Resultados)
        if 0 < got < per_page and total > got:
            per_page = got
        # the pages TotalRegistros makes, read until an empty (404) or short page
        pages = 1 if guard.last(got, per_page) else guard.planned(total, per_page)
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
                last = await pending.pop(page)
                rows = last.Resultados if last is not None else []
                guard.page(page, _row_keys(last))
                if rows:
                    yield [self._row(r, code) for r in rows]
                if guard.last(len(rows), per_page):
                    # the end, whatever TotalRegistros said: the pages asked for beyond it
                    # are dropped
                    pages = page
                    await _cancel(pending)
            # the catalog grew while we paged: keep going while the server says there is more
            while last is not None and last.Siguiente and len(last.Resultados) >= per_page:
                last = await self._catalog_page(self._catalog_params(code, next_page))
                guard.page(next_page, _row_keys(last))
                next_page += 1
                if last is not None:
                    yield [self._row(r, code) for r in last.Resultados]
        finally:
            await _cancel(pending)
        guard.finish(total, per_page)

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        code = await self.lista_code()
        # the article (a server's exact search may know articles only); the variant is
        # picked below
        params = {
            "preciocero": "true",
            "stockcero": "true",
            "exacto": "true",
            "query": split_sku(sku)[0],
            "limit": 1000,
        }
        if code:
            params["lista"] = code
        data = await self._catalog_page(params)
        for row in data.Resultados if data else []:
            item = self._row(row, code)
            if item.sku == sku:
                return item
        return None

    # -- customers ---------------------------------------------------------------------------
    def customer_key(self, buyer: ValidBuyer) -> str | None:
        """The `Codigo` a new customer for this buyer gets (see `erp.codigo_cliente`), or
        None when Dragonfish assigns it."""
        doc, scheme = buyer.document, self.config.codigo_cliente
        if scheme == "auto":
            return None
        if doc.kind == "DNI":
            return doc.number
        if scheme == "dni" and doc.dni:
            return doc.dni
        return doc.number[:10]

    @staticmethod
    def is_buyer(row: Mapping[str, Any], doc: Document) -> bool:
        """Whether a Cliente record is this buyer, by the documents on file (exact)."""
        cuit = digits(field(row, "Cuit"))
        nro = digits(field(row, "NroDocumento")).lstrip("0")
        if doc.kind == "CUIT":
            if cuit:
                return cuit == doc.number
            return nro in {doc.number, doc.dni or "-"}
        if cuit:
            return Document("CUIT", cuit).dni == doc.number if len(cuit) == 11 else False
        return nro == doc.number.lstrip("0")

    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        """The buyer's customer code. Asked at once (each hit re-checked exactly), taken in
        this order: the code Bridge would give them, the exact CUIT and document filters, a
        DNI typed with dots, the e-mail (with no document on file that says otherwise).
        Where an install ignored a filter (it listed others), the free-text search too."""
        doc = buyer.document
        key = self.customer_key(buyer)

        def same(row: dict[str, Any]) -> bool:
            return self.is_buyer(row, doc)

        async def by_key() -> tuple[dict[str, Any] | None, int]:
            row = await self.read(CUSTOMERS, key) if key else None
            return (row if row is not None and same(row) else None), 0

        email = buyer.buyer.email.strip().lower()

        def same_email(row: dict[str, Any]) -> bool:
            on_file = {digits(field(row, f)) for f in ("Cuit", "NroDocumento")} - {""}
            return text(row, "EMail").lower() == email and not on_file

        filters = ([{"Cuit": doc.number}] if doc.kind == "CUIT" else []) + (
            [{"NroDocumento": doc.dni}] if doc.dni else []
        )
        asks = [by_key(), *(self.lookup(CUSTOMERS, f, same, pages=5) for f in filters)]
        if doc.dni:
            # a DNI typed with its dots in the office ("12.345.678") escapes the filter
            dotted = f"{int(doc.dni):,}".replace(",", ".")
            asks.append(self.lookup(CUSTOMERS, {"query": dotted}, same, pages=5))
        if email:
            asks.append(self.lookup(CUSTOMERS, {"query": email}, same_email, pages=5))
        answers = await asyncio.gather(*asks)
        for found, _ in answers:
            if found is not None:
                return text(found, "Codigo")
        ignored = any(listed for _, listed in answers[1 : 1 + len(filters)])
        if ignored or not filters:
            for n in dict.fromkeys((doc.number, doc.dni)):
                if n:
                    found, _ = await self.lookup(CUSTOMERS, {"query": n}, same, pages=5)
                    if found is not None:
                        return text(found, "Codigo")
        return None

    async def province_code(self, name: str) -> str | None:
        key = fold(name)
        if not key:
            return None
        if key in KNOWN_PROVINCES:
            return KNOWN_PROVINCES[key]
        if key not in self._provinces:
            rows = [r async for r in self.rows(PROVINCES, {"query": name}, pages=2)]
            exact = [r for r in rows if fold(text(r, "Descripcion")) == key]
            pick = exact or (rows if len(rows) == 1 else [])
            self._provinces[key] = text(pick[0], "Codigo") if pick else None
        return self._provinces[key]

    async def template(self) -> dict[str, Any] | None:
        """The template customer (`erp.cliente_plantilla`), read once."""
        code = self.config.cliente_plantilla.strip()
        if not code:
            return None
        if self._template is None:
            row = await self.read(CUSTOMERS, code)
            if row is None:
                raise ConfigError(
                    f"erp.cliente_plantilla: Dragonfish has no customer with code '{code}'",
                    code="template_unknown",
                )
            self._template = row
        return self._template

    async def situacion_fiscal(self, condition: TaxCondition) -> str:
        """Dragonfish's code for an IVA condition: the setting, else the install's own
        table by name. Never guessed."""
        code = self.config.situacion_fiscal.get(condition.value)
        if code:
            return code
        found = match_name(
            await self.table(self.config.situaciones_path), CONDITION_NAMES[condition]
        )
        if found:
            return found
        raise OrderConfigError(
            f"Bridge does not know Dragonfish's SituacionFiscal code for "
            f"'{condition.value.replace('_', ' ')}': set erp.situacion_fiscal."
            f"{condition.value} (`bridge doctor` lists the install's codes)",
            code="fiscal_code_unknown",
        )

    async def tipo_documento(self, kind: str) -> str | None:
        """Dragonfish's TipoDocumento code for "DNI" or "CUIT": the setting, else the
        install's table by name, else the template customer's when its document is of that
        kind; None when unknown."""
        code = self.config.tipo_documento.get(kind)
        if code:
            return code
        found = match_name(await self.table(self.config.tipos_documento_path), DOCUMENT_NAMES[kind])
        if found:
            return found
        tpl = await self.template()
        if tpl is not None and text(tpl, "TipoDocumento"):
            nro = digits(field(tpl, "NroDocumento"))
            tpl_kind = "CUIT" if len(nro) == 11 else "DNI" if len(nro) in (7, 8) else ""
            if tpl_kind == kind:
                return text(tpl, "TipoDocumento")
        return None

    async def customer_body(self, vb: ValidBuyer) -> dict[str, Any]:
        b, doc, cfg = vb.buyer, vb.document, self.config
        body: dict[str, Any] = {}
        tpl = await self.template()
        for name in cfg.plantilla_campos:
            value = field(tpl, name)
            if value not in (None, ""):
                body[name] = value
        key = self.customer_key(vb)
        if key:
            body["Codigo"] = key
        body["Nombre"] = b.business_name[:60]
        # TipoDocumento describes NroDocumento: a person's DNI (also inside a CUIT), or a
        # company's CUIT where the field is long enough; the CUIT itself goes in `Cuit`
        if doc.kind == "CUIT":
            body["Cuit"] = doc.number
        nro, nro_kind = (doc.dni, "DNI") if doc.dni else (doc.number, doc.kind)
        if len(nro) <= cfg.nro_documento_max:
            body["NroDocumento"] = nro
            tipo = await self.tipo_documento(nro_kind)
            if tipo:
                body["TipoDocumento"] = tipo
        situacion = await self.situacion_fiscal(vb.condition)
        body["SituacionFiscal"] = int(situacion) if situacion.isdigit() else situacion
        if b.email:
            body["Email"] = b.email
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
        if cfg.vendedor:
            body["Vendedor"] = cfg.vendedor
        return body

    def _refusal(self, exc: DataError, what: str, body: Mapping[str, Any]) -> BridgeError:
        """A refused write, said in terms of the setting that fixes it where there is one."""
        said = fold(exc.server_message or exc.message)
        if "situacion fiscal" in said:
            return OrderConfigError(
                f"Dragonfish refused {what}: SituacionFiscal "
                f"{field(body, 'SituacionFiscal')!r} is not in this install's table "
                f"({exc.server_message}); set erp.situacion_fiscal to this install's codes "
                "(`bridge doctor` lists them)",
                code="fiscal_code_refused",
                server_message=exc.server_message,
                status=exc.status,
            )
        if "tipo de documento" in said or "tipodocumento" in said:
            return OrderConfigError(
                f"Dragonfish refused {what}: TipoDocumento "
                f"{field(body, 'TipoDocumento')!r} is not in this install's table "
                f"({exc.server_message}); set erp.tipo_documento to this install's codes "
                "(`bridge doctor` lists them)",
                code="document_code_refused",
                server_message=exc.server_message,
                status=exc.status,
            )
        if "motivo" in said:
            return ConfigError(
                f"erp.motivo: Dragonfish refused {what}: {exc.server_message}",
                code="motivo_refused",
                server_message=exc.server_message,
            )
        if "plataforma" in said and ("no existe" in said or "inexistente" in said):
            return ConfigError(
                f"erp.ecommerce: Dragonfish has no e-commerce platform "
                f"'{self.config.ecommerce}' ({exc.server_message}); set the code of the "
                "platform configured in Dragonfish",
                code="platform_unknown",
                server_message=exc.server_message,
            )
        if "lista" in said and ("no existe" in said or "inexistente" in said):
            return ConfigError(
                f"erp.lista: Dragonfish refused {what}: {exc.server_message}",
                code="price_list_refused",
                server_message=exc.server_message,
            )
        return exc

    async def create_customer(self, buyer: ValidBuyer) -> str:
        body = await self.customer_body(buyer)
        key = body.get("Codigo")
        who = f"customer {buyer.buyer.business_name} ({buyer.document.formatted()})"
        try:
            async with self.write_lock:
                data = await self.call_json("POST", CUSTOMERS, json=body, write=True)
        except AmbiguousWriteError:
            if key:
                row = await self.read(CUSTOMERS, key)
                if row is not None and self.is_buyer(row, buyer.document):
                    return str(key)
            raise
        except DataError as exc:
            if not key or not self._says_duplicate(fold(exc.server_message)):
                raise self._refusal(exc, who, body) from None
            # the code is taken: by this buyer (an earlier creation whose reply was lost)...
            row = await self.read(CUSTOMERS, key)
            if row is not None and self.is_buyer(row, buyer.document):
                return str(key)
            # ...or by somebody else
            other = f"'{text(row, 'Nombre')}'" if row else "another customer"
            raise DataError(
                f"Cannot create {who} in Dragonfish: code {key} already belongs to {other}, "
                "with other documents. Set erp.codigo_cliente to 'auto' (Dragonfish assigns "
                "codes) or 'cuit10', or fix that customer in Dragonfish",
                code="customer_code_taken",
                server_message=exc.server_message,
                status=exc.status,
            ) from None
        code = text(data, "Codigo") or str(key or "")
        if not code:
            raise AmbiguousWriteError(
                "Dragonfish created a customer but did not say its code", code="bad_response"
            )
        return code

    # -- orders ------------------------------------------------------------------------------
    def orders_keyed(self) -> bool:
        """Only an operation is refused a second time (its platform and number are unique);
        a Pedido has no such key: a send whose answer was lost waits for the settle window
        when the lookup by its marker does not find it yet."""
        return self.config.modo_pedidos == "operacion"

    def marker(self, order: StoreOrder) -> str:
        """What starts the Obs of every document Bridge makes for this store order."""
        return self.config.marcador_obs.format(numero=order.number.strip())

    @staticmethod
    def has_marker(obs: str, marker: str) -> bool:
        """`obs` starts with exactly `marker`, alone or followed by Bridge's " | "
        separator (VXM:VM-00012 is not VXM:VM-000123, nor VXM:VM-00012.1)."""
        return re.match(re.escape(marker) + r"\s*(\||$)", obs.strip(), re.IGNORECASE) is not None

    def _obs(self, order: StoreOrder) -> str:
        parts = (self.marker(order), f"Pedido web {order.number}", order.payment_terms, order.notes)
        return " | ".join(x.strip() for x in parts if x and x.strip())[:250]

    @staticmethod
    def _lines(order: StoreOrder) -> list[tuple[dict[str, Any], Decimal]]:
        """Each item as a detail line (the net unit price: the store's discount applied)
        with its amount."""
        out = []
        for item in order.items:
            net = (item.unit_price * (Decimal(100) - item.discount_pct) / Decimal(100)).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP
            )
            art, color, talle = split_sku(item.sku)
            out.append(
                (
                    {
                        "Articulo": art,
                        "Color": color,
                        "Talle": talle,
                        "Cantidad": item.quantity,
                        "Precio": float(net),
                    },
                    net * item.quantity,
                )
            )
        return out

    def operation_body(
        self, order: StoreOrder, customer_code: str, buyer: ValidBuyer | None
    ) -> dict[str, Any]:
        lines = self._lines(order)
        return {
            "Ecommerce": self.config.ecommerce,
            "Numero": order.number.strip(),
            "ClienteEcom": (buyer.buyer.id if buyer else "") or order.buyer.id,
            "ClienteDragon": customer_code,
            "TipoComprobante": "Pedido",
            "PublicacionDetalle": [
                {**line, "Descuento": 0, "Monto": float(amount)} for line, amount in lines
            ],
            "Total": float(sum((amount for _, amount in lines), Decimal(0))),
            "Obs": self._obs(order),
        }

    async def order_body(self, order: StoreOrder, customer_code: str) -> dict[str, Any]:
        cfg = self.config
        lines = [line for line, _ in self._lines(order)]
        body: dict[str, Any] = {
            "Cliente": customer_code,
            "Motivo": cfg.motivo,
            "Obs": self._obs(order),
            "FacturaDetalle": lines,
        }
        lista = await self.lista_code()
        if lista:
            body["ListaDePrecios"] = lista
        if cfg.vendedor:
            body["Vendedor"] = cfg.vendedor
        return body

    @staticmethod
    def operation_reference(row: Mapping[str, Any]) -> str | None:
        """The ERP reference of an operation: the Pedido Dragonfish made from it (its
        `CompAfec`), else the operation itself."""
        made = [c for c in (field(row, "CompAfec") or []) if text(c, "Codigo")]
        pedidos = [c for c in made if "pedido" in fold(text(c, "TipoCompCaracter"))]
        pick = (pedidos or made or [None])[0]
        if pick is not None:
            return text(pick, "Codigo")
        return f"Operacionecommerce {text(row, 'Codigo')}" if text(row, "Codigo") else None

    async def _find_operation(
        self, order: StoreOrder, *, thorough: bool = True
    ) -> dict[str, Any] | None:
        """The operation for this store order: by the exact filters, then (`thorough`)
        by the free-text search, each hit re-checked exactly."""
        number, eco = order.number.strip(), self.config.ecommerce

        def exact(row: dict[str, Any]) -> bool:
            return same_code(text(row, "Numero"), number) and same_code(text(row, "Ecommerce"), eco)

        searches: list[dict[str, str]] = [{"Ecommerce": eco, "Numero": number}]
        if thorough:
            searches.append({"query": number})
        for params in searches:
            # an operation's rows need not carry a Codigo of their own
            found = await self.first(OPERATIONS, params, exact, coded=False)
            if found is not None:
                return found
        return None

    async def _find_pedido(self, order: StoreOrder) -> str | None:
        marker = self.marker(order)
        found = await self.first(
            ORDERS, {"query": marker}, lambda row: self.has_marker(text(row, "Obs"), marker)
        )
        return text(found, "Codigo") if found is not None else None

    async def find_order(self, order: StoreOrder) -> str | None:
        """The document already made for this store order, by the current mode's key and
        then the other's (an order sent before the mode was changed)."""
        if self.config.modo_pedidos == "operacion":
            op = await self._find_operation(order)
            if op is not None:
                return self.operation_reference(op)
            try:
                return await self._find_pedido(order)
            except NoSuchEntity:
                return None
        found = await self._find_pedido(order)
        if found:
            return found
        try:
            # sent as an operation before the mode changed (rare: the exact filter only)
            op = await self._find_operation(order, thorough=False)
        except NoSuchEntity:
            return None
        return self.operation_reference(op) if op is not None else None

    def _stock_refusal(self, exc: DataError, order: StoreOrder) -> DataError | None:
        said = exc.server_message or exc.message
        if self.config.stock_phrase.lower() not in fold(said):
            return None
        skus = [
            i.sku
            for i in order.items
            if i.sku.lower() in said.lower() or split_sku(i.sku)[0].lower() in said.lower()
        ]
        skus = skus or [i.sku for i in order.items]
        return DataError(
            f"Dragonfish refused order {order.number} for lack of stock of "
            f"{', '.join(skus)} ({said}). Adjust the order or the stock, then retry it",
            code="out_of_stock",
            server_message=exc.server_message,
            status=exc.status,
        )

    async def create_order(
        self, order: StoreOrder, customer_code: str, buyer: ValidBuyer | None = None
    ) -> str:
        operation = self.config.modo_pedidos == "operacion"
        if operation:
            path, body = OPERATIONS, self.operation_body(order, customer_code, buyer)
        else:
            path, body = ORDERS, await self.order_body(order, customer_code)
        try:
            async with self.write_lock:
                data = await self.call_json("POST", path, json=body, write=True)
        except DataError as exc:
            said = fold(exc.server_message)
            if (
                operation
                and self._says_duplicate(said)
                and ("plataforma" in said or "operaci" in said)
            ):
                raise DuplicateError(
                    f"Dragonfish already has order {order.number} ({exc.server_message})",
                    server_message=exc.server_message,
                    status=exc.status,
                ) from None
            raise (
                self._stock_refusal(exc, order) or self._refusal(exc, f"order {order.number}", body)
            ) from None
        ref = (
            self.operation_reference(data)
            if operation and isinstance(data, dict)
            else text(data, "Codigo") or None
        )
        if operation and (ref is None or ref.startswith("Operacionecommerce")):
            # an answer without CompAfec: the operation's own record says what was made
            op = await self._find_operation(order)
            ref = self.operation_reference(op) if op is not None else ref
        if not ref:
            raise AmbiguousWriteError(
                f"Dragonfish accepted order {order.number} but did not say its code",
                code="bad_response",
            )
        return ref

    # -- doctor ------------------------------------------------------------------------------
    def token_expiry(self) -> float | None:
        try:
            exp = read_claims(self._token).get("exp")
        except ValueError:
            return None
        if isinstance(exp, bool):
            return None
        if isinstance(exp, str):  # some tokens carry it as a JSON string
            try:
                return float(exp.strip())
            except ValueError:
                return None
        return float(exp) if isinstance(exp, (int, float)) else None

    async def calibrate(self) -> list[Finding]:
        from connectors.dragonfish.calibration import calibrate

        return await calibrate(self)

    async def checks(self) -> list[Check]:
        out: list[Check] = []
        try:
            await super().request("GET", SERVICE_INFO)
            out.append(Check("ERP reachable", True, self.config.endpoint))
        except BridgeError as exc:
            return [Check("ERP reachable", False, exc.message, code=exc.code)]
        try:
            read_claims(self._token)
        except ValueError as exc:
            out.append(
                Check(
                    "ERP token format",
                    False,
                    f"the token is not a JWT ({exc}); Dragonfish expects the JWT "
                    "that ZooLogic issued",
                    code="token_not_jwt",
                )
            )
        else:
            exp = self.token_expiry()
            if exp is None:
                out.append(
                    Check(
                        "ERP token expiry",
                        None,
                        "the token says no expiry date",
                        code="token_no_expiry",
                    )
                )
            else:
                days = (exp - time.time()) / 86400
                out.append(
                    Check(
                        "ERP token expiry",
                        days > 0,
                        f"expires in {days:.0f} days" if days > 0 else "expired",
                        code="token_expires" if days > 0 else "token_expired",
                        params=(("days", f"{days:.0f}"),),
                    )
                )
        try:
            await self.list_page(CATALOG, {"limit": 1, "page": 1})
            out.append(Check("ERP token", True, "accepted", code="token_accepted"))
        except AuthError as exc:
            out.append(Check("ERP token", False, exc.message, code=exc.code))
            return out
        except BridgeError as exc:
            out.append(Check("ERP stock query", False, exc.message, code=exc.code))
            return out
        out += [f.as_check() for f in await self.calibrate()]
        return out

"""A Dragonfish (ZooLogic) API server for tests and `bridge demo`, faithful to
shared/specs/erp-apis.md, quirks included:

- served under `/api.Dragonfish/`, routes matched ignoring case, trailing slash optional;
- `idCliente` + the raw JWT in `Authorization` (`Bearer <jwt>` is refused), optional
  `BaseDeDatos`; `ObtenerInformacionServicio` needs no auth;
- list answers in the `{CountResultado, Siguiente, TotalRegistros, Resultados}` envelope, with
  `Siguiente` on the server's *internal* address, and 404 when there is nothing;
- `ConsultaStockYPrecios` leaves out rows at zero stock / zero price unless asked
  (`stockcero=true`, `preciocero=true`);
- errors in the HTTP reason phrase (folded to ASCII: httpx decodes the reason phrase as ASCII
  and drops every other byte), 400 validation errors also as `{"Mensaje": ...}`;
- a write arriving while another one is being saved answers 409;
- an order whose (Ecommerce, NroOPEcommerce) already exists is refused with
  "La combinación de plataforma y número de operación ya existe".

State lives on the server's loop: from another thread read it through `sim.call(fn)`.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeGuard
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from connectors.dragonfish.jwt import make_token, password_hmac, read_claims
from connectors.dragonfish.simcatalog import DEFAULT_LIST, LISTS, SimCatalog
from connectors.simkit import FaultPlan, SimServer

BASE_PATH = "/api.dragonfish/"
VERSION = "17.0.3.1 (simulador)"

ROUTES = (
    "consultastockyprecios",
    "cliente",
    "pedido",
    "operacionecommerce",
    "listadeprecios",
    "provincia",
    "obtenerinformacionservicio",
)

PROVINCIAS: tuple[tuple[str, str], ...] = tuple(
    (f"{i:02d}", name)
    for i, name in enumerate(
        (
            "Ciudad Autónoma de Buenos Aires",
            "Buenos Aires",
            "Catamarca",
            "Córdoba",
            "Corrientes",
            "Entre Ríos",
            "Jujuy",
            "Mendoza",
            "La Rioja",
            "Salta",
            "San Juan",
            "San Luis",
            "Santa Fe",
            "Santiago del Estero",
            "Tucumán",
            "Chaco",
            "Chubut",
            "Formosa",
            "Misiones",
            "Neuquén",
            "La Pampa",
            "Río Negro",
            "Santa Cruz",
            "Tierra del Fuego",
        )
    )
)
_PROVINCIA_CODES = {code for code, _ in PROVINCIAS}

# Error texts (reason phrase; folded to ASCII there, kept as is in the 400 body)
NO_RESULTS = "No se encontraron resultados"
CONFLICT = "Conflicto de concurrencia, reintente"
DUPLICATE_OPERATION = "La combinación de plataforma y número de operación ya existe"
_FAULT_REASONS = {
    400: "Solicitud inválida",
    401: "Token invalido",
    403: "Acceso denegado",
    404: NO_RESULTS,
    408: "Tiempo de espera agotado",
    409: CONFLICT,
    429: "Demasiadas solicitudes, reintente mas tarde",
    500: "Error interno del servidor",
    502: "Bad Gateway",
    503: "Servicio no disponible",
    504: "Gateway Timeout",
}

# Cliente fields: max length of the text ones; all are stored and returned
_CUSTOMER_TEXT_LIMITS: dict[str, int] = {
    "Nombre": 60,
    "PrimerNombre": 60,
    "NroDocumento": 10,
    "Movil": 30,
    "Calle": 70,
    "Piso": 3,
    "Localidad": 70,
    "CodigoPostal": 8,
}
_CUSTOMER_FIELDS: dict[str, Any] = {
    "Codigo": "",
    "Nombre": "",
    "PrimerNombre": "",
    "TipoDocumento": "",
    "NroDocumento": "",
    "Cuit": "",
    "SituacionFiscal": "",
    "EMail": "",
    "Movil": "",
    "Calle": "",
    "Numero": 0,
    "Piso": "",
    "Localidad": "",
    "CodigoPostal": "",
    "Provincia": "",
    "ListaDePrecio": "",
}
_MAX_CODIGO_CLIENTE = 10


class HttpError(Exception):
    """Answer `status` with `text` in the reason phrase (and in a body for 400)."""

    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}


def ascii_fold(text: str) -> str:
    """What survives in a reason phrase: accents dropped, anything else non-ASCII removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    return (
        "".join(c for c in decomposed if not unicodedata.combining(c))
        .encode("ascii", "ignore")
        .decode("ascii")
    )


def _fold_lower(text: str) -> str:
    return ascii_fold(text).lower()


def error_response(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    """Dragonfish's error style: the text in the reason phrase; a 400 also has a body."""
    reason = ascii_fold(text)
    if status == 400:
        return web.Response(
            status=status,
            reason=reason,
            body=json.dumps({"Mensaje": text}, ensure_ascii=False).encode("utf-8"),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )
    return web.Response(status=status, reason=reason, headers=headers)


_ENCODER = msgspec.json.Encoder()


def _json(data: Any, status: int = 200) -> web.Response:
    # msgspec: a 500-row page in ~0.5 ms instead of ~5 (the simulator shares the CPU with
    # the bridge in tests and benchmarks; a real Dragonfish has its own)
    return web.Response(
        status=status,
        body=_ENCODER.encode(data),
        content_type="application/json",
        charset="utf-8",
    )


def _wcf_date(ts: float) -> str:
    """WCF style, in Argentina's time: "/Date(1694228400000-0300)/"."""
    return f"/Date({int(ts * 1000)}-0300)/"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "si", "s")


def _key(text: Any) -> str:
    return str(text or "").strip().upper()


class DragonfishSimulator(SimServer):
    def __init__(
        self,
        *,
        cliente: str = "CLIENTE1",
        token: str | None = None,
        base_de_datos: str | None = None,
        motivos: Iterable[str] = ("VENTA WEB",),
        catalog: SimCatalog | None = None,
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        internal_base: str = "http://192.168.10.5:8015/api.Dragonfish/",
        max_limit: int = 1000,
        conflict_on_concurrent_writes: bool = True,
        write_hold_s: float = 0.02,
        honour_lista: bool = True,
    ) -> None:
        super().__init__(latency_s=latency_s, faults=faults)
        self.cliente = cliente
        # False: a server that prices every row in its default list whatever `lista` asks
        # (the asked list's price is then only among each row's `Precios`)
        self.honour_lista = honour_lista
        if token is None:
            key = "clave-privada-simulador"
            exp = int(time.time()) + 2 * 365 * 86400
            token = make_token("WEB", password_hmac("dragonfish", key), key, exp)
        self.token = token
        self.base_de_datos = base_de_datos
        self.motivos = tuple(motivos)
        self.catalog = catalog if catalog is not None else SimCatalog.generate(200, seed=1)
        self.internal_base = internal_base if internal_base.endswith("/") else internal_base + "/"
        self.max_limit = max_limit
        self.conflict_on_concurrent_writes = conflict_on_concurrent_writes
        self.write_hold_s = write_hold_s
        self.customers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        # (ECOMMERCE, NROOPECOMMERCE) -> order Codigo
        self._operations: dict[tuple[str, str], str] = {}
        self._token_expired = False
        self._next_customer = 1
        self._next_order = 1
        self._next_numero = 1
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    # -- naming -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api.Dragonfish/"

    @staticmethod
    def _split(path: str) -> list[str] | None:
        """The path's segments after the base path, or None outside of it."""
        lower = path.lower()
        if not (lower + "/").startswith(BASE_PATH):
            return None
        return [s for s in path[len(BASE_PATH) :].split("/") if s]

    def route_name(self, request: web.Request) -> str:
        parts = self._split(request.path)
        if parts is None:
            return request.path.lower()
        return parts[0].lower() if parts else ""

    def fault_response(self, status: int) -> web.StreamResponse:
        headers = {"Retry-After": str(self.faults.retry_after_s)} if status == 429 else None
        return error_response(status, _FAULT_REASONS.get(status, f"Error {status}"), headers)

    # -- test helpers -----------------------------------------------------------------------
    def renew_token(self) -> str:
        """Issue a new, valid token (the merchant got a new one from ZooLogic)."""
        key = "sim-private-key"
        exp = int(time.time()) + 2 * 365 * 86400
        self.token = make_token("WEB", password_hmac("dragonfish", key), key, exp)
        self._token_expired = False
        return self.token

    def expire_token(self) -> None:
        """From now on the current token counts as expired ("Token vencido")."""
        self._token_expired = True

    def order_by_external(self, numero: str, ecommerce: str | None = None) -> dict[str, Any] | None:
        """The order registered under the store's order number (on any platform if None)."""
        for (eco, nro), codigo in self._operations.items():
            if nro == _key(numero) and (ecommerce is None or eco == _key(ecommerce)):
                return self.orders[codigo]
        return None

    # -- dispatch ---------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except HttpError as exc:
            return error_response(exc.status, exc.text, exc.headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = self._split(request.path)
        if not parts or parts[0].lower() not in ROUTES:
            return _endpoint_not_found()
        route, rest = parts[0].lower(), parts[1:]
        method = request.method
        if route == "obtenerinformacionservicio" and method == "GET" and not rest:
            return _json({"Servicio": "Dragonfish API", "Version": VERSION, "Estado": "OK"})
        self._authorize(request)
        params = {k.lower(): v for k, v in reversed(list(request.query.items()))}
        if method == "GET":
            if not rest:
                listing = {
                    "consultastockyprecios": self._stock_rows,
                    "cliente": self._customer_rows,
                    "operacionecommerce": self._operation_rows,
                    "listadeprecios": self._list_rows,
                    "provincia": self._province_rows,
                    "pedido": self._order_rows,
                }.get(route)
                if listing is not None:
                    return self._envelope(request, params, listing)
            elif len(rest) == 1 and route in ("cliente", "pedido"):
                store = self.customers if route == "cliente" else self.orders
                found = store.get(_key(rest[0]))
                if found is None:
                    raise HttpError(404, NO_RESULTS)
                return _json(found)
            return _endpoint_not_found()
        if method == "POST" and not rest and route in ("cliente", "pedido"):
            body = await _read_body(request)
            return await self.hold_write_slot(
                lambda: (
                    self._create_customer(body) if route == "cliente" else self._create_order(body)
                )
            )
        if method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            raise HttpError(405, "Método no permitido")
        return _endpoint_not_found()

    def _authorize(self, request: web.Request) -> None:
        if request.headers.get("idCliente", "") != self.cliente:
            raise HttpError(401, "Cliente invalido")
        if request.headers.get("Authorization", "") != self.token:
            raise HttpError(401, "Token invalido")
        if self._token_expired or self._token_exp() < time.time():
            raise HttpError(401, "Token vencido")
        if self.base_de_datos is not None and (
            request.headers.get("BaseDeDatos", "").strip().upper() != self.base_de_datos.upper()
        ):
            raise HttpError(400, "Base de datos inexistente")

    def _token_exp(self) -> float:
        try:
            exp = read_claims(self.token).get("exp")
        except ValueError:
            return float("inf")  # not a JWT: never expires by date
        return float(exp) if isinstance(exp, (int, float)) else float("inf")

    def write_conflict(self) -> Exception:
        return HttpError(409, CONFLICT)

    # -- lists ------------------------------------------------------------------------------
    def _envelope(
        self,
        request: web.Request,
        params: dict[str, str],
        listing: Callable[[dict[str, str]], tuple[int, Callable[[int, int], list[Any]]]],
    ) -> web.StreamResponse:
        limit = _int_param(params, "limit", 50)
        page = _int_param(params, "page", 1)
        if limit < 1:
            raise HttpError(400, "El parámetro limit debe ser mayor que cero")
        if page < 1:
            raise HttpError(400, "El parámetro page debe ser mayor que cero")
        limit = min(limit, self.max_limit)
        total, render = listing(params)
        start = (page - 1) * limit
        if start >= total:
            raise HttpError(404, NO_RESULTS)
        end = min(total, start + limit)
        rows = render(start, end)
        following = None
        if end < total:
            following = self._next_url(request, page + 1)
        return _json(
            {
                "CountResultado": len(rows),
                "Siguiente": following,
                "TotalRegistros": total,
                "Resultados": rows,
            }
        )

    def _next_url(self, request: web.Request, page: int) -> str:
        """The same query with page+1, on the server's own (internal) address."""
        pairs = [(k, v) for k, v in request.query.items() if k.lower() != "page"]
        pairs.append(("page", str(page)))
        rel = request.path[len(BASE_PATH) :]
        return f"{self.internal_base}{rel}?{urlencode(pairs)}"

    @staticmethod
    def _sliced(
        rows: Sequence[dict[str, Any]],
    ) -> tuple[int, Callable[[int, int], list[Any]]]:
        return len(rows), lambda a, b: list(rows[a:b])

    def _stock_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        code = _key(params.get("lista")) or DEFAULT_LIST
        if code not in LISTS:
            raise HttpError(400, "Lista de precios inexistente")
        cat = self.catalog
        indices = cat.select(
            params.get("query", ""),
            exact=_truthy(params.get("exacto")),
            list_code=code,
            zero_price=_truthy(params.get("preciocero")),
            zero_stock=_truthy(params.get("stockcero")),
        )
        shown = code if self.honour_lista else DEFAULT_LIST
        return len(indices), lambda a, b: [cat.row(i, shown) for i in indices[a:b]]

    def _customer_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        q = params.get("query", "").strip().lower()
        fields = ("Codigo", "Nombre", "NroDocumento", "Cuit", "EMail")
        rows = [
            c
            for c in self.customers.values()
            if not q or any(q in str(c.get(f) or "").lower() for f in fields)
        ]
        return self._sliced(rows)

    def _order_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        q = params.get("query", "").strip().upper()
        rows = [
            o
            for o in self.orders.values()
            if not q or q in (o["Codigo"], _key(o.get("NroOPEcommerce")), _key(o["Cliente"]))
        ]
        return self._sliced(rows)

    def _operation_rows(
        self, params: dict[str, str]
    ) -> tuple[int, Callable[[int, int], list[Any]]]:
        eco, nro = _key(params.get("ecommerce")), _key(params.get("numero"))
        rows = []
        for (e, n), codigo in self._operations.items():
            if (eco and e != eco) or (nro and n != nro):
                continue
            order = self.orders[codigo]
            rows.append(
                {
                    "Ecommerce": order["Ecommerce"],
                    "Numero": order["NroOPEcommerce"],
                    "Pedido": codigo,
                    "Letra": order["Letra"],
                    "PuntoDeVenta": order["PuntoDeVenta"],
                    "NumeroComprobante": order["Numero"],
                }
            )
        return self._sliced(rows)

    def _list_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        q = params.get("query", "").strip().lower()
        rows = [
            {"Codigo": code, "Descripcion": name}
            for code, name in LISTS.items()
            if q in name.lower()
        ]
        return self._sliced(rows)

    def _province_rows(self, params: dict[str, str]) -> tuple[int, Callable[[int, int], list[Any]]]:
        q = _fold_lower(params.get("query", "").strip())
        rows = [
            {"Codigo": code, "Descripcion": name}
            for code, name in PROVINCIAS
            if q in _fold_lower(name)
        ]
        return self._sliced(rows)

    # -- writes -----------------------------------------------------------------------------
    def _create_customer(self, body: dict[str, Any]) -> web.StreamResponse:
        record = dict(_CUSTOMER_FIELDS)
        for name, value in body.items():
            if value is not None:
                record[name] = value
        for name, limit in _CUSTOMER_TEXT_LIMITS.items():
            value = record[name]
            if not isinstance(value, str):
                raise HttpError(400, f"El campo {name} debe ser texto")
            if len(value) > limit:
                raise HttpError(400, f"El campo {name} supera los {limit} caracteres")
        if not record["Nombre"].strip():
            raise HttpError(400, "El campo Nombre es obligatorio")
        numero = record["Numero"]
        if isinstance(numero, bool) or not isinstance(numero, int):
            raise HttpError(400, "El campo Numero debe ser un número entero")
        for name in ("Provincia", "Cuit", "EMail", "Codigo"):
            if not isinstance(record[name], str):
                raise HttpError(400, f"El campo {name} debe ser texto")
        if record["Provincia"] and record["Provincia"] not in _PROVINCIA_CODES:
            raise HttpError(400, f"El campo Provincia no es válido: {record['Provincia']}")
        cuit = record["Cuit"]
        if cuit and not (len(cuit) == 11 and cuit.isascii() and cuit.isdigit()):
            raise HttpError(400, "El campo Cuit debe tener 11 dígitos")
        if record["EMail"] and "@" not in record["EMail"]:
            raise HttpError(400, "El campo EMail no es válido")
        codigo = _key(record["Codigo"])
        if codigo:
            if len(codigo) > _MAX_CODIGO_CLIENTE:
                raise HttpError(400, f"El campo Codigo supera los {_MAX_CODIGO_CLIENTE} caracteres")
            if codigo in self.customers:
                raise HttpError(400, f"El cliente {codigo} ya existe")
        else:
            while f"C{self._next_customer:06d}" in self.customers:
                self._next_customer += 1
            codigo = f"C{self._next_customer:06d}"
            self._next_customer += 1
        record["Codigo"] = codigo
        record["FechaAlta"] = _wcf_date(time.time())
        self.customers[codigo] = record
        return _json({"Codigo": codigo}, status=201)

    def _create_order(self, body: dict[str, Any]) -> web.StreamResponse:
        cliente = _key(body.get("Cliente"))
        customer = self.customers.get(cliente)
        if customer is None:
            raise HttpError(400, "Cliente inexistente")
        motivo = body.get("Motivo")
        motivos = {_key(m): m for m in self.motivos}
        if _key(motivo) not in motivos:
            raise HttpError(400, f"Motivo inexistente: {motivo if motivo is not None else ''}")
        lista = _key(body.get("ListaDePrecios"))
        if lista and lista not in LISTS:
            raise HttpError(400, "Lista de precios inexistente")
        nro_raw = body.get("NroOPEcommerce")
        if isinstance(nro_raw, bool) or not isinstance(nro_raw, (str, int, type(None))):
            raise HttpError(400, "El campo NroOPEcommerce debe ser texto")
        nro = "" if nro_raw is None else str(nro_raw).strip()
        ecommerce = body.get("Ecommerce")
        if ecommerce is None:
            ecommerce = ""
        if not isinstance(ecommerce, str):
            raise HttpError(400, "El campo Ecommerce debe ser texto")
        obs = body.get("Obs")
        if obs is None:
            obs = ""
        if not isinstance(obs, str):
            raise HttpError(400, "El campo Obs debe ser texto")
        if len(obs) > 250:
            raise HttpError(400, "El campo Obs supera los 250 caracteres")
        vendedor = body.get("Vendedor")
        if vendedor is not None and not isinstance(vendedor, str):
            raise HttpError(400, "El campo Vendedor debe ser texto")
        detail = body.get("FacturaDetalle")
        if not isinstance(detail, list) or not detail:
            raise HttpError(400, "El pedido no tiene detalle (FacturaDetalle)")
        lines: list[tuple[int, dict[str, Any]]] = []
        for raw in detail:
            if not isinstance(raw, dict):
                raise HttpError(400, "FacturaDetalle: cada renglón debe ser un objeto")
            art, color, talle = (
                "" if raw.get(f) is None else str(raw.get(f)).strip()
                for f in ("Articulo", "Color", "Talle")
            )
            label = f"{art}!{color}!{talle}"
            index = self.catalog.find_variant(art.upper(), color.upper(), talle.upper())
            if not art or index is None:
                raise HttpError(400, f"Articulo inexistente: {label}")
            cantidad, precio = raw.get("Cantidad"), raw.get("Precio")
            if not _is_number(cantidad) or cantidad <= 0:
                raise HttpError(400, f"Cantidad inválida en {label}: {cantidad}")
            if not _is_number(precio) or precio < 0:
                raise HttpError(400, f"Precio inválido en {label}: {precio}")
            lines.append(
                (
                    index,
                    {
                        "Articulo": art,
                        "Color": color,
                        "Talle": talle,
                        "Cantidad": float(cantidad),
                        "Precio": float(precio),
                    },
                )
            )
        key = (_key(ecommerce), _key(nro))
        if nro and key in self._operations:
            raise HttpError(400, DUPLICATE_OPERATION)
        # saved: everything below changes state, nothing below can fail
        codigo = f"P{self._next_order:06d}"
        self._next_order += 1
        numero = self._next_numero
        self._next_numero += 1
        letra = "A" if str(customer.get("SituacionFiscal") or "").strip() == "1" else "B"
        for index, line in lines:
            self.catalog.add_comprometido_at(index, line["Cantidad"])
        order = {
            "Codigo": codigo,
            "Letra": letra,
            "PuntoDeVenta": 5,
            "Numero": numero,
            "Fecha": _wcf_date(time.time()),
            "Cliente": cliente,
            "Motivo": motivos[_key(motivo)],
            "ListaDePrecios": lista,
            "NroOPEcommerce": nro,
            "Ecommerce": ecommerce,
            "Obs": obs,
            "Vendedor": vendedor or "",
            "FacturaDetalle": [line for _, line in lines],
            "Total": round(sum(ln["Cantidad"] * ln["Precio"] for _, ln in lines), 4),
        }
        self.orders[codigo] = order
        if nro:
            self._operations[key] = codigo
        return _json(
            {
                "Codigo": codigo,
                "Letra": letra,
                "PuntoDeVenta": 5,
                "Numero": numero,
                "NroOPEcommerce": nro,
            },
            status=201,
        )


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise HttpError(400, f"El parámetro {name} debe ser un número entero") from None


async def _read_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8-sig")) if raw else None
    except ValueError:
        raise HttpError(400, "El cuerpo de la solicitud no es un JSON válido") from None
    if not isinstance(body, dict):
        raise HttpError(400, "El cuerpo de la solicitud debe ser un objeto JSON")
    return body


def _endpoint_not_found() -> web.Response:
    # WCF's answer to an unknown path: a 404 like "no results", with an HTML page
    return web.Response(
        status=404,
        reason="Not Found",
        text="<html><body><p>Endpoint not found.</p></body></html>",
        content_type="text/html",
    )


__all__ = ["PROVINCIAS", "DragonfishSimulator", "ascii_fold"]

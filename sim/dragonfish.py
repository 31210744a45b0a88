"""A Dragonfish (ZooLogic) API server for tests, `bridge demo` and the benchmarks, following
shared/specs/erp-apis.md, section "Dragonfish (ZooLogic)", quirks included. What it does and
which point of the spec each behaviour follows:

- Endpoint `/api.Dragonfish/`, routes matched ignoring case, trailing slash optional.
- Headers (spec "Headers"): `idCliente` + the raw JWT in `Authorization` (`Bearer <jwt>` is
  refused), header names in any case, optional `BaseDeDatos`. `ObtenerInformacionServicio`
  needs no auth (spec "Entities": health check). `POST Autenticar {"IdCliente", "JWToken"}`
  opens a session; with `require_autenticar` every authenticated request answers 401 "Sesion
  no iniciada" until it did ("some installs want a session opened first"); it is harmless
  to call otherwise.
- Token (spec "Token"): HS256 claims `usuario`, `password`, `exp`; `exp` may be a number or a
  numeric JSON string (`exp_as_string`); a past `exp` (or `expire_token()`) gives 401 "Token
  vencido".
- Swagger (spec: "each install serves its own Swagger 2.0 document at
  `{Endpoint}swagger.json`"): no auth, describes this install's paths and definitions;
  `swagger_omit` leaves entities or single fields out of the document (not out of the
  behaviour), `swagger=False` is an install that does not serve it (404).
- Field names (spec "Field names"): request JSON keys are matched to the entity's fields
  ignoring case (the .NET model binder), unknown keys are ignored (a Pedido's
  `NroOPEcommerce` too: "assume it is ignored"); answers use the vendor's uneven casing
  (`CUIT`, `EMail`, `SituacionFiscal` as an integer...).
- Lists (spec "Lists"): the `{CountResultado, Siguiente, TotalRegistros, Resultados}`
  envelope, `limit`, `page` (1-based), page size 50 by default (clamped to `max_limit`),
  `Siguiente` on the server's *internal* address, 404 "No se encontraron resultados" when
  nothing; `query` is a `LIKE '%text%'` over the entity's search columns (case and accent
  insensitive), and exact per-field filters are named like the entity's fields
  (`?Cuit=...`); query parameters that are no field are ignored; `paging` (sim.kit's
  PagingFaults) makes every list claim another `TotalRegistros`, ignore `page` or serve a
  page twice, as a misbehaving install would. `GET Entity/{Codigo}/`
  reads one record; an unknown code answers 200 `{}` (`unknown_code_answer="empty"`, "some
  versions answer 200 with an empty body") or 404.
- `ConsultaStockYPrecios` (spec entity): `lista` is a price-list *code*; rows at zero stock /
  zero price are left out unless asked (`stockcero=true`, `preciocero=true`); `exacto=true`
  matches an article or an `ART!COLOR!TALLE`; `Precios` lists every price list by *name*.
- `ListaDePrecios` (spec entity): `Codigo`, `Nombre` (no `Descripcion`), `Moneda`,
  `CondicionIva`, `FechaHasta`; two default names share the prefix "MAYOR $" so that only an
  exact match on `Nombre` finds the right one.
- `Cliente` (spec entity): POST answers 201 `{"Codigo"}`; the client may choose `Codigo` (10
  characters at most) and a POST with an existing one is refused ("El código de cliente X ya
  existe"); `SituacionFiscal` and `TipoDocumento` must be codes of this install's tables
  (served as `SituacionFiscal/` and `TipoDocumento/`); CUIT stored without dashes.
- `Pedido` (spec entity): `Motivo` must be valid (served as `Motivo/`), no external-number
  field and no duplicate check; with `refuse_without_stock` a line above the variant's
  Disponible is refused (an error text that mentions "stock"). A Pedido commits stock.
- `Operacionecommerce` (spec entity): `(Ecommerce, Numero)` is unique ("La combinación de
  plataforma y número de operación ya existe"), `Ecommerce` must be a configured platform
  (served as `Ecommerce/`); the server generates a Pedido from it and answers the operation
  with `CompAfec` naming that Pedido.
- Errors (spec "Errors"): the text in the HTTP reason phrase, folded to ASCII (httpx decodes
  the reason phrase as ASCII and drops every other byte), 400s also with a `{"Mensaje"}`
  body that keeps the accents; a write arriving while another one is being saved answers 409
  (sim.kit's write slot); sim.kit's fault injection answers in the same style.

State lives on the server's loop: from another thread read it through `sim.call(fn)`.
"""

from __future__ import annotations

import copy
import json
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Literal, TypeGuard
from urllib.parse import urlencode, urlsplit

import msgspec
from aiohttp import web

from sim.catalog import COLORS, DEFAULT_LIST, LISTS, TALLES, SimCatalog
from sim.jwt import claims, dragonfish_token, password_hmac
from sim.kit import FaultPlan, SimServer

BASE_PATH = "/api.dragonfish/"
SWAGGER_BASE_PATH = "/api.Dragonfish"
VERSION = "17.0.3.1 (simulador)"

# this simulated install's own tables (spec: 1, 3, 7 and "05" are verified on real installs;
# the other codes are this install's choice)
DEFAULT_PRICE_LISTS: dict[str, str] = dict(LISTS)
DEFAULT_SITUACIONES_FISCALES: dict[int, str] = {
    1: "Responsable Inscripto",
    2: "Responsable No Inscripto",
    3: "Consumidor Final",
    4: "Exento",
    5: "No Responsable",
    7: "Monotributo",
}
DEFAULT_TIPOS_DOCUMENTO: dict[str, str] = {
    "01": "C.U.I.T.",
    "02": "C.U.I.L.",
    "05": "D.N.I.",
    "06": "Pasaporte",
}
DEFAULT_ECOMMERCE_PLATFORMS: dict[str, str] = {"VENTASXMAYOR": "VentasxMayor"}

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

# Error texts (reason phrase; folded to ASCII there, kept as they are in the 400 body)
NO_RESULTS = "No se encontraron resultados"
CONFLICT = "Conflicto de concurrencia, reintente"
NO_SESSION = "Sesión no iniciada"
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

_MAX_CODIGO_CLIENTE = 10
_MAX_OBS = 250
_PUNTO_DE_VENTA = 5
_TIPO_PEDIDO = 23  # CompAfec's `Tipo` of a Pedido


# -- the entities' fields -------------------------------------------------------------------------
Kind = Literal["text", "int", "number", "bool", "date", "lines"]


@dataclass(frozen=True)
class Field:
    """One field of an entity. `name` is the request's (and the swagger's) spelling; `answer`
    the answers' when it differs only in case (`Cuit` / `CUIT`)."""

    name: str
    kind: Kind = "text"
    answer: str = ""
    max_len: int = 0  # text: the longest value accepted (0: no limit checked)
    detail: str = ""  # lines: the definition of one line
    read_only: bool = False  # assigned by the server: a value sent is ignored

    @property
    def out(self) -> str:
        return self.answer or self.name


@dataclass(frozen=True)
class Entity:
    path: str  # route and swagger path ("ListaDePrecios")
    definition: str  # swagger definition ("Listadeprecios")
    fields: tuple[Field, ...]
    search: tuple[str, ...] = ()  # answer keys `query` runs over
    filters: tuple[str, ...] | None = None  # fields usable as filters (None: every scalar)
    list_params: tuple[tuple[str, str], ...] = ()  # more list parameters: (name, type)
    writable: bool = False
    single: bool = True  # `GET Entity/{Codigo}/`
    code_kind: Kind = "text"
    required: tuple[str, ...] = ()
    summary: str = ""

    @property
    def route(self) -> str:
        return self.path.lower()

    @cached_property
    def by_key(self) -> dict[str, Field]:
        return {f.name.lower(): f for f in self.fields}

    @cached_property
    def filter_fields(self) -> tuple[Field, ...]:
        if self.filters is not None:
            return tuple(self.by_key[n.lower()] for n in self.filters)
        return tuple(f for f in self.fields if f.kind != "lines")


def _text_field(name: str, max_len: int = 0, **kw: Any) -> Field:
    return Field(name, "text", max_len=max_len, **kw)


def _num(name: str, **kw: Any) -> Field:
    return Field(name, "number", **kw)


LINE_FIELDS = (
    Field("Articulo"),
    Field("Color"),
    Field("Talle"),
    _num("Cantidad"),
    _num("Precio"),
    _num("Descuento"),  # a percentage
)
DETAILS: dict[str, tuple[Field, ...]] = {
    "PedidoFacturaDetalle": (*LINE_FIELDS, _num("Monto", read_only=True)),
    "OperacionecommercePublicacionDetalle": (*LINE_FIELDS, _num("Monto")),
    "OperacionecommerceValoresDetalle": (Field("Valor"), _num("Monto")),
    "OperacionecommerceCompAfec": (
        Field("Codigo"),
        Field("TipoCompCaracter"),
        Field("Tipo", "int"),
        Field("Letra"),
        Field("PuntoDeVenta", "int"),
        Field("Numero", "int"),
        Field("Fecha", "date"),
        _num("Total"),
    ),
    "ConsultastockypreciosPrecios": (Field("Lista"), _num("Precio")),
}
_DETAIL_KEYS = {name: {f.name.lower(): f for f in fields} for name, fields in DETAILS.items()}


def _code_table(path: str, code_kind: Kind = "text", summary: str = "") -> Entity:
    return Entity(
        path,
        path.capitalize(),
        (Field("Codigo", code_kind), Field("Descripcion")),
        search=("Codigo", "Descripcion"),
        code_kind=code_kind,
        summary=summary,
    )


CONSULTA = Entity(
    "ConsultaStockYPrecios",
    "Consultastockyprecios",
    (
        Field("Articulo"),
        Field("ArticuloDescripcion"),
        Field("ArticuloDescripcionAdicional"),
        Field("ArticuloImagen"),
        Field("Color"),
        Field("ColorDescripcion"),
        Field("Talle"),
        Field("TalleDescripcion"),
        _num("Stock"),
        _num("Disponible"),
        _num("Comprometido"),
        _num("PendienteEntrega"),
        Field("Lista"),
        _num("Precio"),
        Field("Precios", "lines", detail="ConsultastockypreciosPrecios"),
        Field("OrdenPorColor", "int"),
        Field("OrdenPorTalle", "int"),
        Field("UnidadDeMedida"),
        Field("UnidadDeMedidaDescripcion"),
    ),
    filters=("Articulo", "Color", "Talle"),
    list_params=(
        ("exacto", "boolean"),
        ("lista", "string"),
        ("preciocero", "boolean"),
        ("stockcero", "boolean"),
        ("sort", "string"),
    ),
    single=False,
    summary="Stock y precios por articulo, color y talle",
)
CLIENTE = Entity(
    "Cliente",
    "Cliente",
    (
        _text_field("Codigo", _MAX_CODIGO_CLIENTE),
        _text_field("Nombre", 60),
        _text_field("PrimerNombre", 60),
        Field("SegundoNombre"),
        Field("Apellido"),
        Field("Cuit", answer="CUIT"),
        Field("TipoDocumento"),
        _text_field("NroDocumento", 10),
        Field("SituacionFiscal", "int"),
        Field("Email", answer="EMail"),
        _text_field("Calle", 70),
        Field("Numero", "int"),
        _text_field("Piso", 3),
        Field("Departamento"),
        _text_field("Localidad", 70),
        _text_field("CodigoPostal", 8),
        Field("Provincia"),
        Field("Pais"),
        Field("Telefono"),
        _text_field("Movil", 30),
        Field("ListaDePrecio"),
        Field("Vendedor"),
        Field("CondicionDePago"),
        Field("FechaAlta", "date", read_only=True),
    ),
    search=(
        "Codigo",
        "CUIT",
        "TipoDocumento",
        "NroDocumento",
        "Nombre",
        "PrimerNombre",
        "Apellido",
        "EMail",
    ),
    writable=True,
    required=("Nombre",),
    summary="Clientes",
)
PEDIDO = Entity(
    "Pedido",
    "Pedido",
    (
        Field("Codigo", read_only=True),
        Field("Letra", read_only=True),
        Field("PuntoDeVenta", "int", read_only=True),
        Field("Numero", "int", read_only=True),
        Field("Fecha", "date"),
        Field("FechaDeEntrega", "date"),
        Field("Cliente"),
        Field("Vendedor"),
        Field("MonedaComprobante"),
        Field("ListaDePrecios"),
        Field("ForPago"),
        Field("Motivo"),
        Field("Transportista"),
        Field("DireccionEntrega"),
        Field("FacturaDetalle", "lines", detail="PedidoFacturaDetalle"),
        _num("PorcentajeDescuento"),
        _num("Descuento"),
        _text_field("Obs", _MAX_OBS),
        _num("Total", read_only=True),
    ),
    search=("Codigo", "Cliente", "Obs", "Numero"),
    writable=True,
    required=("Cliente", "Motivo", "FacturaDetalle"),
    summary="Pedidos de clientes",
)
OPERACION = Entity(
    "Operacionecommerce",
    "Operacionecommerce",
    (
        Field("Codigo", read_only=True),
        Field("Ecommerce"),
        Field("Numero"),
        Field("Fecha", "date"),
        Field("ClienteEcom"),
        Field("ClienteDragon"),
        Field("PublicacionDetalle", "lines", detail="OperacionecommercePublicacionDetalle"),
        Field("ValoresDetalle", "lines", detail="OperacionecommerceValoresDetalle"),
        _num("Total"),
        Field("Pagado", "bool"),
        _text_field("Obs", _MAX_OBS),
        Field("TipoComprobante"),
        Field("CompAfec", "lines", detail="OperacionecommerceCompAfec", read_only=True),
    ),
    search=("Codigo", "Numero", "Ecommerce", "ClienteEcom", "Obs"),
    writable=True,
    required=("Ecommerce", "Numero", "ClienteDragon", "PublicacionDetalle"),
    summary="Operaciones de ecommerce",
)
LISTADEPRECIOS = Entity(
    "ListaDePrecios",
    "Listadeprecios",
    (
        Field("Codigo"),
        Field("Nombre"),
        Field("Moneda"),
        Field("CondicionIva"),
        Field("FechaHasta", "date"),
    ),
    search=("Codigo", "Nombre"),
    summary="Listas de precios",
)
ENTITIES: dict[str, Entity] = {
    e.route: e
    for e in (
        CONSULTA,
        CLIENTE,
        PEDIDO,
        OPERACION,
        LISTADEPRECIOS,
        _code_table("Provincia", summary="Provincias"),
        _code_table("Motivo", summary="Motivos de comprobantes"),
        _code_table("SituacionFiscal", "int", summary="Situaciones fiscales"),
        _code_table("TipoDocumento", summary="Tipos de documento"),
        _code_table("Ecommerce", summary="Plataformas de ecommerce"),
    )
}
_NO_AUTH_PATHS = ("Autenticar", "ObtenerInformacionServicio")

RowsFn = Callable[[int, int], list[Any]]
Listing = tuple[int, RowsFn]


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


@lru_cache(maxsize=1 << 16)
def _fold_lower(text: str) -> str:
    # cached: a `query` folds every searched column of every record (a real Dragonfish
    # runs it in SQL; this simulator shares the CPU with the bridge in benchmarks)
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
    return str(text if text is not None else "").strip().upper()


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _bind(fields: Mapping[str, Field], body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's values by field name, keys matched ignoring case (the .NET model binder: the
    last of two spellings wins); unknown keys, nulls and server-assigned fields are dropped."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        f = fields.get(str(name).lower())
        if f is not None and not f.read_only and value is not None:
            out[f.name] = value
    return out


def _text(data: Mapping[str, Any], name: str, max_len: int = 0, where: str = "") -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise HttpError(400, f"El campo {name}{where} debe ser texto")
    if max_len and len(value) > max_len:
        raise HttpError(400, f"El campo {name}{where} supera los {max_len} caracteres")
    return value


def _number(data: Mapping[str, Any], name: str, where: str = "") -> float:
    value = data.get(name, 0)
    if not _is_number(value):
        raise HttpError(400, f"El campo {name}{where} debe ser un número")
    return float(value)


def _matches(value: Any, wanted: str, kind: Kind) -> bool:
    """An exact filter: text ignoring case, numbers by value."""
    if kind == "int" or kind == "number":
        try:
            return value is not None and float(wanted) == float(value)
        except ValueError:
            return False
    if kind == "bool":
        return bool(value) == _truthy(wanted)
    return str(value if value is not None else "").strip().casefold() == wanted.casefold()


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


# -- the swagger document -----------------------------------------------------------------------
_SWAGGER_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "int": {"type": "integer", "format": "int32"},
    "number": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date-time"},
}


def _property(f: Field) -> dict[str, Any]:
    if f.kind == "lines":
        schema: dict[str, Any] = {"type": "array", "items": _ref(f.detail)}
    else:
        schema = dict(_SWAGGER_TYPES[f.kind])
    if f.max_len:
        schema["maxLength"] = f.max_len
    if f.read_only:
        schema["readOnly"] = True
    return schema


def _ref(definition: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{definition}"}


def _definition(fields: Iterable[Field], required: Sequence[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object"}
    if required:
        out["required"] = list(required)
    out["properties"] = {f.name: _property(f) for f in fields}
    return out


def _query_param(name: str, schema: Mapping[str, Any], description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, **schema}
    if description:
        param["description"] = description
    return param


_AUTH_RESPONSES = {"401": {"description": "Cliente o token invalido, token vencido"}}
# what a POST answers (the whole record when absent)
_CREATED: dict[str, tuple[str, ...]] = {
    "cliente": ("Codigo",),
    "pedido": ("Codigo", "Letra", "PuntoDeVenta", "Numero", "Total"),
}


def _created_schema(e: Entity) -> dict[str, Any]:
    names = _CREATED.get(e.route)
    if names is None:
        return _ref(e.definition)
    return {
        "type": "object",
        "properties": {n: dict(_SWAGGER_TYPES[e.by_key[n.lower()].kind]) for n in names},
    }


def build_swagger(host: str, omit: Iterable[str] = ()) -> dict[str, Any]:
    """This install's Swagger 2.0 document. `omit`: "Entity" leaves out that entity's paths
    and definitions (or the Autenticar / ObtenerInformacionServicio path), "Def.Field" one
    property of a definition (and the list filter named like it). ValueError for an entry
    that names nothing."""
    entities = {e.route: e for e in ENTITIES.values()}
    gone_paths: set[str] = set()
    gone_fields: dict[str, set[str]] = {}  # definition (lower) -> field names (lower)
    definitions_lower = {
        d.lower(): d for d in (*DETAILS, *(e.definition for e in entities.values()))
    }
    for entry in omit:
        name = entry.strip()
        if "." in name:
            def_name, field = (p.strip().lower() for p in name.split(".", 1))
            definition = definitions_lower.get(def_name)
            candidates = DETAILS.get(definition or "") or next(
                (e.fields for e in entities.values() if e.definition == definition), ()
            )
            if not any(f.name.lower() == field for f in candidates):
                raise ValueError(f"swagger_omit: {entry!r} names no field of a definition")
            gone_fields.setdefault(def_name, set()).add(field)
            continue
        lower = name.lower()
        match = next(
            (e for e in entities.values() if lower in (e.route, e.definition.lower())), None
        )
        if match is not None:
            del entities[match.route]
        elif lower in (p.lower() for p in _NO_AUTH_PATHS):
            gone_paths.add(lower)
        else:
            raise ValueError(f"swagger_omit: {entry!r} names no entity")

    def kept(definition: str, fields: Iterable[Field]) -> list[Field]:
        gone = gone_fields.get(definition.lower(), set())
        return [f for f in fields if f.name.lower() not in gone]

    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for e in entities.values():
        fields = kept(e.definition, e.fields)
        names = {f.name for f in fields}
        definitions[e.definition] = _definition(fields, [r for r in e.required if r in names])
        for f in fields:
            if f.kind == "lines":
                definitions[f.detail] = _definition(kept(f.detail, DETAILS[f.detail]))
        tag = [e.path]
        filters = [f for f in e.filter_fields if f.name in names]
        params = [
            _query_param("limit", _SWAGGER_TYPES["int"], "Registros por pagina (50)"),
            _query_param("page", _SWAGGER_TYPES["int"], "Pagina, desde 1"),
            _query_param("query", _SWAGGER_TYPES["text"], "Texto buscado (LIKE '%texto%')"),
            *(_query_param(n, {"type": t}) for n, t in e.list_params),
            *(_query_param(f.name, _SWAGGER_TYPES[f.kind], "Filtro exacto") for f in filters),
        ]
        listing = {
            "type": "object",
            "properties": {
                "CountResultado": _SWAGGER_TYPES["int"],
                "Siguiente": {"type": "string"},
                "TotalRegistros": _SWAGGER_TYPES["int"],
                "Resultados": {"type": "array", "items": _ref(e.definition)},
            },
        }
        ops: dict[str, Any] = {
            "get": {
                "tags": tag,
                "summary": e.summary,
                "operationId": f"{e.path}_Listar",
                "produces": ["application/json"],
                "parameters": params,
                "responses": {
                    "200": {"description": "OK", "schema": listing},
                    "404": {"description": NO_RESULTS},
                    **_AUTH_RESPONSES,
                },
            }
        }
        if e.writable:
            ops["post"] = {
                "tags": tag,
                "summary": f"{e.summary}: alta",
                "operationId": f"{e.path}_Agregar",
                "consumes": ["application/json"],
                "produces": ["application/json"],
                "parameters": [
                    {
                        "name": "entidad",
                        "in": "body",
                        "required": True,
                        "schema": _ref(e.definition),
                    }
                ],
                "responses": {
                    "201": {"description": "Created", "schema": _created_schema(e)},
                    "400": {"description": "Error de validacion (texto en el reason phrase)"},
                    **_AUTH_RESPONSES,
                    "409": {"description": "Conflicto de concurrencia, reintente"},
                },
            }
        paths[f"/{e.path}/"] = ops
        if e.single:
            code = {"name": "Codigo", "in": "path", "required": True, **_SWAGGER_TYPES[e.code_kind]}
            paths[f"/{e.path}/{{Codigo}}/"] = {
                "get": {
                    "tags": tag,
                    "summary": f"{e.summary}: uno",
                    "operationId": f"{e.path}_Obtener",
                    "produces": ["application/json"],
                    "parameters": [code],
                    "responses": {
                        "200": {"description": "OK", "schema": _ref(e.definition)},
                        **_AUTH_RESPONSES,
                    },
                }
            }
    if "autenticar" not in gone_paths:
        credentials = {
            "type": "object",
            "properties": {"IdCliente": {"type": "string"}, "JWToken": {"type": "string"}},
        }
        paths["/Autenticar"] = {
            "post": {
                "tags": ["Autenticar"],
                "summary": "Inicia la sesion",
                "operationId": "Autenticar",
                "consumes": ["application/json"],
                "produces": ["application/json"],
                "security": [],
                "parameters": [
                    {"name": "credenciales", "in": "body", "required": True, "schema": credentials}
                ],
                "responses": {"200": {"description": "OK"}, **_AUTH_RESPONSES},
            }
        }
    if "obtenerinformacionservicio" not in gone_paths:
        paths["/ObtenerInformacionServicio"] = {
            "get": {
                "tags": ["ObtenerInformacionServicio"],
                "summary": "Estado del servicio",
                "operationId": "ObtenerInformacionServicio",
                "produces": ["application/json"],
                "security": [],
                "parameters": [],
                "responses": {"200": {"description": "OK"}},
            }
        }
    # a copy: the parts shared between paths (and with module constants) become separate
    return copy.deepcopy(
        {
            "swagger": "2.0",
            "info": {"title": "Dragonfish API", "version": VERSION},
            "host": host,
            "basePath": SWAGGER_BASE_PATH,
            "schemes": ["http"],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": {
                "idCliente": {"type": "apiKey", "name": "idCliente", "in": "header"},
                "Authorization": {"type": "apiKey", "name": "Authorization", "in": "header"},
            },
            "security": [{"idCliente": [], "Authorization": []}],
            "paths": paths,
            "definitions": definitions,
        }
    )


@dataclass
class _Line:
    index: int  # the catalog variant
    record: dict[str, Any]


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
        price_lists: Mapping[str, str] | None = None,
        situaciones_fiscales: Mapping[int, str] | None = None,
        tipos_documento: Mapping[str, str] | None = None,
        ecommerce_platforms: Mapping[str, str] | None = None,
        unknown_code_answer: Literal["empty", "404"] = "empty",
        require_autenticar: bool = False,
        swagger: bool = True,
        swagger_omit: Iterable[str] = (),
        refuse_without_stock: bool = False,
        exp_as_string: bool = False,
    ) -> None:
        """`motivos`: Motivo codes (a mapping code -> description also works); the first one
        is the Motivo of the Pedidos generated by e-commerce operations. `honour_lista=False`:
        a server that prices every row in its default list whatever `lista` asks (the asked
        list's price is then only among each row's `Precios`)."""
        super().__init__(latency_s=latency_s, faults=faults)
        self.cliente = cliente
        self.honour_lista = honour_lista
        self.exp_as_string = exp_as_string
        if token is None:
            token = self._issue_token("clave-privada-simulador")
        self.token = token
        self.base_de_datos = base_de_datos
        if isinstance(motivos, Mapping):
            motivo_table = {str(k): str(v) for k, v in motivos.items()}
        else:
            motivo_table = {str(m): str(m) for m in motivos}
        self.motivos = tuple(motivo_table)
        self.catalog = catalog if catalog is not None else SimCatalog.generate(200, seed=1)
        self.price_lists = dict(price_lists if price_lists is not None else DEFAULT_PRICE_LISTS)
        if not self.price_lists:
            raise ValueError("price_lists: at least one price list")
        for code in self.price_lists:
            self.catalog.add_list(code)
        self.default_list = (
            DEFAULT_LIST if DEFAULT_LIST in self.price_lists else next(iter(self.price_lists))
        )
        self._precios_items = tuple(self.price_lists.items())
        self._list_codes = {_key(c): c for c in self.price_lists}
        self.situaciones_fiscales = dict(
            situaciones_fiscales
            if situaciones_fiscales is not None
            else DEFAULT_SITUACIONES_FISCALES
        )
        self.tipos_documento = dict(
            tipos_documento if tipos_documento is not None else DEFAULT_TIPOS_DOCUMENTO
        )
        self._tipos_documento = {_key(c): c for c in self.tipos_documento}
        self.ecommerce_platforms = dict(
            ecommerce_platforms if ecommerce_platforms is not None else DEFAULT_ECOMMERCE_PLATFORMS
        )
        self._platforms = {_key(c): c for c in self.ecommerce_platforms}
        if unknown_code_answer not in ("empty", "404"):
            raise ValueError(f"unknown_code_answer: {unknown_code_answer!r}")
        self.unknown_code_answer = unknown_code_answer
        self.require_autenticar = require_autenticar
        self.refuse_without_stock = refuse_without_stock
        self.internal_base = internal_base if internal_base.endswith("/") else internal_base + "/"
        self.max_limit = max_limit
        self.conflict_on_concurrent_writes = conflict_on_concurrent_writes
        self.write_hold_s = write_hold_s
        self.swagger = swagger
        self.describe(swagger_omit)
        # state: records in the answers' casing, by upper-case code
        self.customers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self._operation_keys: dict[tuple[str, str], str] = {}  # (ECOMMERCE, NUMERO) -> code
        self._tables: dict[str, list[dict[str, Any]]] = {
            "listadeprecios": [
                {
                    "Codigo": code,
                    "Nombre": name,
                    "Moneda": "USD" if "USD" in name.upper() else "ARS",
                    "CondicionIva": "Incluido",
                    "FechaHasta": None,
                }
                for code, name in self.price_lists.items()
            ],
            "provincia": [{"Codigo": c, "Descripcion": d} for c, d in PROVINCIAS],
            "motivo": [{"Codigo": c, "Descripcion": d} for c, d in motivo_table.items()],
            "situacionfiscal": [
                {"Codigo": c, "Descripcion": d} for c, d in self.situaciones_fiscales.items()
            ],
            "tipodocumento": [
                {"Codigo": c, "Descripcion": d} for c, d in self.tipos_documento.items()
            ],
            "ecommerce": [
                {"Codigo": c, "Descripcion": d} for c, d in self.ecommerce_platforms.items()
            ],
        }
        self._session_open = False
        self._token_expired = False
        self._next_customer = 1
        self._next_order = 1
        self._next_numero = 1
        self._next_operation = 1
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
    def _issue_token(self, key: str) -> str:
        exp = int(time.time()) + 2 * 365 * 86400
        return dragonfish_token(
            "WEB", password_hmac("dragonfish", key), key, exp, exp_as_string=self.exp_as_string
        )

    def renew_token(self) -> str:
        """Issue a new, valid token (the merchant got a new one from ZooLogic)."""
        self.token = self._issue_token("sim-private-key")
        self._token_expired = False
        return self.token

    def expire_token(self) -> None:
        """From now on the current token counts as expired ("Token vencido")."""
        self._token_expired = True

    def describe(self, swagger_omit: Iterable[str] = ()) -> None:
        """Serve a swagger.json that leaves `swagger_omit` out (the install was upgraded or
        fixed: it describes itself anew)."""
        self.swagger_document = build_swagger(urlsplit(self.internal_base).netloc, swagger_omit)
        self._swagger_body = _ENCODER.encode(self.swagger_document)

    def end_session(self) -> None:
        """Forget the session `Autenticar` opened (with `require_autenticar`, requests answer
        401 "Sesion no iniciada" until the next one)."""
        self._session_open = False

    def operation(self, numero: str, ecommerce: str | None = None) -> dict[str, Any] | None:
        """The e-commerce operation with the store's order number `numero` (on any platform
        if `ecommerce` is None)."""
        for (eco, nro), code in self._operation_keys.items():
            if nro == _key(numero) and (ecommerce is None or eco == _key(ecommerce)):
                return self.operations[code]
        return None

    def order_by_external(self, numero: str, ecommerce: str | None = None) -> dict[str, Any] | None:
        """The Pedido generated by the operation with the store's order number `numero`."""
        op = self.operation(numero, ecommerce)
        if op is None or not op["CompAfec"]:
            return None
        return self.orders.get(op["CompAfec"][0]["Codigo"])

    def pedidos_with_obs(self, fragment: str) -> list[dict[str, Any]]:
        """The Pedidos whose `Obs` contains `fragment`."""
        return [o for o in self.orders.values() if fragment in o["Obs"]]

    # -- dispatch ---------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except HttpError as exc:
            return error_response(exc.status, exc.text, exc.headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = self._split(request.path)
        if not parts:
            return _endpoint_not_found()
        head, rest, method = parts[0].lower(), parts[1:], request.method
        if head == "swagger.json" and not rest and self.swagger:
            if method != "GET":
                raise HttpError(405, "Método no permitido")
            return web.Response(
                body=self._swagger_body, content_type="application/json", charset="utf-8"
            )
        if head == "obtenerinformacionservicio" and not rest:
            if method != "GET":
                raise HttpError(405, "Método no permitido")
            return _json({"Servicio": "Dragonfish API", "Version": VERSION, "Estado": "OK"})
        if head == "autenticar" and not rest:
            if method != "POST":
                raise HttpError(405, "Método no permitido")
            return self._autenticar(await _read_body(request))
        entity = ENTITIES.get(head)
        if entity is None:
            return _endpoint_not_found()
        self._authorize(request)
        if method == "GET":
            if not rest:
                return self._envelope(request, entity)
            if len(rest) == 1 and entity.single:
                return self._read_one(entity, rest[0])
            return _endpoint_not_found()
        if method == "POST" and not rest and entity.writable:
            body = await _read_body(request)
            create = {
                "cliente": self._create_customer,
                "pedido": self._create_order,
                "operacionecommerce": self._create_operation,
            }[entity.route]
            return await self.hold_write_slot(lambda: create(body))
        if method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            raise HttpError(405, "Método no permitido")
        return _endpoint_not_found()

    # -- auth -------------------------------------------------------------------------------
    def _check_token(self, token: str) -> None:
        if token != self.token:
            raise HttpError(401, "Token invalido")
        if self._token_expired or self._token_exp() < time.time():
            raise HttpError(401, "Token vencido")

    def _authorize(self, request: web.Request) -> None:
        if request.headers.get("idCliente", "") != self.cliente:
            raise HttpError(401, "Cliente invalido")
        self._check_token(request.headers.get("Authorization", ""))
        if self.require_autenticar and not self._session_open:
            raise HttpError(401, NO_SESSION)
        if self.base_de_datos is not None and (
            request.headers.get("BaseDeDatos", "").strip().upper() != self.base_de_datos.upper()
        ):
            raise HttpError(400, "Base de datos inexistente")

    def _autenticar(self, body: dict[str, Any]) -> web.Response:
        data = {str(k).lower(): v for k, v in body.items()}
        if data.get("idcliente") != self.cliente:
            raise HttpError(401, "Cliente invalido")
        token = data.get("jwtoken")
        self._check_token(token if isinstance(token, str) else "")
        self._session_open = True
        return _json({"Autenticado": True, "Mensaje": "Sesión iniciada"})

    def _token_exp(self) -> float:
        """The token's `exp`: a number, or a numeric JSON string."""
        token_claims = claims(self.token)
        if token_claims is None:
            return float("inf")  # not a JWT: never expires by date
        exp = token_claims.get("exp")
        if isinstance(exp, str):
            try:
                return float(exp.strip())
            except ValueError:
                return float("inf")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            return float(exp)
        return float("inf")

    def write_conflict(self) -> Exception:
        return HttpError(409, CONFLICT)

    # -- reads ------------------------------------------------------------------------------
    def _records(self, entity: Entity) -> Sequence[dict[str, Any]]:
        stored = {
            "cliente": self.customers,
            "pedido": self.orders,
            "operacionecommerce": self.operations,
        }.get(entity.route)
        if stored is not None:
            return list(stored.values())
        return self._tables[entity.route]

    def _read_one(self, entity: Entity, code: str) -> web.Response:
        wanted = _key(code)
        if entity.code_kind == "int" and wanted.isascii() and wanted.isdigit():
            wanted = str(int(wanted))
        found = next((r for r in self._records(entity) if _key(r["Codigo"]) == wanted), None)
        if found is not None:
            return _json(found)
        if self.unknown_code_answer == "404":
            raise HttpError(404, NO_RESULTS)
        return _json({})

    def _envelope(self, request: web.Request, entity: Entity) -> web.StreamResponse:
        # the first of two spellings of a parameter wins
        params = {k.lower(): v for k, v in reversed(list(request.query.items()))}
        limit = _int_param(params, "limit", 50)
        page = _int_param(params, "page", 1)
        if limit < 1:
            raise HttpError(400, "El parámetro limit debe ser mayor que cero")
        if page < 1:
            raise HttpError(400, "El parámetro page debe ser mayor que cero")
        limit = min(limit, self.max_limit)
        if entity is CONSULTA:
            total, render = self._stock_rows(params)
        else:
            rows = self._filtered(entity, params)
            total, render = len(rows), lambda a, b: rows[a:b]
        # a server that pages wrongly (self.paging) answers another page, or claims
        # another total, than the one its rows make
        served, claimed = self.paging.served(page), self.paging.total(total)
        start = (served - 1) * limit
        if start >= total:
            raise HttpError(404, NO_RESULTS)
        end = min(total, start + limit)
        rows_out = self.paging.rows(render(start, end))
        following = None
        if served * limit < claimed:
            following = self._next_url(request, served + 1)
        return _json(
            {
                "CountResultado": len(rows_out),
                "Siguiente": following,
                "TotalRegistros": claimed,
                "Resultados": rows_out,
            }
        )

    def _next_url(self, request: web.Request, page: int) -> str:
        """The same query with page+1, on the server's own (internal) address."""
        pairs = [(k, v) for k, v in request.query.items() if k.lower() != "page"]
        pairs.append(("page", str(page)))
        rel = request.path[len(BASE_PATH) :]
        return f"{self.internal_base}{rel}?{urlencode(pairs)}"

    @staticmethod
    def _filters(entity: Entity, params: dict[str, str]) -> list[tuple[Field, str]]:
        """The exact filters asked: parameters named like a field, not empty."""
        return [
            (f, params[f.name.lower()].strip())
            for f in entity.filter_fields
            if params.get(f.name.lower(), "").strip()
        ]

    def _filtered(self, entity: Entity, params: dict[str, str]) -> list[dict[str, Any]]:
        q = _fold_lower(params.get("query", "").strip())
        filters = self._filters(entity, params)
        rows = []
        for record in self._records(entity):
            if q and not any(
                q in _fold_lower(str(record.get(c) if record.get(c) is not None else ""))
                for c in entity.search
            ):
                continue
            if all(_matches(record.get(f.out), v, f.kind) for f, v in filters):
                rows.append(record)
        return rows

    def _stock_rows(self, params: dict[str, str]) -> Listing:
        asked = params.get("lista", "")
        code = self._list_codes.get(_key(asked)) if asked.strip() else self.default_list
        if code is None:
            raise HttpError(400, f"Lista de precios inexistente: {asked.strip()}")
        cat = self.catalog
        indices: Sequence[int] = cat.select(
            params.get("query", ""),
            exact=_truthy(params.get("exacto")),
            list_code=code,
            zero_price=_truthy(params.get("preciocero")),
            zero_stock=_truthy(params.get("stockcero")),
        )
        filters = self._filters(CONSULTA, params)
        if filters:
            indices = self._stock_filtered(indices, filters)
        shown = code if self.honour_lista else self.default_list
        items, row = self._precios_items, cat.row
        return len(indices), lambda a, b: [row(i, shown, items) for i in indices[a:b]]

    def _stock_filtered(
        self, indices: Sequence[int], filters: list[tuple[Field, str]]
    ) -> list[int]:
        cat = self.catalog
        wanted = {f.name: v.upper() for f, v in filters}
        out = []
        for i in indices:
            if (
                ("Articulo" not in wanted or cat.art_code[cat.var_art[i]] == wanted["Articulo"])
                and ("Color" not in wanted or COLORS[cat.var_color[i]][0] == wanted["Color"])
                and ("Talle" not in wanted or TALLES[cat.var_talle[i]][0] == wanted["Talle"])
            ):
                out.append(i)
        return out

    # -- writes: Cliente --------------------------------------------------------------------
    def _create_customer(self, body: dict[str, Any]) -> web.StreamResponse:
        data = _bind(CLIENTE.by_key, body)
        codigo = _text(data, "Codigo").strip().upper()
        if len(codigo) > _MAX_CODIGO_CLIENTE:
            raise HttpError(400, f"El campo Codigo supera los {_MAX_CODIGO_CLIENTE} caracteres")
        if codigo in self.customers:
            raise HttpError(400, f"El código de cliente {codigo} ya existe")
        values: dict[str, Any] = {}
        for f in CLIENTE.fields:
            if f.kind == "text" and f.name != "Codigo":
                values[f.name] = _text(data, f.name, f.max_len)
        if not values["Nombre"].strip():
            raise HttpError(400, "El campo Nombre es obligatorio")
        numero = data.get("Numero", 0)
        if isinstance(numero, bool) or not isinstance(numero, int):
            raise HttpError(400, "El campo Numero debe ser un número entero")
        values["Numero"] = numero
        provincia = values["Provincia"]
        if provincia and provincia not in _PROVINCIA_CODES:
            raise HttpError(400, f"El campo Provincia no es válido: {provincia}")
        cuit = values["Cuit"].strip().replace("-", "")
        if cuit and not (len(cuit) == 11 and cuit.isascii() and cuit.isdigit()):
            raise HttpError(400, "El campo Cuit debe tener 11 dígitos")
        values["Cuit"] = cuit
        if values["Email"] and "@" not in values["Email"]:
            raise HttpError(400, "El campo Email no es válido")
        tipo = values["TipoDocumento"].strip()
        if tipo:
            if _key(tipo) not in self._tipos_documento:
                raise HttpError(400, f"Tipo de documento inexistente: {tipo}")
            tipo = self._tipos_documento[_key(tipo)]
        values["TipoDocumento"] = tipo
        values["SituacionFiscal"] = self._situacion_fiscal(data.get("SituacionFiscal"))
        if not codigo:
            while f"C{self._next_customer:06d}" in self.customers:
                self._next_customer += 1
            codigo = f"C{self._next_customer:06d}"
            self._next_customer += 1
        values["Codigo"] = codigo
        values["FechaAlta"] = _wcf_date(time.time())
        self.customers[codigo] = {f.out: values[f.name] for f in CLIENTE.fields}
        return _json({"Codigo": codigo}, status=201)

    def _situacion_fiscal(self, raw: Any) -> int:
        """An int or a numeric string, a code of the install's table; absent: 0 (the .NET
        default of an int field)."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return 0
        code: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            code = raw
        elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
            code = int(raw.strip())
        if code is None or code not in self.situaciones_fiscales:
            raise HttpError(400, f"Situación fiscal inexistente: {raw}")
        return code

    # -- writes: Pedido ---------------------------------------------------------------------
    def _create_order(self, body: dict[str, Any]) -> web.StreamResponse:
        data = _bind(PEDIDO.by_key, body)
        cliente = self._existing_customer(data.get("Cliente"))
        motivo = self._motivo(data.get("Motivo"))
        lista = _key(_text(data, "ListaDePrecios"))
        if lista:
            if lista not in self._list_codes:
                raise HttpError(400, f"Lista de precios inexistente: {lista}")
            lista = self._list_codes[lista]
        texts = {
            name: _text(data, name)
            for name in (
                "Vendedor",
                "MonedaComprobante",
                "ForPago",
                "Transportista",
                "DireccionEntrega",
                "Fecha",
                "FechaDeEntrega",
            )
        }
        obs = _text(data, "Obs", _MAX_OBS)
        porcentaje = _number(data, "PorcentajeDescuento")
        if not 0 <= porcentaje <= 100:
            raise HttpError(400, f"PorcentajeDescuento inválido: {data['PorcentajeDescuento']}")
        descuento = _number(data, "Descuento")
        if descuento < 0:
            raise HttpError(400, f"Descuento inválido: {data['Descuento']}")
        lines = self._lines(data.get("FacturaDetalle"), "FacturaDetalle", "PedidoFacturaDetalle")
        self._check_stock(lines)
        # saved: nothing below can fail
        order = self._save_order(
            cliente,
            motivo,
            lines,
            obs=obs,
            lista=lista,
            porcentaje=porcentaje,
            descuento=descuento,
            texts=texts,
        )
        return _json(
            {k: order[k] for k in ("Codigo", "Letra", "PuntoDeVenta", "Numero", "Total")},
            status=201,
        )

    def _existing_customer(self, raw: Any) -> str:
        codigo = _key(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
        if codigo not in self.customers:
            raise HttpError(400, f"Cliente inexistente: {'' if raw is None else raw}")
        return codigo

    def _motivo(self, raw: Any) -> str:
        by_key = {_key(m): m for m in self.motivos}
        if not isinstance(raw, str) or _key(raw) not in by_key:
            raise HttpError(400, f"Motivo inexistente: {'' if raw is None else raw}")
        return by_key[_key(raw)]

    def _lines(self, raw: Any, name: str, detail: str) -> list[_Line]:
        """The detail lines of a document, validated: the variant exists, Cantidad > 0,
        Precio >= 0, Descuento (a percentage) in 0..100; `Monto` is computed unless the
        detail accepts it and it was sent."""
        if not isinstance(raw, list) or not raw:
            raise HttpError(400, f"El comprobante no tiene detalle ({name})")
        fields = _DETAIL_KEYS[detail]
        lines = []
        for item in raw:
            if not isinstance(item, dict):
                raise HttpError(400, f"{name}: cada renglón debe ser un objeto")
            data = _bind(fields, item)
            art, color, talle = (
                str(data.get(f, "")).strip().upper() for f in ("Articulo", "Color", "Talle")
            )
            label = f"{art}!{color}!{talle}"
            index = self.catalog.find_variant(art, color, talle) if art else None
            if index is None:
                raise HttpError(400, f"Articulo inexistente: {label}")
            cantidad, precio = data.get("Cantidad"), data.get("Precio")
            descuento = data.get("Descuento", 0)
            if not _is_number(cantidad) or cantidad <= 0:
                raise HttpError(400, f"Cantidad inválida en {label}: {cantidad}")
            if not _is_number(precio) or precio < 0:
                raise HttpError(400, f"Precio inválido en {label}: {precio}")
            if not _is_number(descuento) or not 0 <= descuento <= 100:
                raise HttpError(400, f"Descuento inválido en {label}: {descuento}")
            monto = data.get("Monto")
            if monto is None:
                monto = round(cantidad * precio * (1 - descuento / 100), 4)
            elif not _is_number(monto) or monto < 0:
                raise HttpError(400, f"Monto inválido en {label}: {monto}")
            record = {
                "Articulo": art,
                "Color": color,
                "Talle": talle,
                "Cantidad": float(cantidad),
                "Precio": float(precio),
                "Descuento": float(descuento),
                "Monto": float(monto),
            }
            lines.append(_Line(index, record))
        return lines

    def _check_stock(self, lines: Sequence[_Line]) -> None:
        if not self.refuse_without_stock:
            return
        asked: dict[int, float] = {}
        for line in lines:
            asked[line.index] = asked.get(line.index, 0.0) + line.record["Cantidad"]
        cat = self.catalog
        for line in lines:
            i = line.index
            if asked[i] > cat.stock[i] - cat.comprometido[i]:
                label = "!".join(line.record[f] for f in ("Articulo", "Color", "Talle"))
                raise HttpError(400, f"No hay stock suficiente para el artículo {label}")

    def _save_order(
        self,
        cliente: str,
        motivo: str,
        lines: Sequence[_Line],
        *,
        obs: str,
        lista: str = "",
        porcentaje: float = 0.0,
        descuento: float = 0.0,
        texts: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Store a validated Pedido and commit its stock."""
        codigo = f"P{self._next_order:06d}"
        self._next_order += 1
        numero = self._next_numero
        self._next_numero += 1
        situacion = self.customers[cliente]["SituacionFiscal"]
        letra = "A" if situacion == 1 else "B"
        for line in lines:
            self.catalog.add_comprometido_at(line.index, line.record["Cantidad"])
        subtotal = sum(line.record["Monto"] for line in lines)
        texts = texts or {}
        order = {
            "Codigo": codigo,
            "Letra": letra,
            "PuntoDeVenta": _PUNTO_DE_VENTA,
            "Numero": numero,
            "Fecha": texts.get("Fecha") or _wcf_date(time.time()),
            "FechaDeEntrega": texts.get("FechaDeEntrega") or None,
            "Cliente": cliente,
            "Vendedor": texts.get("Vendedor", ""),
            "MonedaComprobante": texts.get("MonedaComprobante", ""),
            "ListaDePrecios": lista,
            "ForPago": texts.get("ForPago", ""),
            "Motivo": motivo,
            "Transportista": texts.get("Transportista", ""),
            "DireccionEntrega": texts.get("DireccionEntrega", ""),
            "FacturaDetalle": [dict(line.record) for line in lines],
            "PorcentajeDescuento": porcentaje,
            "Descuento": descuento,
            "Obs": obs,
            "Total": round(subtotal * (1 - porcentaje / 100) - descuento, 4),
        }
        self.orders[codigo] = order
        return order

    # -- writes: Operacionecommerce ---------------------------------------------------------
    def _create_operation(self, body: dict[str, Any]) -> web.StreamResponse:
        data = _bind(OPERACION.by_key, body)
        ecommerce = _text(data, "Ecommerce").strip()
        if not ecommerce:
            raise HttpError(400, "El campo Ecommerce es obligatorio")
        platform = self._platforms.get(_key(ecommerce))
        if platform is None:
            raise HttpError(400, f"La plataforma de ecommerce {ecommerce} no existe")
        numero_raw = data.get("Numero", "")
        if isinstance(numero_raw, bool) or not isinstance(numero_raw, (str, int)):
            raise HttpError(400, "El campo Numero debe ser texto")
        numero = str(numero_raw).strip()
        if not numero:
            raise HttpError(400, "El campo Numero es obligatorio")
        key = (_key(platform), _key(numero))
        if key in self._operation_keys:
            raise HttpError(400, DUPLICATE_OPERATION)
        cliente = self._existing_customer(data.get("ClienteDragon"))
        cliente_ecom = _text(data, "ClienteEcom")
        fecha = _text(data, "Fecha")
        obs = _text(data, "Obs", _MAX_OBS)
        tipo = _text(data, "TipoComprobante").strip() or "Pedido"
        if tipo.upper() != "PEDIDO":
            raise HttpError(400, f"Tipo de comprobante no soportado: {tipo}")
        pagado = data.get("Pagado", False)
        if not isinstance(pagado, bool):
            raise HttpError(400, "El campo Pagado debe ser verdadero o falso")
        lines = self._lines(
            data.get("PublicacionDetalle"),
            "PublicacionDetalle",
            "OperacionecommercePublicacionDetalle",
        )
        valores = self._valores(data.get("ValoresDetalle", []))
        total = data.get("Total")
        if total is None:
            total = round(sum(line.record["Monto"] for line in lines), 4)
        elif not _is_number(total):
            raise HttpError(400, "El campo Total debe ser un número")
        motivo = self._motivo(self.motivos[0] if self.motivos else None)
        self._check_stock(lines)
        # saved: nothing below can fail
        order = self._save_order(cliente, motivo, lines, obs=obs, texts={"Fecha": fecha})
        codigo = f"OP{self._next_operation:06d}"
        self._next_operation += 1
        operation = {
            "Codigo": codigo,
            "Ecommerce": platform,
            "Numero": numero,
            "Fecha": fecha or _wcf_date(time.time()),
            "ClienteEcom": cliente_ecom,
            "ClienteDragon": cliente,
            "PublicacionDetalle": [dict(line.record) for line in lines],
            "ValoresDetalle": valores,
            "Total": float(total),
            "Pagado": pagado,
            "Obs": obs,
            "TipoComprobante": "Pedido",
            "CompAfec": [
                {
                    "Codigo": order["Codigo"],
                    "TipoCompCaracter": "PEDIDO",
                    "Tipo": _TIPO_PEDIDO,
                    "Letra": order["Letra"],
                    "PuntoDeVenta": order["PuntoDeVenta"],
                    "Numero": order["Numero"],
                    "Fecha": order["Fecha"],
                    "Total": order["Total"],
                }
            ],
        }
        self.operations[codigo] = operation
        self._operation_keys[key] = codigo
        return _json(operation, status=201)

    @staticmethod
    def _valores(raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise HttpError(400, "El campo ValoresDetalle debe ser una lista")
        fields = _DETAIL_KEYS["OperacionecommerceValoresDetalle"]
        out = []
        for item in raw:
            if not isinstance(item, dict):
                raise HttpError(400, "ValoresDetalle: cada renglón debe ser un objeto")
            data = _bind(fields, item)
            where = " de ValoresDetalle"
            out.append(
                {
                    "Valor": _text(data, "Valor", where=where),
                    "Monto": _number(data, "Monto", where=where),
                }
            )
        return out


__all__ = [
    "DEFAULT_ECOMMERCE_PLATFORMS",
    "DEFAULT_PRICE_LISTS",
    "DEFAULT_SITUACIONES_FISCALES",
    "DEFAULT_TIPOS_DOCUMENTO",
    "ENTITIES",
    "PROVINCIAS",
    "DragonfishSimulator",
    "ascii_fold",
    "build_swagger",
]

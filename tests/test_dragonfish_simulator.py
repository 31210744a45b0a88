"""The Dragonfish simulator itself, over real loopback sockets with raw httpx: it must behave
like shared/specs/erp-apis.md, section "Dragonfish (ZooLogic)"."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from connectors.dragonfish.jwt import read_claims
from sim.catalog import LISTS, SimCatalog
from sim.dragonfish import DUPLICATE_OPERATION, DragonfishSimulator
from sim.jwt import claims, dragonfish_token, password_hmac
from sim.kit import FaultPlan

CUSTOMER = {
    "Nombre": "Ferretería Ñandú SRL",
    "PrimerNombre": "Juan",
    "Apellido": "Pérez",
    "TipoDocumento": "01",
    "NroDocumento": "30712345",
    "Cuit": "30712345671",
    "SituacionFiscal": 1,
    "Email": "compras@nandu.com.ar",
    "Movil": "+54 9 11 5555-1234",
    "Calle": "Av. Corrientes",
    "Numero": 1234,
    "Piso": "3",
    "Localidad": "CABA",
    "CodigoPostal": "C1043AAZ",
    "Provincia": "00",
    "ListaDePrecio": "LISTA1",
}
# a Cliente answer: the vendor's casing, in this order
CUSTOMER_KEYS = [
    "Codigo",
    "Nombre",
    "PrimerNombre",
    "SegundoNombre",
    "Apellido",
    "CUIT",
    "TipoDocumento",
    "NroDocumento",
    "SituacionFiscal",
    "EMail",
    "Calle",
    "Numero",
    "Piso",
    "Departamento",
    "Localidad",
    "CodigoPostal",
    "Provincia",
    "Pais",
    "Telefono",
    "Movil",
    "ListaDePrecio",
    "Vendedor",
    "CondicionDePago",
    "FechaAlta",
]
EVERY_ROW = {"stockcero": "true", "preciocero": "true"}


def http_client(**kw: Any) -> httpx.AsyncClient:
    # plain HTTP on loopback: skip loading a CA bundle (~0.1 s per client)
    return httpx.AsyncClient(verify=False, **kw)


def headers(sim: DragonfishSimulator) -> dict[str, str]:
    return {"idCliente": sim.cliente, "Authorization": sim.token}


@asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[DragonfishSimulator, httpx.AsyncClient]]:
    """A simulator built with `kw` and a client with its credentials."""
    kw.setdefault("catalog", SimCatalog.generate(200, seed=1))
    sim = DragonfishSimulator(**kw)
    await sim.start()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
            yield sim, c
    finally:
        await sim.stop()


@pytest.fixture
async def sim() -> AsyncIterator[DragonfishSimulator]:
    s = DragonfishSimulator(catalog=SimCatalog.generate(200, seed=1))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(sim: DragonfishSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
        yield c


async def create_customer(client: httpx.AsyncClient, **over: Any) -> str:
    r = await client.post("Cliente/", json={**CUSTOMER, **over})
    assert r.status_code == 201, r.reason_phrase
    return str(r.json()["Codigo"])


def variants(sim: DragonfishSimulator, min_stock: float = 5) -> Iterator[tuple[str, str, str, str]]:
    cat = sim.catalog
    for sku in cat.skus():
        if "!" in sku and cat.disponible(sku) >= min_stock and cat.price(sku, "LISTA0") > 0:
            art, color, talle = sku.split("!")
            yield sku, art, color, talle


def some_variant(sim: DragonfishSimulator, min_stock: float = 5) -> tuple[str, str, str, str]:
    return next(variants(sim, min_stock))


def line(art: str, color: str, talle: str, **over: Any) -> dict[str, Any]:
    return {
        "Articulo": art,
        "Color": color,
        "Talle": talle,
        "Cantidad": 2.0,
        "Precio": 100.5,
        **over,
    }


def order_body(cliente: str, art: str, color: str, talle: str, **over: Any) -> dict[str, Any]:
    return {
        "Cliente": cliente,
        "Motivo": "VENTA WEB",
        "ListaDePrecios": "LISTA1",
        "Obs": "Pedido web 1001",
        "FacturaDetalle": [line(art, color, talle)],
        **over,
    }


def operation_body(cliente: str, art: str, color: str, talle: str, **over: Any) -> dict[str, Any]:
    return {
        "Ecommerce": "VENTASXMAYOR",
        "Numero": "1001",
        "ClienteEcom": "comprador@example.com",
        "ClienteDragon": cliente,
        "PublicacionDetalle": [line(art, color, talle, Descuento=10)],
        "ValoresDetalle": [{"Valor": "MP", "Monto": 180.9}],
        "Total": 180.9,
        "Pagado": True,
        "Obs": "Tienda #1001",
        **over,
    }


def comprometido(sim: DragonfishSimulator) -> list[float]:
    return list(sim.catalog.comprometido)


# -- jwt ----------------------------------------------------------------------------------
# The simulator's tokens (sim.jwt) read by the connector's reader: two implementations of
# the spec's "Token", each written on its own, must agree.
def test_jwt_roundtrip_and_garbage() -> None:
    token = dragonfish_token("WEB", password_hmac("secreto", "k"), "k", 2_000_000_000)
    expected = {
        "usuario": "WEB",
        "password": hmac.new(b"k", b"secreto", hashlib.sha256).hexdigest(),
        "exp": 2_000_000_000,
    }
    assert read_claims(token) == claims(token) == expected
    header, payload, signature = token.split(".")
    assert "=" not in token and json.loads(base64.urlsafe_b64decode(header + "==")) == {
        "alg": "HS256",
        "typ": "JWT",
    }
    signed = hmac.new(b"k", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == signed  # HS256 (RFC 7515 A.1)
    for bad in ("", "abc", "a.b", "a.b.c", "Bearer x", "!!.??.!!", token + ".x"):
        with pytest.raises(ValueError):
            read_claims(bad)
        assert claims(bad) is None


def test_jwt_exp_as_json_string() -> None:
    token = dragonfish_token("WEB", "x", "k", 1_846_340_343, exp_as_string=True)
    assert read_claims(token)["exp"] == "1846340343"


# -- auth ---------------------------------------------------------------------------------
async def test_service_info_needs_no_auth(sim: DragonfishSimulator) -> None:
    async with http_client() as c:
        r = await c.get(sim.base_url + "ObtenerInformacionServicio")
    assert r.status_code == 200 and r.json()["Estado"] == "OK"
    assert sim.count("obtenerinformacionservicio", "GET") == 1


@pytest.mark.parametrize(
    ("hdrs", "reason"),
    [
        ({}, "Cliente invalido"),
        ({"idCliente": "OTRO"}, "Cliente invalido"),
        ({"idCliente": "CLIENTE1"}, "Token invalido"),
        ({"idCliente": "CLIENTE1", "Authorization": "nope"}, "Token invalido"),
        ({"idCliente": "CLIENTE1", "Authorization": "Bearer {token}"}, "Token invalido"),
    ],
)
async def test_auth_refused(sim: DragonfishSimulator, hdrs: dict[str, str], reason: str) -> None:
    hdrs = {k: v.format(token=sim.token) for k, v in hdrs.items()}
    async with http_client(base_url=sim.base_url, headers=hdrs) as c:
        r = await c.get("ConsultaStockYPrecios/")
    assert (r.status_code, r.reason_phrase) == (401, reason)


async def test_expired_and_renewed_token(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    assert (await client.get("ConsultaStockYPrecios/")).status_code == 200
    sim.expire_token()
    r = await client.get("ConsultaStockYPrecios/")
    assert (r.status_code, r.reason_phrase) == (401, "Token vencido")
    old = sim.token
    new = sim.renew_token()
    assert new != old and sim.token == new
    r = await client.get("ConsultaStockYPrecios/")
    assert (r.status_code, r.reason_phrase) == (401, "Token invalido")
    r = await client.get("ConsultaStockYPrecios/", headers={"Authorization": new})
    assert r.status_code == 200


@pytest.mark.parametrize("as_string", [False, True])
async def test_token_with_past_exp_is_expired(as_string: bool) -> None:
    old = dragonfish_token("WEB", "x", "k", int(time.time()) - 10, exp_as_string=as_string)
    async with running(token=old) as (_, c):
        r = await c.get("Provincia/")
    assert (r.status_code, r.reason_phrase) == (401, "Token vencido")


async def test_default_token_lasts_two_years_and_exp_as_string() -> None:
    assert read_claims(DragonfishSimulator().token)["exp"] > time.time() + 700 * 86400
    async with running(exp_as_string=True) as (sim, c):
        exp = read_claims(sim.token)["exp"]
        assert isinstance(exp, str) and int(exp) > time.time() + 700 * 86400
        assert (await c.get("Provincia/")).status_code == 200
        assert isinstance(read_claims(sim.renew_token())["exp"], str)
        sim.token = dragonfish_token("WEB", "x", "k", int(time.time()) - 5, exp_as_string=True)
        r = await c.get("Provincia/", headers={"Authorization": sim.token})
        assert (r.status_code, r.reason_phrase) == (401, "Token vencido")


async def test_base_de_datos_header() -> None:
    async with running(base_de_datos="ECOMMECS") as (_, c):
        r = await c.get("Provincia/")
        assert (r.status_code, r.reason_phrase) == (400, "Base de datos inexistente")
        assert r.json() == {"Mensaje": "Base de datos inexistente"}
        r = await c.get("Provincia/", headers={"BaseDeDatos": "ECOMMECS"})
        assert r.status_code == 200
        r = await c.get("Provincia/", headers={"basededatos": "ecommecs"})
        assert r.status_code == 200


async def test_routes_and_headers_ignore_case(sim: DragonfishSimulator) -> None:
    hdrs = {"IDCLIENTE": sim.cliente, "authorization": sim.token}
    root = f"http://127.0.0.1:{sim.port}/"
    async with http_client(headers=hdrs) as c:
        for path in (
            "api.Dragonfish/ConsultaStockYPrecios/",
            "API.DRAGONFISH/consultastockyprecios",
            "api.dragonfish/CONSULTASTOCKYPRECIOS/?limit=3",
        ):
            r = await c.get(root + path)
            assert r.status_code == 200, path
        r = await c.get(root + "api.Dragonfish/NoExiste/")
        assert r.status_code == 404
        r = await c.get(root + "otra/ConsultaStockYPrecios/")
        assert r.status_code == 404
        r = await c.post(root + "api.Dragonfish/Provincia/", json={"Codigo": "99"})
        assert (r.status_code, r.reason_phrase) == (405, "Metodo no permitido")
    assert sim.count("consultastockyprecios", "GET") == 3


async def test_autenticar_required() -> None:
    async with running(require_autenticar=True) as (sim, c):
        r = await c.get("Provincia/")
        assert (r.status_code, r.reason_phrase) == (401, "Sesion no iniciada")
        # no session needed for the health check and the swagger document
        assert (await c.get("ObtenerInformacionServicio")).status_code == 200
        assert (await c.get("swagger.json")).status_code == 200
        for body, reason in (
            ({"IdCliente": "OTRO", "JWToken": sim.token}, "Cliente invalido"),
            ({"IdCliente": sim.cliente, "JWToken": "nope"}, "Token invalido"),
            ({"IdCliente": sim.cliente}, "Token invalido"),
        ):
            r = await c.post("Autenticar", json=body)
            assert (r.status_code, r.reason_phrase) == (401, reason)
        assert (await c.get("Provincia/")).status_code == 401
        r = await c.post("autenticar", json={"idcliente": sim.cliente, "JWTOKEN": sim.token})
        assert r.status_code == 200 and r.json()["Autenticado"] is True
        assert (await c.get("Provincia/")).status_code == 200
        assert (await c.post("Cliente/", json=CUSTOMER)).status_code == 201
        sim.end_session()
        r = await c.get("Provincia/")
        assert (r.status_code, r.reason_phrase) == (401, "Sesion no iniciada")
        assert (
            await c.post("Autenticar/", json={"IdCliente": sim.cliente, "JWToken": sim.token})
        ).status_code == 200
        assert (await c.get("Provincia/")).status_code == 200
        assert (await c.get("Autenticar")).status_code == 405
        assert sim.count("autenticar", "POST") == 5
        # an expired token cannot open a session
        sim.end_session()
        sim.expire_token()
        r = await c.post("Autenticar", json={"IdCliente": sim.cliente, "JWToken": sim.token})
        assert (r.status_code, r.reason_phrase) == (401, "Token vencido")


async def test_autenticar_is_harmless_when_not_required(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    assert (await client.get("Provincia/")).status_code == 200
    r = await client.post("Autenticar", json={"IdCliente": sim.cliente, "JWToken": sim.token})
    assert r.status_code == 200
    sim.end_session()
    assert (await client.get("Provincia/")).status_code == 200
    assert sim.count("autenticar") == 1


# -- swagger ------------------------------------------------------------------------------
def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


async def test_swagger_document(sim: DragonfishSimulator) -> None:
    async with http_client() as c:  # no auth
        r = await c.get(sim.base_url + "swagger.json")
        assert r.status_code == 200
        assert (await c.get(sim.base_url + "SWAGGER.JSON")).json() == r.json()
    doc = r.json()
    assert doc["swagger"] == "2.0" and doc["basePath"] == "/api.Dragonfish"
    assert {"info", "host", "paths", "definitions", "securityDefinitions"} <= set(doc)
    paths, defs = doc["paths"], doc["definitions"]
    for entity in (
        "Cliente",
        "Pedido",
        "Operacionecommerce",
        "ListaDePrecios",
        "Provincia",
        "Motivo",
        "SituacionFiscal",
        "TipoDocumento",
        "Ecommerce",
    ):
        assert set(paths[f"/{entity}/"]) >= {"get"}, entity
        assert set(paths[f"/{entity}/{{Codigo}}/"]) == {"get"}, entity
    assert set(paths["/ConsultaStockYPrecios/"]) == {"get"}
    assert "/ConsultaStockYPrecios/{Codigo}/" not in paths
    assert set(paths["/Autenticar"]) == {"post"}
    assert set(paths["/ObtenerInformacionServicio"]) == {"get"}
    for entity in ("Cliente", "Pedido", "Operacionecommerce"):
        (body,) = [p for p in paths[f"/{entity}/"]["post"]["parameters"] if p["in"] == "body"]
        assert body["schema"] == {"$ref": f"#/definitions/{entity}"}
    assert "post" not in paths["/ListaDePrecios/"]
    cliente_params = {p["name"]: p for p in paths["/Cliente/"]["get"]["parameters"]}
    assert {"limit", "page", "query", "Codigo", "Cuit", "NroDocumento", "Email"} <= set(
        cliente_params
    )
    assert all(p["in"] == "query" for p in cliente_params.values())
    assert cliente_params["SituacionFiscal"]["type"] == "integer"
    stock_params = {p["name"] for p in paths["/ConsultaStockYPrecios/"]["get"]["parameters"]}
    assert {"limit", "page", "query", "exacto", "lista", "preciocero", "stockcero"} <= stock_params
    op_params = {p["name"] for p in paths["/Operacionecommerce/"]["get"]["parameters"]}
    assert {"Ecommerce", "Numero"} <= op_params
    assert set(defs) >= {
        "Cliente",
        "Pedido",
        "Operacionecommerce",
        "Listadeprecios",
        "Consultastockyprecios",
        "Provincia",
        "Motivo",
        "Situacionfiscal",
        "Tipodocumento",
        "Ecommerce",
        "PedidoFacturaDetalle",
        "OperacionecommercePublicacionDetalle",
    }
    cliente = defs["Cliente"]["properties"]
    assert {"Codigo", "Nombre", "Cuit", "Email", "SituacionFiscal", "TipoDocumento"} <= set(cliente)
    assert cliente["SituacionFiscal"]["type"] == "integer"
    assert cliente["Codigo"]["maxLength"] == 10
    assert set(defs["Listadeprecios"]["properties"]) == {
        "Codigo",
        "Nombre",
        "Moneda",
        "CondicionIva",
        "FechaHasta",
    }
    assert defs["Pedido"]["properties"]["FacturaDetalle"] == {
        "type": "array",
        "items": {"$ref": "#/definitions/PedidoFacturaDetalle"},
    }
    assert "NroOPEcommerce" not in defs["Pedido"]["properties"]
    assert set(defs["OperacionecommercePublicacionDetalle"]["properties"]) == {
        "Articulo",
        "Color",
        "Talle",
        "Cantidad",
        "Precio",
        "Descuento",
        "Monto",
    }
    ops = defs["Operacionecommerce"]["properties"]
    assert ops["PublicacionDetalle"]["items"] == {
        "$ref": "#/definitions/OperacionecommercePublicacionDetalle"
    }
    assert "CompAfec" in ops and "Pedido" not in ops
    # every reference resolves
    for ref in _refs(doc):
        assert ref.removeprefix("#/definitions/") in defs, ref


async def test_swagger_omit_changes_the_document_only() -> None:
    omit = ("Operacionecommerce", "Listadeprecios.Nombre", "cliente.cuit")
    async with running(swagger_omit=omit) as (sim, c):
        doc = (await c.get("swagger.json")).json()
        assert not any(p.lower().startswith("/operacionecommerce") for p in doc["paths"])
        assert not any(d.startswith("Operacionecommerce") for d in doc["definitions"])
        assert "Nombre" not in doc["definitions"]["Listadeprecios"]["properties"]
        assert "Cuit" not in doc["definitions"]["Cliente"]["properties"]
        names = {p["name"] for p in doc["paths"]["/Cliente/"]["get"]["parameters"]}
        assert "Cuit" not in names and "NroDocumento" in names
        assert "Pedido" in doc["definitions"] and "/Pedido/" in doc["paths"]
        # the server still does all of it
        rows = (await c.get("ListaDePrecios/")).json()["Resultados"]
        assert rows[0]["Nombre"] == "MINORISTA"
        cliente = await create_customer(c)
        assert (await c.get("Cliente/", params={"Cuit": CUSTOMER["Cuit"]})).status_code == 200
        _, art, color, talle = some_variant(sim)
        r = await c.post("Operacionecommerce/", json=operation_body(cliente, art, color, talle))
        assert r.status_code == 201
    with pytest.raises(ValueError):
        DragonfishSimulator(swagger_omit=["NoExiste"])
    with pytest.raises(ValueError):
        DragonfishSimulator(swagger_omit=["Cliente.NoExiste"])
    doc = DragonfishSimulator(swagger_omit=["Autenticar"]).swagger_document
    assert "/Autenticar" not in doc["paths"] and "/ObtenerInformacionServicio" in doc["paths"]


async def test_swagger_not_served() -> None:
    async with running(swagger=False) as (sim, c):
        r = await c.get("swagger.json")
        assert r.status_code == 404
        assert (await c.get("Provincia/")).status_code == 200
        assert sim.count("swagger.json", "GET") == 1


# -- lists --------------------------------------------------------------------------------
async def test_pagination_envelope(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    r = await client.get("ConsultaStockYPrecios/", params={"limit": 7, **EVERY_ROW})
    data = r.json()
    assert list(data) == ["CountResultado", "Siguiente", "TotalRegistros", "Resultados"]
    assert data["TotalRegistros"] == 200 and data["CountResultado"] == 7
    assert data["Siguiente"] == (
        "http://192.168.10.5:8015/api.Dragonfish/ConsultaStockYPrecios/"
        "?limit=7&stockcero=true&preciocero=true&page=2"
    )
    row = data["Resultados"][0]
    assert list(row) == [
        "Articulo",
        "ArticuloDescripcion",
        "ArticuloDescripcionAdicional",
        "ArticuloImagen",
        "Color",
        "ColorDescripcion",
        "Talle",
        "TalleDescripcion",
        "Stock",
        "Disponible",
        "Comprometido",
        "PendienteEntrega",
        "Lista",
        "Precio",
        "Precios",
        "OrdenPorColor",
        "OrdenPorTalle",
        "UnidadDeMedida",
        "UnidadDeMedidaDescripcion",
    ]
    assert row["Lista"] == "LISTA0" and isinstance(row["Stock"], float)
    assert [p["Lista"] for p in row["Precios"]] == list(LISTS.values())
    # follow page numbers to the end: every row once, in the stable order
    seen: list[tuple[str, int, int]] = []
    page = 1
    while True:
        r = await client.get(
            "ConsultaStockYPrecios/", params={"limit": 30, "page": page, **EVERY_ROW}
        )
        if r.status_code == 404:
            break
        body = r.json()
        seen += [
            (x["Articulo"], x["OrdenPorColor"], x["OrdenPorTalle"]) for x in body["Resultados"]
        ]
        assert (body["Siguiente"] is None) == (page == 7)
        page += 1
    assert page == 8 and len(seen) == 200 and seen == sorted(seen)
    r = await client.get("ConsultaStockYPrecios/", params={"page": 99})
    assert (r.status_code, r.reason_phrase) == (404, "No se encontraron resultados")
    r = await client.get("ConsultaStockYPrecios/", params={"limit": 5000})
    assert r.json()["CountResultado"] == min(sim.max_limit, r.json()["TotalRegistros"])
    # default page size 50; parameter names in any case
    r = await client.get("ConsultaStockYPrecios/", params=EVERY_ROW)
    assert r.json()["CountResultado"] == 50
    r = await client.get("ConsultaStockYPrecios/", params={"LIMIT": 3, "Page": 2, **EVERY_ROW})
    assert r.json()["CountResultado"] == 3 and r.json()["Resultados"][0] == data["Resultados"][3]
    for bad in ({"limit": 0}, {"page": 0}, {"limit": "x"}):
        assert (await client.get("ConsultaStockYPrecios/", params=bad)).status_code == 400


async def test_limit_clamped_to_max() -> None:
    async with running(catalog=SimCatalog.generate(60, seed=2), max_limit=25) as (_, c):
        data = (
            await c.get("ConsultaStockYPrecios/", params={"limit": 100, "stockcero": "true"})
        ).json()
    assert data["CountResultado"] == 25 and data["Siguiente"].endswith("page=2")


async def test_zero_stock_and_zero_price_filters() -> None:
    cat = SimCatalog.generate(300, seed=3, zero_stock_share=0.2, zero_price_share=0.1)
    async with running(catalog=cat) as (_, c):

        async def total(**params: str) -> int:
            r = await c.get("ConsultaStockYPrecios/", params={"limit": 1000, **params})
            return int(r.json()["TotalRegistros"])

        everything = await total(stockcero="true", preciocero="true")
        n_zero_stock = sum(1 for i in range(len(cat)) if cat.stock[i] <= 0)
        n_zero_price = sum(1 for i in range(len(cat)) if cat.prices["LISTA0"][i] == 0)
        assert everything == 300 and n_zero_stock > 20 and n_zero_price > 10
        assert await total(preciocero="true") == 300 - n_zero_stock
        assert await total(stockcero="true") == 300 - n_zero_price
        assert await total(stockcero="false", preciocero="false") == sum(
            1 for i in range(len(cat)) if cat.stock[i] > 0 and cat.prices["LISTA0"][i] != 0
        )
        # the trap: an item that goes to zero vanishes from the default query
        sku = next(
            s for s in cat.skus() if cat.price(s, "LISTA0") and cat.stock[cat.find(s) or 0] > 0
        )
        before = await total()
        cat.set_stock(sku, 0)
        assert await total() == before - 1
        assert await total(stockcero="true", preciocero="true") == 300


async def test_price_lists(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    r = await client.get("ListaDePrecios/")
    rows = r.json()["Resultados"]
    assert [(x["Codigo"], x["Nombre"]) for x in rows] == list(LISTS.items())
    assert list(rows[0]) == ["Codigo", "Nombre", "Moneda", "CondicionIva", "FechaHasta"]
    # `query` is a substring search over code and name: two lists share "MAYOR $"
    r = await client.get("ListaDePrecios/", params={"query": "mayor"})
    assert [x["Codigo"] for x in r.json()["Resultados"]] == ["LISTA1", "LISTA3"]
    assert r.json()["Siguiente"] is None
    r = await client.get("ListaDePrecios/", params={"query": "lista2"})
    assert [x["Nombre"] for x in r.json()["Resultados"]] == ["DISTRIBUIDOR"]
    r = await client.get("ListaDePrecios/", params={"query": "mayorista"})
    assert (r.status_code, r.reason_phrase) == (404, "No se encontraron resultados")
    # an exact filter on Nombre (case-insensitive, trimmed) finds one
    for name in ("MAYOR $", "mayor $ ", "Mayor $"):
        r = await client.get("ListaDePrecios/", params={"Nombre": name})
        assert [x["Codigo"] for x in r.json()["Resultados"]] == ["LISTA1"], name
    assert (await client.get("ListaDePrecios/LISTA3/")).json()["Moneda"] == "USD"

    sku, *_ = some_variant(sim)
    for code, name in (
        ("LISTA1", "MAYOR $"),
        ("LISTA3", "MAYOR $ USD"),
        ("lista2", "DISTRIBUIDOR"),
    ):
        r = await client.get(
            "ConsultaStockYPrecios/",
            params={"lista": code, "exacto": "true", "query": sku, **EVERY_ROW},
        )
        (row,) = r.json()["Resultados"]
        assert row["Lista"] == code.upper()
        assert row["Precio"] == sim.catalog.price(sku, code.upper())
        assert {"Lista": name, "Precio": row["Precio"]} in row["Precios"]
    r = await client.get("ConsultaStockYPrecios/", params={"lista": "LISTA9"})
    assert (r.status_code, r.reason_phrase) == (400, "Lista de precios inexistente: LISTA9")
    assert r.json() == {"Mensaje": "Lista de precios inexistente: LISTA9"}
    r = await client.get("ConsultaStockYPrecios/", params={"lista": "MAYOR $"})
    assert r.status_code == 400  # a name is not a code


async def test_custom_price_lists() -> None:
    lists = {"L1": "WEB", "L2": "MAYORISTA"}
    cat = SimCatalog.generate(50, seed=4)
    async with running(catalog=cat, price_lists=lists) as (_, c):
        rows = (await c.get("ListaDePrecios/")).json()["Resultados"]
        assert [(x["Codigo"], x["Nombre"]) for x in rows] == list(lists.items())
        r = await c.get("ConsultaStockYPrecios/", params=EVERY_ROW)
        row = r.json()["Resultados"][0]
        assert row["Lista"] == "L1"  # no LISTA0 here: the first list is the default
        assert [p["Lista"] for p in row["Precios"]] == ["WEB", "MAYORISTA"]
        r = await c.get("ConsultaStockYPrecios/", params={"lista": "L2", **EVERY_ROW})
        assert r.json()["Resultados"][0]["Lista"] == "L2"
        assert (
            await c.get("ConsultaStockYPrecios/", params={"lista": "LISTA1"})
        ).status_code == 400
    assert "L1" in cat.prices and len(cat.prices["L2"]) == 50


async def test_honour_lista_off() -> None:
    async with running(honour_lista=False) as (_, c):
        r = await c.get("ConsultaStockYPrecios/", params={"lista": "LISTA1", **EVERY_ROW})
        row = r.json()["Resultados"][0]
        assert row["Lista"] == "LISTA0"
        assert {p["Lista"] for p in row["Precios"]} == set(LISTS.values())


async def test_exact_and_substring_queries(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cat = sim.catalog
    sku, art, color, talle = some_variant(sim)
    every = {**EVERY_ROW, "exacto": "true"}
    r = await client.get("ConsultaStockYPrecios/", params={**every, "query": sku})
    rows = r.json()["Resultados"]
    assert [(x["Articulo"], x["Color"], x["Talle"]) for x in rows] == [(art, color, talle)]
    r = await client.get("ConsultaStockYPrecios/", params={**every, "query": art})
    assert r.json()["TotalRegistros"] == len(cat.article_range(art)) > 1
    r = await client.get("ConsultaStockYPrecios/", params={**every, "query": art[:-1]})
    assert r.status_code == 404
    # without exacto: substring over code and description, any case
    word = cat.art_desc[0].split()[0]
    r = await client.get(
        "ConsultaStockYPrecios/", params={"query": word.upper(), **EVERY_ROW, "limit": 1000}
    )
    found = r.json()["Resultados"]
    assert found and all(word.lower() in x["ArticuloDescripcion"].lower() for x in found)
    # products without variants: Color and Talle empty, the SKU is the article
    plain = next(s for s in cat.skus() if "!" not in s)
    r = await client.get("ConsultaStockYPrecios/", params={**every, "query": plain})
    (row,) = r.json()["Resultados"]
    assert (row["Articulo"], row["Color"], row["Talle"]) == (plain, "", "")


async def test_stock_field_filters(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    _, art, color, talle = some_variant(sim)
    r = await client.get("ConsultaStockYPrecios/", params={"Articulo": art.lower(), **EVERY_ROW})
    rows = r.json()["Resultados"]
    assert len(rows) == len(sim.catalog.article_range(art)) and {x["Articulo"] for x in rows} == {
        art
    }
    r = await client.get(
        "ConsultaStockYPrecios/",
        params={"articulo": art, "COLOR": color, "Talle": talle, **EVERY_ROW},
    )
    assert [(x["Color"], x["Talle"]) for x in r.json()["Resultados"]] == [(color, talle)]
    r = await client.get("ConsultaStockYPrecios/", params={"Articulo": "NOPE", **EVERY_ROW})
    assert r.status_code == 404
    # a parameter that is no field of the entity is ignored
    r = await client.get("ConsultaStockYPrecios/", params={"Cuit": "1", **EVERY_ROW})
    assert r.json()["TotalRegistros"] == 200


async def test_provinces(client: httpx.AsyncClient) -> None:
    r = await client.get("Provincia/", params={"limit": 100})
    rows = r.json()["Resultados"]
    assert len(rows) == 24 and rows[0] == {
        "Codigo": "00",
        "Descripcion": "Ciudad Autónoma de Buenos Aires",
    }
    assert rows[1] == {"Codigo": "01", "Descripcion": "Buenos Aires"}
    r = await client.get("Provincia/", params={"query": "TUCUMAN"})
    assert [x["Descripcion"] for x in r.json()["Resultados"]] == ["Tucumán"]
    r = await client.get("Provincia/", params={"query": "rio"})
    assert {x["Descripcion"] for x in r.json()["Resultados"]} == {
        "Entre Ríos",
        "La Rioja",
        "Río Negro",
    }
    r = await client.get("Provincia/", params={"query": "cordoba"})
    assert r.json()["Resultados"] == [{"Codigo": "03", "Descripcion": "Córdoba"}]
    assert (await client.get("Provincia/01/")).json() == rows[1]


async def test_code_tables(client: httpx.AsyncClient) -> None:
    async def rows(path: str, **params: Any) -> list[dict[str, Any]]:
        r = await client.get(path, params=params)
        assert r.status_code == 200, (path, r.reason_phrase)
        return list(r.json()["Resultados"])

    situaciones = await rows("SituacionFiscal/")
    assert [(x["Codigo"], x["Descripcion"]) for x in situaciones] == [
        (1, "Responsable Inscripto"),
        (2, "Responsable No Inscripto"),
        (3, "Consumidor Final"),
        (4, "Exento"),
        (5, "No Responsable"),
        (7, "Monotributo"),
    ]
    assert await rows("SituacionFiscal/", query="monotrib") == [
        {"Codigo": 7, "Descripcion": "Monotributo"}
    ]
    assert await rows("SituacionFiscal/", Codigo="3") == [situaciones[2]]
    assert (await client.get("SituacionFiscal/7/")).json() == situaciones[-1]
    tipos = await rows("TipoDocumento/")
    assert {x["Codigo"]: x["Descripcion"] for x in tipos}["05"] == "D.N.I."
    assert not {"80", "96"} & {x["Codigo"] for x in tipos}
    assert await rows("TipoDocumento/", query="d.n.i") == [
        {"Codigo": "05", "Descripcion": "D.N.I."}
    ]
    assert (await client.get("TipoDocumento/05/")).json()["Descripcion"] == "D.N.I."
    assert await rows("Motivo/") == [{"Codigo": "VENTA WEB", "Descripcion": "VENTA WEB"}]
    assert (await client.get("Motivo/venta web/")).json()["Codigo"] == "VENTA WEB"
    assert await rows("Ecommerce/") == [{"Codigo": "VENTASXMAYOR", "Descripcion": "VentasxMayor"}]
    assert (await client.get("ecommerce/ventasxmayor")).json()["Descripcion"] == "VentasxMayor"


async def test_configured_tables() -> None:
    async with running(
        motivos={"WEB": "Venta web", "MAYOR": "Venta mayorista"},
        situaciones_fiscales={1: "RI", 6: "Monotributo social"},
        tipos_documento={"96": "DNI"},
        ecommerce_platforms={"TN": "Tienda Nube", "ML": "Mercado Libre"},
    ) as (_, c):
        r = await c.get("Motivo/")
        assert r.json()["Resultados"][1] == {"Codigo": "MAYOR", "Descripcion": "Venta mayorista"}
        r = await c.get("SituacionFiscal/", params={"query": "social"})
        assert r.json()["Resultados"] == [{"Codigo": 6, "Descripcion": "Monotributo social"}]
        assert (await c.get("TipoDocumento/96/")).json()["Descripcion"] == "DNI"
        assert (await c.get("Ecommerce/")).json()["TotalRegistros"] == 2
        assert await create_customer(c, TipoDocumento="96", SituacionFiscal=6)
        r = await c.post("Cliente/", json={**CUSTOMER, "TipoDocumento": "05"})
        assert r.reason_phrase == "Tipo de documento inexistente: 05"


@pytest.mark.parametrize("answer", ["empty", "404"])
async def test_unknown_code(answer: str) -> None:
    async with running(unknown_code_answer=answer) as (_, c):
        for path in (
            "Cliente/NOPE/",
            "Pedido/P999999/",
            "Operacionecommerce/OP999999/",
            "ListaDePrecios/LISTA9/",
            "Motivo/REGALO/",
            "Provincia/99/",
            "SituacionFiscal/6/",
            "TipoDocumento/96/",
            "Ecommerce/OTRA/",
        ):
            r = await c.get(path)
            if answer == "empty":
                assert (r.status_code, r.json()) == (200, {}), path
            else:
                assert (r.status_code, r.reason_phrase) == (404, "No se encontraron resultados")


# -- customers ----------------------------------------------------------------------------
async def test_customer_create_read_and_casing(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    assert (await client.get("Cliente/", params={"query": "x"})).status_code == 404
    r = await client.post("Cliente/", json=CUSTOMER)
    assert (r.status_code, r.json()) == (201, {"Codigo": "C000001"})
    stored = (await client.get("cliente/c000001")).json()
    assert list(stored) == CUSTOMER_KEYS
    assert stored["CUIT"] == "30712345671" and stored["EMail"] == CUSTOMER["Email"]
    assert stored["SituacionFiscal"] == 1 and stored["TipoDocumento"] == "01"
    assert stored["Nombre"] == CUSTOMER["Nombre"] and stored["Numero"] == 1234
    assert stored["FechaAlta"].startswith("/Date(") and "Cuit" not in stored
    assert sim.customers["C000001"] == stored


async def test_customer_body_keys_ignore_case_and_unknown_keys(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    body = {
        "NOMBRE": "Casa Pérez",
        "cuit": "20-12345678-6",
        "EMAIL": "p@x.com",
        "situacionfiscal": "3",
        "tipodocumento": "05",
        "nrodocumento": "12345678",
        "NroOPEcommerce": "1001",
        "Foo": {"bar": 1},
        "FechaAlta": "ignorada",
    }
    codigo = await create_customer(client, **{k: None for k in CUSTOMER}, **body)
    stored = sim.customers[codigo]
    assert list(stored) == CUSTOMER_KEYS
    assert (stored["Nombre"], stored["CUIT"], stored["EMail"]) == (
        "Casa Pérez",
        "20123456786",
        "p@x.com",
    )
    assert (stored["SituacionFiscal"], stored["TipoDocumento"], stored["NroDocumento"]) == (
        3,
        "05",
        "12345678",
    )
    assert stored["FechaAlta"].startswith("/Date(")
    # SituacionFiscal absent: the int field's default, 0
    other = await create_customer(client, SituacionFiscal=None, Cuit="", TipoDocumento="")
    assert sim.customers[other]["SituacionFiscal"] == 0


async def test_customer_query_and_filters(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    first = await create_customer(client)
    second = await create_customer(
        client,
        Nombre="Otro",
        PrimerNombre="Ana",
        Apellido="Gómez",
        Email="",
        Cuit="",
        TipoDocumento="05",
        NroDocumento="20111222",
        SituacionFiscal="3",
    )
    assert (first, second) == ("C000001", "C000002")

    async def codes(**params: Any) -> list[str]:
        r = await client.get("Cliente/", params=params)
        if r.status_code == 404:
            return []
        return [x["Codigo"] for x in r.json()["Resultados"]]

    # query: substring over code, CUIT, document type and number, names, e-mail
    for q in ("COMPRAS@NANDU", "712345671", "ñandú", "nandu", "c000001", "juan", "perez"):
        assert await codes(query=q) == [first], q
    assert await codes(query="gomez") == [second]
    assert await codes(query="0111") == [second]
    assert await codes(query="30712345") == [first]  # NroDocumento and CUIT
    assert await codes(query="000") == [first, second]
    assert await codes(query="Corrientes") == []  # Calle is not searched
    # exact filters named like the fields
    assert await codes(Cuit="30712345671") == [first]
    assert await codes(CUIT=" 30712345671 ") == [first]
    assert await codes(Cuit="3071234567") == []  # exact, not a substring
    assert await codes(Cuit="30-71234567-1") == []
    assert await codes(NroDocumento="20111222") == [second]
    assert await codes(TipoDocumento="05", NroDocumento="20111222") == [second]
    assert await codes(TipoDocumento="05", NroDocumento="30712345") == []
    assert await codes(SituacionFiscal="1") == [first]
    assert await codes(email="COMPRAS@nandu.com.ar") == [first]
    assert await codes(Nombre="otro") == [second]
    assert await codes(Codigo="c000002") == [second]
    # not a field: ignored; an empty filter: ignored
    assert await codes(Foo="bar", Cuit="") == [first, second]
    r = await client.get("Cliente/", params={"limit": 1})
    assert r.json()["Siguiente"].startswith("http://192.168.10.5:8015/api.Dragonfish/Cliente/")
    assert (await client.get("Cliente/", params={"limit": 1, "page": 2})).json()["Resultados"][0][
        "Codigo"
    ] == second


async def test_customer_code_chosen_by_the_client(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    assert await create_customer(client, Codigo=" 30712345 ") == "30712345"
    assert await create_customer(client, Codigo="abc") == "ABC"
    assert await create_customer(client, Codigo="C000001") == "C000001"
    # the server's own codes skip the taken ones
    assert await create_customer(client) == "C000002"
    assert await create_customer(client, Codigo="") == "C000003"
    count_before = len(sim.customers)
    r = await client.post("Cliente/", json={**CUSTOMER, "Codigo": "Abc"})
    assert (r.status_code, r.reason_phrase) == (400, "El codigo de cliente ABC ya existe")
    assert r.json() == {"Mensaje": "El código de cliente ABC ya existe"}
    r = await client.post("Cliente/", json={**CUSTOMER, "Codigo": "12345678901"})
    assert (r.status_code, r.reason_phrase) == (400, "El campo Codigo supera los 10 caracteres")
    assert len(sim.customers) == count_before
    assert (await client.get("Cliente/30712345/")).json()["Codigo"] == "30712345"


async def test_customer_cuit_dashes_removed(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    codigo = await create_customer(client, Cuit="30-71234567-1")
    assert sim.customers[codigo]["CUIT"] == "30712345671"
    r = await client.get("Cliente/", params={"Cuit": "30712345671"})
    assert r.json()["TotalRegistros"] == 1


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"Nombre": ""}, "El campo Nombre es obligatorio"),
        ({"Nombre": "x" * 61}, "El campo Nombre supera los 60 caracteres"),
        ({"PrimerNombre": "x" * 61}, "El campo PrimerNombre supera los 60 caracteres"),
        ({"NroDocumento": "30712345671"}, "El campo NroDocumento supera los 10 caracteres"),
        ({"Movil": "1" * 31}, "El campo Movil supera los 30 caracteres"),
        ({"Calle": "c" * 71}, "El campo Calle supera los 70 caracteres"),
        ({"Numero": "12"}, "El campo Numero debe ser un numero entero"),
        ({"Piso": "1234"}, "El campo Piso supera los 3 caracteres"),
        ({"Localidad": "l" * 71}, "El campo Localidad supera los 70 caracteres"),
        ({"CodigoPostal": "123456789"}, "El campo CodigoPostal supera los 8 caracteres"),
        ({"Provincia": "99"}, "El campo Provincia no es valido: 99"),
        ({"Cuit": "123"}, "El campo Cuit debe tener 11 digitos"),
        ({"Cuit": "30-7123456-71x"}, "El campo Cuit debe tener 11 digitos"),
        ({"Email": "sin-arroba"}, "El campo Email no es valido"),
        ({"NroDocumento": 30712345}, "El campo NroDocumento debe ser texto"),
        ({"TipoDocumento": "96"}, "Tipo de documento inexistente: 96"),
        ({"TipoDocumento": "80"}, "Tipo de documento inexistente: 80"),
        ({"SituacionFiscal": 6}, "Situacion fiscal inexistente: 6"),
        ({"SituacionFiscal": "6"}, "Situacion fiscal inexistente: 6"),
        ({"SituacionFiscal": "RI"}, "Situacion fiscal inexistente: RI"),
        ({"SituacionFiscal": 0}, "Situacion fiscal inexistente: 0"),
    ],
)
async def test_customer_validation(
    sim: DragonfishSimulator, client: httpx.AsyncClient, over: dict[str, Any], reason: str
) -> None:
    r = await client.post("Cliente/", json={**CUSTOMER, **over})
    assert (r.status_code, r.reason_phrase) == (400, reason)
    assert r.reason_phrase.isascii() and "Mensaje" in r.json()
    assert sim.customers == {}


async def test_non_ascii_reason_is_folded_body_keeps_accents(client: httpx.AsyncClient) -> None:
    r = await client.post("Cliente/", json={**CUSTOMER, "Cuit": "123"})
    assert r.reason_phrase == "El campo Cuit debe tener 11 digitos"
    assert r.json() == {"Mensaje": "El campo Cuit debe tener 11 dígitos"}
    r = await client.post("Cliente/", json={**CUSTOMER, "SituacionFiscal": 9})
    assert r.reason_phrase == "Situacion fiscal inexistente: 9"
    assert r.json() == {"Mensaje": "Situación fiscal inexistente: 9"}
    r = await client.post("Cliente/", content=b"{no es json")
    assert (r.status_code, r.reason_phrase) == (
        400,
        "El cuerpo de la solicitud no es un JSON valido",
    )


# -- orders -------------------------------------------------------------------------------
async def test_order_creation_commits_stock(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    sku, art, color, talle = some_variant(sim)
    params = {"exacto": "true", "query": sku, **EVERY_ROW}
    before = (await client.get("ConsultaStockYPrecios/", params=params)).json()["Resultados"][0]
    body = order_body(cliente, art, color, talle, NroOPEcommerce="1001", Ecommerce="VENTASXMAYOR")
    r = await client.post("Pedido/", json=body)
    assert r.status_code == 201
    assert r.json() == {
        "Codigo": "P000001",
        "Letra": "A",
        "PuntoDeVenta": 5,
        "Numero": 1,
        "Total": 201.0,
    }
    after = (await client.get("ConsultaStockYPrecios/", params=params)).json()["Resultados"][0]
    assert after["Disponible"] == before["Disponible"] - 2
    assert after["Comprometido"] == before["Comprometido"] + 2
    assert after["Stock"] == before["Stock"]
    stored = (await client.get("Pedido/P000001")).json()
    assert stored == sim.orders["P000001"]
    assert stored["Cliente"] == cliente and stored["Motivo"] == "VENTA WEB"
    assert stored["ListaDePrecios"] == "LISTA1" and stored["Obs"] == "Pedido web 1001"
    assert stored["FacturaDetalle"] == [
        {
            "Articulo": art,
            "Color": color,
            "Talle": talle,
            "Cantidad": 2.0,
            "Precio": 100.5,
            "Descuento": 0.0,
            "Monto": 201.0,
        }
    ]
    # no external-number field: NroOPEcommerce and Ecommerce are ignored
    assert "NroOPEcommerce" not in stored and "Ecommerce" not in stored
    assert sim.order_by_external("1001") is None and sim.operations == {}
    # ... so there is no duplicate check of any kind
    r = await client.post("Pedido/", json=body)
    assert (r.status_code, r.json()["Codigo"], r.json()["Numero"]) == (201, "P000002", 2)
    # a "B" customer
    other = await create_customer(client, Nombre="CF", SituacionFiscal="3", Cuit="")
    r = await client.post("Pedido/", json=order_body(other, art, color, talle))
    assert (r.json()["Letra"], r.json()["Numero"]) == ("B", 3)


async def test_order_keys_ignore_case_and_totals(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    _, art, color, talle = some_variant(sim)
    body = {
        "cliente": cliente.lower(),
        "MOTIVO": "venta web",
        "listadeprecios": "lista1",
        "obs": "hola",
        "porcentajedescuento": 10,
        "Descuento": 5,
        "Numero": 999,  # assigned by the server
        "Total": 1,  # computed by the server
        "facturadetalle": [
            {
                "articulo": art,
                "COLOR": color,
                "talle": talle,
                "cantidad": 3,
                "PRECIO": 100,
                "descuento": 20,
                "Monto": 1,
            },
        ],
    }
    r = await client.post("Pedido/", json=body)
    assert r.status_code == 201, r.reason_phrase
    assert (r.json()["Numero"], r.json()["Total"]) == (1, 211.0)  # 240 - 10% - 5
    stored = sim.orders[r.json()["Codigo"]]
    assert (stored["Cliente"], stored["Motivo"], stored["ListaDePrecios"]) == (
        cliente,
        "VENTA WEB",
        "LISTA1",
    )
    assert stored["FacturaDetalle"][0]["Monto"] == 240.0
    assert (stored["PorcentajeDescuento"], stored["Descuento"]) == (10.0, 5.0)


async def test_order_query_and_filters(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    cliente = await create_customer(client)
    other = await create_customer(client, Nombre="Otro", Cuit="")
    _, art, color, talle = some_variant(sim)
    for who, obs in ((cliente, "Tienda #1001 Juan"), (other, "Tienda #1002"), (cliente, "")):
        r = await client.post("Pedido/", json=order_body(who, art, color, talle, Obs=obs))
        assert r.status_code == 201

    async def codes(**params: Any) -> list[str]:
        r = await client.get("Pedido/", params=params)
        return [] if r.status_code == 404 else [x["Codigo"] for x in r.json()["Resultados"]]

    assert await codes(query="#1001") == ["P000001"]
    assert await codes(query="TIENDA #100") == ["P000001", "P000002"]
    assert await codes(query="#1003") == []
    assert await codes(Cliente=other) == ["P000002"]
    assert await codes(Numero="3") == ["P000003"]
    assert await codes(Cliente=cliente, query="tienda") == ["P000001"]
    assert [o["Codigo"] for o in sim.pedidos_with_obs("#1001")] == ["P000001"]
    assert sim.pedidos_with_obs("#1001 J")[0] is sim.orders["P000001"]
    assert sim.pedidos_with_obs("nada") == []


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"Cliente": "C999999"}, "Cliente inexistente: C999999"),
        ({"Cliente": None}, "Cliente inexistente: "),
        ({"Motivo": "REGALO"}, "Motivo inexistente: REGALO"),
        ({"Motivo": None}, "Motivo inexistente: "),
        ({"ListaDePrecios": "LISTA7"}, "Lista de precios inexistente: LISTA7"),
        ({"ListaDePrecios": "MAYOR $"}, "Lista de precios inexistente: MAYOR $"),
        ({"Obs": "o" * 251}, "El campo Obs supera los 250 caracteres"),
        ({"Obs": 5}, "El campo Obs debe ser texto"),
        ({"FacturaDetalle": []}, "El comprobante no tiene detalle (FacturaDetalle)"),
        ({"FacturaDetalle": ["x"]}, "FacturaDetalle: cada renglon debe ser un objeto"),
        (
            {
                "FacturaDetalle": [
                    {"Articulo": "ZZZ", "Color": "001", "Talle": "M", "Cantidad": 1, "Precio": 1}
                ]
            },
            "Articulo inexistente: ZZZ!001!M",
        ),
        ({"Line": {"Cantidad": 0}}, "Cantidad invalida en {sku}: 0"),
        ({"Line": {"Cantidad": "1"}}, "Cantidad invalida en {sku}: 1"),
        ({"Line": {"Precio": -1}}, "Precio invalido en {sku}: -1"),
        ({"Line": {"Descuento": 150}}, "Descuento invalido en {sku}: 150"),
        ({"PorcentajeDescuento": 101}, "PorcentajeDescuento invalido: 101"),
    ],
)
async def test_order_validation(
    sim: DragonfishSimulator, client: httpx.AsyncClient, over: dict[str, Any], reason: str
) -> None:
    cliente = await create_customer(client)
    sku, art, color, talle = some_variant(sim)
    if "Line" in over:
        over = {"FacturaDetalle": [line(art, color, talle, **over["Line"])]}
    before = comprometido(sim)
    r = await client.post("Pedido/", json=order_body(cliente, art, color, talle, **over))
    assert (r.status_code, r.reason_phrase) == (400, reason.format(sku=sku))
    assert "Mensaje" in r.json()
    assert sim.orders == {} and comprometido(sim) == before


async def test_refuse_without_stock() -> None:
    async with running(refuse_without_stock=True) as (sim, c):
        cliente = await create_customer(c)
        sku, art, color, talle = some_variant(sim)
        available = sim.catalog.disponible(sku)
        before = comprometido(sim)
        too_much = line(art, color, talle, Cantidad=available + 1)
        r = await c.post(
            "Pedido/", json=order_body(cliente, art, color, talle, FacturaDetalle=[too_much])
        )
        assert (r.status_code, r.reason_phrase) == (
            400,
            f"No hay stock suficiente para el articulo {art}!{color}!{talle}",
        )
        assert "stock" in r.json()["Mensaje"]
        # two lines of the same variant count together
        half = line(art, color, talle, Cantidad=available / 2 + 1)
        r = await c.post(
            "Pedido/", json=order_body(cliente, art, color, talle, FacturaDetalle=[half, half])
        )
        assert r.status_code == 400
        assert sim.orders == {} and comprometido(sim) == before
        exact = line(art, color, talle, Cantidad=available)
        r = await c.post(
            "Pedido/", json=order_body(cliente, art, color, talle, FacturaDetalle=[exact])
        )
        assert r.status_code == 201
        r = await c.post(
            "Pedido/",
            json=order_body(
                cliente, art, color, talle, FacturaDetalle=[line(art, color, talle, Cantidad=1)]
            ),
        )
        assert r.status_code == 400 and "No hay stock suficiente" in r.reason_phrase


async def test_orders_accepted_without_stock_by_default(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    sku, art, color, talle = some_variant(sim)
    big = line(art, color, talle, Cantidad=sim.catalog.disponible(sku) + 50)
    r = await client.post(
        "Pedido/", json=order_body(cliente, art, color, talle, FacturaDetalle=[big])
    )
    assert r.status_code == 201 and sim.catalog.disponible(sku) == -50


# -- e-commerce operations ------------------------------------------------------------------
async def test_operation_creates_a_pedido(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    sku, art, color, talle = some_variant(sim)
    disponible = sim.catalog.disponible(sku)
    r = await client.post("Operacionecommerce/", json=operation_body(cliente, art, color, talle))
    assert r.status_code == 201, r.reason_phrase
    op = r.json()
    assert list(op) == [
        "Codigo",
        "Ecommerce",
        "Numero",
        "Fecha",
        "ClienteEcom",
        "ClienteDragon",
        "PublicacionDetalle",
        "ValoresDetalle",
        "Total",
        "Pagado",
        "Obs",
        "TipoComprobante",
        "CompAfec",
    ]
    assert (op["Codigo"], op["Ecommerce"], op["Numero"], op["ClienteDragon"]) == (
        "OP000001",
        "VENTASXMAYOR",
        "1001",
        cliente,
    )
    assert (op["Total"], op["Pagado"], op["TipoComprobante"]) == (180.9, True, "Pedido")
    assert op["PublicacionDetalle"][0]["Monto"] == 180.9  # 2 x 100.5 - 10 %
    assert op["ValoresDetalle"] == [{"Valor": "MP", "Monto": 180.9}]
    (comp,) = op["CompAfec"]
    pedido = sim.orders[comp["Codigo"]]
    assert {
        k: comp[k]
        for k in ("Codigo", "TipoCompCaracter", "Tipo", "Letra", "PuntoDeVenta", "Numero")
    } == {
        "Codigo": "P000001",
        "TipoCompCaracter": "PEDIDO",
        "Tipo": 23,
        "Letra": "A",
        "PuntoDeVenta": 5,
        "Numero": 1,
    }
    assert (pedido["Cliente"], pedido["Motivo"], pedido["Obs"]) == (
        cliente,
        "VENTA WEB",
        "Tienda #1001",
    )
    assert [
        (x["Articulo"], x["Cantidad"], x["Precio"], x["Descuento"])
        for x in pedido["FacturaDetalle"]
    ] == [(art, 2.0, 100.5, 10.0)]
    assert sim.catalog.disponible(sku) == disponible - 2
    assert "Pedido" not in op and sim.operations["OP000001"] == op
    # found again by (Ecommerce, Numero), by code, and by the helpers
    r = await client.get(
        "Operacionecommerce/", params={"Ecommerce": "VENTASXMAYOR", "Numero": "1001"}
    )
    assert r.json()["Resultados"] == [op]
    r = await client.get(
        "OperacionEcommerce", params={"ecommerce": "ventasxmayor", "NUMERO": "1001"}
    )
    assert r.json()["TotalRegistros"] == 1
    assert (await client.get("Operacionecommerce/op000001/")).json() == op
    assert (await client.get("Pedido/P000001/")).json() == pedido
    assert sim.operation("1001") == op and sim.operation("1001", "ventasxmayor") == op
    assert sim.operation("1001", "OTRA") is None and sim.operation("1002") is None
    assert sim.order_by_external("1001") is pedido
    assert sim.order_by_external("1001", "OTRA") is None
    assert sim.pedidos_with_obs("#1001") == [pedido]
    r = await client.get(
        "Operacionecommerce/", params={"Ecommerce": "VENTASXMAYOR", "Numero": "100"}
    )
    assert (r.status_code, r.reason_phrase) == (404, "No se encontraron resultados")
    r = await client.get("Operacionecommerce/", params={"query": "comprador@"})
    assert r.json()["TotalRegistros"] == 1


async def test_operation_defaults_and_int_numero(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client, SituacionFiscal=3, Cuit="")
    _, art, color, talle = some_variant(sim)
    body = {
        "ecommerce": "ventasxmayor",
        "numero": 2002,
        "clientedragon": cliente.lower(),
        "publicaciondetalle": [
            {"articulo": art, "color": color, "talle": talle, "cantidad": 1, "precio": 50}
        ],
        "Pedido": "P000099",  # not a field: ignored
    }
    r = await client.post("Operacionecommerce/", json=body)
    assert r.status_code == 201, r.reason_phrase
    op = r.json()
    assert (op["Ecommerce"], op["Numero"], op["Total"], op["Pagado"]) == (
        "VENTASXMAYOR",
        "2002",
        50.0,
        False,
    )
    assert (op["TipoComprobante"], op["ValoresDetalle"], op["Obs"]) == ("Pedido", [], "")
    assert op["CompAfec"][0]["Letra"] == "B"
    assert sim.order_by_external("2002")["Codigo"] == op["CompAfec"][0]["Codigo"]


async def test_duplicate_operation_refused(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    _, art, color, talle = some_variant(sim)
    body = operation_body(cliente, art, color, talle)
    assert (await client.post("Operacionecommerce/", json=body)).status_code == 201
    before = comprometido(sim)
    for again in (
        body,
        {**body, "Ecommerce": "ventasxmayor", "Numero": " 1001 "},
        {**body, "Numero": 1001},
    ):
        r = await client.post("Operacionecommerce/", json=again)
        assert r.status_code == 400
        assert r.reason_phrase == "La combinacion de plataforma y numero de operacion ya existe"
        assert r.json()["Mensaje"] == DUPLICATE_OPERATION
    assert len(sim.operations) == 1 and len(sim.orders) == 1 and comprometido(sim) == before
    assert DUPLICATE_OPERATION == "La combinación de plataforma y número de operación ya existe"
    r = await client.post("Operacionecommerce/", json={**body, "Numero": "1002"})
    assert r.status_code == 201 and len(sim.orders) == 2


async def test_operation_platforms() -> None:
    async with running(ecommerce_platforms={"TN": "Tienda Nube", "ML": "Mercado Libre"}) as (
        sim,
        c,
    ):
        cliente = await create_customer(c)
        _, art, color, talle = some_variant(sim)
        body = operation_body(cliente, art, color, talle)
        r = await c.post("Operacionecommerce/", json=body)
        assert (r.status_code, r.reason_phrase) == (
            400,
            "La plataforma de ecommerce VENTASXMAYOR no existe",
        )
        for platform in ("TN", "ml"):
            r = await c.post("Operacionecommerce/", json={**body, "Ecommerce": platform})
            assert r.status_code == 201
        # the same store number on two platforms: two operations
        assert {op["Ecommerce"] for op in sim.operations.values()} == {"TN", "ML"}
        assert sim.operation("1001", "ML")["Ecommerce"] == "ML"


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"Ecommerce": "OTRA"}, "La plataforma de ecommerce OTRA no existe"),
        ({"Ecommerce": ""}, "El campo Ecommerce es obligatorio"),
        ({"Numero": ""}, "El campo Numero es obligatorio"),
        ({"Numero": None}, "El campo Numero es obligatorio"),
        ({"Numero": [1]}, "El campo Numero debe ser texto"),
        ({"ClienteDragon": "NOPE"}, "Cliente inexistente: NOPE"),
        ({"PublicacionDetalle": []}, "El comprobante no tiene detalle (PublicacionDetalle)"),
        (
            {"PublicacionDetalle": [{"Articulo": "ZZZ", "Cantidad": 1, "Precio": 1}]},
            "Articulo inexistente: ZZZ!!",
        ),
        ({"Line": {"Cantidad": -1}}, "Cantidad invalida en {sku}: -1"),
        ({"Line": {"Monto": "x"}}, "Monto invalido en {sku}: x"),
        ({"Pagado": "si"}, "El campo Pagado debe ser verdadero o falso"),
        ({"TipoComprobante": "Factura"}, "Tipo de comprobante no soportado: Factura"),
        ({"Obs": "o" * 251}, "El campo Obs supera los 250 caracteres"),
        ({"ValoresDetalle": {"Valor": "MP"}}, "El campo ValoresDetalle debe ser una lista"),
        (
            {"ValoresDetalle": [{"Monto": "1"}]},
            "El campo Monto de ValoresDetalle debe ser un numero",
        ),
        ({"Total": "10"}, "El campo Total debe ser un numero"),
    ],
)
async def test_operation_validation(
    sim: DragonfishSimulator, client: httpx.AsyncClient, over: dict[str, Any], reason: str
) -> None:
    cliente = await create_customer(client)
    sku, art, color, talle = some_variant(sim)
    if "Line" in over:
        over = {"PublicacionDetalle": [line(art, color, talle, **over["Line"])]}
    before = comprometido(sim)
    r = await client.post(
        "Operacionecommerce/", json=operation_body(cliente, art, color, talle, **over)
    )
    assert (r.status_code, r.reason_phrase) == (400, reason.format(sku=sku))
    assert sim.operations == {} and sim.orders == {} and comprometido(sim) == before


async def test_operation_without_stock_or_motivo_saves_nothing() -> None:
    async with running(refuse_without_stock=True) as (sim, c):
        cliente = await create_customer(c)
        sku, art, color, talle = some_variant(sim)
        too_much = line(art, color, talle, Cantidad=sim.catalog.disponible(sku) + 1)
        body = operation_body(cliente, art, color, talle, PublicacionDetalle=[too_much])
        r = await c.post("Operacionecommerce/", json=body)
        assert r.status_code == 400 and r.reason_phrase.startswith("No hay stock suficiente")
        assert sim.operations == {} and sim.orders == {} and sim.operation("1001") is None
        # nothing was saved: once there is stock, the same operation goes through
        sim.catalog.set_stock(sku, sim.catalog.stock[sim.catalog.find(sku) or 0] + 10)
        assert (await c.post("Operacionecommerce/", json=body)).status_code == 201
    async with running(motivos=()) as (sim, c):
        cliente = await create_customer(c)
        _, art, color, talle = some_variant(sim)
        r = await c.post("Operacionecommerce/", json=operation_body(cliente, art, color, talle))
        assert (r.status_code, r.reason_phrase) == (400, "Motivo inexistente: ")
        assert sim.operations == {}


# -- concurrency and faults ---------------------------------------------------------------
async def test_concurrent_writes_conflict(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    sim.hold_write_until_contended_s = 20  # the first write waits for the second to meet it
    results = await asyncio.gather(
        client.post("Cliente/", json=CUSTOMER),
        client.post("Cliente/", json={**CUSTOMER, "Nombre": "Segundo"}),
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409]
    conflict = next(r for r in results if r.status_code == 409)
    assert conflict.reason_phrase == "Conflicto de concurrencia, reintente"
    assert len(sim.customers) == 1
    # a write of another entity meanwhile conflicts too
    cliente = next(iter(sim.customers))
    _, art, color, talle = some_variant(sim)
    sim.hold_write_until_contended_s = 20
    results = await asyncio.gather(
        client.post("Operacionecommerce/", json=operation_body(cliente, art, color, talle)),
        client.post("Pedido/", json=order_body(cliente, art, color, talle)),
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    assert len(sim.orders) == 1
    # one after the other: both go through
    assert (await client.post("Cliente/", json=CUSTOMER)).status_code == 201


async def test_scripted_faults(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    cliente = await create_customer(client)
    _, art, color, talle = some_variant(sim)
    sim.faults.script("POST", "pedido", 409, 409)
    sim.faults.script("GET", "consultastockyprecios", 429, 503)
    body = order_body(cliente, art, color, talle)
    for _ in range(2):
        r = await client.post("Pedido/", json=body)
        assert (r.status_code, r.reason_phrase) == (409, "Conflicto de concurrencia, reintente")
    assert sim.orders == {}
    assert (await client.post("Pedido/", json=body)).status_code == 201
    r = await client.get("ConsultaStockYPrecios/")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    r = await client.get("ConsultaStockYPrecios/")
    assert (r.status_code, r.reason_phrase) == (503, "Servicio no disponible")
    assert (await client.get("ConsultaStockYPrecios/")).status_code == 200
    assert sim.faults.pending() == 0
    assert sim.count("pedido", "POST") == 3


async def test_drop_after_fault_keeps_the_operation() -> None:
    async with running(faults=FaultPlan()) as (sim, c):
        cliente = await create_customer(c)
        _, art, color, talle = some_variant(sim)
        body = operation_body(cliente, art, color, talle)
        sim.faults.script("POST", "operacionecommerce", "drop_after")
        with pytest.raises(httpx.TransportError):
            await c.post("Operacionecommerce/", json=body)
        assert sim.order_by_external("1001") is not None
        r = await c.post("Operacionecommerce/", json=body)
        assert r.status_code == 400 and "ya existe" in r.reason_phrase
        r = await c.get(
            "Operacionecommerce/", params={"Ecommerce": "VENTASXMAYOR", "Numero": "1001"}
        )
        assert r.json()["Resultados"][0]["CompAfec"][0]["Codigo"] == "P000001"
        assert len(sim.orders) == 1


async def test_simulator_in_a_thread() -> None:
    sim = DragonfishSimulator()
    sim.start_in_thread()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
            await create_customer(c)
        assert sim.call(lambda: sorted(sim.customers)) == ["C000001"]
    finally:
        sim.stop_thread()


# -- catalog generator --------------------------------------------------------------------
def test_catalog_is_deterministic_and_mutable() -> None:
    a, b = SimCatalog.generate(500, seed=9), SimCatalog.generate(500, seed=9)
    assert len(a) == 500 and list(a.skus()) == list(b.skus())
    assert list(a.store_rows()) == list(b.store_rows())
    assert list(a.skus()) != list(SimCatalog.generate(500, seed=10).skus())
    descs = " ".join(a.art_desc)
    assert "Ã" in descs or "Â" in descs  # mojibake
    skus = list(a.skus())
    assert any("!" not in s for s in skus) and len(set(skus)) == 500
    assert all(a.find(s) == i for i, s in enumerate(skus))
    assert a.find("NOPE!001!M") is None and a.find("A00001!!") is None
    assert set(a.prices) == set(LISTS)
    sku = skus[3]
    a.set_stock(sku, 7)
    a.add_comprometido(sku, 10)
    assert a.disponible(sku) == -3
    a.set_price(sku, "LISTA1", 1234.5)
    assert a.price(sku, "LISTA1") == 1234.5
    row = next(r for r in a.store_rows() if r[0] == sku)
    assert row == (sku, 0, "1234.50")
    changed = a.mutate(0.1, seed=1)
    assert len(changed) == 50 and len(set(changed)) == 50 and a.mutate(0.0, seed=1) == []
    assert sum(1 for x, y in zip(a.store_rows(), b.store_rows(), strict=True) if x != y) >= 40
    with pytest.raises(KeyError):
        a.set_stock("NOPE", 1)


def test_catalog_extra_lists() -> None:
    cat = SimCatalog.generate(20, seed=5)
    version = cat.version
    cat.add_list("OTRA", 2.0)
    assert cat.version > version
    assert all(
        cat.prices["OTRA"][i] == round(cat.prices["LISTA0"][i] * 2, 2) for i in range(len(cat))
    )
    cat.add_list("OTRA", 3.0)  # already there: unchanged
    assert cat.prices["OTRA"][0] == round(cat.prices["LISTA0"][0] * 2, 2)
    row = cat.row(0, "OTRA", (("LISTA0", "MINORISTA"), ("OTRA", "OTRA LISTA")))
    assert row["Lista"] == "OTRA" and [p["Lista"] for p in row["Precios"]] == [
        "MINORISTA",
        "OTRA LISTA",
    ]
    assert [p["Lista"] for p in cat.row(0)["Precios"]] == list(LISTS.values())


def _rss_mib() -> float:
    if sys.platform == "win32":  # the working set, from psapi (through kernel32)
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):
            _fields_ = [
                ("cb", wintypes.DWORD),
                ("PageFaultCount", wintypes.DWORD),
                *(
                    (name, ctypes.c_size_t)
                    for name in (
                        "PeakWorkingSetSize",
                        "WorkingSetSize",
                        "QuotaPeakPagedPoolUsage",
                        "QuotaPagedPoolUsage",
                        "QuotaPeakNonPagedPoolUsage",
                        "QuotaNonPagedPoolUsage",
                        "PagefileUsage",
                        "PeakPagefileUsage",
                    )
                ),
            ]

        counters = Counters(cb=ctypes.sizeof(Counters))
        kernel32 = ctypes.WinDLL("kernel32")
        kernel32.GetCurrentProcess.restype = wintypes.HANDLE
        assert kernel32.K32GetProcessMemoryInfo(
            wintypes.HANDLE(kernel32.GetCurrentProcess()), ctypes.byref(counters), counters.cb
        )
        return counters.WorkingSetSize / 2**20
    import resource

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:  # not Linux: the peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_large_catalog_is_compact() -> None:
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    cat = SimCatalog.generate(100_000, seed=1)
    elapsed = time.perf_counter() - t0
    grown = _rss_mib() - rss0
    t0 = time.perf_counter()
    n = len(cat.select(zero_stock=False, zero_price=False, list_code="LISTA1"))
    select_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = [cat.row(i, "LISTA1") for i in range(1000)]
    row_s = time.perf_counter() - t0
    print(
        f"\ngenerate(100_000): {elapsed:.2f} s, RSS +{grown:.1f} MiB, "
        f"{len(cat.art_code)} articles; filtered select: {n} rows in {select_s * 1000:.0f} ms; "
        f"1000 rows rendered in {row_s * 1000:.0f} ms"
    )
    assert len(cat) == 100_000 and len(rows) == 1000
    assert grown < 100

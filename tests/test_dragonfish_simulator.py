"""The Dragonfish simulator itself, over real loopback sockets."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connectors.dragonfish.jwt import make_token, password_hmac, read_claims
from connectors.dragonfish.simcatalog import LISTS, SimCatalog
from connectors.dragonfish.simulator import DragonfishSimulator
from connectors.simkit import FaultPlan

CUSTOMER = {
    "Nombre": "Ferretería Ñandú SRL",
    "PrimerNombre": "Juan",
    "TipoDocumento": "80",
    "NroDocumento": "30712345",
    "Cuit": "30712345671",
    "SituacionFiscal": "1",
    "EMail": "compras@nandu.com.ar",
    "Movil": "+54 9 11 5555-1234",
    "Calle": "Av. Corrientes",
    "Numero": 1234,
    "Piso": "3",
    "Localidad": "CABA",
    "CodigoPostal": "C1043AAZ",
    "Provincia": "00",
    "ListaDePrecio": "LISTA1",
}


def http_client(**kw: Any) -> httpx.AsyncClient:
    # plain HTTP on loopback: skip loading a CA bundle (~0.1 s per client)
    return httpx.AsyncClient(verify=False, **kw)


@pytest.fixture
async def sim() -> AsyncIterator[DragonfishSimulator]:
    s = DragonfishSimulator(catalog=SimCatalog.generate(200, seed=1))
    await s.start()
    yield s
    await s.stop()


def headers(sim: DragonfishSimulator) -> dict[str, str]:
    return {"idCliente": sim.cliente, "Authorization": sim.token}


@pytest.fixture
async def client(sim: DragonfishSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
        yield c


async def create_customer(client: httpx.AsyncClient, **over: Any) -> str:
    r = await client.post("Cliente/", json={**CUSTOMER, **over})
    assert r.status_code == 201, r.reason_phrase
    return str(r.json()["Codigo"])


def some_variant(sim: DragonfishSimulator, min_stock: float = 5) -> tuple[str, str, str, str]:
    cat = sim.catalog
    for sku in cat.skus():
        i = cat.find(sku)
        assert i is not None
        if "!" in sku and cat.disponible(sku) >= min_stock and cat.price(sku, "LISTA0") > 0:
            art, color, talle = sku.split("!")
            return sku, art, color, talle
    raise AssertionError("no variant in stock")


def order_body(cliente: str, art: str, color: str, talle: str, **over: Any) -> dict[str, Any]:
    return {
        "Cliente": cliente,
        "Motivo": "VENTA WEB",
        "ListaDePrecios": "LISTA1",
        "NroOPEcommerce": "1001",
        "Ecommerce": "VENTASXMAYOR",
        "Obs": "Pedido web 1001",
        "FacturaDetalle": [
            {"Articulo": art, "Color": color, "Talle": talle, "Cantidad": 2.0, "Precio": 100.5}
        ],
        **over,
    }


# -- jwt ----------------------------------------------------------------------------------
def test_jwt_roundtrip_and_garbage() -> None:
    token = make_token("WEB", password_hmac("secreto", "k"), "k", 2_000_000_000)
    claims = read_claims(token)
    assert claims == {
        "usuario": "WEB",
        "password": password_hmac("secreto", "k"),
        "exp": 2_000_000_000,
    }
    assert len(claims["password"]) == 64
    for bad in ("", "abc", "a.b", "a.b.c", "Bearer x", "!!.??.!!", token + ".x"):
        with pytest.raises(ValueError):
            read_claims(bad)


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


async def test_expired_token(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    assert (await client.get("ConsultaStockYPrecios/")).status_code == 200
    sim.expire_token()
    r = await client.get("ConsultaStockYPrecios/")
    assert (r.status_code, r.reason_phrase) == (401, "Token vencido")


async def test_token_with_past_exp_is_expired() -> None:
    old = make_token("WEB", "x", "k", int(time.time()) - 10)
    sim = DragonfishSimulator(token=old)
    await sim.start()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
            r = await c.get("Provincia/")
        assert (r.status_code, r.reason_phrase) == (401, "Token vencido")
        assert read_claims(DragonfishSimulator().token)["exp"] > time.time() + 700 * 86400
    finally:
        await sim.stop()


async def test_base_de_datos_header() -> None:
    sim = DragonfishSimulator(base_de_datos="ECOMMECS")
    await sim.start()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
            r = await c.get("Provincia/")
            assert (r.status_code, r.reason_phrase) == (400, "Base de datos inexistente")
            assert r.json() == {"Mensaje": "Base de datos inexistente"}
            r = await c.get("Provincia/", headers={"BaseDeDatos": "ECOMMECS"})
            assert r.status_code == 200
    finally:
        await sim.stop()


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
    assert sim.count("consultastockyprecios", "GET") == 3


# -- catalog ------------------------------------------------------------------------------
async def test_pagination_envelope(sim: DragonfishSimulator, client: httpx.AsyncClient) -> None:
    r = await client.get(
        "ConsultaStockYPrecios/", params={"limit": 7, "stockcero": "true", "preciocero": "true"}
    )
    data = r.json()
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
            "ConsultaStockYPrecios/",
            params={"limit": 30, "page": page, "stockcero": "true", "preciocero": "true"},
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


async def test_limit_clamped_to_max() -> None:
    sim = DragonfishSimulator(catalog=SimCatalog.generate(60, seed=2), max_limit=25)
    await sim.start()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
            data = (
                await c.get("ConsultaStockYPrecios/", params={"limit": 100, "stockcero": "true"})
            ).json()
        assert data["CountResultado"] == 25 and data["Siguiente"].endswith("page=2")
    finally:
        await sim.stop()


async def test_zero_stock_and_zero_price_filters() -> None:
    cat = SimCatalog.generate(300, seed=3, zero_stock_share=0.2, zero_price_share=0.1)
    sim = DragonfishSimulator(catalog=cat)
    await sim.start()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:

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
    finally:
        await sim.stop()


async def test_lista_by_code_and_by_name(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    r = await client.get("ListaDePrecios/", params={"query": "mayor"})
    assert r.json()["Resultados"] == [{"Codigo": "LISTA1", "Descripcion": "MAYOR $"}]
    assert r.json()["Siguiente"] is None
    r = await client.get("ListaDePrecios/")
    assert r.json()["TotalRegistros"] == 3
    r = await client.get("ListaDePrecios/", params={"query": "mayorista"})
    assert (r.status_code, r.reason_phrase) == (404, "No se encontraron resultados")

    sku, *_ = some_variant(sim)
    r = await client.get(
        "ConsultaStockYPrecios/",
        params={
            "lista": "LISTA1",
            "exacto": "true",
            "query": sku,
            "stockcero": "true",
            "preciocero": "true",
        },
    )
    (row,) = r.json()["Resultados"]
    assert row["Lista"] == "LISTA1" and row["Precio"] == sim.catalog.price(sku, "LISTA1")
    assert {"Lista": "MAYOR $", "Precio": row["Precio"]} in row["Precios"]
    r = await client.get("ConsultaStockYPrecios/", params={"lista": "LISTA9"})
    assert (r.status_code, r.reason_phrase) == (400, "Lista de precios inexistente")
    assert r.json() == {"Mensaje": "Lista de precios inexistente"}


async def test_exact_and_substring_queries(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cat = sim.catalog
    sku, art, color, talle = some_variant(sim)
    every = {"stockcero": "true", "preciocero": "true", "exacto": "true"}
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
        "ConsultaStockYPrecios/",
        params={"query": word.upper(), "stockcero": "true", "preciocero": "true", "limit": 1000},
    )
    found = r.json()["Resultados"]
    assert found and all(word.lower() in x["ArticuloDescripcion"].lower() for x in found)
    # products without variants: Color and Talle empty, the SKU is the article
    plain = next(s for s in cat.skus() if "!" not in s)
    r = await client.get("ConsultaStockYPrecios/", params={**every, "query": plain})
    (row,) = r.json()["Resultados"]
    assert (row["Articulo"], row["Color"], row["Talle"]) == (plain, "", "")


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


# -- customers ----------------------------------------------------------------------------
async def test_customer_create_and_query(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    assert (await client.get("Cliente/", params={"query": "x"})).status_code == 404
    codigo = await create_customer(client)
    assert codigo == "C000001"
    assert (
        await create_customer(client, Nombre="Otro", EMail="", Cuit="", NroDocumento="20111222")
        == "C000002"
    )
    for q in ("COMPRAS@NANDU", "30712345671", "ñandú", "C000001"):
        r = await client.get("Cliente/", params={"query": q})
        assert [x["Codigo"] for x in r.json()["Resultados"]] == ["C000001"], q
    r = await client.get("Cliente/", params={"query": "30712345"})
    assert [x["Codigo"] for x in r.json()["Resultados"]] == ["C000001"]
    r = await client.get(f"cliente/{codigo}")
    assert r.json()["Nombre"] == CUSTOMER["Nombre"] and r.json()["Numero"] == 1234
    assert (await client.get("Cliente/C999999/")).status_code == 404
    assert set(sim.customers) == {"C000001", "C000002"}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"Nombre": ""}, "Nombre"),
        ({"Nombre": "x" * 61}, "Nombre"),
        ({"PrimerNombre": "x" * 61}, "PrimerNombre"),
        ({"NroDocumento": "30712345671"}, "NroDocumento"),
        ({"Movil": "1" * 31}, "Movil"),
        ({"Calle": "c" * 71}, "Calle"),
        ({"Numero": "12"}, "Numero"),
        ({"Piso": "1234"}, "Piso"),
        ({"Localidad": "l" * 71}, "Localidad"),
        ({"CodigoPostal": "123456789"}, "CodigoPostal"),
        ({"Provincia": "99"}, "Provincia"),
        ({"Cuit": "30-71234567-1"}, "Cuit"),
        ({"EMail": "sin-arroba"}, "EMail"),
    ],
)
async def test_customer_validation(
    sim: DragonfishSimulator, client: httpx.AsyncClient, over: dict[str, Any], field: str
) -> None:
    r = await client.post("Cliente/", json={**CUSTOMER, **over})
    assert r.status_code == 400
    assert field in r.reason_phrase and r.reason_phrase.isascii()
    assert r.json()["Mensaje"].startswith("El campo " + field)
    assert sim.customers == {}


async def test_non_ascii_reason_is_folded_body_keeps_accents(client: httpx.AsyncClient) -> None:
    r = await client.post("Cliente/", json={**CUSTOMER, "Cuit": "123"})
    assert r.reason_phrase == "El campo Cuit debe tener 11 digitos"
    assert r.json() == {"Mensaje": "El campo Cuit debe tener 11 dígitos"}


# -- orders -------------------------------------------------------------------------------
async def test_order_creation_commits_stock(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    sku, art, color, talle = some_variant(sim)
    params = {"exacto": "true", "query": sku, "stockcero": "true", "preciocero": "true"}
    before = (await client.get("ConsultaStockYPrecios/", params=params)).json()["Resultados"][0]
    r = await client.post("Pedido/", json=order_body(cliente, art, color, talle))
    assert r.status_code == 201
    created = r.json()
    assert created == {
        "Codigo": "P000001",
        "Letra": "A",
        "PuntoDeVenta": 5,
        "Numero": 1,
        "NroOPEcommerce": "1001",
    }
    after = (await client.get("ConsultaStockYPrecios/", params=params)).json()["Resultados"][0]
    assert after["Disponible"] == before["Disponible"] - 2
    assert after["Comprometido"] == before["Comprometido"] + 2
    assert after["Stock"] == before["Stock"]
    stored = (await client.get("Pedido/P000001")).json()
    assert stored["Cliente"] == cliente and stored["FacturaDetalle"][0]["Cantidad"] == 2.0
    assert (await client.get("Pedido/P000099/")).status_code == 404
    assert sim.order_by_external("1001") is sim.orders["P000001"]
    assert sim.order_by_external("1001", "otra") is None
    # a "B" customer, and an order with no store number
    other = await create_customer(client, Nombre="CF", SituacionFiscal="5", Cuit="")
    r = await client.post("Pedido/", json=order_body(other, art, color, talle, NroOPEcommerce=""))
    assert (r.json()["Letra"], r.json()["Numero"]) == ("B", 2)


async def test_duplicate_external_number_refused(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    cliente = await create_customer(client)
    _, art, color, talle = some_variant(sim)
    body = order_body(cliente, art, color, talle)
    assert (await client.post("Pedido/", json=body)).status_code == 201
    comprometido = list(sim.catalog.comprometido)
    r = await client.post("Pedido/", json=body)
    assert r.status_code == 400
    assert r.reason_phrase == "La combinacion de plataforma y numero de operacion ya existe"
    assert r.json()["Mensaje"] == "La combinación de plataforma y número de operación ya existe"
    assert len(sim.orders) == 1 and list(sim.catalog.comprometido) == comprometido
    # the same number on another platform is another operation
    r = await client.post("Pedido/", json={**body, "Ecommerce": "OTRA"})
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"Cliente": "C999999"}, "Cliente inexistente"),
        ({"Motivo": "REGALO"}, "Motivo inexistente: REGALO"),
        ({"ListaDePrecios": "LISTA7"}, "Lista de precios inexistente"),
        ({"Obs": "o" * 251}, "El campo Obs supera los 250 caracteres"),
        ({"FacturaDetalle": []}, "FacturaDetalle"),
        (
            {
                "FacturaDetalle": [
                    {"Articulo": "ZZZ", "Color": "001", "Talle": "M", "Cantidad": 1, "Precio": 1}
                ]
            },
            "Articulo inexistente: ZZZ!001!M",
        ),
        (
            {
                "FacturaDetalle": [
                    {
                        "Articulo": "{art}",
                        "Color": "{color}",
                        "Talle": "{talle}",
                        "Cantidad": 0,
                        "Precio": 1,
                    }
                ]
            },
            "Cantidad",
        ),
        (
            {
                "FacturaDetalle": [
                    {
                        "Articulo": "{art}",
                        "Color": "{color}",
                        "Talle": "{talle}",
                        "Cantidad": 1,
                        "Precio": -1,
                    }
                ]
            },
            "Precio",
        ),
    ],
)
async def test_order_validation(
    sim: DragonfishSimulator, client: httpx.AsyncClient, over: dict[str, Any], reason: str
) -> None:
    cliente = await create_customer(client)
    _, art, color, talle = some_variant(sim)
    if "FacturaDetalle" in over:
        over = {
            "FacturaDetalle": [
                {
                    k: v.format(art=art, color=color, talle=talle) if isinstance(v, str) else v
                    for k, v in line.items()
                }
                for line in over["FacturaDetalle"]
            ]
        }
    r = await client.post("Pedido/", json=order_body(cliente, art, color, talle, **over))
    assert r.status_code == 400
    assert reason in r.reason_phrase
    assert "Mensaje" in r.json()
    assert sim.orders == {} and sum(sim.catalog.comprometido) == sum(
        SimCatalog.generate(200, seed=1).comprometido
    )


async def test_operacionecommerce_lookup(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    r = await client.get(
        "Operacionecommerce/", params={"Ecommerce": "VENTASXMAYOR", "Numero": "1001"}
    )
    assert (r.status_code, r.reason_phrase) == (404, "No se encontraron resultados")
    cliente = await create_customer(client)
    _, art, color, talle = some_variant(sim)
    await client.post("Pedido/", json=order_body(cliente, art, color, talle))
    await client.post("Pedido/", json=order_body(cliente, art, color, talle, NroOPEcommerce="1002"))
    r = await client.get(
        "OperacionEcommerce", params={"ecommerce": "VENTASXMAYOR", "NUMERO": "1001"}
    )
    assert r.json()["Resultados"] == [
        {
            "Ecommerce": "VENTASXMAYOR",
            "Numero": "1001",
            "Pedido": "P000001",
            "Letra": "A",
            "PuntoDeVenta": 5,
            "NumeroComprobante": 1,
        }
    ]
    r = await client.get("Operacionecommerce/", params={"Ecommerce": "OTRA", "Numero": "1001"})
    assert r.status_code == 404


# -- concurrency and faults ---------------------------------------------------------------
async def test_concurrent_writes_conflict(
    sim: DragonfishSimulator, client: httpx.AsyncClient
) -> None:
    sim.write_hold_s = 0.1
    results = await asyncio.gather(
        client.post("Cliente/", json=CUSTOMER),
        client.post("Cliente/", json={**CUSTOMER, "Nombre": "Segundo"}),
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409]
    conflict = next(r for r in results if r.status_code == 409)
    assert conflict.reason_phrase == "Conflicto de concurrencia, reintente"
    assert len(sim.customers) == 1
    # one after the other: both go through
    sim.write_hold_s = 0.0
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


async def test_drop_after_fault_keeps_the_order(client: httpx.AsyncClient) -> None:
    sim = DragonfishSimulator(faults=FaultPlan())
    await sim.start()
    try:
        async with http_client(base_url=sim.base_url, headers=headers(sim)) as c:
            cliente = await create_customer(c)
            _, art, color, talle = some_variant(sim)
            sim.faults.script("POST", "pedido", "drop_after")
            with pytest.raises(httpx.TransportError):
                await c.post("Pedido/", json=order_body(cliente, art, color, talle))
            assert sim.order_by_external("1001") is not None
            r = await c.post("Pedido/", json=order_body(cliente, art, color, talle))
            assert "ya existe" in r.reason_phrase
    finally:
        await sim.stop()


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


def _rss_mib() -> float:
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

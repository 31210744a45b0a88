"""The Acqua connector over loopback against its simulator, and the engine with it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bridge.config import Paths, load_config, parse_config, save_config
from bridge.engine import Engine
from bridge.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    DataError,
    DuplicateError,
)
from bridge.fiscal import make_cuit, validate_buyer_fiscal
from bridge.http import RetryPolicy
from bridge.model import Address, Buyer, CatalogItem, OrderItem, RowProblem, StoreOrder, ValidBuyer
from bridge.registry import erp_entry
from bridge.secrets import SecretStore
from bridge.state import OrderState
from connectors.acqua.client import AcquaClient
from connectors.acqua.config import AcquaConfig
from sim.acqua import AcquaSimulator
from sim.catalog import SimCatalog
from sim.store import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN

N_VARIANTS = 120
CUIT_RI = "33-69345023-9"  # AFIP's own
PERSON_DNI = "28123456"
PERSON_CUIT = make_cuit("20", PERSON_DNI)


@pytest.fixture
def catalog() -> SimCatalog:
    return SimCatalog.generate(N_VARIANTS, seed=3)


@pytest.fixture
async def sim(catalog: SimCatalog) -> AsyncIterator[AcquaSimulator]:
    s = AcquaSimulator(catalog=catalog, write_hold_s=0.0)
    await s.start()
    yield s
    await s.stop()


def config(sim: AcquaSimulator, **kw: Any) -> AcquaConfig:
    return AcquaConfig(
        instance=sim.instance,
        username=sim.username,
        base_url_template=sim.base_url_template,
        verify_tls=False,
        **kw,
    )


@pytest.fixture
async def make_client(sim: AcquaSimulator):
    made: list[AcquaClient] = []

    def make(
        password: str | None = None, policy: RetryPolicy | None = FAST, **kw: Any
    ) -> AcquaClient:
        client = AcquaClient(
            config(sim, **kw),
            {"erp.password": sim.password if password is None else password},
            policy,
        )
        made.append(client)
        return client

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
def client(make_client) -> AcquaClient:
    return make_client()


def valid_buyer(tax_id: str, condition: str, name: str = "Comercial Ñandú") -> ValidBuyer:
    buyer = Buyer(
        id="cus_1",
        business_name=name,
        tax_id=tax_id,
        tax_condition=condition,
        email="compras@nandu.com.ar",
        phone="+54 9 11 5555-1234",
        address=Address(
            street="Av. Corrientes",
            number="1234",
            floor="3",
            city="CABA",
            province="Ciudad Autónoma de Buenos Aires",
            postal_code="C1043AAZ",
        ),
    )
    doc, cond = validate_buyer_fiscal(tax_id, condition)
    return ValidBuyer(buyer, doc, cond)


def store_order(number: str, vb: ValidBuyer, skus: list[str]) -> StoreOrder:
    items = tuple(
        OrderItem(
            sku, f"Producto {sku}", 2, Decimal("1000.00"), Decimal("10.00"), Decimal("1800.00")
        )
        for sku in skus
    )
    return StoreOrder(
        id=f"ord_{number}",
        number=number,
        confirmed_at="2025-03-01T10:00:00-03:00",
        buyer=vb.buyer,
        items=items,
        payment_terms="30 días",
        notes="Entregar por la tarde",
        total=Decimal("1800.00") * len(items),
    )


def variant_skus(catalog: SimCatalog, n: int = 2) -> list[str]:
    return [s for s in catalog.skus() if "!" in s][:n]


async def drain(client: AcquaClient) -> list[list[CatalogItem | RowProblem]]:
    return [page async for page in client.catalog()]


def statuses(sim: AcquaSimulator, route: str) -> list[int]:
    return [r.status for r in sim.requests if r.route == route]


# -- config and registry -------------------------------------------------------------------


def test_registry_and_config() -> None:
    entry = erp_entry("acqua")
    assert entry.secrets == ("erp.password",)
    assert [f.name for f in entry.fields] == ["instance", "username", "erp.password"]
    assert [f.label for f in entry.fields] == ["Instance", "Username", "Password"]
    assert entry.fields[2].kind == "secret"
    assert entry.capabilities.orders and not entry.capabilities.sku_lookup
    cfg = AcquaConfig(instance="Beauties", username="web")
    assert cfg.base_url == "https://Beauties.acqua.com.ar/api/"
    for bad in ("Beau ties", "a/b", "", "-x", "x.y"):
        with pytest.raises(ValidationError):
            AcquaConfig(instance=bad, username="web")
    with pytest.raises(ValidationError):
        AcquaConfig(instance="x", username="web", tax_conditions={"exento": "EX"})
    with pytest.raises(ValidationError):
        AcquaConfig(instance="x", username="web", base_url_template="https://{host}/api/")
    # a password in the config file is refused (it goes to the keyring)
    with pytest.raises(ConfigError, match="secrets do not go"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "acqua", "instance": "x", "username": "u", "password": "p"},
            }
        )


# -- auth ----------------------------------------------------------------------------------


async def test_read_and_write_tokens_obtained_once_and_reused(client, sim, catalog):
    pages = await drain(client)
    assert sum(len(p) for p in pages) == N_VARIANTS
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    assert await client.find_customer(vb) is None
    code = await client.create_customer(vb)
    assert await client.find_customer(vb) == code
    await drain(client)
    assert sim.tokens_issued == {"read": 1, "write": 1}
    assert sim.count("public-token", "POST") == 1 and sim.count("token", "POST") == 1
    # no request was refused along the way
    assert 401 not in statuses(sim, "stock") + statuses(sim, "customers")


async def test_read_token_is_not_accepted_for_writes(sim):
    async with httpx.AsyncClient(base_url=sim.base_url) as c:
        read = (await c.post("auth/public-token")).json()["token"]
        r = await c.post("customers", json={}, headers={"Authorization": f"Bearer {read}"})
        assert r.status_code == 401 and r.json()["error"] == "insufficient_scope"
        r = await c.get("products/stock", headers={"Authorization": f"Bearer {read}"})
        assert r.status_code == 200 and r.json()["total"] == N_VARIANTS


async def test_tokens_renewed_before_they_expire(make_client, sim):

    sim.token_lifetime_s = 1.0
    client = make_client()
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    await client.lookup_sku(variant_skus(sim.catalog, 1)[0])
    await client.find_customer(vb)
    await asyncio.sleep(0.8)  # past 3/4 of the lifetime: renewed without waiting for a 401
    await client.lookup_sku(variant_skus(sim.catalog, 1)[0])
    await client.find_customer(vb)
    assert sim.tokens_issued == {"read": 2, "write": 2}
    assert 401 not in statuses(sim, "stock") + statuses(sim, "customers")


async def test_tokens_renewed_once_on_401(client, sim):
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    await drain(client)
    await client.find_customer(vb)
    sim.expire_tokens()  # the server dropped them early: only a 401 tells
    items = [e for page in await drain(client) for e in page]
    assert len(items) == N_VARIANTS
    code = await client.create_customer(vb)
    assert code in sim.customers
    assert sim.tokens_issued == {"read": 2, "write": 2}
    assert statuses(sim, "customers").count(401) == 1
    # the refused request was simply tried again
    assert len(sim.customers) == 1


async def test_wrong_password_is_a_clear_auth_error(make_client, sim):
    client = make_client(password="no-es-esta")
    with pytest.raises(AuthError) as info:
        await client.create_customer(valid_buyer(CUIT_RI, "responsable_inscripto"))
    msg = info.value.message
    assert "Acqua" in msg and "Username" in msg and "Password" in msg
    assert sim.username in msg
    assert "no-es-esta" not in msg and "no-es-esta" not in str(info.value.server_message)
    assert sim.customers == {}
    # reads need no credentials: the catalog still works
    assert sum(len(p) for p in await drain(client)) == N_VARIANTS
    checks = {c.name: c for c in await client.checks()}
    assert checks["ERP reachable"].ok and checks["ERP read token"].ok
    assert not checks["ERP credentials"].ok and "Password" in checks["ERP credentials"].detail


async def test_credentials_changed_while_running(client, sim):
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    await client.find_customer(vb)
    sim.password = "cambiada-en-acqua"
    sim.expire_tokens()
    with pytest.raises(AuthError, match="check Username and Password") as info:
        await client.find_customer(vb)
    assert "cambiada" not in info.value.message
    # one renewal attempt, not a loop
    assert sim.count("token", "POST") == 2


async def test_unknown_instance_is_a_config_error(sim):
    cfg = AcquaConfig(
        instance="OtraTienda",
        username=sim.username,
        base_url_template=sim.base_url_template,
        verify_tls=False,
    )
    client = AcquaClient(cfg, {"erp.password": sim.password}, FAST)
    try:
        with pytest.raises(ConfigError, match="Instance") as info:
            await drain(client)
        assert "OtraTienda" in info.value.message
    finally:
        await client.aclose()


# -- catalog -------------------------------------------------------------------------------


async def test_pagination_over_several_pages(make_client, sim, catalog):
    client = make_client(page_size=25)
    items = [e for page in await drain(client) for e in page]
    assert all(isinstance(e, CatalogItem) for e in items)
    assert sorted(e.sku for e in items) == sorted(catalog.skus())
    pages = math.ceil(N_VARIANTS / 25)
    for route in ("stock", "prices"):
        gets = [r.path for r in sim.requests if r.route == route]
        assert len(gets) == pages
        assert sorted(int(p.split("page=")[1].split("&")[0]) for p in gets) == list(
            range(1, pages + 1)
        )
        assert all("limit=25" in p for p in gets)


async def test_pagination_without_a_total(make_client, sim, catalog):
    sim.send_total = False
    client = make_client(page_size=30)  # 120 = 4 full pages, then an empty one
    items = [e for page in await drain(client) for e in page]
    assert sorted(e.sku for e in items) == sorted(catalog.skus())
    assert sim.count("stock", "GET") == sim.count("prices", "GET") == 5


async def test_server_capping_the_page_size(make_client, sim, catalog):
    sim.max_limit = 20
    client = make_client(page_size=50)
    items = [e for page in await drain(client) for e in page]
    assert len(items) == N_VARIANTS == len({e.sku for e in items})
    assert sim.count("stock", "GET") == math.ceil(N_VARIANTS / 20)


async def test_catalog_streams_page_by_page(make_client, sim):
    client = make_client(page_size=20, concurrency=1)
    seen_at_first_yield = None
    n = 0
    async for page in client.catalog():
        if seen_at_first_yield is None:
            seen_at_first_yield = sim.count("stock", "GET")
            assert len(page) == 20
        n += 1
    assert seen_at_first_yield == 1 and n == math.ceil(N_VARIANTS / 20)


async def test_stock_and_prices_merged_by_sku(make_client, sim, catalog):
    skus = list(catalog.skus())
    unpriced = skus[7]
    sim.unpriced = {unpriced}
    sim.prices_order = "reversed"  # the two lists do not even share an order
    catalog.set_stock(skus[3], 5)
    catalog.add_comprometido(skus[3], 9)  # available below 0: sent as is
    client = make_client(page_size=25, price_list="MAYOR $")
    items = {e.sku: e for page in await drain(client) for e in page}
    assert set(items) == set(skus)
    for sku, item in items.items():
        assert isinstance(item, CatalogItem)
        assert item.available == Decimal(str(catalog.disponible(sku))), sku
        if sku == unpriced:
            assert item.price is None
        else:
            assert item.price == Decimal(str(catalog.price(sku, "LISTA1"))), sku
    assert items[skus[3]].available == -4
    assert all("priceList=MAYOR" in r.path for r in sim.requests if r.route == "prices")


async def test_bad_rows_and_unknown_price_list(make_client, sim):
    client = make_client(price_list="NO EXISTE")
    with pytest.raises(ConfigError, match=r"erp\.price_list"):
        await drain(client)
    ok = make_client()
    problems = [
        ok._stock_row({"sku": "X", "available": "mucho"}),
        ok._stock_row({"available": 3}),
        ok._price_row({"sku": "Y", "price": -1}),
    ]
    assert all(isinstance(p, RowProblem) for p in problems)
    assert "not a number" in problems[0].message  # type: ignore[union-attr]


async def test_merge_edge_rows(client):
    from connectors.acqua.client import _Merger

    m = _Merger(client)
    out = m.add_stock(
        [
            {"sku": "A", "available": 3},
            {"sku": "B", "available": 1},
            {"sku": "A", "available": 99},
            {"sku": "C", "available": 2},
        ]
    )
    assert out == []  # waiting for their prices
    out = m.add_prices(
        [
            {"sku": "A", "price": 10},
            {"sku": "B", "price": "caro"},
            {"sku": "P", "price": 5},
            {"sku": "A", "price": 11},
        ]
    )
    assert out[0] == CatalogItem("A", Decimal(3), Decimal(10))  # the first rows count
    assert isinstance(out[1], RowProblem) and out[1].sku == "B"
    assert len(out) == 2
    rest = m.finish()
    assert CatalogItem("C", Decimal(2), None) in rest  # no price in the list
    [problem] = [e for e in rest if isinstance(e, RowProblem)]
    assert problem.sku == "P" and "no stock row" in problem.message


async def test_lookup_sku(client, catalog):
    sku = variant_skus(catalog, 1)[0]
    found = await client.lookup_sku(sku)
    assert isinstance(found, CatalogItem) and found.sku == sku
    assert found.price == Decimal(str(catalog.price(sku, "LISTA0")))
    assert await client.lookup_sku("NOEXISTE!01!M") is None


# -- customers -----------------------------------------------------------------------------


async def test_dni_or_cuit_from_the_document_format(client, sim):
    person = valid_buyer(
        f"{PERSON_DNI[:2]}.{PERSON_DNI[2:5]}.{PERSON_DNI[5:]}",
        "consumidor_final",
        name="Juana Pérez",
    )
    firm = valid_buyer(CUIT_RI, "responsable_inscripto")
    mono = valid_buyer(make_cuit("27", "30111222"), "monotributo")
    codes = [await client.create_customer(vb) for vb in (person, firm, mono)]
    got = [sim.customers[c] for c in codes]
    assert [(c["documentType"], c["documentNumber"], c["taxCondition"]) for c in got] == [
        ("DNI", PERSON_DNI, "CONSUMIDOR_FINAL"),
        ("CUIT", "33693450239", "RESPONSABLE_INSCRIPTO"),
        ("CUIT", make_cuit("27", "30111222"), "MONOTRIBUTO"),
    ]
    assert got[1]["email"] == "compras@nandu.com.ar" and got[1]["phone"]
    assert got[1]["address"]["street"] == "Av. Corrientes"
    assert got[1]["address"]["postalCode"] == "C1043AAZ"


async def test_existing_customer_is_reused(client, sim):
    by_hand = sim.add_customer(name="A mano", documentType="CUIT", documentNumber="33693450239")
    assert (
        await client.find_customer(valid_buyer(CUIT_RI, "responsable_inscripto")) == by_hand["id"]
    )
    # a person's CUIT finds the customer loaded with their DNI
    dni_only = sim.add_customer(name="Juan", documentType="DNI", documentNumber=PERSON_DNI)
    assert await client.find_customer(valid_buyer(PERSON_CUIT, "monotributo")) == dni_only["id"]
    # a near miss is not a match
    assert await client.find_customer(valid_buyer("2812345", "consumidor_final")) is None
    # creating one that exists answers 409 duplicate: the existing one is used, none added
    assert (
        await client.create_customer(valid_buyer(CUIT_RI, "responsable_inscripto")) == by_hand["id"]
    )
    assert len(sim.customers) == 2


async def test_customer_validation_error_shows_the_erps_message(make_client, sim):
    client = make_client(
        tax_conditions={
            "responsable_inscripto": "RI",
            "monotributo": "MONOTRIBUTO",
            "exento": "EXENTO",
            "consumidor_final": "CONSUMIDOR_FINAL",
        }
    )
    with pytest.raises(DataError) as info:
        await client.create_customer(valid_buyer(CUIT_RI, "responsable_inscripto"))
    assert not isinstance(info.value, DuplicateError)
    assert "taxCondition" in info.value.message and "'RI' is not one of" in info.value.message
    assert info.value.server_message and "invalid fields" in info.value.server_message
    assert sim.customers == {}


# -- orders --------------------------------------------------------------------------------


async def test_order_created_with_its_lines(client, sim, catalog):
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    code = await client.create_customer(vb)
    skus = variant_skus(catalog, 2)
    order = store_order("VM-1001", vb, skus)
    assert await client.find_order(order) is None
    ref = await client.create_order(order, code, vb)
    trx = sim.transactions[ref]
    assert trx["customerId"] == code and trx["externalId"] == "VM-1001"
    assert trx["items"][0] == {"sku": skus[0], "quantity": 2, "unitPrice": 1000, "discount": 10}
    assert trx["paymentTerms"] == "30 días" and trx["notes"] == "Entregar por la tarde"
    assert await client.find_order(order) == ref


async def test_conflict_four_times_then_success_one_second_apart(make_client, sim, catalog):
    assert RetryPolicy().conflict_attempts == 5 and RetryPolicy().conflict_delay_s == 1.0
    client = make_client(policy=None)  # the default policy: the vendor's 5 tries, 1 s apart
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    code = await client.create_customer(vb)
    sim.faults.script("POST", "transactions", 409, 409, 409, 409)
    t0 = time.monotonic()
    ref = await client.create_order(store_order("VM-2001", vb, variant_skus(catalog, 1)), code, vb)
    elapsed = time.monotonic() - t0
    assert sim.count("transactions", "POST") == 5
    assert elapsed >= 4.0  # four waits of 1 s between the five tries
    assert len(sim.transactions_for("VM-2001")) == 1 and ref in sim.transactions


async def test_conflict_five_times_fails_retryable(client, sim, catalog):
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    code = await client.create_customer(vb)
    sim.faults.script("POST", "transactions", 409, 409, 409, 409, 409)
    with pytest.raises(ConflictError) as info:
        await client.create_order(store_order("VM-2002", vb, variant_skus(catalog, 1)), code, vb)
    assert info.value.retryable and not isinstance(info.value, DuplicateError)
    assert sim.count("transactions", "POST") == 5
    assert sim.transactions == {}


async def test_real_concurrent_writes_are_retried(make_client, sim, catalog):

    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    # the first order write waits until the other one has met it (a 409), then goes on
    policy = RetryPolicy(
        conflict_attempts=5,
        conflict_delay_s=0.03,
        transient_attempts=3,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
    )
    a, b = make_client(policy=policy), make_client(policy=policy)
    code = await a.create_customer(vb)
    sku = variant_skus(catalog, 1)
    sim.hold_write_until_contended_s = 20
    refs = await asyncio.gather(
        a.create_order(store_order("VM-3001", vb, sku), code, vb),
        b.create_order(store_order("VM-3002", vb, sku), code, vb),
    )
    assert len(set(refs)) == 2 and len(sim.transactions) == 2
    assert 409 in statuses(sim, "transactions")


async def test_duplicate_external_id_is_reconciled_not_resent(client, sim, catalog):
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    code = await client.create_customer(vb)
    order = store_order("VM-4001", vb, variant_skus(catalog, 1))
    first = await client.create_order(order, code, vb)
    with pytest.raises(DuplicateError) as info:
        await client.create_order(order, code, vb)
    assert "VM-4001" in info.value.message and "already exists" in info.value.message
    # refused at once, not retried like a busy server's 409
    assert sim.count("transactions", "POST") == 2
    assert await client.find_order(order) == first
    assert len(sim.transactions_for("VM-4001")) == 1


async def test_unknown_sku_shows_the_erps_message(client, sim, catalog):
    vb = valid_buyer(CUIT_RI, "responsable_inscripto")
    code = await client.create_customer(vb)
    order = store_order("VM-5001", vb, [variant_skus(catalog, 1)[0], "NOEXISTE!01!M"])
    with pytest.raises(DataError) as info:
        await client.create_order(order, code, vb)
    assert "Unknown SKU 'NOEXISTE!01!M'" in info.value.message
    assert info.value.server_message == "Unknown SKU 'NOEXISTE!01!M' in items[1]"
    assert info.value.status == 400 and sim.transactions == {}


# -- the engine with Acqua -----------------------------------------------------------------


@pytest.fixture
async def store_sim(catalog: SimCatalog) -> AsyncIterator[StoreSimulator]:
    s = StoreSimulator(token=STORE_TOKEN, products=list(catalog.store_rows("LISTA0")), seed=5)
    await s.start()
    yield s
    await s.stop()


def acqua_profile(tmp_path: Path, sim: AcquaSimulator, store_sim: StoreSimulator) -> Paths:
    data = {
        "store": {"url": store_sim.base_url},
        "erp": {
            "kind": "acqua",
            "instance": sim.instance,
            "username": sim.username,
            "base_url_template": sim.base_url_template,
            "price_list": "MAYOR $",
            "page_size": 40,
            "verify_tls": False,
        },
        "sync": {
            "orders_interval_s": 5,
            "catalog_interval_s": 300,
            "retry_base_s": 1,
            "full_catalog_every_h": 0,
        },
    }
    paths = Paths(config_file=tmp_path / "profile" / "config.toml", data_dir=tmp_path / "profile")
    save_config(parse_config(data), paths.config_file)
    return paths


@pytest.fixture
async def engine(tmp_path, sim, store_sim) -> AsyncIterator[Engine]:
    paths = acqua_profile(tmp_path, sim, store_sim)
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    secrets.set_session("erp.password", sim.password)
    eng = Engine(load_config(paths.config_file), paths, secrets, policy=FAST)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


async def test_engine_sync_all_with_acqua(engine, sim, store_sim, catalog):
    firm = store_sim.factory.buyers.by_condition("responsable_inscripto")[0]
    person = store_sim.factory.buyers.by_condition("consumidor_final")[0]
    orders = [
        store_sim.add_order(buyer=firm),
        store_sim.add_order(buyer=firm),
        store_sim.add_order(buyer=person),
    ]
    results = await engine.sync_now("all")
    assert [r.pipeline for r in results] == ["orders", "catalog"]
    assert all(r.status == "ok" for r in results), [r.message for r in results]
    # every order reached Acqua exactly once, with its customer
    assert len(sim.customers) == 2
    docs = {c["documentNumber"]: c for c in sim.customers.values()}
    firm_doc = "".join(ch for ch in firm["tax_id"] if ch.isdigit())
    person_doc = "".join(ch for ch in person["tax_id"] if ch.isdigit())
    assert docs[firm_doc]["documentType"] == "CUIT"
    assert docs[person_doc]["documentType"] == "DNI"
    for o, doc in zip(orders, (firm_doc, firm_doc, person_doc), strict=True):
        [trx] = sim.transactions_for(o["number"])
        assert trx["customerId"] == docs[doc]["id"]
        assert [(i["sku"], i["quantity"]) for i in trx["items"]] == [
            (i["sku"], i["quantity"]) for i in o["items"]
        ]
        assert store_sim.orders[o["id"]]["erp_status"] == "sent"
        assert store_sim.orders[o["id"]]["erp_reference"] == trx["id"]
    # stock (after Acqua took the orders) and the MAYOR $ prices reached the store
    for sku in catalog.skus():
        product = store_sim.products[sku]
        assert product["stock"] == max(0, math.floor(catalog.disponible(sku))), sku
        price = catalog.price(sku, "LISTA1")
        if price > 0:
            assert product["price"] == f"{price:.2f}", sku
    # nothing is sent twice: not on the next run, not when state and the store's report
    # are lost (Acqua's duplicate refusal is taken as "already sent")
    await engine.sync_now("orders")
    engine.state._db.execute("DELETE FROM outbox")
    store_sim.orders[orders[0]["id"]]["erp_status"] = "pending"
    [again] = await engine.sync_now("orders")
    assert again.status == "ok", again.message
    assert engine.state.outbox.get(orders[0]["id"]).state == OrderState.DONE
    assert len(sim.transactions) == 3
    assert sim.count("public-token", "POST") == 1  # the catalog's client, reused


async def test_engine_out_of_range_rows_are_errors_of_their_own(engine, sim, store_sim, catalog):
    """One poisoned row per kind among good ones (before: 1e19 units overflowed SQLite and a
    price of 1e30 failed the rounding to cents, stopping the run with nothing pushed)."""
    skus = list(catalog.skus())
    catalog.set_stock(skus[1], 1e19)
    catalog.set_price(skus[2], "LISTA1", 1e30)
    catalog.set_stock(skus[3], float("nan"))
    catalog.set_price(skus[4], "LISTA1", float("inf"))
    catalog.set_stock(skus[5], -1e19)
    bad = skus[1:6]
    for product in store_sim.products.values():
        product["stock"] = -1  # so that every pushed row shows
    [result] = await engine.sync_now("catalog")
    assert result.status == "partial", result.message
    assert result.items_failed == len(bad)
    errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
    # (the simulator writes whole numbers as JSON integers)
    assert (
        "'available' is 10000000000000000000, beyond the ±1,000,000,000 units"
        in errors[f"sku:{skus[1]}"]
    )
    assert (
        "price is 1000000000000000019884624838656, more than the 1,000,000,000,000"
        in errors[f"sku:{skus[2]}"]
    )
    assert "'available' is nan, not a number" in errors[f"sku:{skus[3]}"]
    assert "price inf is not a number" in errors[f"sku:{skus[4]}"]
    assert "'available' is -10000000000000000000, beyond" in errors[f"sku:{skus[5]}"]
    for sku in skus:
        expected = -1 if sku in bad else max(0, math.floor(catalog.disponible(sku)))
        assert store_sim.products[sku]["stock"] == expected, sku


@pytest.mark.parametrize(
    "fault, claimed, send_total",
    [
        ("claimed_total", 10**9, True),
        ("ignore_page", None, True),
        ("ignore_page", None, False),  # no total, every page full: it never ended
        ("repeat_page", None, True),
    ],
)
async def test_engine_paging_faults_end_the_run_with_bounded_requests(
    engine, sim, store_sim, catalog, caplog, fault, claimed, send_total
):
    """40 rows a page, 3 pages a list. A huge claimed total ends with the first empty page
    (a warning says so); a repeated page stops the run with a clear error, nothing pushed
    (bridge.paging)."""
    sim.send_total = send_total
    sim.paging.claimed_total = claimed
    if fault == "ignore_page":
        sim.paging.ignore_page = True
    elif fault == "repeat_page":
        sim.paging.repeat_page = 3
    for route in ("stock", "prices"):  # a runaway client fails here instead of hanging
        sim.faults.script("GET", route, *([None] * 30), *([400] * 100_000))
    events: list[Any] = []
    engine.events.subscribe(events.append)
    for product in store_sim.products.values():
        product["stock"] = -1  # so that anything pushed would show
    with caplog.at_level("WARNING", logger="bridge.paging"):
        [result] = await engine.sync_now("catalog")
    requests = sim.count("stock", "GET") + sim.count("prices", "GET")
    print(f"{fault}: {requests} list requests, {len(events)} events")
    assert requests <= 2 * 4 + 4  # pages 1-3 and the empty 4th of each list, 4 ahead
    if fault == "claimed_total":
        assert result.status == "ok", result.message
        assert result.items_seen == N_VARIANTS
        assert any("claimed 1,000,000,000 rows" in r.getMessage() for r in caplog.records)
        return
    assert result.status == "failed", result.message
    assert "Acqua answered page" in result.message
    assert "it ignores the page parameter or repeats pages" in result.message
    assert store_sim.patches == [] and result.items_ok == 0
    assert len(events) <= 5, [e.code for e in events]

"""Salesforce Virtual Seller: the connector against its simulator (login, session renewal,
catalog pages and filters, orders), then the engine and the CLI against both simulators."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config import Paths, load_config, parse_config
from bridge.engine import Engine
from bridge.errors import (
    AuthError,
    ConfigError,
    DataError,
    DuplicateError,
    FailureKind,
    RateLimitedError,
)
from bridge.fiscal import make_cuit, validate_buyer_fiscal
from bridge.model import Address, Buyer, CatalogItem, OrderItem, StoreOrder, ValidBuyer
from bridge.registry import erp_entry
from bridge.secrets import SecretStore
from bridge.state import OrderState
from connectors.salesforce_vs.client import SalesforceVSClient
from connectors.salesforce_vs.config import UI_FIELDS, SalesforceVSConfig
from connectors.salesforce_vs.simulator import SalesforceVSSimulator
from connectors.store.simulator import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN

IDENTIFIER = "PAGINAWEB"
COMPANY_CUIT = make_cuit("30", "71234567")


@pytest.fixture(autouse=True)
def _no_env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BRIDGE_SECRET_ERP_PASSWORD", "BRIDGE_SECRET_ERP_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def sf():
    # the org asks for a security token; the instance lives under a path of its own, so
    # that a call sent to the login URL instead of instance_url fails
    sim = SalesforceVSSimulator(security_token="TKN7x9", instance_prefix="org42", seed=4)
    await sim.start()
    yield sim
    await sim.stop()


def secrets_for(sim: SalesforceVSSimulator, **over: str) -> dict[str, str]:
    return {
        "erp.password": sim.password + sim.security_token,
        "erp.client_secret": sim.client_secret,
        **over,
    }


def client_for(
    sim: SalesforceVSSimulator, secrets: dict[str, str] | None = None, **cfg: object
) -> SalesforceVSClient:
    config = SalesforceVSConfig.model_validate(
        {
            "username": sim.username,
            "client_id": sim.client_id,
            "identifier": IDENTIFIER,
            "login_url": sim.login_url,
            **cfg,
        }
    )
    return SalesforceVSClient(config, secrets or secrets_for(sim), FAST)


@pytest.fixture
async def client(sf):
    c = client_for(sf)
    yield c
    await c.aclose()


async def all_items(c: SalesforceVSClient) -> list:
    out = []
    async for page in c.catalog():
        out.extend(page)
    return out


def stock_requests(sim: SalesforceVSSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.route == "stock"]


def make_order(
    number: str,
    skus: list[str],
    *,
    tax_id: str = COMPANY_CUIT,
    condition: str = "responsable_inscripto",
) -> tuple[StoreOrder, ValidBuyer]:
    buyer = Buyer(
        id="b1",
        business_name="Distribuidora Ñandú SRL",
        tax_id=tax_id,
        tax_condition=condition,
        email="compras@nandu.com.ar",
        phone="11 4555-0101",
        address=Address(
            "Av. Corrientes", "1234", "4° A", "CABA", "Ciudad Autónoma de Buenos Aires", "C1043AAZ"
        ),
    )
    items = tuple(
        OrderItem(
            sku=s,
            name=s,
            quantity=2 + n,
            unit_price=Decimal("1500.50"),
            discount_pct=Decimal("10.00"),
            subtotal=Decimal(0),
        )
        for n, s in enumerate(skus)
    )
    order = StoreOrder(
        id=f"ord_{number}",
        number=number,
        confirmed_at="",
        buyer=buyer,
        items=items,
        payment_terms="30 días",
        notes="Entregar por la mañana",
    )
    doc, cond = validate_buyer_fiscal(buyer.tax_id, buyer.tax_condition)
    return order, ValidBuyer(buyer, doc, cond)


# -- config --------------------------------------------------------------------------------
def test_config_companies_from_text_or_list_and_vendor_fields():
    base = {"username": "u", "client_id": "c", "identifier": "PAGINAWEB"}
    for given in (
        "EMPRESA1, EMPRESA2",
        ["EMPRESA1", " EMPRESA2 "],
        "['EMPRESA1', 'EMPRESA2']",
        "EMPRESA1;EMPRESA2,,EMPRESA1",
    ):
        cfg = SalesforceVSConfig.model_validate({**base, "companies": given})
        assert cfg.companies == ["EMPRESA1", "EMPRESA2"], given
    cfg = SalesforceVSConfig.model_validate({**base, "companies": "", "warehouse": " "})
    assert cfg.companies == [] and cfg.warehouse == ""
    assert cfg.login_url == "https://login.salesforce.com/"
    # a partial mapping keeps the other defaults
    cfg = SalesforceVSConfig.model_validate({**base, "tax_conditions": {"exento": "EX"}})
    assert cfg.tax_conditions["exento"] == "EX" and cfg.tax_conditions["monotributo"] == "6"
    assert [f.label for f in UI_FIELDS] == [
        "Username",
        "Password",
        "Client ID",
        "Client Secret",
        "Identifier",
        "Warehouse",
        "Companies",
    ]
    entry = erp_entry("salesforce_vs")
    assert entry.secrets == ("erp.password", "erp.client_secret")
    assert entry.capabilities.sku_lookup and not entry.capabilities.customers
    # secrets never go in the config file
    with pytest.raises(ConfigError, match="secrets do not go in the config file"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "salesforce_vs", **base, "password": "x"},
            }
        )
    with pytest.raises(ConfigError, match=r"erp\.identifier"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "salesforce_vs", "username": "u", "client_id": "c"},
            }
        )


# -- session -------------------------------------------------------------------------------
async def test_token_obtained_once_reused_and_calls_go_to_instance_url(sf, client):
    sku = sf.skus()[0]
    assert await client.lookup_sku(sku) is not None
    await all_items(client)
    await client.lookup_sku(sku)
    assert sf.logins == 1 and sf.count("oauth", "POST") == 1
    assert client.instance_url == sf.instance_url + "/"
    paths = stock_requests(sf)
    assert len(paths) >= 3 and all(p.startswith("/org42/services/apexrest/vs/stock") for p in paths)


async def test_expired_session_gets_one_new_token_then_the_call_is_retried(sf, client):
    sku = sf.skus()[0]
    await client.lookup_sku(sku)
    sf.expire_tokens()
    before = sf.count("stock", "GET")
    # three calls at once: one new login between them
    results = await asyncio.gather(*(client.lookup_sku(s) for s in sf.skus()[:3]))
    assert all(r is not None for r in results)
    assert sf.logins == 2
    assert sf.count("stock", "GET") == before + 6  # each: refused once, then served
    # a write refused with 401 is also renewed and sent again, once
    sf.expire_tokens()
    order, buyer = make_order("VM-000777", [sku])
    ref = await client.create_order(order, "", buyer)
    assert sf.logins == 3 and sf.count("orders", "POST") == 2
    assert sf.order_by_external("VM-000777")["orderNumber"] == ref


async def test_a_second_401_is_an_auth_error_without_more_logins(sf, client):
    await client.lookup_sku(sf.skus()[0])
    sf.faults.script("GET", "stock", 401, 401, 401)
    with pytest.raises(AuthError) as info:
        await client.lookup_sku(sf.skus()[0])
    assert sf.logins == 2  # one renewal only
    assert "Session expired or invalid" in info.value.message
    assert sf.faults.pending() == 1


@pytest.mark.parametrize(
    ("secrets", "said", "hint"),
    [
        (
            {"erp.password": "wrong-password"},
            "authentication failure (invalid_grant)",
            "security token",
        ),
        (
            {"erp.password": "Clave-Segura-2024"},
            "authentication failure (invalid_grant)",
            "security token",
        ),  # the token is missing
        (
            {"erp.client_secret": "not-the-secret"},
            "invalid client credentials (invalid_client)",
            "Client Secret",
        ),
    ],
)
async def test_wrong_credentials_are_an_auth_error_with_salesforces_description(
    sf, secrets, said, hint
):
    c = client_for(sf, secrets_for(sf, **secrets))
    try:
        with pytest.raises(AuthError) as info:
            await c.lookup_sku(sf.skus()[0])
    finally:
        await c.aclose()
    exc = info.value
    assert exc.kind == FailureKind.AUTH and said in exc.message and hint in exc.message
    assert sf.username in exc.message
    for secret in secrets.values():
        assert secret not in exc.message and secret not in (exc.server_message or "")
    assert sf.count("oauth", "POST") == 1  # refused credentials are not retried
    assert sf.count("stock") == 0


async def test_wrong_client_id_and_changed_password(sf, client):
    c = client_for(sf, client_id="3MVG9-unknown")
    try:
        with pytest.raises(AuthError, match=r"client identifier invalid \(invalid_client_id\)"):
            await all_items(c)
    finally:
        await c.aclose()
    # logged in, then the session ends and the password was changed meanwhile
    await client.lookup_sku(sf.skus()[0])
    sf.set_password("Otra-Clave-2025", "NEWTKN")
    sf.expire_tokens()
    with pytest.raises(AuthError, match="authentication failure"):
        await all_items(client)
    checks = await client.checks()
    assert checks[0].name == "ERP login" and not checks[0].ok
    assert "authentication failure" in checks[0].detail


# -- catalog -------------------------------------------------------------------------------
async def test_pagination_and_rows_of_one_sku_added_up_across_pages(sf):
    rows = sum(len(p.stock) for p in sf.products.values())
    c = client_for(sf, page_size=5)
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    assert all(isinstance(i, CatalogItem) for i in items)
    assert [i.sku for i in items] == sf.skus()  # each SKU once, in order
    for item in items:
        assert item.available == Decimal(str(sf.available(item.sku))), item.sku
        price = sf.price(item.sku)
        assert item.price == (None if price is None else Decimal(str(price)))
    pages = stock_requests(sf)
    assert len(pages) == math.ceil(rows / 5)
    assert [int(p.split("page=")[1].split("&")[0]) for p in pages] == list(range(1, len(pages) + 1))
    # some SKU had its rows (one per warehouse) on two pages: added up, not repeated
    listed = [s for s in sf.skus() for _ in sf.products[s].stock]
    assert any(listed[i - 1] == listed[i] for i in range(5, len(listed), 5))
    assert any(i.available < 0 for i in items)  # below zero is passed on as is


async def test_a_server_that_caps_the_page_size_is_paged_to_the_end(sf):
    sf.max_page_size = 4
    c = client_for(sf, page_size=50)
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    assert [i.sku for i in items] == sf.skus()


async def test_warehouse_companies_and_price_list_filters(sf):
    c = client_for(sf, warehouse="DEP-CENTRAL", companies="EMPRESA2", price_list="Lista_001")
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    expected = [s for s in sf.skus("EMPRESA2") if "DEP-CENTRAL" in sf.products[s].stock]
    assert [i.sku for i in items] == expected and expected
    for item in items:
        assert item.sku.startswith("E2-")
        assert item.available == Decimal(str(sf.available(item.sku, "DEP-CENTRAL")))
        price = sf.price(item.sku, "Lista_001")
        assert item.price == (None if price is None else Decimal(str(price)))
    assert all(
        "warehouse=DEP-CENTRAL" in p and "company=EMPRESA2" in p and "priceList=Lista_001" in p
        for p in stock_requests(sf)
    )


@pytest.mark.parametrize(
    ("style", "query"),
    [("repeat", "company=EMPRESA1&company=EMPRESA2"), ("comma", "company=EMPRESA1%2CEMPRESA2")],
)
async def test_several_companies_repeated_or_comma_joined(sf, style, query):
    c = client_for(sf, companies=["EMPRESA1", "EMPRESA2"], companies_style=style)
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    assert [i.sku for i in items] == sf.skus()
    assert all(query in p for p in stock_requests(sf))


async def test_a_server_ignoring_the_warehouse_filter_still_gives_that_warehouse_only(sf):
    # the real parameter name differs from the configured one: the server lists every
    # warehouse, and the connector keeps only the configured one
    c = client_for(sf, warehouse="DEP-NORTE", warehouse_param="deposito")
    try:
        items = await all_items(c)
        checks = {ch.name: ch for ch in await c.checks()}
    finally:
        await c.aclose()
    expected = [s for s in sf.skus() if "DEP-NORTE" in sf.products[s].stock]
    assert [i.sku for i in items] == expected
    assert all(i.available == Decimal(str(sf.available(i.sku, "DEP-NORTE"))) for i in items)
    assert "ignore the 'deposito' parameter" in checks["ERP warehouse"].detail


async def test_unknown_warehouse_or_company_is_reported_with_the_servers_message(sf):
    c = client_for(sf, warehouse="DEP-OESTE", companies="EMPRESA1, EMPRESA9")
    try:
        with pytest.raises(DataError, match="Unknown warehouse: DEP-OESTE"):
            await all_items(c)
        checks = {(ch.name, ch.detail): ch.ok for ch in await c.checks()}
    finally:
        await c.aclose()
    assert checks[("ERP login", f"{sf.username} on {sf.instance_url}/")]
    assert not checks[("ERP warehouse", "Unknown warehouse: DEP-OESTE (INVALID_FILTER)")]
    assert checks[("ERP company", "company 'EMPRESA1' found")]
    assert not checks[("ERP company", "Unknown company: EMPRESA9 (INVALID_FILTER)")]


async def test_org_api_limit_is_not_taken_for_bad_credentials(sf, client):
    sf.faults.script("GET", "stock", 403, 403, 403)
    with pytest.raises(RateLimitedError, match="API request limit"):
        await client.lookup_sku(sf.skus()[0])
    assert sf.logins == 1


async def test_lookup_one_sku(sf, client):
    sku = next(s for s in sf.skus() if len(sf.products[s].stock) > 1)
    item = await client.lookup_sku(sku)
    assert item == CatalogItem(sku, Decimal(str(sf.available(sku))), Decimal(str(sf.price(sku))))
    assert await client.lookup_sku("E1-NOEXISTE") is None
    paths = stock_requests(sf)
    assert len(paths) == 2 and f"sku={sku}" in paths[0]


async def test_a_wrong_path_is_a_config_error_not_an_empty_catalog(sf):
    c = client_for(sf, stock_path="services/apexrest/vs/stocks")
    try:
        with pytest.raises(ConfigError, match=r"erp\.stock_path"):
            await all_items(c)
    finally:
        await c.aclose()


# -- orders --------------------------------------------------------------------------------
async def test_order_carries_the_identifier_as_origin_and_the_buyer_inline(sf, client):
    skus = sf.skus()[:2]
    order, buyer = make_order("VM-001001", skus)
    ref = await client.create_order(order, "", buyer)
    created = sf.order_by_external("VM-001001")
    assert created["orderNumber"] == ref and ref.startswith("PV-")
    assert created["origin"] == IDENTIFIER and created["externalId"] == "VM-001001"
    assert created["customer"] == {
        "name": "Distribuidora Ñandú SRL",
        "documentType": "CUIT",
        "documentNumber": buyer.document.number,
        "taxCondition": "1",
        "email": "compras@nandu.com.ar",
        "phone": "11 4555-0101",
        "address": {
            "street": "Av. Corrientes",
            "number": "1234",
            "floor": "4° A",
            "city": "CABA",
            "province": "Ciudad Autónoma de Buenos Aires",
            "postalCode": "C1043AAZ",
        },
    }
    assert [(i["sku"], i["quantity"], i["unitPrice"], i["discount"]) for i in created["items"]] == [
        (skus[0], 2, 1500.5, 10.0),
        (skus[1], 3, 1500.5, 10.0),
    ]
    assert created["paymentTerms"] == "30 días" and created["notes"] == "Entregar por la mañana"
    # a final consumer with a DNI
    order, buyer = make_order(
        "VM-001002", skus[:1], tax_id="23.456.789", condition="consumidor_final"
    )
    await client.create_order(order, "", buyer)
    customer = sf.order_by_external("VM-001002")["customer"]
    assert (customer["documentType"], customer["documentNumber"], customer["taxCondition"]) == (
        "DNI",
        "23456789",
        "5",
    )


@pytest.mark.parametrize("status", [400, 409])
async def test_duplicate_external_id_is_refused_then_found(status):
    sim = SalesforceVSSimulator(duplicate_status=status)
    await sim.start()
    c = client_for(sim, secrets_for(sim))
    try:
        order, buyer = make_order("VM-002001", sim.skus()[:1])
        assert await c.find_order(order) is None
        first = await c.create_order(order, "", buyer)
        with pytest.raises(DuplicateError) as info:
            await c.create_order(order, "", buyer)
        assert "VM-002001" in info.value.message
        assert "DUPLICATE_EXTERNAL_ID" in (info.value.server_message or "")
        assert await c.find_order(order) == first
    finally:
        await c.aclose()
        await sim.stop()
    assert len(sim.orders) == 1
    assert sim.count("orders", "POST") == 2  # a 409 duplicate is not retried as a conflict


async def test_find_order_ignores_the_same_number_from_another_origin(sf, client):
    order, buyer = make_order("VM-003001", sf.skus()[:1])
    other = client_for(sf, identifier="MERCADOLIBRE")
    try:
        await other.create_order(order, "", buyer)
    finally:
        await other.aclose()
    assert await client.find_order(order) is None


async def test_validation_errors_carry_the_servers_message(sf, client):
    order, buyer = make_order("VM-004001", [sf.skus()[0], "E1-NOEXISTE"])
    with pytest.raises(DataError) as info:
        await client.create_order(order, "", buyer)
    exc = info.value
    assert not isinstance(exc, DuplicateError)
    assert (
        exc.server_message == "Producto inexistente: E1-NOEXISTE "
        "(FIELD_CUSTOM_VALIDATION_EXCEPTION)"
    )
    assert "VM-004001" in exc.message and "Producto inexistente: E1-NOEXISTE" in exc.message
    assert sf.orders == {}
    # a code the ERP does not know for the IVA condition
    c = client_for(sf, tax_conditions={"responsable_inscripto": "RI"})
    try:
        order, buyer = make_order("VM-004002", sf.skus()[:1])
        with pytest.raises(DataError, match="bad value for restricted picklist field: RI"):
            await c.create_order(order, "", buyer)
    finally:
        await c.aclose()


async def test_customers_are_never_looked_up(client):
    _, buyer = make_order("VM-1", ["X"])
    with pytest.raises(ConfigError):
        await client.find_customer(buyer)
    with pytest.raises(ConfigError):
        await client.create_customer(buyer)


# -- engine and CLI ------------------------------------------------------------------------
def write_config(
    tmp_path: Path, store_url: str, sim: SalesforceVSSimulator, extra: str = ""
) -> Paths:
    paths = Paths(config_file=tmp_path / "profile" / "config.toml", data_dir=tmp_path / "profile")
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        f"""\
[store]
url = "{store_url}"

[erp]
kind = "salesforce_vs"
username = "{sim.username}"
client_id = "{sim.client_id}"
identifier = "{IDENTIFIER}"
warehouse = ""
companies = "EMPRESA1, EMPRESA2"
login_url = "{sim.login_url}"
page_size = 10
{extra}
[sync]
orders_interval_s = 5
catalog_interval_s = 300
retry_base_s = 1
full_catalog_every_h = 0
""",
        encoding="utf-8",
    )
    return paths


def session_secrets(sim: SalesforceVSSimulator) -> SecretStore:
    store = SecretStore(use_keyring=False)
    store.set_session("store.token", STORE_TOKEN)
    store.set_session("erp.password", sim.password + sim.security_token)
    store.set_session("erp.client_secret", sim.client_secret)
    return store


@pytest.fixture
async def store(sf):
    # the store starts with stale stock: the first sync corrects it
    sim = StoreSimulator(
        token=STORE_TOKEN, seed=5, products=[(s, n + 3, p) for s, n, p in sf.store_rows()]
    )
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def engine(tmp_path, sf, store):
    paths = write_config(tmp_path, store.base_url, sf)
    eng = Engine(load_config(paths.config_file), paths, session_secrets(sf), policy=FAST)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


async def test_engine_order_once_with_buyer_inline_and_stock_to_the_store(engine, sf, store):
    skus = sf.skus()[:2]
    o = store.add_order(items=[(skus[0], 2), (skus[1], 1)])
    results = await engine.sync_now("all")
    assert [r.status for r in results] == ["ok", "ok"], [r.message for r in results]
    [created] = sf.orders.values()
    assert created["origin"] == IDENTIFIER and created["externalId"] == o["number"]
    assert created["customer"]["name"] == o["buyer"]["business_name"]
    assert [i["sku"] for i in created["items"]] == skus
    assert store.orders[o["id"]]["erp_status"] == "sent"
    assert store.orders[o["id"]]["erp_reference"] == created["orderNumber"]
    for sku in sf.skus():
        assert store.products[sku]["stock"] == max(0, math.floor(sf.available(sku))), sku
    # nothing sent twice
    await engine.sync_now("orders")
    assert len(sf.orders) == 1 and sf.count("orders", "POST") == 1
    # one product now
    sku = sf.skus()[5]
    sf.set_stock(sku, next(iter(sf.products[sku].stock)), 77)
    sf.set_price(sku, "Lista_000", 1234.5)
    store.patches.clear()
    result = await engine.sync_sku(sku)
    assert result.status == "ok", result.message
    assert store.patches == [
        [{"sku": sku, "stock": math.floor(sf.available(sku)), "price": "1234.50"}]
    ]
    assert store.products[sku]["price"] == "1234.50"


async def test_engine_duplicate_refusal_is_reconciled(engine, sf, store):
    o = store.add_order()
    await engine.sync_now("orders")
    # the store lost our report and lists the order again; our state was lost too
    engine.state._db.execute("DELETE FROM outbox")
    store.orders[o["id"]]["erp_status"] = "pending"
    [result] = await engine.sync_now("orders")
    assert result.status == "ok", result.message
    assert len(sf.orders) == 1 and sf.count("orders", "POST") == 2
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    [created] = sf.orders.values()
    assert store.orders[o["id"]]["erp_reference"] == created["orderNumber"]


async def test_engine_lost_reply_is_reconciled_not_resent(engine, sf, store):
    o = store.add_order()
    sf.faults.script("POST", "orders", "drop_after")
    await engine.sync_now("orders")
    assert len(sf.orders) == 1
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert len(sf.orders) == 1 and sf.count("orders", "POST") == 1
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert store.orders[o["id"]]["erp_status"] == "sent"


async def test_engine_shows_the_erps_validation_message_and_login_failures(engine, sf, store):
    o = store.add_order(items=[("E1-NOEXISTE", 1)])
    await engine.sync_now("orders")
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = engine.state.errors()
    assert "Producto inexistente: E1-NOEXISTE" in err["message"]
    assert "Producto inexistente" in err["server_message"]
    assert "Producto inexistente" in store.orders[o["id"]]["erp_message"]
    # wrong password: an auth error with Salesforce's description, for the merchant
    secrets = session_secrets(sf)
    secrets.set_session("erp.password", "Wr0ng-Passw0rd")
    eng = Engine(load_config(engine.paths.config_file), engine.paths, secrets, policy=FAST)
    try:
        [result] = await eng.sync_now("catalog")
    finally:
        await eng.stop()
    assert result.status == "failed"
    assert "authentication failure (invalid_grant)" in result.message
    assert "Wr0ng-Passw0rd" not in result.message
    [err] = [e for e in eng.state.errors() if e["pipeline"] == "catalog"]
    assert err["kind"] == "auth" and "authentication failure" in err["message"]


def test_cli_sync_one_sku(tmp_path):
    sim = SalesforceVSSimulator(seed=8)
    sim.start_in_thread()
    store = StoreSimulator(token=STORE_TOKEN, products=[(s, 0, "1.00") for s in sim.skus()])
    store.start_in_thread()
    try:
        paths = write_config(tmp_path, store.base_url, sim)
        sku = next(s for s in sim.skus() if sim.available(s) > 0)
        env = {
            "BRIDGE_CONFIG": str(paths.config_file),
            "BRIDGE_DATA_DIR": str(paths.data_dir),
            "BRIDGE_SECRET_STORE_TOKEN": STORE_TOKEN,
            "BRIDGE_SECRET_ERP_PASSWORD": sim.password + sim.security_token,
            "BRIDGE_SECRET_ERP_CLIENT_SECRET": sim.client_secret,
        }
        r = subprocess.run(
            [sys.executable, "-m", "bridge", "sync", "catalog", "--sku", sku],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        stock = math.floor(sim.available(sku))
        price = f"{sim.price(sku):.2f}"
        assert r.stdout.strip() == f"catalog: ok — SKU {sku}: stock {stock}, price {price}"
        assert store.call(lambda: store.products[sku]) == {"stock": stock, "price": price}
        assert store.call(lambda: len(store.patches)) == 1
        assert sim.call(lambda: sim.logins) == 1
        assert sim.password not in r.stdout + r.stderr
    finally:
        store.stop_thread()
        sim.stop_thread()

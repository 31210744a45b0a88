"""The store simulator itself, over loopback HTTP: it must behave as shared/specs/store-api.md
says, since the store client and the engine are tested against it."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal
from urllib.parse import urljoin

import httpx
import pytest

from bridge.fiscal import PERSON_PREFIXES, Document, FiscalError, validate_buyer_fiscal
from connectors.store import paths
from sim.kit import FaultPlan
from sim.ordergen import BuyerPool, OrderFactory, demo_catalog, item_subtotal
from sim.store import StoreSimulator

PRODUCTS = [
    ("R1050!NEGRO!M", 10, "1000.00"),
    ("R1050!NEGRO!L", 0, "1000"),
    ("MED-3PACK", 50, "500.50"),
]
AUTH = {"Authorization": "Bearer store-token"}
PENDING = {"erp_status": "pending"}
ULID_ID = re.compile(r"ord_[0-9A-HJKMNP-TV-Z]{26}")


@pytest.fixture
async def sim():
    s = StoreSimulator(products=PRODUCTS, seed=3)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(sim):
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH, timeout=5) as c:
        yield c


async def list_all(client, limit=100):
    """Every pending order, following cursors; returns (orders, pages)."""
    orders, pages, cursor = [], 0, None
    while True:
        params = {**PENDING, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await client.get(paths.ORDERS, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        orders += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return orders, pages


def sent(ref):
    return {"status": "sent", "erp_reference": ref}


# -- paths ------------------------------------------------------------------------------------
def test_paths_are_relative_to_the_base_url():
    base = "http://store.example/tienda/"
    assert urljoin(base, paths.ORDERS) == "http://store.example/tienda/api/v1/orders"
    assert paths.PRODUCTS == "api/v1/products"
    assert paths.STOCK_PRICES == "api/v1/products/stock-prices"
    assert paths.erp_sync("ord_01ABC") == "api/v1/orders/ord_01ABC/erp-sync"


# -- auth -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "store-token"},
        {"Authorization": "Basic store-token"},
    ],
)
async def test_requests_without_the_right_token_are_refused(sim, headers):
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as c:
        for method, path in [
            ("GET", paths.ORDERS),
            ("GET", paths.PRODUCTS),
            ("PATCH", paths.STOCK_PRICES),
            ("POST", paths.erp_sync("x")),
            ("GET", "api/v1/nothing"),
        ]:
            r = await c.request(method, path, params=PENDING)
            assert r.status_code == 401, (method, path)
            assert r.json() == {"error": "unauthorized", "message": "Invalid or expired API token"}


async def test_expired_and_replaced_token(sim, client):
    assert (await client.get(paths.PRODUCTS)).status_code == 200
    sim.expire_token()
    assert (await client.get(paths.PRODUCTS)).status_code == 401
    sim.set_token("new-token")
    assert (await client.get(paths.PRODUCTS)).status_code == 401
    r = await client.get(paths.PRODUCTS, headers={"Authorization": "bearer new-token"})
    assert r.status_code == 200


async def test_unknown_paths_and_methods_answer_json(client):
    r = await client.get("api/v1/customers")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await client.delete(paths.ORDERS)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = await client.get(paths.erp_sync("ord_x"))
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


# -- listing orders ---------------------------------------------------------------------------
async def test_pages_follow_the_cursor_oldest_first(sim, client):
    sim.add_orders(6)
    oldest = sim.add_order(confirmed_at="2026-01-02T09:00:00-03:00")
    orders, pages = await list_all(client, limit=3)
    assert pages == 3
    ids = [o["id"] for o in orders]
    assert ids[0] == oldest["id"]
    assert ids == sim.pending_ids() and len(set(ids)) == 7
    # the listed JSON is the order as the store has it, without the simulator's bookkeeping
    assert set(orders[1]) == {
        "id",
        "number",
        "status",
        "confirmed_at",
        "buyer",
        "items",
        "payment_terms",
        "notes",
        "total",
    }


async def test_limit_is_clamped_and_defaults_to_100(sim, client):
    sim.add_orders(105)
    r = await client.get(paths.ORDERS, params={**PENDING, "limit": 1000})
    assert len(r.json()["data"]) == 100 and r.json()["next_cursor"]
    r = await client.get(paths.ORDERS, params=PENDING)
    assert len(r.json()["data"]) == 100
    r = await client.get(paths.ORDERS, params={**PENDING, "cursor": r.json()["next_cursor"]})
    assert len(r.json()["data"]) == 5 and r.json()["next_cursor"] is None


async def test_empty_queue(client):
    r = await client.get(paths.ORDERS, params=PENDING)
    assert r.json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"erp_status": "sent"},
        {**PENDING, "limit": "0"},
        {**PENDING, "limit": "diez"},
        {**PENDING, "cursor": "!!garbage!!"},
        {**PENDING, "cursor": "bm90IGpzb24"},
    ],
)
async def test_bad_list_requests_are_400(sim, client, params):
    sim.add_orders(2)
    r = await client.get(paths.ORDERS, params=params)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


async def test_a_products_cursor_is_not_an_orders_cursor(sim, client):
    r = await client.get(paths.PRODUCTS, params={"limit": 1})
    cursor = r.json()["next_cursor"]
    r = await client.get(paths.ORDERS, params={**PENDING, "cursor": cursor})
    assert r.status_code == 400


async def test_a_malformed_order_is_listed_as_given(sim, client):
    bad = {
        "id": "ord_bad",
        "number": "VM-9",
        "status": "confirmed",
        "total": "10,50",
        "buyer": {
            "id": "cus_1",
            "business_name": "X",
            "tax_id": "20-12345678-0",
            "tax_condition": "monotributo",
        },
        "items": [{"sku": "NOPE", "quantity": 0, "unit_price": "10.50"}],
    }
    sim.add_order(bad)
    r = await client.get(paths.ORDERS, params=PENDING)
    assert r.json()["data"] == [bad]
    assert "erp_status" not in bad  # the caller's dict is not touched


# -- the queue --------------------------------------------------------------------------------
async def test_sent_and_failed_leave_the_queue_and_requeue_brings_back(sim, client):
    a, b, c = (o["id"] for o in sim.add_orders(3))
    r = await client.post(paths.erp_sync(a), json=sent("P-1"))
    assert r.status_code == 200 and r.json() == {"id": a, "erp_status": "sent"}
    r = await client.post(paths.erp_sync(b), json={"status": "failed", "message": "CUIT inválido"})
    assert r.json() == {"id": b, "erp_status": "failed"}
    orders, _ = await list_all(client)
    assert [o["id"] for o in orders] == [c]
    assert sim.orders[a]["erp_reference"] == "P-1"
    assert sim.orders[b]["erp_status"] == "failed"
    assert sim.orders[b]["erp_message"] == "CUIT inválido"
    assert sim.ids_with_status("failed") == [b]

    sim.requeue(b, buyer__tax_id="30-71234567-1", notes="corregido")
    orders, _ = await list_all(client)
    assert [o["id"] for o in orders] == [b, c]
    assert orders[0]["buyer"]["tax_id"] == "30-71234567-1" and orders[0]["notes"] == "corregido"
    assert orders[0]["buyer"]["business_name"]  # the rest of the buyer is kept
    assert len(sim.orders[b]["reports"]) == 1  # history survives the requeue
    with pytest.raises(ValueError):
        sim.requeue(a)


async def test_cursor_continues_after_orders_reported_meanwhile(sim, client):
    ids = [o["id"] for o in sim.add_orders(5)]
    r = await client.get(paths.ORDERS, params={**PENDING, "limit": 2})
    page = r.json()
    for o in page["data"]:
        await client.post(paths.erp_sync(o["id"]), json=sent("X" + o["id"]))
    r = await client.get(
        paths.ORDERS, params={**PENDING, "limit": 2, "cursor": page["next_cursor"]}
    )
    assert [o["id"] for o in r.json()["data"]] == ids[2:4]


async def test_sent_is_idempotent_and_a_different_reference_conflicts(sim, client):
    oid = sim.add_order()["id"]
    for _ in range(2):
        r = await client.post(paths.erp_sync(oid), json=sent("PED-0001"))
        assert r.status_code == 200 and r.json()["erp_status"] == "sent"
    r = await client.post(paths.erp_sync(oid), json=sent("PED-0002"))
    assert r.status_code == 409
    assert r.json() == {
        "error": "conflict",
        "message": "order already sent with reference PED-0001",
    }
    r = await client.post(paths.erp_sync(oid), json={"status": "failed", "message": "late"})
    assert r.status_code == 409
    assert sim.orders[oid]["erp_reference"] == "PED-0001"
    assert sim.orders[oid]["erp_status"] == "sent"
    assert [rep.get("erp_reference") for rep in sim.orders[oid]["reports"]] == [
        "PED-0001",
        "PED-0001",
        "PED-0002",
        None,
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "failed"}, 422),
        ({"status": "failed", "message": "  "}, 422),
        ({"status": "sent"}, 422),
        ({"status": "sent", "erp_reference": 12}, 422),
        ({"status": "done"}, 422),
        (["sent"], 400),
    ],
)
async def test_invalid_reports(sim, client, body, status):
    oid = sim.add_order()["id"]
    r = await client.post(paths.erp_sync(oid), json=body)
    assert r.status_code == status
    assert sim.orders[oid]["erp_status"] == "pending"


async def test_report_on_an_unknown_order_or_not_json(sim, client):
    r = await client.post(paths.erp_sync("ord_missing"), json=sent("1"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    oid = sim.add_order()["id"]
    r = await client.post(paths.erp_sync(oid), content=b"status=sent")
    assert r.status_code == 400


# -- catalog ----------------------------------------------------------------------------------
async def test_products_pages(client):
    r = await client.get(paths.PRODUCTS, params={"limit": 2})
    body = r.json()
    assert body["data"] == [
        {"sku": "MED-3PACK", "stock": 50, "price": "500.50"},
        {"sku": "R1050!NEGRO!L", "stock": 0, "price": "1000.00"},
    ]
    r = await client.get(paths.PRODUCTS, params={"limit": 2, "cursor": body["next_cursor"]})
    assert r.json() == {
        "data": [{"sku": "R1050!NEGRO!M", "stock": 10, "price": "1000.00"}],
        "next_cursor": None,
    }


async def first_pages(client, path, n, **params):
    """The ids (or SKUs) of the first `n` pages of a list, following its cursors, and the
    cursors it gave."""
    pages, cursors, cursor = [], [], None
    for _ in range(n):
        r = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([row.get("id") or row.get("sku") for row in body["data"]])
        cursor = body["next_cursor"]
        cursors.append(cursor)
        if cursor is None:
            break
    return pages, cursors


async def test_paging_faults_ignore_the_cursor_or_repeat_a_page(sim, client):
    """The paging switches (sim.kit.PagingFaults) a misbehaving store is tested with: each
    answer carries a cursor of its own, so that only the rows tell the repeat."""
    for _ in range(5):
        sim.add_order()
    honest, _ = await first_pages(client, paths.ORDERS, 5, limit=2, **PENDING)
    assert [len(p) for p in honest] == [2, 2, 1]
    sim.paging.ignore_page = True
    pages, cursors = await first_pages(client, paths.ORDERS, 4, limit=2, **PENDING)
    assert pages == [honest[0]] * 4 and len(set(cursors)) == 4
    sim.paging.ignore_page = False
    sim.paging.repeat_page = 2
    pages, cursors = await first_pages(client, paths.ORDERS, 5, limit=2, **PENDING)
    assert pages == [honest[0], honest[0], honest[1], honest[2]] and cursors[-1] is None
    sim.paging.repeat_page = 3
    pages, _ = await first_pages(client, paths.PRODUCTS, 5, limit=1)
    assert pages == [["MED-3PACK"], ["R1050!NEGRO!L"], ["R1050!NEGRO!L"], ["R1050!NEGRO!M"]]


async def test_stock_prices_update_and_not_found(sim, client):
    items = [
        {"sku": "R1050!NEGRO!M", "stock": 3},
        {"sku": "MED-3PACK", "price": "620.5"},
        {"sku": "GONE", "stock": 1},
        {"sku": "R1050!NEGRO!L", "stock": 7, "price": "1100"},
        {"sku": "GONE", "price": "1"},
    ]
    r = await client.patch(paths.STOCK_PRICES, json={"items": items})
    assert r.status_code == 200
    assert r.json() == {"updated": 3, "not_found": ["GONE"]}
    assert sim.products == {
        "R1050!NEGRO!M": {"stock": 3, "price": "1000.00"},
        "R1050!NEGRO!L": {"stock": 7, "price": "1100.00"},
        "MED-3PACK": {"stock": 50, "price": "620.50"},
    }
    assert sim.patches == [items] and sim.applied_patches == [items]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"sku": "MED-3PACK", "stock": -1}, "item 3 (SKU MED-3PACK): stock must be a non-negative"),
        ({"sku": "MED-3PACK", "stock": True}, "item 3 (SKU MED-3PACK): stock must be"),
        ({"sku": "MED-3PACK", "stock": 2.0}, "item 3 (SKU MED-3PACK): stock must be"),
        ({"sku": "MED-3PACK", "stock": None}, "item 3 (SKU MED-3PACK): stock must be"),
        ({"sku": "MED-3PACK", "price": "12,50"}, "item 3 (SKU MED-3PACK): price must be"),
        ({"sku": "MED-3PACK", "price": 12.5}, "item 3 (SKU MED-3PACK): price must be"),
        ({"sku": "MED-3PACK", "price": "1.005"}, "item 3 (SKU MED-3PACK): price must be"),
        ({"sku": "MED-3PACK", "price": "١٢"}, "item 3 (SKU MED-3PACK): price must be"),
        ({"stock": 1}, "item 3: sku must be"),
        ({"sku": 123, "stock": 1}, "item 3: sku must be"),
        ("MED-3PACK", "item 3: must be an object"),
    ],
)
async def test_an_invalid_item_rejects_the_whole_batch(sim, client, item, message):
    before = {k: dict(v) for k, v in sim.products.items()}
    items = [{"sku": "R1050!NEGRO!M", "stock": 1}, {"sku": "GONE", "stock": 1}, item]
    r = await client.patch(paths.STOCK_PRICES, json={"items": items})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_item"
    assert r.json()["message"].startswith(message)
    assert sim.products == before and sim.applied_patches == []


async def test_batch_too_large_and_bad_bodies(sim, client):
    before = {k: dict(v) for k, v in sim.products.items()}
    r = await client.patch(
        paths.STOCK_PRICES, json={"items": [{"sku": "MED-3PACK", "stock": 1}] * 501}
    )
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
    r = await client.patch(paths.STOCK_PRICES, content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = await client.patch(paths.STOCK_PRICES, json=[{"sku": "MED-3PACK", "stock": 1}])
    assert r.status_code == 400
    assert sim.products == before
    r = await client.patch(
        paths.STOCK_PRICES, json={"items": [{"sku": "MED-3PACK", "stock": 1}] * 500}
    )
    assert r.status_code == 200 and r.json()["updated"] == 500


async def test_max_batch_is_configurable():
    s = StoreSimulator(products=PRODUCTS, max_batch=2)
    await s.start()
    try:
        async with httpx.AsyncClient(base_url=s.base_url, headers=AUTH) as c:
            r = await c.patch(paths.STOCK_PRICES, json={"items": [{"sku": "X"}] * 3})
            assert r.status_code == 413
    finally:
        await s.stop()


# -- faults -----------------------------------------------------------------------------------
async def test_scripted_faults(sim, client):
    sim.add_orders(2)
    sim.faults.script("GET", "orders", 429, 503)
    r = await client.get(paths.ORDERS, params=PENDING)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json()["error"] == "rate_limited"
    assert (await client.get(paths.ORDERS, params=PENDING)).status_code == 503
    assert len((await client.get(paths.ORDERS, params=PENDING)).json()["data"]) == 2
    assert sim.count("orders", "GET") == 3

    oid = sim.pending_ids()[0]
    sim.faults.script("POST", "erp-sync", 500, "drop_after")
    r = await client.post(paths.erp_sync(oid), json=sent("E1"))
    assert r.status_code == 500 and sim.orders[oid]["erp_status"] == "pending"
    with pytest.raises(httpx.TransportError):
        await client.post(paths.erp_sync(oid), json=sent("E1"))
    assert sim.orders[oid]["erp_status"] == "sent"  # applied, the answer was lost
    r = await client.post(paths.erp_sync(oid), json=sent("E1"))  # the retry is accepted
    assert r.status_code == 200
    assert sim.faults.pending() == 0


async def test_faults_from_the_constructor_and_latency():
    faults = FaultPlan()
    faults.script("PATCH", "stock-prices", "html")
    s = StoreSimulator(products=PRODUCTS, faults=faults, latency_s=0.05)
    await s.start()
    try:
        async with httpx.AsyncClient(base_url=s.base_url, headers=AUTH) as c:
            t = time.monotonic()
            r = await c.patch(paths.STOCK_PRICES, json={"items": []})
            assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
            assert time.monotonic() - t >= 0.05
            r = await c.patch(paths.STOCK_PRICES, json={"items": []})
            assert r.json() == {"updated": 0, "not_found": []}
    finally:
        await s.stop()


# -- generated data ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 17])
def test_buyer_pool_is_fiscally_valid_and_mixed(seed):
    pool = BuyerPool(seed)
    assert len(pool) == 40
    seen: dict[str, list[Document]] = {}
    for b in pool:
        doc, cond = validate_buyer_fiscal(b["tax_id"], b["tax_condition"])
        seen.setdefault(cond.value, []).append(doc)
        assert b["id"].startswith("cus_") and "@" in b["email"] and b["phone"]
        assert b["business_name"] and b["address"]["province"] and b["address"]["city"]
    assert set(seen) == {"responsable_inscripto", "monotributo", "exento", "consumidor_final"}
    assert all(d.kind == "DNI" for d in seen["consumidor_final"])
    assert all(d.number[:2] in PERSON_PREFIXES for d in seen["monotributo"])
    assert any(d.number[:2] in ("30", "33") for d in seen["responsable_inscripto"])
    assert all(d.kind == "CUIT" for d in seen["exento"])
    assert len({b["tax_id"] for b in pool}) == 40
    assert BuyerPool(seed).buyers == pool.buyers  # reproducible
    provinces = {b["address"]["province"] for b in pool}
    assert len(provinces) >= 4


def test_a_bad_document_really_is_bad():
    # the factory can make orders that the bridge must refuse
    factory = OrderFactory([("A", "10.00")], seed=1, buyers=BuyerPool(1))
    order = factory.make(buyer__tax_id="20-12345678-0", buyer__tax_condition="monotributo")
    with pytest.raises(FiscalError):
        validate_buyer_fiscal(order["buyer"]["tax_id"], order["buyer"]["tax_condition"])


def test_generated_orders_are_consistent():
    catalog = [(sku, price) for sku, _, price in demo_catalog(5)]
    prices = dict(catalog)
    factory = OrderFactory(catalog, seed=5, buyers=BuyerPool(5))
    orders = [factory.make() for _ in range(60)]
    numbers = [int(o["number"][3:]) for o in orders]
    assert numbers == list(range(numbers[0], numbers[0] + 60))
    assert all(re.fullmatch(r"VM-\d{6}", o["number"]) for o in orders)
    ids = [o["id"] for o in orders]
    assert ids == sorted(ids) and len(set(ids)) == 60
    for o in orders:
        assert ULID_ID.fullmatch(o["id"])
        assert o["status"] == "confirmed" and o["confirmed_at"].endswith("-03:00")
        validate_buyer_fiscal(o["buyer"]["tax_id"], o["buyer"]["tax_condition"])
        assert o["items"] and len({i["sku"] for i in o["items"]}) == len(o["items"])
        for it in o["items"]:
            assert it["unit_price"] == prices[it["sku"]] and it["quantity"] > 0
            expected = (
                it["quantity"] * Decimal(it["unit_price"]) * (1 - Decimal(it["discount_pct"]) / 100)
            )
            assert Decimal(it["subtotal"]) == expected.quantize(Decimal("0.01"))
            assert re.fullmatch(r"\d+\.\d\d", it["subtotal"])
        assert Decimal(o["total"]) == sum(Decimal(i["subtotal"]) for i in o["items"])
    assert item_subtotal(3, "1000.00", "5.00") == "2850.00"
    assert item_subtotal(1, "0.05", "50") == "0.03"  # half up


def test_explicit_items_and_overrides():
    factory = OrderFactory([("A", "100.00")], seed=2)
    o = factory.make(
        items=[("A", 2), {"sku": "B", "quantity": 3, "unit_price": "10.00", "discount_pct": "10"}],
        notes="",
        total="1.00",
    )
    assert [i["subtotal"] for i in o["items"]] == ["200.00", "27.00"]
    assert o["items"][1]["name"] == "Artículo B"
    assert o["total"] == "1.00" and o["notes"] == ""
    assert factory.make(items=[("A", 2)])["total"] == "200.00"


async def test_simulator_orders_use_its_products_in_stock(sim):
    orders = sim.add_orders(20)
    skus = {i["sku"] for o in orders for i in o["items"]}
    assert skus <= {"R1050!NEGRO!M", "MED-3PACK"}  # R1050!NEGRO!L has no stock
    sim.products["MED-3PACK"]["price"] = "999.00"  # orders see the current price
    o = sim.add_order(items=[("MED-3PACK", 1)])
    assert o["items"][0]["unit_price"] == "999.00" and o["total"] == "999.00"


async def test_ids_are_unique_across_restarts():
    a, b = StoreSimulator(seed=0), StoreSimulator(seed=0)
    oa, ob = a.add_order(), b.add_order()
    assert oa["id"] != ob["id"] and oa["number"] == ob["number"]
    assert oa["items"]  # without products it sells from the demo catalog


# -- generator and threads --------------------------------------------------------------------
async def test_generator_on_the_current_loop(sim):
    sim.start_generator(0.01, jitter_s=0.005)
    for _ in range(200):
        if len(sim.orders) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(sim.orders) >= 3 and sim.generating
    sim.stop_generator()
    n = len(sim.orders)
    await asyncio.sleep(0.05)
    assert len(sim.orders) == n
    sim.start_generator(0.01)  # stop() cancels it


def test_threaded_server_with_call_and_generator():
    with StoreSimulator(products=PRODUCTS) as s:
        assert isinstance(s, StoreSimulator)
        s.call(lambda: s.add_orders(2))
        with httpx.Client(base_url=s.base_url, headers=AUTH) as c:
            r = c.get(paths.ORDERS, params=PENDING)
            assert len(r.json()["data"]) == 2
            oid = r.json()["data"][0]["id"]
            assert c.post(paths.erp_sync(oid), json=sent("T1")).status_code == 200
        assert s.call(lambda: s.orders[oid]["erp_status"]) == "sent"
        with pytest.raises(ValueError):
            s.call(lambda: s.requeue(oid))  # errors reach the caller's thread
        s.start_generator(0.01)
        deadline = time.monotonic() + 5
        while s.call(lambda: len(s.orders)) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        s.stop_generator()
        assert s.call(lambda: len(s.orders)) >= 5

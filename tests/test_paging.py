"""Every listing ends: a claimed total is capped by what the pages bring, a page that
brings no row not listed already (repeated, shuffled or overlapping) stops the listing with
a clear error, and so does a listing far past its claimed total or past `max_pages`
(bridge.paging). Here: the guard itself, Dragonfish's catalog and the store's listings over
loopback, and every ERP's catalog against a server that shuffles its first page or lists
rows without a key; Acqua, NonSistemas and Salesforce through the engine in their own test
files.

A misbehaving server is the simulator's `paging` switch (sim.kit.PagingFaults).
Each test sets a tripwire: requests past a generous number fail, so that a client that
would page forever fails the test at once instead of hanging it."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

import pytest

from bridge.config import StoreConfig, load_config, save_config
from bridge.errors import ProtocolError
from bridge.model import RowProblem
from bridge.paging import MAX_COUNT, PageGuard, count
from connectors.acqua.client import AcquaClient
from connectors.acqua.config import AcquaConfig
from connectors.dragonfish.client import DragonfishClient
from connectors.dragonfish.config import DragonfishConfig
from connectors.nonsistemas.client import NonSistemasClient
from connectors.nonsistemas.config import NonSistemasConfig
from connectors.store import client as store_client
from connectors.store.client import StoreClient
from sim.acqua import AcquaSimulator
from sim.catalog import SimCatalog
from sim.dragonfish import DragonfishSimulator
from sim.nonsistemas import NonSistemasSimulator
from sim.salesforce_vs import SalesforceVSSimulator
from tests.conftest import FAST, STORE_TOKEN, make_engine, write_profile
from tests.test_salesforce_vs import client_for as salesforce_client

CATALOG = "consultastockyprecios"
PAGE = 25  # 120 variants: 4 full pages and a short one
CONCURRENCY = 4


def tripwire(sim, method: str, route: str, allowed: int) -> None:
    """Requests to `route` past `allowed` answer 400: a client that would page forever
    stops there (and fails its test) instead of hanging."""
    sim.faults.script(method, route, *([None] * allowed), *([400] * 100_000))


# -- the guard --------------------------------------------------------------------------------


def test_a_page_with_the_rows_of_an_earlier_one_stops_the_listing():
    guard = PageGuard("The ERP", "the catalog")
    guard.page(1, ["A", "B"])
    guard.page(2, ["C", "D"])
    guard.page(3, [])  # an empty page is no repeat
    with pytest.raises(ProtocolError) as caught:
        guard.page(4, ["A", "B"])
    assert str(caught.value) == (
        "The ERP answered page 4 of the catalog with the same rows as page 1: it ignores the "
        "page parameter or repeats pages, so the listing was stopped after 4 pages (6 rows)"
    )
    assert caught.value.code == "bad_response"


def test_rows_of_any_kind_are_told_apart_and_overlaps_are_no_repeat():
    guard = PageGuard("S", "x")
    guard.page(1, [("A", "1", "M"), {"sku": [1]}, None])
    guard.page(2, [("A", "1", "L"), {"sku": [1]}, None])  # not the same rows
    guard.page(3, ["B", "C", "D"])
    guard.page(4, ["C", "D", "E"])  # a shifted page (a row deleted meanwhile) is no repeat
    with pytest.raises(ProtocolError):
        guard.page(5, [("A", "1", "L"), {"sku": [1]}, None])


def test_a_page_of_rows_already_listed_stops_the_listing_whatever_their_order():
    """A server that ignores the page and shuffles its rows, or answers overlapping pages in
    another order, brings no row the listing had not brought: it stops there (read on, it
    never ends, or ends with rows missing). One new row among old ones is a listing that
    shifted (a row added meanwhile) and reads on."""
    guard = PageGuard("The ERP", "the catalog")
    guard.page(1, ["A", "B", "C"])
    guard.page(2, ["D", "E", "F"])
    guard.page(3, ["F", "G", "A"])
    with pytest.raises(ProtocolError) as caught:
        guard.page(4, ["C", "A", "B"])
    assert str(caught.value) == (
        "The ERP answered page 4 of the catalog with the same rows as page 1: it ignores the "
        "page parameter or repeats pages, so the listing was stopped after 4 pages (12 rows)"
    )
    assert caught.value.code == "bad_response"

    guard = PageGuard("The ERP", "the catalog")
    guard.page(1, [("A", "1"), {"sku": [1]}, None])
    guard.page(2, ["D", "E", "F"])
    with pytest.raises(ProtocolError) as caught:
        guard.page(3, ["E", {"sku": [1]}, ("A", "1"), "E"])
    assert str(caught.value) == (
        "The ERP answered page 3 of the catalog with only rows of its earlier pages: it "
        "ignores the page parameter or repeats pages, so the listing was stopped after 3 "
        "pages (10 rows)"
    )


def test_a_listing_far_past_the_total_it_claimed_stops():
    """Rows that are new on every page (rows without a key are told apart by all they
    hold) can still make a listing without an end: once it claimed a total, three times
    its rows and ten pages more, or three times its pages and ten more, stop it. A total
    that grows as it is read does not move that bound."""
    guard = PageGuard("NonSistemas", "the stock list")
    assert guard.planned(120, 25) == 5
    with pytest.raises(ProtocolError) as caught:
        for n in range(1, 100):
            guard.planned(120 + 25 * n, 25)
            guard.page(n, [f"{n}-{i}" for i in range(25)])
    assert n == 25 and guard.rows == 625  # 3 * 120 + 10 * 25 = 610
    assert str(caught.value) == (
        "NonSistemas listed the stock list far past the 120 rows (5 pages) it claimed: 625 "
        "rows in 25 pages, so the listing was stopped there"
    )
    assert caught.value.code == "bad_response"

    guard = PageGuard("NonSistemas", "the stock list")
    guard.planned(120, 25)
    with pytest.raises(
        ProtocolError,
        match=r"far past the 120 rows \(5 pages\) it claimed: "
        r"26 rows in 26 pages",
    ):
        for n in range(1, 100):
            guard.page(n, [f"row {n}"])  # 3 * 5 + 10 pages
    # a listing that grew while it was read, within the bound
    guard = PageGuard("NonSistemas", "the stock list")
    guard.planned(120, 25)
    for n in range(1, 25):
        guard.page(n, [f"{n}-{i}" for i in range(25)])


def test_a_100k_row_catalog_is_checked_cheaply():
    """Dragonfish's keys (article, color, size) over 100,000 rows in 500-row pages, all told
    apart, and a page of rows from two earlier pages stopped; the time it takes is
    printed."""
    keys = [(f"ART{n // 60:05d}", f"C{n // 6 % 10}", f"T{n % 6}") for n in range(100_000)]
    pages = [keys[at : at + 500] for at in range(0, len(keys), 500)]
    guard = PageGuard("Dragonfish", "the catalog")
    guard.planned(len(keys), 500)
    started = time.perf_counter()
    for n, page in enumerate(pages, 1):
        guard.page(n, (k for k in page))
    spent = time.perf_counter() - started
    print(f"PageGuard: {spent * 1000:.1f} ms for 100,000 rows in {len(pages)} pages")
    assert guard.rows == 100_000 and guard.pages == 200
    with pytest.raises(
        ProtocolError, match="page 201 of the catalog with only rows of its earlier pages"
    ):
        guard.page(201, keys[1000:1250] + keys[7000:7250])


def test_a_listing_past_max_pages_stops_naming_the_setting():
    guard = PageGuard("Dragonfish", "the catalog", max_pages=3, setting="erp.max_pages")
    for n in range(1, 4):
        guard.page(n, [str(n)])
    with pytest.raises(
        ProtocolError,
        match=r"past 3 pages without an end; .*raise "
        r"erp\.max_pages",
    ):
        guard.page(4, ["4"])


def test_planned_pages_are_capped_one_past_max_pages():
    guard = PageGuard("S", "x", max_pages=100)
    assert guard.planned(120, 25) == 5
    assert guard.planned(0, 25) == 1
    assert guard.planned(10**9, 25) == 101
    assert guard.planned(MAX_COUNT, 1) == 101


def test_a_claimed_total_far_above_what_came_is_logged(caplog):
    guard = PageGuard("Dragonfish", "the catalog")
    guard.page(1, ["A", "B"])
    with caplog.at_level(logging.WARNING, logger="bridge.paging"):
        guard.finish(3, per_page=2)  # less than a page missing: a catalog that shrank
        assert caplog.records == []
        guard.finish(1_000_000_000, per_page=2)
    [record] = caplog.records
    assert record.getMessage() == (
        "Dragonfish claimed 1,000,000,000 rows for the catalog, but its pages ended after 2 "
        "rows; the listing was read to its last page"
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        (120, 120),
        ("120", 120),
        (" 7 ", 7),
        (Decimal("120"), 120),
        (Decimal("1.2E+2"), 120),
        (10**30, MAX_COUNT),
        (Decimal("1E+999999999"), MAX_COUNT),
        ("9" * 5000, MAX_COUNT),
        (-1, None),
        (True, None),
        (None, None),
        (Decimal("1.5"), None),
        ("1e3", None),
        (Decimal("NaN"), None),
        (1.0, None),
    ],
)
def test_count(value, expected):
    """A claimed total: never turned into a huge int (int(1E+999999999) takes forever, and
    int() of 5000 digits of text raises)."""
    assert count(value) == expected


# -- Dragonfish's catalog, through the engine -------------------------------------------------


@pytest.fixture
async def paged(tmp_path, erp_sim, store_sim):
    """An engine that reads Dragonfish's catalog 25 rows a page, and the events it emits."""
    paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente)
    cfg = load_config(paths.config_file)
    cfg.erp.page_size = PAGE  # type: ignore[attr-defined]
    cfg.erp.concurrency = CONCURRENCY  # type: ignore[attr-defined]
    save_config(cfg, paths.config_file)
    engine = make_engine(paths, erp_sim)
    events: list = []
    engine.events.subscribe(events.append)
    yield engine, events
    await engine.stop()
    engine.close()


def catalog_gets(erp_sim) -> int:
    return erp_sim.count(CATALOG, "GET")


async def test_a_huge_claimed_total_ends_with_the_last_page(
    paged, erp_sim, store_sim, sim_catalog, caplog
):
    """TotalRegistros = 10**9 made 25,166 requests in 25 s: now the short fifth page ends
    the listing (and the pages asked for ahead of it are dropped)."""
    engine, _ = paged
    erp_sim.paging.claimed_total = 10**9
    tripwire(erp_sim, "GET", CATALOG, 50)
    with caplog.at_level(logging.WARNING, logger="bridge.paging"):
        [result] = await engine.sync_now("catalog")
    assert result.status == "ok", result.message
    assert result.items_seen == len(sim_catalog)
    pages = -(-len(sim_catalog) // PAGE)
    print(f"claimed total 10**9: {catalog_gets(erp_sim)} catalog requests for {pages} pages")
    assert catalog_gets(erp_sim) <= pages + 2 * CONCURRENCY
    assert any("claimed 1,000,000,000 rows" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "fault, claimed, repeated, listing, shuffle",
    [
        ("ignore_page", None, 2, "the catalog (ConsultaStockYPrecios/)", False),
        # and never runs out of pages: every listing repeats, the price lists' first
        ("ignore_page", 10**9, 2, "ListaDePrecios/", False),
        ("repeat_page", None, 3, "the catalog (ConsultaStockYPrecios/)", False),
        # each page in another order: the first page again and again (its `Siguiente` never
        # ends), or page 2's rows again as page 3 (read on, the run was "ok" without them)
        ("ignore_page", None, 2, "the catalog (ConsultaStockYPrecios/)", True),
        ("repeat_page", 10**9, 3, "the catalog (ConsultaStockYPrecios/)", True),
    ],
)
async def test_a_repeated_page_fails_the_run_and_nothing_is_pushed(
    paged, erp_sim, store_sim, fault, claimed, repeated, listing, shuffle
):
    """An ERP that ignores `page` (always page 1) never ended and logged 20,001 "listed
    twice" events; one that serves a page twice leaves rows out. Both stop at the repeated
    page with a clear error, and the run pushes nothing of what it read; so do they when
    the rows of each page come in another order each time."""
    engine, events = paged
    setattr(erp_sim.paging, fault, True if fault == "ignore_page" else repeated)
    erp_sim.paging.claimed_total = claimed
    erp_sim.paging.shuffle = shuffle
    tripwire(erp_sim, "GET", CATALOG, 50)
    for product in store_sim.products.values():
        product["stock"] = -1  # so that anything pushed would show
    [result] = await engine.sync_now("catalog")
    assert result.status == "failed", result.message
    said = (
        f"Dragonfish answered page {repeated} of {listing} with the same rows as page "
        f"{repeated - 1}: it ignores the page parameter or repeats pages"
    )
    assert said in result.message
    [error] = engine.state.errors.recent()
    assert error["subject"] == "erp" and said in error["message"]
    assert store_sim.patches == [] and result.items_ok == 0
    assert all(p["stock"] == -1 for p in store_sim.products.values())
    print(
        f"{fault}, total {claimed}: {catalog_gets(erp_sim)} catalog requests, {len(events)} events"
    )
    assert catalog_gets(erp_sim) <= repeated + 2 * CONCURRENCY
    assert len(events) <= 5, [e.code for e in events]
    assert not [e for e in events if e.code == "sku_repeated"]


@pytest.mark.parametrize("claimed", [None, 10**9])
async def test_a_catalog_that_shuffles_the_first_page_for_every_page_is_stopped(
    tmp_path, erp_sim, store_sim, claimed
):
    """The reviewer's probe: Dragonfish answering every page with the first page's rows in
    another order made 20,001 requests (32.6 s) until max_pages stopped it when it claimed
    10**9 rows, and its `Siguiente` never ended with the real total. (No price list here:
    with one, ListaDePrecios, which repeats too, is stopped first.)"""
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        erp={"page_size": PAGE, "concurrency": CONCURRENCY, "lista": ""},
    )
    engine = make_engine(paths, erp_sim)
    erp_sim.paging.ignore_page = erp_sim.paging.shuffle = True
    erp_sim.paging.claimed_total = claimed
    tripwire(erp_sim, "GET", CATALOG, 50)
    try:
        [result] = await engine.sync_now("catalog")
    finally:
        await engine.stop()
        engine.close()
    print(f"shuffled first page, total {claimed}: {catalog_gets(erp_sim)} catalog requests")
    assert result.status == "failed", result.message
    assert (
        "Dragonfish answered page 2 of the catalog (ConsultaStockYPrecios/) with the same "
        "rows as page 1: it ignores the page parameter or repeats pages" in result.message
    )
    assert store_sim.patches == []
    assert catalog_gets(erp_sim) <= 2 + 2 * CONCURRENCY


async def test_a_listing_past_max_pages_fails_the_run(tmp_path, erp_sim, store_sim):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        erp={"page_size": PAGE, "max_pages": 3},
    )
    engine = make_engine(paths, erp_sim)
    try:
        tripwire(erp_sim, "GET", CATALOG, 50)
        [result] = await engine.sync_now("catalog")
    finally:
        await engine.stop()
        engine.close()
    assert result.status == "failed"
    assert (
        "listed the catalog (ConsultaStockYPrecios/) past 3 pages without an end" in result.message
        and "raise erp.max_pages" in result.message
    )
    assert store_sim.patches == []
    assert catalog_gets(erp_sim) <= 4 + 2 * CONCURRENCY


async def test_a_lookup_that_repeats_its_pages_is_stopped(erp_sim):
    """Lookups (customers, price lists) page too: a server that ignores `page` there is
    stopped at the second page, not after LOOKUP_PAGES identical ones."""
    from connectors.dragonfish.client import LOOKUP_LIMIT, DragonfishClient
    from connectors.dragonfish.config import DragonfishConfig

    for n in range(LOOKUP_LIMIT + 1):
        erp_sim.customers[f"C{n}"] = {"Codigo": f"C{n}", "Nombre": f"Cliente {n}"}
    erp_sim.paging.ignore_page = True
    client = DragonfishClient(
        DragonfishConfig(endpoint=erp_sim.base_url, cliente=erp_sim.cliente, motivo="VENTA WEB"),
        erp_sim.token,
        FAST,
    )
    try:
        with pytest.raises(ProtocolError, match="page 2 of Cliente/ with the same rows as page 1"):
            [r async for r in client.rows("Cliente/", {})]
    finally:
        await client.aclose()
    assert erp_sim.count("cliente", "GET") == 2


# -- the store's listings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, shuffle",
    [("ignore_page", False), ("repeat_page", False), ("ignore_page", True), ("repeat_page", True)],
)
async def test_a_store_that_repeats_an_order_page_stops_the_listing_not_the_orders(
    engine, erp_sim, store_sim, monkeypatch, fault, shuffle
):
    """The pending orders are a queue: the orders of the pages read before the repeat are
    sent (their ingestion is idempotent), the listing's error is clear, and nothing loops;
    whatever order the page's rows come in."""
    monkeypatch.setattr(store_client, "PAGE_LIMIT", 2)
    orders = [store_sim.add_order() for _ in range(7)]
    setattr(store_sim.paging, fault, True if fault == "ignore_page" else 3)
    store_sim.paging.shuffle = shuffle
    tripwire(store_sim, "GET", "orders", 30)
    events: list = []
    engine.events.subscribe(events.append)
    [result] = await engine.sync_now("orders")
    read = 2 if fault == "ignore_page" else 4  # the orders of the pages before the repeat
    assert result.status == "partial", result.message
    assert (
        "the store answered page" in result.message
        and "it ignores the page parameter" in result.message
    )
    assert result.items_ok == read
    assert [store_sim.orders[o["id"]]["erp_status"] for o in orders] == ["sent"] * read + [
        "pending"
    ] * (7 - read)
    print(f"{fault}: {store_sim.count('orders', 'GET')} order list requests, {len(events)} events")
    assert store_sim.count("orders", "GET") == read // 2 + 1
    assert len(events) <= 4 * read + 3, [e.code for e in events]


async def test_the_store_repeating_a_cursor_is_a_clear_error(store_sim):
    """A store that answers the same next_cursor twice (it ignores the cursor, and its
    pages carry no rows to compare, say) is stopped: before, the listing ended there
    silently, taken for complete."""
    store_sim.paging.ignore_page = True
    client = StoreClient(StoreConfig(url=store_sim.base_url), STORE_TOKEN, FAST)
    seen = []

    async def same_cursor(method, url, **kw):
        seen.append(kw["params"])
        return {"data": [], "next_cursor": "c1"}

    client.call_json = same_cursor  # type: ignore[method-assign]
    try:
        with pytest.raises(
            ProtocolError,
            match="the store gave the same next_cursor twice in "
            "its order list: it ignores the cursor",
        ):
            [page async for page in client.pending_orders()]
    finally:
        await client.aclose()
    assert len(seen) == 2


@pytest.mark.parametrize("shuffle", [False, True])
async def test_a_store_product_listing_that_ignores_the_cursor_is_stopped(
    store_sim, monkeypatch, shuffle
):
    monkeypatch.setattr(store_client, "PRODUCTS_LIMIT", 10)
    store_sim.paging.ignore_page = True
    store_sim.paging.shuffle = shuffle
    tripwire(store_sim, "GET", "products", 30)
    client = StoreClient(StoreConfig(url=store_sim.base_url), STORE_TOKEN, FAST)
    try:
        with pytest.raises(
            ProtocolError, match="page 2 of the product list with the same rows as page 1"
        ):
            [page async for page in client.products()]
    finally:
        await client.aclose()
    assert store_sim.count("products", "GET") == 2


async def test_a_store_that_shuffles_its_first_orders_for_every_cursor_is_stopped(
    store_sim, monkeypatch
):
    """The reviewer's probe: a store that answers every cursor with its first orders in
    another order, with a fresh cursor each time, was read on until max_pages (~0.4 MB more
    memory a page, with the orders' copies); now the second page stops it."""
    monkeypatch.setattr(store_client, "PAGE_LIMIT", 10)
    for _ in range(25):
        store_sim.add_order()
    store_sim.paging.ignore_page = store_sim.paging.shuffle = True
    tripwire(store_sim, "GET", "orders", 30)
    client = StoreClient(StoreConfig(url=store_sim.base_url), STORE_TOKEN, FAST)
    pages = []
    try:
        with pytest.raises(
            ProtocolError,
            match="the store answered page 2 of the order list with the same rows as page 1",
        ):
            async for page in client.pending_orders():
                pages.append(page)
    finally:
        await client.aclose()
    assert len(pages) == 1 and store_sim.count("orders", "GET") == 2


async def test_store_products_with_an_empty_sku_are_told_apart_by_what_they_hold(
    store_sim, monkeypatch
):
    """Products whose SKU is empty are rows of their own (each a problem for the catalog),
    not a page that repeats the empty SKU of the page before."""
    monkeypatch.setattr(store_client, "PRODUCTS_LIMIT", 10)
    for product in store_sim.products.values():
        product["sku"] = ""  # the simulator lists it in place of the product's own
    tripwire(store_sim, "GET", "products", 30)
    client = StoreClient(StoreConfig(url=store_sim.base_url), STORE_TOKEN, FAST)
    try:
        rows = [row async for page in client.products() for row in page]
    finally:
        await client.aclose()
    assert len(rows) == len(store_sim.products) == 120
    assert all(row["sku"] == "" for row in rows)
    assert store_sim.count("products", "GET") == 12


# -- the other ERPs' catalogs -----------------------------------------------------------------


@pytest.fixture
async def erp_listing(request):
    """(a simulator, a client of it reading 25 rows a page, its listing's route) for the
    ERP named by the test's parameter."""
    catalog = SimCatalog.generate(120, seed=3)
    if request.param == "Dragonfish":
        sim: Any = DragonfishSimulator(catalog=catalog, write_hold_s=0.0)
        await sim.start()
        client: Any = DragonfishClient(
            DragonfishConfig(
                endpoint=sim.base_url, cliente=sim.cliente, motivo="VENTA WEB", page_size=25
            ),
            sim.token,
            FAST,
        )
        route = CATALOG.lower()
    elif request.param == "Acqua":
        sim = AcquaSimulator(catalog=catalog, write_hold_s=0.0)
        await sim.start()
        client = AcquaClient(
            AcquaConfig(
                instance=sim.instance,
                username=sim.username,
                verify_tls=False,
                base_url_template=sim.base_url_template,
                page_size=25,
            ),
            {"erp.password": sim.password},
            FAST,
        )
        route = "stock"
    elif request.param == "NonSistemas":
        sim = NonSistemasSimulator(catalog=catalog)
        await sim.start()
        client = NonSistemasClient(
            NonSistemasConfig(url=sim.base_url, username=sim.username, page_size=25),
            {"erp.password": sim.password},
            FAST,
        )
        route = "stock-precios"
    else:
        sim = SalesforceVSSimulator(security_token="TKN7x9", instance_prefix="org42", seed=4)
        await sim.start()
        client = salesforce_client(sim, page_size=25)
        route = "stock"
    yield sim, client, route
    await client.aclose()
    await sim.stop()


@pytest.mark.parametrize(
    "erp_listing, said",
    [
        ("Dragonfish", r"Dragonfish answered page 2 of the catalog \(ConsultaStockYPrecios/\)"),
        ("Acqua", r"Acqua answered page 2 of the (stock|prices) list"),
        ("NonSistemas", r"NonSistemas answered page 2 of the stock list \(api/stock-precios\)"),
        (
            "Salesforce",
            r"Salesforce answered page 2 of the stock list "
            r"\(services/apexrest/vs/stock\)",
        ),
    ],
    indirect=["erp_listing"],
)
async def test_an_erp_that_shuffles_the_first_page_for_every_page_is_stopped(erp_listing, said):
    """Every ERP's catalog: a server that answers each page with the first page's rows in
    another order, and claims 10**9 rows, ran until the tripwire; now the second page stops
    it."""
    sim, client, route = erp_listing
    sim.paging.ignore_page = sim.paging.shuffle = True
    sim.paging.claimed_total = 10**9
    tripwire(sim, "GET", route, 30)
    with pytest.raises(
        ProtocolError, match=said + " with the same rows as page 1: it ignores the page parameter"
    ):
        [page async for page in client.catalog()]
    print(f"{type(client).__name__}: {sim.count(route, 'GET')} {route} requests")
    assert sim.count(route, "GET") <= 2 + 4  # page 2, and the pages asked for ahead of it


@pytest.mark.parametrize(
    "erp_listing, key",
    [
        ("Dragonfish", ("Articulo", "Color", "Talle")),
        ("Acqua", ("sku",)),
        ("NonSistemas", ("sku",)),
        ("Salesforce", ("sku",)),
    ],
    indirect=["erp_listing"],
)
async def test_rows_without_a_key_are_told_apart_by_what_they_hold(erp_listing, key):
    """A catalog whose stock rows all lack their SKU (or article) is read to its end, each
    row a problem of its own: a row without a key is told apart by all it holds, not taken
    for the keyless row of an earlier page (a page of them would stop the listing)."""
    sim, client, route = erp_listing
    served, stripped = sim.paging.rows, []

    def keyless(rows: list[Any]) -> list[Any]:
        out = [
            {k: v for k, v in r.items() if k not in key}
            if {"Stock", "stock", "available"} & r.keys()
            else r
            for r in served(rows)
        ]
        stripped.extend(r for r in out if key[0] not in r)
        return out

    sim.paging.rows = keyless
    tripwire(sim, "GET", route, 30)
    entries = [e async for page in client.catalog() for e in page]
    problems = [e for e in entries if isinstance(e, RowProblem)]
    print(
        f"{type(client).__name__}: {len(entries)} entries, {len(problems)} problems, "
        f"{sim.count(route, 'GET')} {route} requests"
    )
    assert len(stripped) >= 30 and len(problems) >= len(stripped)

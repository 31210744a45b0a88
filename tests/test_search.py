"""Finding any order and seeing every product (issue #14, points 4 and 5), through the
engine's seam on real SQLite files: the search of the whole history (order number, buyer,
CUIT with or without dashes, SKU), an order's detail with its timeline, and the products'
listing (what was pushed, what failed and why, what the store does not have).

The figures over a state file with 100k events are printed (run with -s), never asserted.
"""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from typing import Any

from bridge.engine import ConnectorFactory, create_engine
from bridge.model import CatalogItem, PushResult, RowProblem, StockPrice
from bridge.secrets import SecretStore
from bridge.state import State
from bridge.state.db import EVENT_ORDER
from tests.test_engine_seam import ORDER, FakeErp, FakeStore, no_sockets, profile

SECOND = {
    "id": "o-2",
    "number": "1002",
    "confirmed_at": "2026-11-30T11:00:00-03:00",
    "buyer": {
        "id": "b-2",
        "business_name": "Distribuidora Sur SA",
        "tax_id": "30-71234567-1",
        "tax_condition": "responsable_inscripto",
    },
    "items": [{"sku": "GORRA-9", "name": "Gorra", "quantity": 1, "unit_price": "800.00"}],
    "total": "800.00",
}


class StoreWithout(FakeStore):
    """A store that does not have some SKUs (a push of them comes back as not found)."""

    def __init__(self, orders: list[dict[str, Any]], missing: set[str]) -> None:
        super().__init__(orders)
        self.missing = missing

    async def push_stock_prices(self, items: list[StockPrice]) -> PushResult:
        self.requests += 1
        self.pushed.update((i.sku, i) for i in items if i.sku not in self.missing)
        gone = tuple(i.sku for i in items if i.sku in self.missing)
        return PushResult(len(items) - len(gone), gone)


class ErpWithBadRow(FakeErp):
    async def catalog(self, since: float | None = None):  # type: ignore[override]
        self.requests += 1
        yield [
            *(CatalogItem(sku, Decimal(n), Decimal(p)) for sku, (n, p) in self.stock.items()),
            RowProblem("ROTO-1", "the price is not a number"),
        ]


def engine_with(tmp_path, store, erp):
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", "t-store")
    secrets.set_session("erp.token", "t-erp")
    config, paths = profile(tmp_path)
    return create_engine(
        config,
        paths,
        secrets,
        connectors=ConnectorFactory(store=lambda *a: store, erp=lambda *a: erp),
    )


async def test_search_finds_orders_by_number_buyer_cuit_and_sku(tmp_path, monkeypatch):
    no_sockets(monkeypatch)
    store = StoreWithout([ORDER, SECOND], set())
    engine = engine_with(tmp_path, store, FakeErp({"ART-1": (7, "1500.00")}))
    try:
        await engine.sync_now("orders")
        await engine.flush()

        async def found(text: str) -> list[str]:
            return [o.number for o in (await engine.search(text)).orders]

        assert await found("1001") == ["1001"]
        assert await found("tienda uno") == ["1001"]  # any case, part of the name
        assert await found("33-69345023-9") == ["1001"]  # the CUIT as the store has it
        assert await found("33693450239") == ["1001"]  # and without dashes
        assert await found("30.71234567") == ["1002"]  # dots, a part of it
        assert await found("gorra-9") == ["1002"]  # an item's SKU
        assert await found("P-") == ["1002", "1001"]  # ERP references, newest first
        assert await found("100") == ["1002", "1001"]
        assert await found("nadie") == []
        assert await found("%") == []  # taken literally, not as a wildcard
        assert (await engine.search("  ")).orders == ()
        hit = (await engine.search("1001")).orders[0]
        assert (hit.buyer_name, hit.tax_id, hit.state) == (
            "Tienda Uno SRL",
            "33-69345023-9",
            "done",
        )
        assert hit.total == ""  # the store sent none
        assert Decimal((await engine.search("1002")).orders[0].total) == Decimal("800")
        # the events of the whole history are searched too (the log's view keeps the last 500)
        events = (await engine.search("Distribuidora Sur")).events
        assert events and all(e.data.get("order") == "o-2" for e in events)
        # the lines about the orders found, though they write the CUIT with its dashes
        events = (await engine.search("30712345671")).events
        codes = {e.code for e in events}
        assert {"order_received", "order_sent"} <= codes, codes
        assert all(e.data.get("order") == "o-2" for e in events)
    finally:
        await engine.stop()
        engine.close()


async def test_order_detail_has_buyer_items_total_reference_and_timeline(tmp_path, monkeypatch):
    no_sockets(monkeypatch)
    store = StoreWithout([ORDER], set())
    engine = engine_with(tmp_path, store, FakeErp({"ART-1": (7, "1500.00")}))
    try:
        await engine.sync_now("orders")
        await engine.flush()
        order = await engine.order("o-1")
        assert order is not None
        assert (order.buyer_name, order.tax_id, order.tax_condition) == (
            "Tienda Uno SRL",
            "33-69345023-9",
            "responsable_inscripto",
        )
        assert [(i.sku, i.quantity, i.unit_price) for i in order.items] == [
            ("ART-1", "2", "1500.00")
        ]
        assert order.erp_reference == "P-1" and order.created_at is not None
        codes = [e.code for e in order.timeline]
        assert codes[0] == "order_received" and "order_sent" in codes, codes
        assert [e.ts for e in order.timeline] == sorted(e.ts for e in order.timeline)
        # the customer's event says which order it was for, in its text and its data
        customer = next(e for e in order.timeline if e.code == "customer_created")
        assert customer.data["number"] == "1001" and "order 1001" in customer.message
    finally:
        await engine.stop()
        engine.close()


async def test_products_lists_pushed_failed_and_missing_in_store(tmp_path, monkeypatch):
    no_sockets(monkeypatch)
    stock = {f"ART-{i:02}": (i, f"{100 + i}.00") for i in range(1, 31)}
    missing = {f"ART-{i:02}" for i in range(1, 22)}  # 21 missing, more than the 10 named
    store = StoreWithout([], missing)
    engine = engine_with(tmp_path, store, ErpWithBadRow(stock))
    try:
        await engine.sync_now("catalog")
        products = await engine.products()
        by_sku = {p.sku: p for p in products}
        assert sorted(by_sku) == sorted([*stock, "ROTO-1"])
        assert {p.sku for p in products if not p.known_in_store} == missing
        art = by_sku["ART-25"]
        assert (art.stock, art.price, art.known_in_store) == (25, "125.00", True)
        assert art.pushed_at is not None and art.error is None
        bad = by_sku["ROTO-1"]
        assert bad.stock is None and bad.error and "not a number" in bad.error
        one = await engine.product("ART-03")
        assert one is not None and (one.stock, one.known_in_store) == (3, False)
        failed = await engine.product("ROTO-1")
        assert failed is not None and failed.error == bad.error
        assert await engine.product("NADA") is None
    finally:
        await engine.stop()
        engine.close()


def test_search_and_timeline_over_100k_events(tmp_path):
    """A state file with 100k events and 20k orders: the figures of the queries the UI
    runs (printed; the events_order index keeps an order's timeline off a scan)."""
    state = State(tmp_path / "state.sqlite3")
    rng = random.Random(14)
    now = time.time()
    try:
        with state.tx() as db:
            for n in range(20000):
                oid = f"o-{n}"
                cuit = f"30-{rng.randrange(10**7, 10**8)}-{rng.randrange(10)}"
                payload = {
                    "id": oid,
                    "number": str(100000 + n),
                    "buyer": {"business_name": f"Comercio {n} SRL", "tax_id": cuit},
                    "items": [{"sku": f"SKU-{n % 3000}", "quantity": 1}],
                    "total": 1000,
                }
                db.execute(
                    "INSERT INTO outbox (store_order_id, number, state, payload, payload_hash, "
                    "created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                    (oid, payload["number"], "done", json.dumps(payload), "h", now + n, now + n),
                )
                db.execute("INSERT INTO outbox_items VALUES (?,?,?)", (oid, f"SKU-{n % 3000}", 1))
        state.events.add(
            [
                (
                    now + i,
                    "info",
                    "orders",
                    "order_sent",
                    f"Order {100000 + i % 20000} created in the ERP as P-{i}",
                    {"order": f"o-{i % 20000}", "number": str(100000 + i % 20000)},
                )
                for i in range(100000)
            ]
        )
        state.pushed.save(
            [(f"ART{i:05}!M", i % 50, f"{1000 + i}.50") for i in range(20000)],
            unknown=[f"ART{i:05}!M" for i in range(0, 20000, 97)],
        )
        figures = {}
        for name, fn in (
            ("the products' listing (20k SKUs)", lambda: state.pushed.listing()),
            ("search by number", lambda: state.outbox.search("119999")),
            ("search by CUIT digits", lambda: state.outbox.search("30123")),
            ("search by SKU", lambda: state.outbox.search("SKU-2999")),
            ("search of the events", lambda: state.events.search("P-99999")),
            ("an order's timeline", lambda: state.events.for_order("o-12345")),
        ):
            t0 = time.perf_counter()
            found = fn()
            figures[name] = (time.perf_counter() - t0) * 1000, len(found)
        for name, (ms, n) in figures.items():
            print(f"100k events, 20k orders: {name}: {ms:.1f} ms ({n} found)")
        assert figures["an order's timeline"][1] == 5
        assert figures["search by number"][1] == 1
        assert figures["the products' listing (20k SKUs)"][1] == 20000
        plan = state.query(
            f"EXPLAIN QUERY PLAN SELECT * FROM events WHERE {EVENT_ORDER} = ?", ("o-1",)
        )
        assert any("events_order" in str(r["detail"]) for r in plan)
        # what the index saves: the same timeline read by a scan of the whole log
        state.write("DROP INDEX events_order")
        t0 = time.perf_counter()
        assert len(state.events.for_order("o-12345")) == 5
        print(f"an order's timeline without the index: {(time.perf_counter() - t0) * 1000:.1f} ms")
    finally:
        state.close()


def test_the_timeline_index_is_added_to_an_older_state_file(tmp_path):
    path = tmp_path / "state.sqlite3"
    State(path).close()
    state = State(path)
    try:
        state.write("DROP INDEX events_order")  # a file from before the index
    finally:
        state.close()
    state = State(path)
    try:
        names = {r["name"] for r in state.query("SELECT name FROM sqlite_master")}
        assert "events_order" in names
    finally:
        state.close()


def test_unreadable_data_neither_fails_a_write_nor_a_search(tmp_path):
    """An event whose data SQLite cannot read as JSON (json.dumps writes NaN) is still
    written (the timeline's index skips it), and an order whose stored copy is damaged
    does not make a search fail."""
    state = State(tmp_path / "state.sqlite3")
    try:
        state.events.add([(time.time(), "info", "catalog", "x", "a NaN", {"price": float("nan")})])
        state.events.add([(time.time(), "info", "orders", "y", "ok", {"order": "o-1"})])
        assert [e["code"] for e in state.events.for_order("o-1")] == ["y"]
        with state.tx() as db:
            db.execute(
                "INSERT INTO outbox (store_order_id, number, state, payload, payload_hash, "
                "created_at, updated_at) VALUES ('o-9', '9009', 'failed', '{broken', 'h', 1, 1)"
            )
        [hit] = state.outbox.search("9009")
        assert (hit["number"], hit["buyer"]) == ("9009", None)
        assert [e["code"] for e in state.events.search("NaN")] == ["x"]
    finally:
        state.close()

"""The engine's seam, without sockets: the connectors are injectable (an in-memory ERP and
store passed to the engine), and what the engine gives its callers is plain records
(Status, ErrorRecord, History, OrderRecord, ProductRecord), never the state file's rows."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridge.config import Config, ErpConfigBase, Paths, StoreConfig, parse_config
from bridge.engine import ConnectorFactory, create_engine
from bridge.http import RetryPolicy
from bridge.instance import InstanceLock, hand_over, running_info
from bridge.model import (
    Buyer,
    Capabilities,
    CatalogItem,
    Check,
    OrderItem,
    PushResult,
    RowProblem,
    StockPrice,
    StoreOrder,
    Subject,
    ValidBuyer,
)
from bridge.runtime import Runtime
from bridge.secrets import SecretStore
from bridge.status import ErrorRecord, Overall, Status
from tests.conftest import wait_until

ORDER = {
    "id": "o-1",
    "number": "1001",
    "confirmed_at": "2026-11-30T10:00:00-03:00",
    "buyer": {
        "id": "b-1",
        "business_name": "Tienda Uno SRL",
        "tax_id": "33-69345023-9",
        "tax_condition": "responsable_inscripto",
    },
    "items": [{"sku": "ART-1", "name": "Remera", "quantity": 2, "unit_price": "1500.00"}],
}


class FakeStore:
    """The store, in memory: orders to take, what was reported and pushed back."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = {o["id"]: o for o in orders}
        self.sent: dict[str, str] = {}
        self.pushed: dict[str, StockPrice] = {}
        self.requests = 0

    async def aclose(self) -> None:
        pass

    async def checks(self) -> list[Check]:
        return [Check("store", True, "in memory")]

    async def pending_orders(self) -> AsyncIterator[list[Mapping[str, Any]]]:
        self.requests += 1
        yield [o for oid, o in self.orders.items() if oid not in self.sent]

    async def products(self) -> AsyncIterator[list[Mapping[str, Any]]]:
        self.requests += 1
        yield []

    def parse_order(self, raw: Mapping[str, Any]) -> StoreOrder:
        b = raw["buyer"]
        items = tuple(
            OrderItem(
                i["sku"],
                i["name"],
                i["quantity"],
                Decimal(i["unit_price"]),
                Decimal(0),
                Decimal(i["unit_price"]) * i["quantity"],
            )
            for i in raw["items"]
        )
        buyer = Buyer(b["id"], b["business_name"], b["tax_id"], b["tax_condition"])
        total = sum((i.subtotal for i in items), Decimal(0))
        return StoreOrder(raw["id"], raw["number"], raw["confirmed_at"], buyer, items, total=total)

    async def report_sent(self, order_id: str, erp_reference: str) -> None:
        self.requests += 1
        self.sent[order_id] = erp_reference

    async def report_failed(self, order_id: str, message: str) -> None:
        self.requests += 1

    async def push_stock_prices(self, items: list[StockPrice]) -> PushResult:
        self.requests += 1
        self.pushed.update((i.sku, i) for i in items)
        return PushResult(len(items), ())


class FakeErp:
    """The ERP, in memory: its stock and prices, and the orders and customers created."""

    kind: ClassVar[str] = "dragonfish"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, stock: dict[str, tuple[int, str]]) -> None:
        self.stock = stock
        self.customers: dict[str, str] = {}
        self.orders: dict[str, str] = {}
        self.requests = 0

    async def aclose(self) -> None:
        pass

    async def checks(self) -> list[Check]:
        return [Check("erp", True, "in memory")]

    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        return self.customers.get(buyer.buyer.tax_id)

    async def create_customer(self, buyer: ValidBuyer) -> str:
        self.requests += 1
        code = f"C{len(self.customers) + 1}"
        self.customers[buyer.buyer.tax_id] = code
        return code

    async def find_order(self, order: StoreOrder) -> str | None:
        return self.orders.get(order.id)

    async def create_order(self, order: StoreOrder, customer_code: str, buyer: ValidBuyer) -> str:
        self.requests += 1
        ref = f"P-{len(self.orders) + 1}"
        self.orders[order.id] = ref
        return ref

    async def catalog(
        self, since: float | None = None
    ) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        self.requests += 1
        yield [CatalogItem(sku, Decimal(n), Decimal(p)) for sku, (n, p) in self.stock.items()]

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        return None


def profile(tmp_path: Path) -> tuple[Config, Paths]:
    # the URLs are never dialled: the connectors are the fakes
    config = parse_config(
        {
            "store": {"url": "http://store.invalid/"},
            "erp": {
                "kind": "dragonfish",
                "endpoint": "http://erp.invalid/",
                "cliente": "DEMO",
                "lista": "MAYOR $",
                "motivo": "VENTA WEB",
            },
        }
    )
    return config, Paths(tmp_path / "config.toml", tmp_path / "data")


def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Any connection attempt fails the test (and is recorded)."""
    attempts: list[tuple[Any, ...]] = []

    def refuse(self: socket.socket, *args: Any) -> None:
        attempts.append(args)
        raise AssertionError(f"a socket was opened: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


async def test_an_order_and_the_stock_go_through_in_memory_connectors(tmp_path, monkeypatch):
    attempts = no_sockets(monkeypatch)
    store = FakeStore([ORDER])
    erp = FakeErp({"ART-1": (7, "1500.00"), "ART-2": (0, "99.90")})
    built: list[str] = []

    def make_store(cfg: StoreConfig, token: str, policy: RetryPolicy | None) -> FakeStore:
        built.append(f"store:{token}")
        return store

    def make_erp(cfg: ErpConfigBase, secrets: Mapping[str, str], policy: RetryPolicy | None):
        built.append(f"erp:{secrets['erp.token']}")
        return erp

    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", "t-store")
    secrets.set_session("erp.token", "t-erp")
    config, paths = profile(tmp_path)
    engine = create_engine(
        config, paths, secrets, connectors=ConnectorFactory(store=make_store, erp=make_erp)
    )
    try:
        results = await engine.sync_now("all")
        assert [(r.pipeline, r.status) for r in results] == [("orders", "ok"), ("catalog", "ok")]
        # one pair per pipeline, built from the injected factory with the profile's secrets
        assert built == ["store:t-store", "erp:t-erp"] * 2
        assert erp.orders == {"o-1": "P-1"} and list(erp.customers.values()) == ["C1"]
        assert store.sent == {"o-1": "P-1"}
        assert store.pushed["ART-1"] == StockPrice("ART-1", 7, "1500.00")

        status = engine.status()
        assert isinstance(status, Status) and status.state is Overall.IDLE
        assert status.orders.counts["done"] == 1 and status.orders.pending == 0
        assert status.orders.last_run is not None and status.orders.last_run.status == "ok"
        assert status.catalog.skus == 2
        # the JSON of `bridge status` keeps its shape
        data = status.to_json()
        assert data["state"] == "idle" and data["orders"]["counts"]["done"] == 1
        assert data["capabilities"]["orders"] is True and "next_run" not in data["orders"]

        order = await engine.order("o-1")
        assert order is not None and (order.number, order.state, order.erp_reference) == (
            "1001",
            "done",
            "P-1",
        )
        assert await engine.order("nope") is None
        product = await engine.product("ART-1")
        assert product is not None and (product.stock, product.price) == (7, "1500.00")
        assert await engine.product("nope") is None
        history = await engine.history()
        assert {r.pipeline for r in history.runs} == {"orders", "catalog"}
        assert len(history.orders_per_day) == 14 and history.orders_per_day[-1][1] == 1
        await engine.flush()  # the event log is written in batches
        events = await engine.recent_events()
        assert {"order_done", "catalog_run"} <= {e.code for e in events}
    finally:
        await engine.stop()
        engine.close()
    assert attempts == []


async def test_errors_cross_the_seam_as_records_with_typed_subjects(tmp_path, monkeypatch):
    no_sockets(monkeypatch)
    bad = {**ORDER, "buyer": {**ORDER["buyer"], "tax_id": "30-71234567-2"}}  # a wrong CUIT
    store = FakeStore([bad])
    erp = FakeErp({})
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", "t")
    secrets.set_session("erp.token", "t")
    config, paths = profile(tmp_path)
    factory = ConnectorFactory(store=lambda *a: store, erp=lambda *a: erp)
    engine = create_engine(config, paths, secrets, connectors=factory)
    try:
        await engine.sync_now("orders")
        [err] = await engine.open_errors()
        assert isinstance(err, ErrorRecord)
        assert err.subject == Subject.order("o-1") and err.subject.order_id == "o-1"
        assert err.number == "1001" and err.kind == "data"
        assert engine.status().state is Overall.ATTENTION
        # discarding goes by the subject's order id: the order is discarded, never sent
        assert await engine.discard_error(err.id, "wrong CUIT")
        assert await engine.open_errors() == []
        order = await engine.order("o-1")
        assert order is not None and order.state == "discarded"
        assert erp.orders == {}
    finally:
        await engine.stop()
        engine.close()


async def test_the_runtime_answers_a_second_start(tmp_path):
    """`bridge sync` and `bridge stop` from another process reach the engine through the
    Runtime (the instance port on loopback: the one socket here)."""
    store = FakeStore([ORDER])
    erp = FakeErp({})
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", "t")
    secrets.set_session("erp.token", "t")
    config, paths = profile(tmp_path)
    engine = create_engine(
        config, paths, secrets, connectors=ConnectorFactory(lambda *a: store, lambda *a: erp)
    )
    lock = InstanceLock(paths.data_dir)
    assert lock.acquire()
    stopped = asyncio.Event()
    shown: list[bool] = []
    runtime = Runtime(lock, on_stop=stopped.set, on_show=lambda: shown.append(True))
    try:
        await runtime.serve_commands(engine)
        assert await asyncio.to_thread(hand_over, paths.data_dir, "sync")
        assert await wait_until(lambda: store.sent == {"o-1": "P-1"})
        assert await asyncio.to_thread(hand_over, paths.data_dir, "show")
        assert await wait_until(lambda: shown == [True])
        assert not stopped.is_set()
        assert await asyncio.to_thread(hand_over, paths.data_dir, "stop")
        await asyncio.wait_for(stopped.wait(), 10)
    finally:
        await runtime.shutdown(engine.stop())
        engine.close()
    # the instance file went with the lock: a new start may take the profile
    assert running_info(paths.data_dir) is None


@pytest.mark.parametrize(
    "text",
    ["order:o-1", "sku:ART!ROJO!M", "sku:A:B", "erp:calibration", "run:orders", "store", "x:"],
)
def test_subject_text_round_trips(text):
    subject = Subject.parse(text)
    assert str(subject) == text
    assert Subject.parse(str(subject)) == subject


def test_subject_kinds():
    assert Subject.parse("order:o-1").order_id == "o-1"
    assert Subject.parse("order:o-1").sku_code is None
    assert Subject.parse("sku:A!B").sku_code == "A!B"
    assert Subject.parse("store").order_id is None and Subject.parse("store").key is None
    assert str(Subject.sku("A")) == "sku:A" and str(Subject.order("9")) == "order:9"


def test_an_error_record_is_a_plain_value():
    # the records are plain values: equal by content, immutable
    row = {
        "id": 1,
        "pipeline": "orders",
        "subject": "order:7",
        "kind": "data",
        "code": "x",
        "message": "m",
        "count": 1,
        "first_at": 1.0,
        "last_at": 2.0,
        "state": "open",
        "server_message": None,
        "resolution": None,
        "number": "N7",
    }
    rec = ErrorRecord.from_row(row)
    assert rec == ErrorRecord.from_row(dict(row))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(rec, "code", "y")  # noqa: B010
    assert rec.subject == Subject.order("7")
    assert rec.to_json() == {
        "id": 1,
        "pipeline": "orders",
        "subject": "order:7",
        "kind": "data",
        "code": "x",
        "message": "m",
        "count": 1,
        "last_at": 2.0,
    }

import sqlite3
import time

import pytest

from bridge.state import OrderState, State


def order(oid="ord_1", sku="A!1!M", qty=2, **kw):
    return {"id": oid, "number": f"VM-{oid}", "items": [{"sku": sku, "quantity": qty}], **kw}


@pytest.fixture
def state(tmp_path):
    s = State(tmp_path / "state.sqlite3")
    yield s
    s.close()


def test_wal_and_reopen(tmp_path):
    s = State(tmp_path / "s.sqlite3")
    s.ingest(order())
    s.close()
    s2 = State(tmp_path / "s.sqlite3")
    assert s2._q("PRAGMA journal_mode")[0][0] == "wal"
    assert s2.get_order("ord_1").state == OrderState.QUEUED
    s2.close()


def test_catalog_bookkeeping_skips_fsync_but_the_outbox_never_does(state):
    def level(db):
        return db.execute("PRAGMA synchronous").fetchone()[0]

    full, normal = 2, 1
    with state._tx(durable=False) as db:  # what was pushed, a run's staging
        assert level(db) == normal
    assert level(state._db) == full
    with pytest.raises(sqlite3.OperationalError), state._tx(durable=False) as db:
        db.execute("INSERT INTO catalog_staging VALUES (?)", ("A!1!M",))
    assert level(state._db) == full  # restored after a failed write too
    with state._tx() as db:  # outbox transitions and everything else
        assert level(db) == full


def test_ingest_is_unique_on_store_order_id(state):
    assert state.ingest(order())[0] == "new"
    assert state.ingest(order())[0] == "known"
    assert state.order_counts()["queued"] == 1


def test_done_order_listed_again_is_rereported_not_resent(state):
    state.ingest(order())
    state.mark_sending("ord_1")
    state.mark_sent_to_erp("ord_1", "P1", "C1")
    state.mark_done("ord_1")
    action, row = state.ingest(order())
    assert action == "rereport" and row.erp_reference == "P1"
    assert state.order_counts()["done"] == 1


def test_failed_data_order_requeued_when_store_lists_it_again(state):
    state.ingest(order())
    state.mark_failed(
        "ord_1", kind="data", code="cuit", message="bad", server_message=None, next_attempt_at=None
    )
    # still listed, not reported, unchanged: nothing to do
    assert state.ingest(order())[0] == "known"
    # the merchant fixed it: the payload changed
    assert state.ingest(order(notes="fixed"))[0] == "requeued"
    assert state.get_order("ord_1").state == OrderState.QUEUED


def test_reserved_counts_unsent_orders_only(state):
    state.ingest(order("o1", "A", 2))
    state.ingest(order("o2", "A", 3))
    state.ingest(order("o3", "B", 1))
    assert state.reserved() == {"A": 5, "B": 1}
    t0 = time.time()
    state.mark_sent_to_erp("o1", "P1", None)
    state.discard_order("o3", "test")
    assert state.reserved() == {"A": 3}
    # sent since the catalog run began: still counted for that run
    assert state.reserved(["A"], sent_since=t0 - 1) == {"A": 5}


def test_id_map_orders_unique_both_ways_customers_many_to_one(state):
    state.map_put("customer", "CUIT:1", "C1")
    state.map_put("customer", "CUIT:1", "C1")
    # the same person as a DNI buyer and as a CUIT buyer: one ERP customer
    state.map_put("customer", "DNI:2", "C1")
    assert state.map_get("customer", "CUIT:1") == state.map_get("customer", "DNI:2") == "C1"
    state.map_put("order", "o1", "P1")
    with pytest.raises(sqlite3.IntegrityError):
        state.map_put("order", "o2", "P1")  # one ERP document, one store order
    assert state.order_with_reference("P1") == "o1"


def test_a_first_schema_state_file_is_migrated_keeping_its_map(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE id_map (entity TEXT NOT NULL, store_id TEXT NOT NULL,
            erp_id TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (entity, store_id), UNIQUE (entity, erp_id));
        INSERT INTO id_map VALUES ('customer', 'CUIT:1', 'C1', 1.0), ('order', 'o1', 'P1', 1.0);
    """)
    db.close()
    s = State(path)
    try:
        assert s.map_get("customer", "CUIT:1") == "C1" and s.map_get("order", "o1") == "P1"
        s.map_put("customer", "DNI:2", "C1")
        with pytest.raises(sqlite3.IntegrityError):
            s.map_put("order", "o2", "P1")
    finally:
        s.close()
    s = State(path)  # opening again: nothing to migrate, nothing lost
    assert s.map_get("customer", "DNI:2") == "C1"
    s.close()


def test_errors_are_one_open_per_subject(state):
    a = state.open_error("orders", "order:1", kind="data", code="x", message="m1")
    b = state.open_error("orders", "order:1", kind="data", code="x", message="m2")
    assert a == b and state.errors()[0]["count"] == 2
    state.resolve_errors("orders", "order:1")
    assert state.errors() == []
    assert state.open_error("orders", "order:1", kind="data", code="x", message="m3") != a


def test_due_orders_order_and_backoff(state):
    state.ingest(order("o1"))
    state.ingest(order("o2"))
    state.mark_sending("o2")
    state.mark_failed(
        "o1",
        kind="transient",
        code="c",
        message="m",
        server_message=None,
        next_attempt_at=time.time() + 60,
    )
    assert [r.store_order_id for r in state.due_orders()] == ["o2"]
    assert [r.store_order_id for r in state.due_orders(now=time.time() + 61)] == ["o2", "o1"]

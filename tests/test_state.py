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
    s.outbox.ingest(order())
    s.close()
    s2 = State(tmp_path / "s.sqlite3")
    assert s2.query("PRAGMA journal_mode")[0][0] == "wal"
    assert s2.outbox.get("ord_1").state == OrderState.QUEUED
    s2.close()


def test_catalog_bookkeeping_skips_fsync_but_the_outbox_never_does(state):
    def level(db):
        return db.execute("PRAGMA synchronous").fetchone()[0]

    full, normal = 2, 1
    with state.tx(durable=False) as db:  # what was pushed, a run's staging
        assert level(db) == normal
    assert level(state._db) == full
    with pytest.raises(sqlite3.OperationalError), state.tx(durable=False) as db:
        db.execute("INSERT INTO catalog_staging VALUES (?)", ("A!1!M",))
    assert level(state._db) == full  # restored after a failed write too
    with state.tx() as db:  # outbox transitions and everything else
        assert level(db) == full


def test_ingest_is_unique_on_store_order_id(state):
    assert state.outbox.ingest(order())[0] == "new"
    assert state.outbox.ingest(order())[0] == "known"
    assert state.outbox.counts()["queued"] == 1


def test_done_order_listed_again_is_rereported_not_resent(state):
    state.outbox.ingest(order())
    state.outbox.mark_sending("ord_1")
    state.outbox.mark_sent_to_erp("ord_1", "P1", "C1")
    state.outbox.mark_done("ord_1")
    action, row = state.outbox.ingest(order())
    assert action == "rereport" and row.erp_reference == "P1"
    assert state.outbox.counts()["done"] == 1


def test_failed_data_order_requeued_when_store_lists_it_again(state):
    state.outbox.ingest(order())
    state.outbox.mark_failed(
        "ord_1", kind="data", code="cuit", message="bad", server_message=None, next_attempt_at=None
    )
    # still listed, not reported, unchanged: nothing to do
    assert state.outbox.ingest(order())[0] == "known"
    # the merchant fixed it: the payload changed
    assert state.outbox.ingest(order(notes="fixed"))[0] == "requeued"
    assert state.outbox.get("ord_1").state == OrderState.QUEUED


def test_reserved_counts_unsent_orders_only(state):
    state.outbox.ingest(order("o1", "A", 2))
    state.outbox.ingest(order("o2", "A", 3))
    state.outbox.ingest(order("o3", "B", 1))
    assert state.outbox.reserved() == {"A": 5, "B": 1}
    t0 = time.time()
    state.outbox.mark_sent_to_erp("o1", "P1", None)
    state.outbox.discard("o3", "test")
    assert state.outbox.reserved() == {"A": 3}
    # sent since the catalog run began: still counted for that run
    assert state.outbox.reserved(["A"], sent_since=t0 - 1) == {"A": 5}


def test_requeue_failed_takes_back_only_that_kind_of_failure(state):
    for oid, sku in (("o1", "A"), ("o2", "B"), ("o3", "C")):
        state.outbox.ingest(order(oid, sku, 1))
    for oid, kind in (("o1", "auth"), ("o2", "data")):
        state.outbox.mark_failed(
            oid, kind=kind, code=kind, message="no", server_message=None, next_attempt_at=None
        )
    state.outbox.discard("o1", "test")  # a discarded order is not a failed one
    assert state.outbox.requeue_failed("auth") == 0
    state.outbox.requeue("o1")
    state.outbox.mark_failed(
        "o1", kind="auth", code="auth", message="no", server_message=None, next_attempt_at=None
    )
    assert state.outbox.requeue_failed("auth") == 1
    states = {oid: state.outbox.get(oid).state for oid in ("o1", "o2", "o3")}
    assert states == {"o1": "queued", "o2": "failed", "o3": "queued"}
    assert state.outbox.reserved() == {"A": 1, "B": 1, "C": 1}


def test_the_repositories_share_the_state_files_connection(state):
    repositories = [
        state.outbox,
        state.idmap,
        state.pushed,
        state.staging,
        state.runs,
        state.errors,
        state.events,
        state.kv,
    ]
    assert all(r.db is state for r in repositories)
    # a write of one repository and a read of another see the same database
    state.kv.set("k", "v")
    state.errors.open("orders", "order:o1", kind="data", code="x", message="m")
    assert state.query("SELECT COUNT(*) FROM meta WHERE key = 'k'")[0][0] == 1
    assert state.errors.counts() == {"data": 1}


def test_id_map_orders_unique_both_ways_customers_many_to_one(state):
    state.idmap.put("customer", "CUIT:1", "C1")
    state.idmap.put("customer", "CUIT:1", "C1")
    # the same person as a DNI buyer and as a CUIT buyer: one ERP customer
    state.idmap.put("customer", "DNI:2", "C1")
    assert state.idmap.get("customer", "CUIT:1") == state.idmap.get("customer", "DNI:2") == "C1"
    state.idmap.put("order", "o1", "P1")
    with pytest.raises(sqlite3.IntegrityError):
        state.idmap.put("order", "o2", "P1")  # one ERP document, one store order
    assert state.idmap.order_with_reference("P1") == "o1"


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
        assert s.idmap.get("customer", "CUIT:1") == "C1" and s.idmap.get("order", "o1") == "P1"
        s.idmap.put("customer", "DNI:2", "C1")
        with pytest.raises(sqlite3.IntegrityError):
            s.idmap.put("order", "o2", "P1")
    finally:
        s.close()
    s = State(path)  # opening again: nothing to migrate, nothing lost
    assert s.idmap.get("customer", "DNI:2") == "C1"
    s.close()


def test_errors_are_one_open_per_subject(state):
    a = state.errors.open("orders", "order:1", kind="data", code="x", message="m1")
    b = state.errors.open("orders", "order:1", kind="data", code="x", message="m2")
    assert a == b and state.errors.recent()[0]["count"] == 2
    state.errors.resolve("orders", "order:1")
    assert state.errors.recent() == []
    assert state.errors.open("orders", "order:1", kind="data", code="x", message="m3") != a


def test_due_orders_order_and_backoff(state):
    state.outbox.ingest(order("o1"))
    state.outbox.ingest(order("o2"))
    state.outbox.mark_sending("o2")
    state.outbox.mark_failed(
        "o1",
        kind="transient",
        code="c",
        message="m",
        server_message=None,
        next_attempt_at=time.time() + 60,
    )
    assert [r.store_order_id for r in state.outbox.due()] == ["o2"]
    assert [r.store_order_id for r in state.outbox.due(now=time.time() + 61)] == ["o2", "o1"]

"""What the store changes or repeats is followed on purpose (issue #11): a queued order's
edit is taken with its items; what was sent is frozen and a later change is the merchant's
to settle; one id listed twice with different contents, or two orders with one number, are
data errors of their own while the rest flows; an unexpected exception never leaves an order
in `sending`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bridge.orders import order_difference
from bridge.state import OrderState
from tests.conftest import docs_for

both_modes = pytest.mark.parametrize("order_mode", ["operacion", "pedido"])


def quantities(doc: dict[str, Any]) -> dict[str, float]:
    """Quantity per variant (Articulo!Color!Talle) on an ERP document's detail lines."""
    out: dict[str, float] = {}
    for value in doc.values():
        if isinstance(value, list):
            for line in value:
                if isinstance(line, dict) and "Cantidad" in line:
                    key = "!".join(str(line.get(k, "")) for k in ("Articulo", "Color", "Talle"))
                    out[key] = out.get(key, 0) + float(line["Cantidad"])
    return out


def reserved(engine, sku: str) -> int:
    return engine.state.outbox.reserved([sku]).get(sku, 0)


def seen(engine) -> list[Any]:
    """Every event the engine emitted in this test (a subscriber set up on first use)."""
    if not hasattr(engine, "_test_events"):
        engine._test_events = []
        engine.events.subscribe(engine._test_events.append)
    return engine._test_events


def open_errors(engine, code: str) -> list[dict[str, Any]]:
    return [e for e in engine.state.errors.recent() if e["code"] == code]


async def test_an_edit_before_sending_is_taken_with_its_held_back_units(engine, store_sim):
    seen(engine)
    order = store_sim.add_order(n_items=1)
    sku = order["items"][0]["sku"]
    qty = order["items"][0]["quantity"]
    # listed while the ERP is not written to yet: queued, its units held back
    engine.orders.writes_blocked = _blocked
    await engine.sync_now("orders")
    assert engine.state.outbox.get(order["id"]).state == OrderState.QUEUED
    assert reserved(engine, sku) == qty
    # the buyer changes the quantity before it was sent
    store_sim.orders[order["id"]]["items"][0]["quantity"] = qty + 7
    await engine.sync_now("orders")
    assert reserved(engine, sku) == qty + 7
    assert any(
        e.code == "order_updated" and f"quantity {qty} -> {qty + 7}" in e.message
        for e in seen(engine)
    )


async def _blocked() -> str:
    return "a test holds the writes"


@both_modes
async def test_a_change_after_sending_is_frozen_and_told_not_reported_sent(
    engine, erp_sim, store_sim
):
    seen(engine)
    order = store_sim.add_order(n_items=1)
    sku = order["items"][0]["sku"]
    [ok] = await engine.sync_now("orders")
    assert ok.items_ok == 1
    [doc] = docs_for(erp_sim, order["number"])
    sent_qty = quantities(doc)
    # the store lists it pending again with quantity 50 (an edit after it was sent)
    record = store_sim.orders[order["id"]]
    record["items"][0]["quantity"] = 50
    record["erp_status"] = "pending"
    reports = len(record["reports"])
    await engine.sync_now("orders")
    await engine.sync_now("orders")  # listed again: one error, one event, nothing sent
    assert docs_for(erp_sim, order["number"]) == [doc] and quantities(doc) == sent_qty
    assert record["erp_status"] == "pending" and len(record["reports"]) == reports
    [err] = open_errors(engine, "changed_after_send")
    assert order["number"] in err["message"] and f"{sku} quantity" in err["message"]
    assert "-> 50" in err["message"] and doc["Codigo"] in err["message"]
    assert sum(1 for e in seen(engine) if e.code == "changed_after_send") == 1
    row = engine.state.outbox.get(order["id"])
    assert row.state == OrderState.DONE and row.payload["items"][0]["quantity"] != 50
    # the merchant settles it in the ERP and retries: the store is told it was sent
    assert await engine.retry_error(err["id"])
    await engine.sync_now("orders")
    assert record["erp_status"] == "sent" and record["erp_reference"] == doc["Codigo"]
    assert docs_for(erp_sim, order["number"]) == [doc]
    assert not open_errors(engine, "changed_after_send")


@both_modes
async def test_one_id_listed_twice_with_other_items_is_held_and_the_rest_flows(
    engine, erp_sim, store_sim
):
    twice = store_sim.add_order(n_items=1)
    good = store_sim.add_order()
    other = copy.deepcopy(store_sim._public(twice))
    sku = twice["items"][0]["sku"]
    qty = twice["items"][0]["quantity"]
    other["items"][0]["quantity"] = qty + 5
    store_sim.listed_again.append(other)
    [result] = await engine.sync_now("orders")
    assert result.items_ok == 1 and docs_for(erp_sim, good["number"])
    assert docs_for(erp_sim, twice["number"]) == []
    row = engine.state.outbox.get(twice["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = open_errors(engine, "listed_twice")
    assert twice["number"] in err["message"] and f"quantity {qty} -> {qty + 5}" in err["message"]
    # the units held back are the most either copy would sell
    assert reserved(engine, sku) == qty + 5
    # the store lists it once again: it is sent, with that content, once
    store_sim.listed_again.clear()
    await engine.sync_now("orders")
    [doc] = docs_for(erp_sim, twice["number"])
    assert sum(quantities(doc).values()) == qty
    assert engine.state.outbox.get(twice["id"]).state == OrderState.DONE
    assert not open_errors(engine, "listed_twice")


@both_modes
async def test_two_store_orders_with_one_number_the_second_is_a_data_error(
    engine, erp_sim, store_sim
):
    first = store_sim.add_order()
    [ok] = await engine.sync_now("orders")
    assert ok.items_ok == 1
    second = store_sim.add_order(number=first["number"])
    assert second["id"] != first["id"]
    later = store_sim.add_order()
    [result] = await engine.sync_now("orders")
    assert result.items_ok == 1 and result.items_failed == 1
    assert len(docs_for(erp_sim, first["number"])) == 1
    assert docs_for(erp_sim, later["number"])
    [err] = open_errors(engine, "number_taken")
    assert first["id"] in err["message"] and first["number"] in err["message"]
    row = engine.state.outbox.get(second["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    assert engine.status().errors.open >= 1
    # the runs go on without a traceback, and later good orders flow
    again = store_sim.add_order()
    [next_run] = await engine.sync_now("orders")
    assert docs_for(erp_sim, again["number"]) and next_run.status in ("ok", "partial")


@both_modes
async def test_an_unexpected_exception_never_leaves_an_order_sending(engine, erp_sim, store_sim):
    a = store_sim.add_order()
    b = store_sim.add_order()
    real = engine.erp.create_order
    calls = {"n": 0}

    async def flaky(order, customer, buyer):
        calls["n"] += 1
        if order.number == a["number"] and calls["n"] == 1:
            await real(order, customer, buyer)  # it reached the ERP, then a bug struck
            raise ValueError("something nobody foresaw")
        return await real(order, customer, buyer)

    engine.erp.create_order = flaky
    [result] = await engine.sync_now("orders")
    assert result.items_failed == 1 and docs_for(erp_sim, b["number"])
    row = engine.state.outbox.get(a["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    [err] = open_errors(engine, "internal_error")
    assert "ValueError" in err["message"] and "something nobody foresaw" in err["message"]
    # the next try looks it up first: in the ERP once, reported sent
    await engine.state.call(
        engine.state._db.execute, "UPDATE outbox SET next_attempt_at = 0 WHERE state = 'failed'"
    )
    await engine.sync_now("orders")
    assert len(docs_for(erp_sim, a["number"])) == 1
    assert engine.state.outbox.get(a["id"]).state == OrderState.DONE


def test_order_difference_names_what_changed():
    before = {
        "items": [
            {"sku": "A", "quantity": 1, "unit_price": "10.00"},
            {"sku": "B", "quantity": 2, "unit_price": "5.00"},
        ],
        "total": "20.00",
        "buyer": {"tax_id": "20-1", "email": "a@b"},
    }
    after = {
        "items": [
            {"sku": "A", "quantity": 50, "unit_price": "10.00"},
            {"sku": "C", "quantity": 1, "unit_price": "1.00"},
        ],
        "total": "501.00",
        "buyer": {"tax_id": "20-2", "email": "a@b"},
    }
    text = order_difference(before, after)
    assert text == (
        "A quantity 1 -> 50; B removed (was 2); C added (1); total 20.00 -> 501.00; buyer's tax_id"
    )
    assert order_difference(before, before) == "other details changed"


def due_now(engine) -> None:
    engine.state._db.execute(
        "UPDATE outbox SET next_attempt_at = 0 WHERE next_attempt_at "
        "IS NOT NULL AND state != 'sent_to_erp'"
    )


@both_modes
async def test_a_change_while_a_send_was_in_doubt_goes_out_if_the_erp_lacks_it(
    engine, erp_sim, store_sim, order_mode
):
    import asyncio

    from tests.conftest import WRITE_ROUTE

    order = store_sim.add_order(n_items=1)
    sku = order["items"][0]["sku"]
    erp_sim.faults.script("POST", WRITE_ROUTE[order_mode], *([503] * 10))
    await engine.sync_now("orders")
    row = engine.state.outbox.get(order["id"])
    assert row.state == OrderState.FAILED and row.attempts >= 1  # a send in doubt
    erp_sim.faults.clear()
    store_sim.orders[order["id"]]["items"][0]["quantity"] = 50  # the buyer changes it
    await engine.sync_now("orders")
    [err] = open_errors(engine, "changed_after_send")
    assert "may have reached the ERP" in err["message"]
    for _ in range(6):  # the retry comes due (pedido: after the settle window)
        await asyncio.sleep(0.3)
        due_now(engine)
        await engine.sync_now("orders")
        if store_sim.orders[order["id"]]["erp_status"] == "sent":
            break
    [doc] = docs_for(erp_sim, order["number"])
    assert sum(quantities(doc).values()) == 50  # the version the store has
    assert store_sim.orders[order["id"]]["erp_status"] == "sent"
    assert not open_errors(engine, "changed_after_send")
    assert engine.state.outbox.get(order["id"]).payload["items"][0]["quantity"] == 50
    assert reserved(engine, sku) == 0


@both_modes
async def test_a_change_while_the_report_was_pending_is_not_reported_as_sent(
    engine, erp_sim, store_sim, order_mode
):
    order = store_sim.add_order(n_items=1)
    store_sim.faults.script("POST", "erp-sync", *([503] * 10))
    await engine.sync_now("orders")
    assert engine.state.outbox.get(order["id"]).state == OrderState.SENT_TO_ERP
    store_sim.faults.clear()
    [doc] = docs_for(erp_sim, order["number"])
    sent = quantities(doc)
    store_sim.orders[order["id"]]["items"][0]["quantity"] = 50
    due_now(engine)
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = NULL")
    await engine.sync_now("orders")
    await engine.sync_now("orders")
    record = store_sim.orders[order["id"]]
    assert record["erp_status"] == "pending"  # not "sent" for a version the ERP lacks
    [err] = open_errors(engine, "changed_after_send")
    assert doc["Codigo"] in err["message"] and "-> 50" in err["message"]
    assert docs_for(erp_sim, order["number"]) == [doc] and quantities(doc) == sent
    # the merchant accepts what the ERP has: the store is told, the error is resolved
    assert await engine.retry_error(err["id"])
    await engine.sync_now("orders")
    assert record["erp_status"] == "sent" and record["erp_reference"] == doc["Codigo"]
    assert not open_errors(engine, "changed_after_send")


async def test_a_discarded_order_listed_twice_stays_discarded(engine, erp_sim, store_sim):
    twice = store_sim.add_order(n_items=1)
    other = copy.deepcopy(store_sim._public(twice))
    other["items"][0]["quantity"] += 5
    store_sim.listed_again.append(other)
    await engine.sync_now("orders")
    [err] = open_errors(engine, "listed_twice")
    assert await engine.discard_error(err["id"], "duplicated in the store, do not send")
    await engine.sync_now("orders")  # still listed twice: nothing new to say
    assert not open_errors(engine, "listed_twice")
    store_sim.listed_again.clear()  # then listed once, as it was
    await engine.sync_now("orders")
    assert docs_for(erp_sim, twice["number"]) == []
    assert engine.state.outbox.get(twice["id"]).state == OrderState.DISCARDED


@both_modes
async def test_two_orders_whose_numbers_differ_by_spaces_are_one_number(
    engine, erp_sim, store_sim, order_mode
):
    first = store_sim.add_order(n_items=1)
    store_sim.orders[first["id"]]["number"] = first["number"] + " "
    second = store_sim.add_order(n_items=1, number=first["number"].strip())
    await engine.sync_now("orders")
    assert len(docs_for(erp_sim, first["number"].strip())) == 1
    assert [e["subject"] for e in open_errors(engine, "number_taken")] == [f"order:{second['id']}"]

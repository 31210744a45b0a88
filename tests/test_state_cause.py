"""Issue #14, points 1-3 on the engine's side, over the simulators (real sockets, a real
state file): one overall state that tells the truth and says why, one root cause's errors
cleared when the cause is gone, and a discard that can be undone exactly."""

from __future__ import annotations

import pytest

import bridge.engine
from bridge.config import load_config
from bridge.errors import ConfigError, DataError
from bridge.model import Subject
from bridge.secrets import SecretStore
from bridge.state import OrderState
from bridge.status import Overall
from tests.conftest import STORE_TOKEN, docs_for, make_engine, wait_until, write_profile


def outbox_row(engine, oid):
    row = engine.state._db.execute("SELECT * FROM outbox WHERE store_order_id=?", (oid,)).fetchone()
    items = engine.state._db.execute(
        "SELECT sku, quantity FROM outbox_items WHERE store_order_id=? ORDER BY sku", (oid,)
    ).fetchall()
    return dict(row), [tuple(i) for i in items]


async def test_erp_down_then_up_clears_its_rows_without_a_retry(
    slow_retry_profile, erp_sim, store_sim
):
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    try:
        orders = store_sim.add_orders(3)
        port = erp_sim.port
        await erp_sim.stop()
        await engine.sync_now("orders")
        errors = await engine.open_errors()
        assert errors and {e.cause for e in errors} == {"erp:down"}
        status = engine.status()
        # the connection is down: Bridge retries by itself (not red, not "all good")
        assert status.state is Overall.RETRYING
        assert status.cause is not None and status.cause.side == "erp"
        assert status.cause.count == 3  # every order waits on it
        assert status.to_json()["state"] == "retrying"
        await erp_sim.start(port=port)
        # the ERP answers again (here to the catalog run): no retry click
        await engine.sync_now("catalog")
        assert await wait_until(lambda: engine.state.errors.recent() == []), (
            engine.state.errors.recent()
        )
        assert engine.status().state is Overall.IDLE
        # their orders go now, not after their 10-minute backoff; each once
        await engine.sync_now("orders")
        for o in orders:
            assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
            assert len(docs_for(erp_sim, o["number"])) == 1
    finally:
        await engine.stop()
        engine.close()


async def test_an_expired_token_needs_the_merchant_and_clears_when_accepted(
    slow_retry_profile, erp_sim, store_sim
):
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    try:
        store_sim.add_orders(2)
        erp_sim.expire_token()
        await engine.sync_now("orders")
        errors = await engine.open_errors()
        assert errors and {e.cause for e in errors} == {"erp:auth"}
        status = engine.status()
        # only the merchant can fix it: never a calm "retrying"
        assert status.state is Overall.ATTENTION
        assert status.cause is not None
        assert (status.cause.code, status.cause.side) == ("auth_rejected", "erp")
        assert status.to_json()["cause"]["code"] == "auth_rejected"
        # a pause does not hide it
        engine.pause()
        assert engine.status().state is Overall.ATTENTION
        engine.resume()
        # the merchant saves the new token: the token is accepted again and its rows clear
        engine.secrets.set_session("erp.token", erp_sim.renew_token())
        await engine.apply_config(load_config(slow_retry_profile.config_file))
        await engine.sync_now("catalog")
        assert await wait_until(lambda: engine.state.errors.recent() == [])
        assert engine.status().state is Overall.IDLE
    finally:
        await engine.stop()
        engine.close()


async def test_a_cause_counts_only_the_orders_it_holds_back(slow_retry_profile, erp_sim, store_sim):
    """An order stopped by its own data (a wrong CUIT) is not one of the orders a rejected
    token holds back: the overview's count agrees with the error list's row."""
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    try:
        store_sim.add_order(
            buyer__tax_id="30-71234567-2", buyer__tax_condition="responsable_inscripto"
        )
        await engine.sync_now("orders")
        assert engine.status().orders.counts["failed"] == 1
        store_sim.add_orders(2)
        erp_sim.expire_token()
        await engine.sync_now("orders")
        errors = await engine.open_errors()
        held = [e for e in errors if e.cause == "erp:auth" and e.subject.order_id is not None]
        status = engine.status()
        assert status.errors.own_orders == 1
        assert status.cause is not None and status.cause.code == "auth_rejected"
        assert status.cause.count == len(held) == 2, (status.cause, errors)
    finally:
        await engine.stop()
        engine.close()


async def test_informational_errors_do_not_need_the_merchant_and_a_pause_is_a_pause(engine):
    await engine.state.call(
        engine.state.errors.open,
        "catalog",
        "store:unknown-skus",
        kind="data",
        code="sku_unknown_in_store",
        message="21 SKUs from the ERP do not exist in the store",
    )
    status = engine.status()
    assert status.errors.open == 1
    assert status.state is Overall.IDLE and status.cause is None
    engine.pause()
    status = engine.status()
    assert status.state is Overall.PAUSED and status.cause is not None
    assert status.cause.code == "paused"
    # an order's data to fix does need the merchant, paused or not
    await engine.state.call(
        engine.state.errors.open,
        "orders",
        str(Subject.order("o-1")),
        kind="data",
        code="cuit_check_digit",
        message="Order 1: wrong CUIT",
    )
    status = engine.status()
    assert status.state is Overall.ATTENTION
    assert status.cause is not None and (status.cause.code, status.cause.count) == ("errors", 1)


async def test_missing_tokens_say_so_and_saving_them_lets_it_start(tmp_path, erp_sim, store_sim):
    paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente)
    secrets = SecretStore(use_keyring=False)  # the keyring lost them
    engine = bridge.engine.create_engine(load_config(paths.config_file), paths, secrets)
    try:
        with pytest.raises(ConfigError):
            await engine.start()
        status = engine.status()
        assert not engine.started
        assert status.state is Overall.ATTENTION
        assert status.cause is not None
        assert (status.cause.code, status.cause.side) == ("secret_missing", "store")
        secrets.set_session("store.token", STORE_TOKEN)
        secrets.set_session("erp.token", erp_sim.token)
        await engine.apply_config(load_config(paths.config_file))
        assert engine.problem is None
        await engine.start()
        assert engine.started
        o = store_sim.add_order()
        assert await wait_until(lambda: store_sim.orders[o["id"]]["erp_status"] == "sent")
        assert engine.status().state in (Overall.IDLE, Overall.SYNCING)
        await engine.stop()
        assert engine.status().state is Overall.STOPPED
    finally:
        await engine.stop()
        engine.close()


async def test_a_discard_needs_a_reason_and_undo_puts_the_order_back_exactly(
    engine, store_sim, monkeypatch
):
    o = store_sim.add_order(buyer__tax_id="20-1", buyer__tax_condition="monotributo")
    await engine.sync_now("orders")
    [err] = await engine.open_errors()
    before = outbox_row(engine, o["id"])
    assert before[0]["state"] == "failed" and before[1]
    with pytest.raises(DataError):
        await engine.discard_error(err.id, "   ")
    assert [e.id for e in await engine.open_errors()] == [err.id]
    assert await engine.discard_error(err.id, "cliente duplicado")
    assert outbox_row(engine, o["id"])[0]["state"] == "discarded"
    assert await engine.open_errors() == []
    # the store still lists it: a run leaves the discarded order alone
    await engine.sync_now("orders")
    assert await engine.undo_discard(err.id)
    # exactly as it was: the same row, the same held-back units, the same error (its id)
    assert outbox_row(engine, o["id"]) == before
    assert [(e.id, e.count) for e in await engine.open_errors()] == [(err.id, err.count)]
    assert not await engine.undo_discard(err.id)  # once
    assert len(engine.state._db.execute("SELECT * FROM errors").fetchall()) == 1
    # after the undo window, a discard stays
    monkeypatch.setattr(bridge.engine, "UNDO_DISCARD_S", 0.0)
    assert await engine.discard_error(err.id, "cliente duplicado")
    assert not await engine.undo_discard(err.id)
    assert outbox_row(engine, o["id"])[0]["state"] == "discarded"

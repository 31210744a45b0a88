"""The engine's small interface: scheduling, status priority, pause/resume, retry and
discard from the error list, live config."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.config import load_config
from bridge.state import OrderState
from tests.conftest import docs_for, make_engine, wait_until, write_profile


async def test_scheduled_runs_take_orders_and_catalog(tmp_path, erp_sim, store_sim):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        orders_interval_s=1,
        catalog_interval_s=10,
    )
    engine = make_engine(paths, erp_sim)
    events = []
    engine.events.subscribe(events.append)
    await engine.start()
    try:
        # the first runs begin at once
        assert await wait_until(lambda: engine.state.runs.last("catalog") is not None)
        o = store_sim.add_order()
        t0 = time.monotonic()
        assert await wait_until(lambda: store_sim.orders[o["id"]]["erp_status"] == "sent")
        assert time.monotonic() - t0 < 5  # an interval of 1 s, not the next catalog run
        # runs every second: between two of them it is idle
        assert await wait_until(lambda: engine.status().state == "idle")
        status = engine.status()
        assert status.orders.counts["done"] == 1
        assert status.next_run("orders") is not None
        assert status.connection("erp").ok and status.connection("store").ok
        assert {"engine_started", "order_received", "order_sent", "order_done", "catalog_run"} <= {
            e.code for e in events
        }
    finally:
        await engine.stop()
        engine.close()


async def test_pause_stops_scheduled_runs_and_resume_runs_now(tmp_path, erp_sim, store_sim):
    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, orders_interval_s=1
    )
    engine = make_engine(paths, erp_sim)
    await engine.start()
    try:
        engine.pause()
        await asyncio.sleep(0.3)
        assert engine.status().state == "paused"
        o = store_sim.add_order()
        await asyncio.sleep(2.5)
        assert store_sim.orders[o["id"]]["erp_status"] == "pending"
        engine.resume()
        assert await wait_until(lambda: store_sim.orders[o["id"]]["erp_status"] == "sent")
    finally:
        await engine.stop()
        engine.close()


@pytest.mark.parametrize("order_mode", ["operacion", "pedido"])
async def test_runs_of_one_pipeline_never_overlap(engine, erp_sim, store_sim):
    erp_sim.latency_s = 0.05
    orders = store_sim.add_orders(3)
    results = await asyncio.gather(
        engine.run_pipeline("orders", "schedule"), engine.run_pipeline("orders", "schedule")
    )
    assert sorted(r.status for r in results) == ["ok", "skipped"]
    # manual requests wait for the run in progress, then run
    results = await asyncio.gather(
        engine.run_pipeline("orders", "manual"), engine.run_pipeline("orders", "manual")
    )
    assert [r.status for r in results] == ["ok", "ok"]
    assert len(erp_sim.orders) == 3
    assert all(len(docs_for(erp_sim, o["number"])) == 1 for o in orders)


async def test_retry_and_discard_from_error_list(engine, erp_sim, store_sim):
    o1 = store_sim.add_order(items=[("NOEXISTE", 1)])
    o2 = store_sim.add_order(buyer__tax_id="20-1")
    await engine.sync_now("orders")
    errors = {e["subject"]: e for e in engine.state.errors.recent()}
    assert set(errors) == {f"order:{o1['id']}", f"order:{o2['id']}"}
    assert engine.status().state == "attention"
    # the article is created in the ERP; retry from the error list
    sku = next(iter(erp_sim.catalog.skus()))
    store_sim.orders[o1["id"]]["items"][0]["sku"] = sku
    engine.state._db.execute("UPDATE outbox SET payload = replace(payload, 'NOEXISTE', ?)", (sku,))
    assert await engine.retry_error(errors[f"order:{o1['id']}"]["id"])
    await asyncio.sleep(0)
    await engine.run_pipeline("orders", "manual")
    assert engine.state.outbox.get(o1["id"]).state == OrderState.DONE
    # the other is discarded with a reason: never sent, no longer an open error
    assert await engine.discard_error(errors[f"order:{o2['id']}"]["id"], "duplicate of VM-1")
    assert engine.state.outbox.get(o2["id"]).state == OrderState.DISCARDED
    assert engine.state.errors.recent() == []
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o2["id"]).state == OrderState.DISCARDED
    assert engine.status().state == "idle"


async def test_apply_config_requeues_orders_held_by_bad_credentials(
    engine, erp_sim, store_sim, profile
):
    o = store_sim.add_order()
    erp_sim.expire_token()
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).failure_kind == "auth"
    # the merchant gets a new token and saves it
    engine.secrets.set_session("erp.token", erp_sim.renew_token())
    await engine.apply_config(load_config(profile.config_file))
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE


async def test_stop_signals_reach_the_loop_where_it_takes_no_handlers(monkeypatch):
    """Windows' loop has no add_signal_handler: a plain handler hands the stop to the loop."""
    import signal

    from bridge.service import STOP_SIGNALS, on_stop_signals

    loop = asyncio.get_running_loop()

    def refuse(*args, **kw):
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_signal_handler", refuse)
    stopped = asyncio.Event()
    before = signal.getsignal(signal.SIGTERM)
    undo = on_stop_signals(loop, stopped.set)
    try:
        assert signal.SIGINT in STOP_SIGNALS and signal.SIGTERM in STOP_SIGNALS
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(stopped.wait(), 5)
    finally:
        undo()
    assert signal.getsignal(signal.SIGTERM) == before

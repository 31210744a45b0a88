"""The engine's side of everyday use (issue #14, point 8): a pause that ends by itself on
the wall clock, today's summary, the history per day, the first-run preview's examples and
pending orders."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import make_engine, wait_until, write_profile


async def test_pause_until_resumes_by_itself_and_sends_what_waited(tmp_path, erp_sim, store_sim):
    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, orders_interval_s=1
    )
    engine = make_engine(paths, erp_sim)
    await engine.start()
    try:
        engine.pause_check_s = 0.05
        until = time.time() + 1.5
        engine.pause(until=until)
        assert engine.paused and engine.paused_until == until
        assert engine.status().state == "paused"
        o = store_sim.add_order()
        await asyncio.sleep(0.5)
        assert store_sim.orders[o["id"]]["erp_status"] == "pending"
        assert await wait_until(lambda: not engine.paused)
        print(f"resumed {time.time() - until:.2f} s after the chosen end")
        assert time.time() >= until and engine.paused_until is None
        assert await wait_until(lambda: store_sim.orders[o["id"]]["erp_status"] == "sent")
    finally:
        await engine.stop()
        engine.close()


async def test_pause_end_is_read_on_the_wall_clock_so_a_pc_that_slept_resumes(
    tmp_path, erp_sim, store_sim
):
    """A monotonic sleep until the end does not count the time the PC slept: the pause
    would last as much longer. The end is read on the wall clock at every check instead;
    here the wall clock moves two hours on while the loop's own clock barely moves."""
    paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente)
    engine = make_engine(paths, erp_sim)
    await engine.start()
    try:
        engine.pause_check_s = 0.05
        engine.pause(until=time.time() + 3600)
        await asyncio.sleep(0.2)
        assert engine.paused
        engine.wall_clock = lambda: time.time() + 7200  # woke up two hours later
        assert await wait_until(lambda: not engine.paused, within=5)
    finally:
        await engine.stop()
        engine.close()


async def test_pausing_again_changes_the_end_and_resume_cancels_it(tmp_path, erp_sim, store_sim):
    paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente)
    engine = make_engine(paths, erp_sim)
    await engine.start()
    try:
        engine.pause_check_s = 0.05
        engine.pause(until=time.time() + 0.3)
        engine.pause()  # now indefinitely: the earlier end no longer applies
        await asyncio.sleep(0.8)
        assert engine.paused and engine.paused_until is None
        engine.pause(until=time.time() + 0.3)
        engine.resume()
        engine.pause()
        await asyncio.sleep(0.8)
        assert engine.paused  # the cancelled end did not resume this pause
        codes = [e.code for e in await engine.recent_events()]
        assert codes.count("paused") == 2 and codes.count("resumed") == 1
    finally:
        await engine.stop()
        engine.close()


async def test_today_counts_orders_in_those_with_problems_and_the_last_stock_update(
    engine, erp_sim, store_sim
):
    empty = await engine.today()
    assert (empty.orders, empty.orders_with_errors, empty.last_stock_update_at) == (0, 0, None)
    store_sim.add_orders(2)
    store_sim.add_order(items=[("NOEXISTE", 1)])  # the ERP refuses it
    before = time.time()
    await engine.sync_now("all")
    today = await engine.today()
    assert today.orders == 3
    assert today.orders_with_errors == 1
    assert today.last_stock_update_at is not None and today.last_stock_update_at >= before
    assert today.last_stock_update_items > 0
    # a run that changed nothing is not "the last stock update"
    last = today.last_stock_update_at
    await engine.sync_now("catalog")
    assert (await engine.today()).last_stock_update_at == last


async def test_history_has_errors_and_stock_updates_on_the_same_days_as_orders(
    engine, erp_sim, store_sim
):
    store_sim.add_orders(2)
    store_sim.add_order(items=[("NOEXISTE", 1)])
    await engine.sync_now("all")
    history = await engine.history(days=7)
    days = [d for d, _n in history.orders_per_day]
    assert len(days) == 7
    assert [d for d, _n in history.errors_per_day] == days
    assert [d for d, _n in history.stock_updates_per_day] == days
    today = time.strftime("%Y-%m-%d")
    assert dict(history.orders_per_day)[today] == 2
    assert dict(history.errors_per_day)[today] >= 1
    pushed = engine.state.runs.last("catalog")["items_ok"]
    assert dict(history.stock_updates_per_day)[today] == pushed > 0


async def test_first_sync_preview_shows_examples_and_the_orders_that_will_go(
    engine, erp_sim, store_sim, sim_catalog
):
    skus = list(sim_catalog.skus())
    store_sim.products[skus[0]]["stock"] = 999
    orders = store_sim.add_orders(12)
    preview = await engine.preview_first_sync()
    assert preview.counts["would_change"] >= 1
    assert 1 <= len(preview.products) <= 5
    changed = {p.sku: p for p in preview.products}
    if skus[0] in changed:
        assert changed[skus[0]].stock_now == 999
    assert all(p.stock_now != p.stock or p.price_now != p.price for p in preview.products)
    assert preview.orders_total == 12 and len(preview.orders) == 10
    first = preview.orders[0]
    assert first.number == orders[0]["number"]
    assert first.buyer == orders[0]["buyer"]["business_name"]
    assert first.items > 0 and first.total
    # nothing was written: no order went, no product changed
    assert store_sim.patches == [] and not erp_sim.orders
    assert all(store_sim.orders[o["id"]]["erp_status"] == "pending" for o in orders)

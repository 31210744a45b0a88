"""The cockpit's actions against what the engine is doing meanwhile (a discard during a
pass, the clearing of a cause as the merchant acts, a restart, a clock set back) and the
search's edges: each test failed before its fix (a review of #14's engine side)."""

from __future__ import annotations

import pytest

from bridge.state import OrderState
from tests.conftest import FAST, docs_for, make_engine, wait_until, write_profile


@pytest.fixture
async def failed_once(tmp_path, erp_sim, store_sim):
    """An engine (retries after 1 s) with one order that failed while the ERP was down,
    the ERP back and the order due again: (engine, the order, its error). The merchant's
    click then lands in the next pass, at the await a test chooses."""
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        retry_base_s=1,
        retry_max_s=1,
    )
    engine = make_engine(paths, erp_sim)
    await engine.open()
    o = store_sim.add_order()
    port = erp_sim.port
    await erp_sim.stop()
    await engine.sync_now("orders")  # fails: erp:down, attempts kept
    [err] = await engine.open_errors()
    await erp_sim.start(port=port)
    await engine.state.call(
        engine.state._db.execute,
        "UPDATE outbox SET next_attempt_at=0 WHERE store_order_id=?",
        (o["id"],),
    )
    try:
        yield engine, o, err
    finally:
        await engine.stop()
        engine.close()


async def test_rows_of_a_cause_clear_when_the_erp_answers_after_a_restart(
    slow_retry_profile, erp_sim, store_sim
):
    # session 1: the ERP is down, the orders fail with "erp:down" and Bridge is closed
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    orders = store_sim.add_orders(2)
    port = erp_sim.port
    await erp_sim.stop()
    try:
        await engine.sync_now("orders")
        assert {e.cause for e in await engine.open_errors()} == {"erp:down"}
    finally:
        await engine.stop()
        engine.close()
    # session 2 (the PC restarted, the ERP is back): the ERP answers the catalog run
    await erp_sim.start(port=port)
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    try:
        await engine.sync_now("catalog")
        assert engine.health.sides["erp"].ok is True
        cleared = await wait_until(lambda: engine.state.errors.recent() == [], within=3.0)
        print("open after the ERP answered:", [e["code"] for e in engine.state.errors.recent()])
        print("state:", engine.status().state, engine.status().cause)
        assert cleared, "the ERP answers, yet its rows stay open (10-min backoff)"
        await engine.sync_now("orders")
        for o in orders:
            assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    finally:
        await engine.stop()
        engine.close()


async def test_a_discard_during_a_running_pass_is_not_sent_anyway(failed_once, erp_sim):
    engine, o, err = failed_once
    # the merchant clicks "Descartar" (they entered it by hand) while the orders
    # pass is looking the buyer up in the ERP, just before it sends the order
    erp = engine.orders.erp
    real = erp.find_customer
    discarded = []

    async def lookup_then_click(*args, **kw):
        found = await real(*args, **kw)
        discarded.append(await engine.discard_error(err.id, "cargado a mano en el ERP"))
        return found

    erp.find_customer = lookup_then_click
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    print(
        "discard accepted:",
        discarded,
        "| outbox state:",
        row.state,
        "| ERP documents:",
        len(docs_for(erp_sim, o["number"])),
    )
    assert discarded == [True]
    assert len(docs_for(erp_sim, o["number"])) == 0, "a discarded order reached the ERP"
    assert row.state == OrderState.DISCARDED


async def test_a_huge_search_text_finds_nothing_instead_of_failing(engine, store_sim):
    store_sim.add_order()
    await engine.sync_now("orders")
    text = "ñ" * 30000  # a paste gone wrong: within QLineEdit's 32767 characters
    result = await engine.search(text)
    assert result.orders == () and result.events == ()


async def test_a_failed_stock_push_is_not_called_cleared_before_it_is_pushed(
    tmp_path, erp_sim, store_sim
):
    from bridge.status import Overall

    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, catalog_interval_s=300
    )
    # the store fails the stock push (every retry of it: a failure no product brings
    # about); its order listing works
    store_sim.faults.script("PATCH", "stock-prices", *[429] * FAST.transient_attempts)
    engine = make_engine(paths, erp_sim)
    await engine.start()
    try:
        assert await wait_until(
            lambda: any(e["subject"] == "store" for e in engine.state.errors.recent())
        )
        # the next orders pass (every 5 s) talks to the store fine: the store "answers"
        assert await wait_until(lambda: engine.state.errors.recent() == [], within=15)
        print("state:", engine.status().state, "| pushed:", engine.state.pushed.counts())
        # the stock is not in the store yet: either the row stays or a catalog run follows
        pushed = await wait_until(lambda: engine.state.pushed.counts()["skus"] > 0, within=10)
        assert pushed or engine.status().state is not Overall.IDLE, (
            "the catalog error is cleared and Bridge says all good, but nothing was pushed "
            "(the next catalog run is in 300 s)"
        )
    finally:
        await engine.stop()
        engine.close()


async def test_a_discard_as_the_erp_comes_back_stays_discarded(
    slow_retry_profile, erp_sim, store_sim
):
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    try:
        o = store_sim.add_order()
        port = erp_sim.port
        await erp_sim.stop()
        await engine.sync_now("orders")
        [err] = await engine.open_errors()
        assert err.cause == "erp:down"
        await erp_sim.start(port=port)
        # the merchant's "Descartar" lands while the clearing of "ERP down" is under way
        # (between its read of the open rows and its writes: two awaits of one loop)
        real_call = engine.state.call
        clicked: list[bool] = []

        async def call(fn, *args, **kw):
            if getattr(fn, "__name__", "") in ("resolve_ids", "clear_cause_rows") and not clicked:
                clicked.append(await engine.discard_error(err.id, "cargado a mano en el ERP"))
            return await real_call(fn, *args, **kw)

        engine.state.call = call
        await engine.sync_now("catalog")  # the ERP answers: its cause is cleared
        assert await wait_until(lambda: clicked != [])
        await engine.flush()
        await wait_until(
            lambda: any(e["code"] == "cause_cleared" for e in engine.state.events.since(0, 500)),
            within=3.0,
        )
        engine.state.call = real_call
        row = engine.state.outbox.get(o["id"])
        print("discard accepted:", clicked, "| outbox state after the clearing:", row.state)
        await engine.sync_now("orders")
        print("ERP documents:", len(docs_for(erp_sim, o["number"])))
        assert clicked == [True]
        assert row.state == OrderState.DISCARDED, "the clearing requeued a discarded order"
        assert docs_for(erp_sim, o["number"]) == []
    finally:
        await engine.stop()
        engine.close()


async def test_a_clock_set_back_does_not_lengthen_a_pause(tmp_path, erp_sim, store_sim):
    import asyncio
    import time

    paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente)
    engine = make_engine(paths, erp_sim)
    await engine.start()
    try:
        engine.pause_check_s = 0.05
        engine.pause(until=time.time() + 0.5)  # "pause for a moment"
        await asyncio.sleep(0.1)
        engine.wall_clock = lambda: time.time() - 86400  # the clock is set back a day
        resumed = await wait_until(lambda: not engine.paused, within=3)
        print(
            "paused until (s from now, on the clock as set):",
            round(engine.paused_until - engine.wall_clock()) if engine.paused_until else None,
        )
        assert resumed, "a pause for 0.5 s lasts a day more: no order is sent meanwhile"
    finally:
        await engine.stop()
        engine.close()


async def test_token_rows_left_from_before_say_the_token_not_a_setting(engine):
    from bridge.model import Subject

    # rows of "Dragonfish rejects the token" kept in the state file (Bridge restarted: the
    # ERP not asked yet this session)
    for oid in ("o-1", "o-2"):
        await engine.state.call(
            engine.state.errors.open,
            "orders",
            str(Subject.order(oid)),
            kind="auth",
            code="auth_rejected",
            message=f"Order {oid}: Dragonfish rejected the credentials",
        )
    cause = engine.status().cause
    print("cause:", cause)
    assert cause is not None and cause.code == "auth_rejected", (
        "said as 'The ERP: A setting is not valid' (ui.texts.cause_text)"
    )


async def test_a_search_finds_a_spanish_name_in_any_case(engine, store_sim):
    o = store_sim.add_order(buyer__business_name="MUÑOZ HNOS SRL")
    await engine.sync_now("orders")
    assert [s.store_order_id for s in (await engine.search("MUÑOZ")).orders] == [o["id"]]
    found = [s.store_order_id for s in (await engine.search("muñoz")).orders]
    print("'muñoz' finds:", found)
    assert found == [o["id"]]


async def test_a_discard_during_a_pass_that_then_fails_stays_discarded(failed_once, erp_sim):
    engine, o, err = failed_once
    erp = engine.orders.erp
    real = erp.find_customer
    discarded = []

    async def click_then_erp_drops(*args, **kw):
        discarded.append(await engine.discard_error(err.id, "cargado a mano en el ERP"))
        await erp_sim.stop()  # and the ERP drops again: the lookup fails
        return await real(*args, **kw)

    erp.find_customer = click_then_erp_drops
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    print(
        "discard accepted:",
        discarded,
        "| outbox state:",
        row.state,
        "| open errors:",
        [e.code for e in await engine.open_errors()],
    )
    assert discarded == [True]
    assert row.state == OrderState.DISCARDED, "the failure undid the discard: it is retried"


async def test_a_discard_while_the_order_is_being_sent_is_refused_and_it_goes_once(
    failed_once, erp_sim
):
    """An order already on its way to the ERP cannot be discarded (the write would not be
    stopped): the engine says no, its error stays until the write's outcome, and the order
    is in the ERP once."""
    engine, o, err = failed_once
    erp = engine.orders.erp
    real = erp.create_order
    answers = []

    async def click_while_sending(*args, **kw):
        answers.append(await engine.discard_error(err.id, "cargado a mano en el ERP"))
        answers.append(engine.state.outbox.get(o["id"]).state)
        return await real(*args, **kw)

    erp.create_order = click_while_sending
    await engine.sync_now("orders")
    assert answers == [False, OrderState.SENDING]
    assert len(docs_for(erp_sim, o["number"])) == 1
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert engine.state.errors.get(err.id)["state"] != "discarded"

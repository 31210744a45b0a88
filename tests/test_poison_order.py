"""An order the ERP chokes on: the ERP answers everything else, and fails (an error page,
a dropped connection) each time it gets this one order. Bridge first takes it for the ERP
being down (the other orders wait, the order goes again as soon as the ERP answers); after
a few such rounds in a row it is the order's own problem: the other orders are not held
back any more, it is not sent on every recovery, and its error stays open (the merchant is
told, the e-mail alert can come) while it keeps being retried at its own pace."""

from __future__ import annotations

import asyncio

from bridge.orders import POISON_STREAK
from bridge.state import OrderState
from bridge.status import Overall
from tests.conftest import docs_for, make_engine, slow_retry_paths, write_profile


async def settle(engine) -> None:
    """Wait for what the engine spawned (the clearing of a cause) to end."""
    await engine.flush()
    while engine._tasks:
        await asyncio.gather(*list(engine._tasks), return_exceptions=True)
    await engine.flush()


def sends_of(erp_sim) -> int:
    """How many times the ERP was sent the order it chokes on (each answered with an
    error page: the only requests given one here)."""
    return sum(1 for r in erp_sim.requests if r.method == "POST" and r.fault == "html")


def choking_on_a_new_order(erp_sim, store_sim) -> dict:
    """A new store order the ERP answers with an error page each time it gets it."""
    order = store_sim.add_order()
    for end in ('"', " "):  # its own number only (VM-1 is not VM-10)
        erp_sim.faults.when_request(f"VXM:{order['number']}{end}", "html")
    return order


def step_profile(tmp_path, erp_sim, store_sim):
    """One order at a time, a 10-minute backoff: only a recovery sends a failed order
    sooner."""
    return slow_retry_paths(tmp_path, erp_sim, store_sim, order_concurrency=1)


async def test_an_order_the_erp_chokes_on_is_its_own_problem_after_a_few_rounds(
    tmp_path, erp_sim, store_sim
):
    # one at a time: the order the ERP chokes on goes first
    engine = make_engine(step_profile(tmp_path, erp_sim, store_sim), erp_sim)
    await engine.open()
    try:
        poison = choking_on_a_new_order(erp_sim, store_sim)
        others: list[dict] = []
        for _ in range(8):
            others.append(store_sim.add_order())  # the shop keeps selling
            await engine.sync_now("orders")
            await engine.sync_now("catalog")  # the ERP answers everything else
            await settle(engine)
        sent = sends_of(erp_sim)
        errors = await engine.open_errors()
        status = engine.status()
        print(
            "sends of the order the ERP chokes on:",
            sent,
            "| others in the ERP:",
            sum(len(docs_for(erp_sim, o["number"])) for o in others),
            "of",
            len(others),
            "| state:",
            status.state,
            status.cause,
        )
        print("open errors:", [(e.code, e.cause, e.message) for e in errors])
        # bounded: the first send and one per recovery up to the streak, then its backoff
        assert sent == 1 + POISON_STREAK, sent
        # the others were not held back by it for good: every one is in the ERP, once
        for o in others:
            assert len(docs_for(erp_sim, o["number"])) == 1, o["number"]
        # its error stays open (since its first failure as its own: the alert can come)
        [err] = errors
        assert err.code == "erp_fails_on_order"
        assert err.cause is None  # the order's own, not "the ERP is down"
        assert poison["number"] in err.message
        # the merchant is asked to look (the ERP itself answers: not "retrying")
        assert status.state is Overall.ATTENTION
        assert engine.health.sides["erp"].ok is True
        row = engine.state.outbox.get(poison["id"])
        assert row.state == OrderState.FAILED and row.next_attempt_at is not None
        # it is still retried by itself, at its own pace; once the ERP takes it, all clear
        erp_sim.faults.clear()
        await engine.state.call(
            engine.state._db.execute,
            "UPDATE outbox SET next_attempt_at=0 WHERE store_order_id=?",
            (poison["id"],),
        )
        await engine.sync_now("orders")
        assert engine.state.outbox.get(poison["id"]).state == OrderState.DONE
        assert len(docs_for(erp_sim, poison["number"])) == 1
        assert await engine.open_errors() == []
        assert engine.state.outbox.get(poison["id"]).down_streak == 0
    finally:
        await engine.stop()
        engine.close()


async def test_a_real_outage_is_never_taken_for_the_order_s_own_problem(
    slow_retry_profile, erp_sim, store_sim
):
    """The same order first to find the ERP down, round after round (the ERP's service
    stopped, started, stopped again: nothing listens, a refused connection): each time the
    ERP answers again its row clears and the order is due at once, never its 10-minute
    backoff nor an error of its own."""
    engine = make_engine(slow_retry_profile, erp_sim)
    await engine.open()
    try:
        port = erp_sim.port
        order = store_sim.add_order()
        for _ in range(POISON_STREAK + 2):
            await erp_sim.stop()
            await engine.sync_now("orders")  # it fails: the ERP is down
            assert [(e.cause, e.code) for e in await engine.open_errors()] == [
                ("erp:down", "unreachable")
            ]
            await erp_sim.start(port=port)
            await engine.sync_now("catalog")  # back: its row clears, the order is due now
            await settle(engine)
            assert await engine.open_errors() == []
        row = engine.state.outbox.get(order["id"])
        print(
            "rounds:", POISON_STREAK + 2, "| attempts:", row.attempts, "| streak:", row.down_streak
        )
        assert row.down_streak == 0
        await engine.sync_now("orders")
        assert engine.state.outbox.get(order["id"]).state == OrderState.DONE
        assert len(docs_for(erp_sim, order["number"])) == 1
        assert engine.status().state is Overall.IDLE
    finally:
        await engine.stop()
        engine.close()


async def test_a_store_that_chokes_on_one_order_s_report_says_so_for_that_order(
    tmp_path, erp_sim, store_sim
):
    """The store fails (an error page) each time Bridge tells it one order was sent, and
    answers everything else: the order is in the ERP once (nothing is sent again), the
    store is not called down for good, and the merchant gets that order's own error (the
    store keeps listing it as waiting for the ERP)."""
    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, orders_interval_s=1
    )
    engine = make_engine(paths, erp_sim)
    await engine.open()
    try:
        stuck = store_sim.add_order()
        store_sim.faults.when_request(f"/orders/{stuck['id']}/erp-sync", "html")
        others: list[dict] = []
        for _ in range(POISON_STREAK + 3):
            others.append(store_sim.add_order())
            await engine.state.call(
                engine.state._db.execute, "UPDATE outbox SET next_attempt_at = 0"
            )
            await engine.sync_now("orders")
            await engine.sync_now("catalog")
            await settle(engine)
        errors = await engine.open_errors()
        status = engine.status()
        reports = sum(1 for r in store_sim.requests if r.route == "erp-sync" and r.fault)
        print(
            "reports refused:",
            reports,
            "| state:",
            status.state,
            status.cause,
            "| store health:",
            engine.health.sides["store"].ok,
        )
        print("open errors:", [(e.code, e.cause, e.message) for e in errors])
        assert len(docs_for(erp_sim, stuck["number"])) == 1  # in the ERP once
        for o in others:
            assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
        assert engine.state.outbox.get(stuck["id"]).state == OrderState.SENT_TO_ERP
        [err] = errors
        assert err.code == "store_fails_on_report" and err.cause is None
        assert stuck["number"] in err.message
        assert status.state is Overall.ATTENTION
        assert engine.health.sides["store"].ok is True
        # the store is fixed and the merchant clicks Retry: reported now, done, all clear
        store_sim.faults.clear()
        assert await engine.retry_error(err.id)
        await settle(engine)
        assert engine.state.outbox.get(stuck["id"]).state == OrderState.DONE
        assert store_sim.orders[stuck["id"]]["erp_status"] == "sent"
        assert await engine.open_errors() == []
        assert len(docs_for(erp_sim, stuck["number"])) == 1
    finally:
        await engine.stop()
        engine.close()


async def test_an_erp_failing_everything_now_and_then_blames_no_order(tmp_path, erp_sim, store_sim):
    """A proxy in front of a flapping ERP: an error page for every request, then all well,
    round after round. The oldest order is the first to fail each time, but on its
    lookups too: never its own problem (a review found it was, on the 4th round)."""
    engine = make_engine(step_profile(tmp_path, erp_sim, store_sim), erp_sim)
    await engine.open()
    try:
        first = store_sim.add_order()
        others = store_sim.add_orders(3)
        for _ in range(POISON_STREAK + 3):
            erp_sim.faults.rates["html"] = 1.0  # every request
            await engine.sync_now("orders")
            erp_sim.faults.rates.clear()
            await engine.sync_now("catalog")  # back: the rows clear, the orders are due
            await settle(engine)
            assert "erp_fails_on_order" not in [e.code for e in await engine.open_errors()]
        row = engine.state.outbox.get(first["id"])
        print("rounds:", POISON_STREAK + 3, "| its streak:", row.down_streak)
        await engine.sync_now("orders")
        for o in (first, *others):
            assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
            assert len(docs_for(erp_sim, o["number"])) == 1
    finally:
        await engine.stop()
        engine.close()


async def test_retry_of_a_choked_order_that_fails_the_same_way_holds_no_one(
    tmp_path, erp_sim, store_sim
):
    """The merchant's Retry (or Retry all) on the order the ERP chokes on: it is sent
    once more; failing the same way, it is still its own problem at once (not the ERP
    down again for three more rounds, the others held meanwhile); a refused connection in
    between changes nothing of that."""
    engine = make_engine(step_profile(tmp_path, erp_sim, store_sim), erp_sim)
    await engine.open()
    try:
        poison = choking_on_a_new_order(erp_sim, store_sim)
        for _ in range(POISON_STREAK + 1):
            await engine.sync_now("orders")
            await engine.sync_now("catalog")
            await settle(engine)
        [err] = await engine.open_errors()
        assert err.code == "erp_fails_on_order"
        # a refused connection (the ERP restarted): the streak is kept
        port = erp_sim.port
        await erp_sim.stop()
        await engine.state.call(
            engine.state._db.execute,
            "UPDATE outbox SET next_attempt_at=0 WHERE store_order_id=?",
            (poison["id"],),
        )
        await engine.sync_now("orders")
        await erp_sim.start(port=port)
        await engine.sync_now("catalog")  # back: its "unreachable" row clears, it is due
        await settle(engine)
        sent_before = sends_of(erp_sim)
        await engine.sync_now("orders")  # the same error page: its own problem at once
        [err] = await engine.open_errors()
        assert err.code == "erp_fails_on_order" and engine.health.sides["erp"].ok is True
        assert sends_of(erp_sim) - sent_before == 1
        sent_before = sends_of(erp_sim)
        assert await engine.retry_error(err.id)
        await settle(engine)
        others = []
        for _ in range(3):
            others.append(store_sim.add_order())
            await engine.sync_now("orders")
            await engine.sync_now("catalog")
            await settle(engine)
        [err] = await engine.open_errors()
        print(
            "sends after the retry:",
            sends_of(erp_sim) - sent_before,
            "| error:",
            err.code,
            "| ERP ok:",
            engine.health.sides["erp"].ok,
        )
        assert err.code == "erp_fails_on_order"
        assert sends_of(erp_sim) - sent_before == 1  # the retry's own send, then its backoff
        assert engine.health.sides["erp"].ok is True
        for o in others:
            assert len(docs_for(erp_sim, o["number"])) == 1, "held back by the retried order"
    finally:
        await engine.stop()
        engine.close()

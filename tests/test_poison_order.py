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
from tests.conftest import docs_for, make_engine, write_profile


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


async def test_an_order_the_erp_chokes_on_is_its_own_problem_after_a_few_rounds(
    tmp_path, erp_sim, store_sim
):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        retry_base_s=600,
        retry_max_s=600,
        order_concurrency=1,  # one at a time: the order the ERP chokes on goes first
    )
    engine = make_engine(paths, erp_sim)
    await engine.open()
    try:
        poison = store_sim.add_order()
        # its own number only (VM-1 is not VM-10)
        erp_sim.faults.when_body(f'VXM:{poison["number"]}"', "html")
        erp_sim.faults.when_body(f"VXM:{poison['number']} ", "html")
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

"""The computer's clock moves (issue #11): set back an hour, set right again, or jumping
forward after a sleep. Waiting runs on the monotonic clock; the scheduler and the retries
recorded in the state file run on wall time, and the engine re-anchors them when the two
disagree. The wall clock here is faked for the whole process: `time.time()` and the
`datetime` APScheduler reads, offset by `WallClock.offset`; monotonic time is real."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import apscheduler.executors.base
import apscheduler.schedulers.base
import apscheduler.triggers.interval
import pytest

from bridge.alerts import Alerter
from bridge.config import AlertsConfig
from bridge.state import OrderState, State
from tests.conftest import WRITE_ROUTE, docs_for, make_engine, wait_until, write_profile


class WallClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)

        class Shifted(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return datetime.fromtimestamp(time.time(), tz)

        for module in (
            apscheduler.schedulers.base,
            apscheduler.executors.base,
            apscheduler.triggers.interval,
        ):
            assert module.datetime is datetime  # what the scheduler reads the time with
            monkeypatch.setattr(module, "datetime", Shifted)


@pytest.fixture
def wall(monkeypatch):
    return WallClock(monkeypatch)


def sent(store_sim, order) -> bool:
    return store_sim.orders[order["id"]]["erp_status"] == "sent"


async def test_setting_the_clock_back_and_right_again_never_stops_orders(
    tmp_path, wall, erp_sim, store_sim, order_mode
):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        erp={"modo_pedidos": order_mode},
        orders_interval_s=1,
        catalog_interval_s=3600,
        retry_base_s=2,
        retry_max_s=4,
    )
    engine = make_engine(paths, erp_sim)
    engine.clock_check_s = 0.2
    events = []
    engine.events.subscribe(events.append)
    await engine.start()
    try:
        first = store_sim.add_order()
        assert await wait_until(lambda: sent(store_sim, first), 15.0)
        # an order the ERP fails for now: retried in 2 s (wall time recorded)
        erp_sim.faults.script("POST", WRITE_ROUTE[order_mode], 503, 503, 503, 503)
        waiting = store_sim.add_order()
        assert await wait_until(
            lambda: (
                engine.state.outbox.get(waiting["id"]) is not None
                and engine.state.outbox.get(waiting["id"]).state == OrderState.FAILED
            ),
            15.0,
        )
        # somebody sets the clock back an hour
        wall.offset = -3600.0
        assert await wait_until(lambda: any(e.code == "clock_set_back" for e in events), 5)
        second = store_sim.add_order()
        assert await wait_until(lambda: sent(store_sim, second), 15.0), "orders stopped"
        assert await wait_until(lambda: sent(store_sim, waiting), 15.0), "the retry waits an hour"
        # ... and right again (a jump forward): orders go on
        wall.offset = 0.0
        third = store_sim.add_order()
        assert await wait_until(lambda: sent(store_sim, third), 15.0)
        for order in (first, waiting, second, third):
            assert len(docs_for(erp_sim, order["number"])) == 1
    finally:
        await engine.stop()
        engine.close()


async def test_a_sleep_or_a_jump_forward_syncs_now(tmp_path, wall, erp_sim, store_sim):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        orders_interval_s=3600,
        catalog_interval_s=3600,
    )
    engine = make_engine(paths, erp_sim)
    engine.clock_check_s = 0.2
    events = []
    engine.events.subscribe(events.append)
    await engine.start()
    try:
        assert await wait_until(lambda: engine.state.runs.last("orders") is not None, 15.0)
        order = store_sim.add_order()
        await asyncio.sleep(0.5)
        assert not sent(store_sim, order)  # the next run is an hour away
        wall.offset = 3600.0  # the PC slept an hour (monotonic time does not count it)
        assert await wait_until(lambda: sent(store_sim, order), 15.0)
        assert any(e.code == "clock_jump" for e in events)
    finally:
        await engine.stop()
        engine.close()


async def test_a_clock_set_back_while_bridge_was_off_does_not_hold_work(
    tmp_path, wall, erp_sim, store_sim
):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        retry_max_s=60,
        write_settle_s=30,
    )
    order = store_sim.add_order()
    state = State(paths.db_file)
    state.outbox.ingest(store_sim._public(order))
    # recorded under a clock two hours ahead of the one the PC has now
    state.outbox.mark_failed(
        order["id"],
        kind="transient",
        code="timeout",
        message="x",
        server_message=None,
        next_attempt_at=time.time() + 7200,
    )
    state.idmap.doubt_begin("customer", "cuit:20123456786")
    state._db.execute("UPDATE writes_in_doubt SET since = ?", (time.time() + 7200,))
    state.close()
    engine = make_engine(paths, erp_sim)
    try:
        await engine.open()
        row = engine.state.outbox.get(order["id"])
        assert row.next_attempt_at is not None and row.next_attempt_at <= time.time() + 60
        assert engine.state.idmap.doubt_get("customer", "cuit:20123456786") <= time.time()
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        await engine.sync_now("orders")
        assert sent(store_sim, order)
    finally:
        await engine.stop()
        engine.close()


def test_an_alert_sent_in_the_future_does_not_silence_alerts(tmp_path, wall):
    state = State(tmp_path / "s.sqlite3")
    try:
        state.errors.open("orders", "order:1", kind="data", code="x", message="bad")
        state._db.execute("UPDATE errors SET first_at = first_at - 86400")
        alerter = Alerter(state, None, None, AlertsConfig(), profile="p")  # type: ignore[arg-type]
        state.kv.set("alerts_last_sent", str(time.time() + 3600))  # before the clock went back
        assert [e["code"] for e in alerter.due()] == ["x"]
    finally:
        state.close()


@pytest.mark.parametrize("jump", ["forward", "back then right"])
async def test_a_clock_jump_never_ends_the_wait_after_an_unconfirmed_send(
    tmp_path, wall, erp_sim, store_sim, jump
):
    """Pedido mode: nothing on Dragonfish's side refuses a second Pedido, so only the settle
    window after a send whose reply was lost keeps it single. The clock moving (forward, or
    back and then right) must not end that wait: it runs on the monotonic clock."""
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        erp={"modo_pedidos": "pedido", "timeout_s": 1},
        write_settle_s=60,
    )
    engine = make_engine(paths, erp_sim)
    await engine.open()
    try:
        order = store_sim.add_order(n_items=1)
        erp_sim.faults.hang_s = 3
        erp_sim.faults.script("POST", "pedido", "timeout")  # the ERP works on it for 3 s
        await engine.sync_now("orders")
        assert docs_for(erp_sim, order["number"]) == []  # not yet
        if jump == "forward":
            wall.offset = 3600.0
        else:
            wall.offset = -3600.0
            await engine._clock_set_back(3600)  # what the watch does
            wall.offset = 0.0
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        [again] = await engine.sync_now("orders")
        assert "does not list it yet" in again.message or again.items_ok == 0
        await asyncio.sleep(3.5)  # the first send lands in the ERP
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        await engine.sync_now("orders")
        assert len(docs_for(erp_sim, order["number"])) == 1
        assert store_sim.orders[order["id"]]["erp_status"] == "sent"
    finally:
        await engine.stop()
        engine.close()

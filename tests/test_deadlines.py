"""Every run ends (issue #11): a server trickling its answer a byte at a time hits the
request's overall deadline (httpx's timeouts are per read); a run that does not end in
time is stopped, recorded as failed and reported, then the next one goes on; a scheduled
tick during an overrunning run says so instead of skipping without a word."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.errors import AmbiguousWriteError, TransientError
from bridge.http import HttpSide, RetryPolicy, make_client
from bridge.state import OrderState
from tests.conftest import FAST, docs_for, make_engine, write_profile


class Trickle:
    """An HTTP server that sends its headers at once, then one body byte every `every_s`
    (a body of `size` bytes would take size * every_s to arrive)."""

    def __init__(self, size: int = 1000, every_s: float = 0.1) -> None:
        self.size, self.every_s = size, every_s
        self.server: asyncio.Server | None = None
        self.requests = 0

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % self.size
            )
            for _ in range(self.size):
                await writer.drain()
                writer.write(b" ")
                await asyncio.sleep(self.every_s)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize("write", [False, True])
async def test_a_trickling_answer_hits_the_requests_deadline(write):
    policy = RetryPolicy(
        transient_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.01, request_deadline_s=0.5
    )
    async with Trickle() as url:
        side = HttpSide(make_client(url, timeout_s=5, verify=True), policy)
        t0 = time.monotonic()
        try:
            with pytest.raises(AmbiguousWriteError if write else TransientError) as info:
                # without the deadline this takes 100 s (5 s per read is never reached)
                await asyncio.wait_for(
                    side.request("POST" if write else "GET", "/x", write=write), 30
                )
        finally:
            await side.aclose()
        took = time.monotonic() - t0
    assert "within 0.5 s" in info.value.message
    # a read is tried again (transient), a write is never repeated blindly
    assert side.requests == (1 if write else 2)
    print(
        f"\ntrickling server, write={write}: gave up after {took:.2f} s "
        f"({side.requests} attempts of at most 0.5 s)"
    )


async def test_a_run_past_its_deadline_is_stopped_recorded_and_the_next_goes_on(
    tmp_path, erp_sim, store_sim
):
    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, run_deadline_s=1
    )
    engine = make_engine(paths, erp_sim)
    try:
        await engine.open()
        erp_sim.latency_s = 2.0  # every answer takes longer than the whole run may
        [slow] = await engine.sync_now("catalog")
        assert slow.status == "failed" and "did not end within 1 s" in slow.message
        last = engine.state.runs.last("catalog")
        assert last["status"] == "failed" and "did not end" in last["message"]
        [err] = [e for e in engine.state.errors.recent() if e["code"] == "run_timeout"]
        assert err["subject"] == "run:catalog"
        erp_sim.latency_s = 0.0
        [ok] = await engine.sync_now("catalog")
        assert ok.status == "ok"
        assert not [e for e in engine.state.errors.recent() if e["code"] == "run_timeout"]
    finally:
        await engine.stop()
        engine.close()


@pytest.mark.parametrize("order_mode", ["operacion", "pedido"])
async def test_an_orders_run_cut_at_its_deadline_loses_and_repeats_nothing(
    tmp_path, erp_sim, store_sim, order_mode
):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        erp={"modo_pedidos": order_mode},
        run_deadline_s=1,
        write_settle_s=0.5,
    )
    engine = make_engine(paths, erp_sim)
    orders = store_sim.add_orders(4)
    try:
        await engine.open()
        erp_sim.latency_s = 0.3
        [cut] = await engine.sync_now("orders")
        assert cut.status == "failed" and "did not end within 1 s" in cut.message
        erp_sim.latency_s = 0.0
        for _ in range(20):
            await engine.state.call(
                engine.state._db.execute,
                "UPDATE outbox SET next_attempt_at = 0 WHERE state != 'done'",
            )
            await engine.sync_now("orders")
            if all(store_sim.orders[o["id"]]["erp_status"] == "sent" for o in orders):
                break
            await asyncio.sleep(0.3)
        for o in orders:
            assert len(docs_for(erp_sim, o["number"])) == 1, o["number"]
            assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    finally:
        await engine.stop()
        engine.close()


async def test_a_tick_during_an_overrunning_run_reports_it_once(tmp_path, erp_sim, store_sim):
    paths = write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        orders_interval_s=1,
        catalog_interval_s=3600,
        run_deadline_s=30,
    )
    engine = make_engine(paths, erp_sim, policy=FAST)
    events = []
    engine.events.subscribe(events.append)
    store_sim.add_orders(3)
    erp_sim.latency_s = 0.6  # an orders run takes several seconds
    await engine.start()
    try:
        for _ in range(150):
            if any(e.code == "run_overrun" for e in events):
                break
            await asyncio.sleep(0.1)
        over = [e for e in events if e.code == "run_overrun"]
        assert over and "still running" in over[0].message
        erp_sim.latency_s = 0.0
        await asyncio.sleep(2.5)
        # one report per overrunning run, not one per tick
        runs = {e.data.get("seconds") for e in events if e.code == "run_overrun"}
        assert len([e for e in events if e.code == "run_overrun"]) <= 2, runs
    finally:
        await engine.stop()
        engine.close()

"""What no connector foresaw never wedges a run (issue #11, found by review): JSON nested
too deeply to read, an exception outside any one item, a damaged copy of one order in the
state file. Each ends its run (or its order) with a recorded error; nothing stays `running`
or `sending`, and the next run goes on."""

from __future__ import annotations

import pytest
from aiohttp import web

from bridge.state import OrderState
from tests.conftest import docs_for, make_engine, write_profile


@pytest.fixture
async def nested_store():
    """A 'store' whose every answer is JSON nested 100,000 levels deep."""
    body = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def test_json_nested_too_deeply_fails_the_run_clearly(tmp_path, erp_sim, nested_store):
    paths = write_profile(tmp_path, nested_store, erp_sim.base_url, erp_sim.cliente)
    engine = make_engine(paths, erp_sim)
    await engine.open()
    try:
        [orders] = await engine.sync_now("orders")
        [catalog] = await engine.sync_now("catalog")
        assert orders.status == "failed" and catalog.status == "failed"
        assert "nested too deeply" in orders.message + catalog.message
        assert not [r for r in engine.state.runs.recent(10) if r["status"] == "running"]
        assert engine.state.errors.counts()
    finally:
        await engine.stop()
        engine.close()


async def test_an_unexpected_exception_outside_any_item_ends_the_run_only(
    engine, erp_sim, store_sim, monkeypatch
):
    real = engine.catalog.erp.catalog

    def broken(since=None):
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(engine.catalog.erp, "catalog", broken)
    [failed] = await engine.sync_now("catalog")
    assert failed.status == "failed" and "RuntimeError: a bug nobody foresaw" in failed.message
    assert engine.state.runs.last("catalog")["status"] == "failed"
    [err] = [e for e in engine.state.errors.recent() if e["code"] == "internal_error"]
    assert err["subject"] == "run:catalog"
    monkeypatch.setattr(engine.catalog.erp, "catalog", real)
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok"
    assert not [e for e in engine.state.errors.recent() if e["code"] == "internal_error"]


async def test_a_damaged_copy_of_one_order_is_that_orders_error(engine, erp_sim, store_sim):
    bad, good = store_sim.add_order(), store_sim.add_order()
    engine.orders.writes_blocked = _blocked  # both queued, not sent yet
    await engine.sync_now("orders")
    engine.orders.writes_blocked = None
    engine.state._db.execute(
        'UPDATE outbox SET payload = \'{"id": "x", "it\' WHERE store_order_id = ?', (bad["id"],)
    )
    store_sim.orders[bad["id"]]["erp_status"] = "held"  # not listed again for now
    await engine.sync_now("orders")
    assert docs_for(erp_sim, good["number"]) and not docs_for(erp_sim, bad["number"])
    row = engine.state.outbox.get(bad["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    assert any(e["code"] == "state_damaged" for e in engine.state.errors.recent())
    # the store lists it again: taken afresh, looked up, sent once
    store_sim.orders[bad["id"]]["erp_status"] = "pending"
    await engine.sync_now("orders")
    assert len(docs_for(erp_sim, bad["number"])) == 1
    assert engine.state.outbox.get(bad["id"]).state == OrderState.DONE


async def _blocked() -> str:
    return "a test holds the writes"


async def test_a_quantity_written_5_0_is_kept_as_the_number_it_is(engine, erp_sim, store_sim):
    order = store_sim.add_order(n_items=1)
    store_sim.orders[order["id"]]["items"][0]["quantity"] = 5.0
    [result] = await engine.sync_now("orders")
    assert result.items_ok == 1, result.message
    [doc] = docs_for(erp_sim, order["number"])
    assert [
        line["Cantidad"]
        for value in doc.values()
        if isinstance(value, list)
        for line in value
        if isinstance(line, dict) and "Cantidad" in line
    ] == [5.0]

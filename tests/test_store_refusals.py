"""A store that refuses one product's stock/price update, or chokes on it (an error page,
a 5xx), while it takes every other: the batch holding that product fails each time. Bridge
finds the product by splitting the failed batch, pushes everything else, and keeps that
one as an error of its own, offered again (alone) at each sync until the store takes it.
The store as a whole failing (down, or refusing every update) is not taken for a row:
the run stops as before, and no product is blamed."""

from __future__ import annotations

import json
import math

import pytest

from bridge.catalog import ISOLATION_BUDGET, REFUSED_KEY
from bridge.status import Overall
from tests.conftest import FAST, make_engine, write_profile

BATCH = 20  # 120 products: 6 batches


def expected_stock(catalog, sku):
    return max(0, math.floor(catalog.disponible(sku)))


def in_store(store_sim, catalog, sku) -> bool:
    """The store shows the ERP's stock and price for `sku`."""
    p = store_sim.products[sku]
    price = catalog.price(sku, "LISTA1")
    return p["stock"] == expected_stock(catalog, sku) and (
        price <= 0 or p["price"] == f"{price:.2f}"
    )


def updates(store_sim) -> int:
    """Stock/price requests the store got, answered or faulted."""
    return store_sim.count("stock-prices", "PATCH")


def refuse(store_sim, sku, kind) -> None:
    """Every stock/price update holding `sku` gets `kind` (the body is compact JSON)."""
    store_sim.faults.when_request(f'"sku":"{sku}"', kind)


async def sku_errors(engine):
    return [e for e in await engine.open_errors() if e.code == "store_refused_row"]


def stale_everywhere(store_sim, catalog) -> list[str]:
    """Every product gets a new stock in the ERP, so every one has to be pushed."""
    skus = list(catalog.skus())
    for n, sku in enumerate(skus):
        catalog.set_stock(sku, 1000 + n)
    return skus


@pytest.fixture
async def engine(tmp_path, erp_sim, store_sim):
    """An engine pushing in batches of BATCH."""
    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, push_batch=BATCH
    )
    eng = make_engine(paths, erp_sim)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


async def test_a_product_the_store_chokes_on_holds_back_no_other(engine, store_sim, sim_catalog):
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = skus[len(skus) // 3]  # in the second batch: four batches come after it
    refuse(store_sim, bad, "html")
    [run] = await engine.sync_now("catalog")
    behind = [s for s in skus if s != bad and not in_store(store_sim, sim_catalog, s)]
    print(
        f"\n  one product choked on: run {run.status}, {run.items_ok} pushed, "
        f"{len(behind)} others left stale, {updates(store_sim)} update requests"
    )
    assert run.status == "partial", run.message
    assert behind == []  # every other product shows the ERP's figures
    assert not in_store(store_sim, sim_catalog, bad)
    [error] = await sku_errors(engine)
    assert str(error.subject) == f"sku:{bad}" and "refused" in error.message
    assert "502" in error.message  # the store's own answer, for support
    # the store answered: it is not "down"; the merchant is asked to look at the product
    status = engine.status()
    assert status.live.connections["store"].ok is True
    assert status.state is Overall.ATTENTION and status.cause.side != "store", status.cause
    [product] = [p for p in await engine.products() if p.sku == bad]
    assert product.error_code == "store_refused_row"
    # bounded: the other batches once; the bad batch, then per level down to the row the
    # failing half (with its retries) and the other half once
    levels = math.ceil(math.log2(BATCH))
    others = len(skus) // BATCH - 1
    assert updates(store_sim) <= others + FAST.transient_attempts * (1 + levels) + levels

    # next sync: the refused product goes again, alone; nothing else is sent again
    store_sim.patches.clear()
    before = updates(store_sim)
    [again] = await engine.sync_now("catalog")
    assert again.status == "partial", again.message
    # one offer of it (an error page each time: retried), and no other update
    assert store_sim.patches == []
    assert updates(store_sim) - before == FAST.transient_attempts
    assert [str(e.subject) for e in await sku_errors(engine)] == [f"sku:{bad}"]

    # the store takes it: pushed, the error resolved, nothing kept
    store_sim.faults.clear()
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok", ok.message
    assert in_store(store_sim, sim_catalog, bad)
    assert await sku_errors(engine) == []
    assert engine.state.kv.get(REFUSED_KEY) is None


async def test_a_refused_value_names_the_store_s_reason_and_a_new_one_replaces_it(
    engine, store_sim, sim_catalog
):
    skus = stale_everywhere(store_sim, sim_catalog)
    first, second = skus[5], skus[50]
    store_sim.refused.update({first: "the product is archived", second: "locked"})
    [run] = await engine.sync_now("catalog")
    assert run.status == "partial", run.message
    assert "2 refused by the store" in run.message
    assert sorted(str(e.subject) for e in await sku_errors(engine)) == sorted(
        [f"sku:{first}", f"sku:{second}"]
    )
    assert all("422" in e.message for e in await sku_errors(engine))
    assert any("archived" in e.message for e in await sku_errors(engine))
    for sku in skus:
        assert in_store(store_sim, sim_catalog, sku) == (sku not in (first, second)), sku
    kept = json.loads(engine.state.kv.get(REFUSED_KEY))
    assert kept[first] == [1005, kept[first][1]]

    # the ERP changes one of them (an incremental listing shows it again): the new
    # figure is the one offered, and taken
    del store_sim.refused[first]
    sim_catalog.set_stock(first, 7)
    [after] = await engine.sync_now("catalog")
    assert store_sim.products[first]["stock"] == 7
    assert [str(e.subject) for e in await sku_errors(engine)] == [f"sku:{second}"]
    assert set(json.loads(engine.state.kv.get(REFUSED_KEY))) == {second}
    assert after.status == "partial"


async def test_two_products_refused_in_one_batch_are_both_found(engine, store_sim, sim_catalog):
    """The store's own checks (its 422 names the item) refuse two rows of one batch, one in
    each half: each half is refused for a reason of its own, and both are found."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = {skus[2], skus[BATCH - 3]}
    store_sim.refused.update({sku: "the product is archived" for sku in bad})
    [run] = await engine.sync_now("catalog")
    assert run.status == "partial", run.message
    assert {str(e.subject) for e in await sku_errors(engine)} == {f"sku:{s}" for s in bad}
    assert all(in_store(store_sim, sim_catalog, s) == (s not in bad) for s in skus)
    print(f"\n  two refused in one batch: {updates(store_sim)} update requests")


async def test_many_refused_products_are_found_over_a_few_runs(engine, store_sim, sim_catalog):
    """More refused products than one run's search may spend requests on: the run stops
    when its budget is spent (as a failure of the store would), the products found so far
    go alone from then on, and each run finds more until every other product is pushed."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = set(skus[1::4])  # 30 of 120: five in each batch
    store_sim.refused.update({sku: "the product is archived" for sku in bad})
    statuses = []
    for _ in range(10):
        [run] = await engine.sync_now("catalog")
        statuses.append(str(run.status))
        if run.status != "failed":
            break
    print(f"\n  30 refused: runs {statuses}, {updates(store_sim)} update requests in all")
    assert statuses[0] == "failed" and statuses[-1] == "partial", statuses
    assert {str(e.subject) for e in await sku_errors(engine)} == {f"sku:{s}" for s in bad}
    assert all(in_store(store_sim, sim_catalog, s) == (s not in bad) for s in skus)
    # once all are known, a run offers each alone once and nothing else
    before = updates(store_sim)
    [again] = await engine.sync_now("catalog")
    assert again.status == "partial" and updates(store_sim) - before == len(bad)


async def test_a_refused_product_updated_by_hand_is_not_offered_its_old_figures(
    engine, store_sim, sim_catalog
):
    skus = stale_everywhere(store_sim, sim_catalog)
    sku = skus[7]
    store_sim.refused[sku] = "locked while it is edited"
    [run] = await engine.sync_now("catalog")
    assert run.status == "partial" and sku in json.loads(engine.state.kv.get(REFUSED_KEY))
    # the store takes it again; the ERP has a new stock; "Actualizar un producto"
    del store_sim.refused[sku]
    sim_catalog.set_stock(sku, 5)
    one = await engine.sync_sku(sku)
    assert one.status == "ok", one.message
    assert store_sim.products[sku]["stock"] == 5
    assert engine.state.kv.get(REFUSED_KEY) is None and await sku_errors(engine) == []
    # the next run does not offer the figure refused before (stock 1007)
    store_sim.patches.clear()
    [after] = await engine.sync_now("catalog")
    assert after.status == "ok", after.message
    assert store_sim.products[sku]["stock"] == 5
    assert all(i["sku"] != sku for batch in store_sim.patches for i in batch)


async def test_a_store_down_while_pushing_blames_no_product(engine, store_sim, sim_catalog):
    skus = stale_everywhere(store_sim, sim_catalog)
    store_sim.faults.rates[503] = 1.0  # every request
    [run] = await engine.sync_now("catalog")
    print(f"\n  store down: {updates(store_sim)} update requests before the run stopped")
    assert run.status == "failed", run.message
    assert await sku_errors(engine) == []
    assert engine.state.pushed.counts()["skus"] == 0
    # the batch and its two halves, each with its retries, per batch in flight
    in_flight = min(2 * 4, len(skus) // BATCH)  # push_concurrency 4, read ahead 2x
    assert updates(store_sim) <= in_flight * 3 * FAST.transient_attempts
    # back: everything goes, nothing blamed
    store_sim.faults.clear()
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok", ok.message
    assert all(in_store(store_sim, sim_catalog, s) for s in skus)


async def test_a_store_refusing_every_update_is_not_taken_for_its_products(
    engine, store_sim, sim_catalog
):
    stale_everywhere(store_sim, sim_catalog)
    store_sim.faults.rates[400] = 1.0  # the store's API changed: every update refused
    [run] = await engine.sync_now("catalog")
    print(f"\n  store refusing everything: {updates(store_sim)} update requests")
    assert run.status == "failed", run.message
    assert "400" in run.message
    assert await sku_errors(engine) == []
    assert engine.state.kv.get(REFUSED_KEY) is None
    # the search stops when its budget is spent (a 400 is not retried); as the store
    # took nothing, the products it refused are not blamed
    assert updates(store_sim) <= 2 * 4 + ISOLATION_BUDGET


async def test_a_store_that_takes_smaller_batches_gets_them(engine, store_sim, sim_catalog):
    """A store whose limit is below Bridge's batch answers 413 to each batch: the halves
    go, nothing is blamed."""
    skus = stale_everywhere(store_sim, sim_catalog)
    store_sim.max_batch = BATCH // 2 - 1
    [run] = await engine.sync_now("catalog")
    assert run.status == "ok", run.message
    assert await sku_errors(engine) == []
    assert all(in_store(store_sim, sim_catalog, s) for s in skus)

"""The search for the products the store refuses (tests/test_store_refusals.py), attacked:
two at fault in one batch (error pages, a generic 422, a whole batch), a store down or
flapping while refused products are due, an ERP that changes, invalidates or lists only
changes, a held run, a restart, Bridge closed mid-push, the request budget. Written in an
adversarial review of the first version, on which most of them failed."""

from __future__ import annotations

import json
import random

import pytest

from bridge.catalog import ISOLATION_BUDGET, REFUSED_KEY
from bridge.config import Paths
from bridge.engine import Engine
from tests import test_nonsistemas
from tests.conftest import FAST, make_engine, write_profile
from tests.test_store_refusals import (
    in_store,
    refuse,
    sku_errors,
    stale_everywhere,
    updates,
)

BATCH = 20  # 120 products: 6 batches


def profile(tmp_path, erp_sim, store_sim, **sync):
    return write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        **{"push_batch": BATCH, **sync},
    )


@pytest.fixture
async def paths(tmp_path, erp_sim, store_sim):
    return profile(tmp_path, erp_sim, store_sim)


@pytest.fixture
async def engine(paths, erp_sim):
    eng = make_engine(paths, erp_sim)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


@pytest.fixture
async def serial_engine(tmp_path, erp_sim, store_sim):
    """push_concurrency 1: the batches go one after another, in SKU order."""
    eng = make_engine(profile(tmp_path, erp_sim, store_sim, push_concurrency=1), erp_sim)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


def stale_others(store_sim, catalog, skus, bad) -> list[str]:
    return [s for s in skus if s not in bad and not in_store(store_sim, catalog, s)]


def kept(engine) -> dict:
    return json.loads(engine.state.kv.get(REFUSED_KEY) or "{}")


# -- two products at fault in one batch --------------------------------------------------


async def test_two_products_the_store_chokes_on_in_one_batch_hold_back_no_other(
    engine, store_sim, sim_catalog
):
    """Two products of one batch each get an error page (say both have a character the
    store's proxy chokes on). Each half fails, for a row of its own."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = {skus[BATCH + 2], skus[BATCH + 12]}  # batch 2, one in each half
    for sku in bad:
        refuse(store_sim, sku, "html")
    runs = [await engine.sync_now("catalog") for _ in range(3)]
    statuses = [str(r.status) for [r] in runs]
    behind = stale_others(store_sim, sim_catalog, skus, bad)
    print(f"\n  two chokers in one batch: runs {statuses}, {len(behind)} others stale")
    assert behind == [], (statuses, runs[-1][0].message)
    assert {str(e.subject) for e in await sku_errors(engine)} == {f"sku:{s}" for s in bad}


async def test_two_chokers_in_one_quarter_of_a_batch(engine, store_sim, sim_catalog):
    """The same, both in the same half (separated one level down)."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = {skus[BATCH + 1], skus[BATCH + 7]}
    for sku in bad:
        refuse(store_sim, sku, "html")
    for _ in range(3):
        [run] = await engine.sync_now("catalog")
    behind = stale_others(store_sim, sim_catalog, skus, bad)
    assert behind == [], run.message


async def test_two_products_refused_with_the_store_s_generic_422(engine, store_sim, sim_catalog):
    """A store whose 422 does not name the item (the spec does not say it does): two
    refused products in one batch."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = {skus[BATCH + 2], skus[BATCH + 12]}
    for sku in bad:
        refuse(store_sim, sku, 422)
    for _ in range(3):
        [run] = await engine.sync_now("catalog")
    behind = stale_others(store_sim, sim_catalog, skus, bad)
    assert behind == [], run.message


async def test_a_batch_the_store_refuses_whole_holds_back_no_other(
    serial_engine, store_sim, sim_catalog
):
    """The merchant archived a whole family in the store (20 consecutive SKUs, each
    refused with its own 422 naming it): the batches after it still go."""
    engine = serial_engine
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = set(skus[:BATCH])
    store_sim.refused.update({s: "the product is archived" for s in bad})
    statuses = []
    for _ in range(3):
        [run] = await engine.sync_now("catalog")
        statuses.append(str(run.status))
    behind = stale_others(store_sim, sim_catalog, skus, bad)
    print(f"\n  a whole batch refused: runs {statuses}, {len(behind)} others stale")
    assert len(behind) == 0, (statuses, len(behind), run.message)


async def test_the_last_short_batch_refused_whole(engine, erp_sim, store_sim, sim_catalog):
    """Only two products changed since the last run, and the store refuses both (each
    naming itself): an incremental run of two rows."""
    skus = list(sim_catalog.skus())
    [first] = await engine.sync_now("catalog")
    assert first.status == "ok", first.message
    bad = {skus[10], skus[70]}
    for n, sku in enumerate(sorted(bad)):
        sim_catalog.set_stock(sku, 300 + n)
    store_sim.refused.update({s: "locked" for s in bad})
    runs = [await engine.sync_now("catalog") for _ in range(3)]
    statuses = [str(r.status) for [r] in runs]
    assert statuses == ["partial"] * 3, (statuses, runs[-1][0].message)
    assert {str(e.subject) for e in await sku_errors(engine)} == {f"sku:{s}" for s in bad}


# -- a store down, or flapping -------------------------------------------------------------


@pytest.mark.parametrize("step", [12, 4])
async def test_a_store_down_when_only_refused_products_are_due(
    engine, store_sim, sim_catalog, step
):
    """Products refused before are offered each run. The store then goes down (503 to
    everything) and the ERP has no other change: the run is the store's failure, not
    'partial', and it does not hammer the store product by product."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = set(skus[3::step])  # 10 or 30, spread over the batches
    store_sim.refused.update({s: "locked" for s in bad})
    for _ in range(8):
        [run] = await engine.sync_now("catalog")
        if run.status != "failed":
            break
    assert set(kept(engine)) == bad, run.message
    store_sim.faults.rates[503] = 1.0
    before = updates(store_sim)
    [down] = await engine.sync_now("catalog")
    spent = updates(store_sim) - before
    print(
        f"\n  store down, {len(bad)} refused due: run {down.status}, {spent} update "
        f"requests, store ok={engine.status().live.connections['store'].ok}"
    )
    # the products offered alone, push_concurrency (4) at a time: those in flight when
    # the store was found down, each with its retries
    assert spent <= 4 * FAST.transient_attempts, (down.status, spent)
    assert down.status == "failed", down.message
    assert engine.status().live.connections["store"].ok is False


async def test_store_refused_row_messages_do_not_blame_products_for_a_store_outage(
    engine, store_sim, sim_catalog
):
    """Same set-up: after the outage the refused products' errors still say why the store
    refused them (a 422), not the outage's 503."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = set(skus[3::12])
    store_sim.refused.update({s: "locked" for s in bad})
    for _ in range(3):
        [run] = await engine.sync_now("catalog")
        if run.status != "failed":
            break
    store_sim.faults.rates[503] = 1.0
    await engine.sync_now("catalog")
    msgs = [e.message for e in await sku_errors(engine)]
    assert not any("503" in m for m in msgs), msgs[:2]


async def _flap(engine, store_sim, sim_catalog, runs=12, rate=0.5, seed=0):
    """A flapping store over many runs, the ERP changing a good part each run; the products
    blamed at any time (no product is really at fault)."""
    stale_everywhere(store_sim, sim_catalog)
    store_sim.faults._rng = random.Random(seed)
    store_sim.faults.rates.update({503: rate * 0.7, "html": rate * 0.3})
    blamed: set[str] = set()
    statuses = []
    for n in range(runs):
        sim_catalog.mutate(0.5, seed=n)
        [run] = await engine.sync_now("catalog")
        statuses.append(str(run.status))
        blamed |= {str(e.subject) for e in await sku_errors(engine)}
    return blamed, statuses


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rate", [0.35])  # at 0.75 a product may be blamed now and then
async def test_a_flapping_store_blames_no_product(engine, store_sim, sim_catalog, rate, seed):
    blamed, statuses = await _flap(engine, store_sim, sim_catalog, rate=rate, seed=seed)
    print(f"\n  flapping: runs {statuses}; {len(blamed)} products blamed")
    assert blamed == set(), (len(blamed), sorted(blamed)[:5], statuses)


@pytest.mark.parametrize(("rate", "seed"), [(0.35, 1), (0.75, 2)])
async def test_after_a_flapping_store_recovers_nothing_is_stale_or_blamed(
    engine, store_sim, sim_catalog, rate, seed
):
    blamed, _ = await _flap(engine, store_sim, sim_catalog, rate=rate, seed=seed)
    store_sim.faults.clear()
    [ok] = await engine.sync_now("catalog")
    skus = list(sim_catalog.skus())
    stale = [s for s in skus if not in_store(store_sim, sim_catalog, s)]
    print(f"\n  flapping then back: {len(blamed)} were blamed; run {ok.status}; {len(stale)} stale")
    assert stale == [], stale[:5]
    assert await sku_errors(engine) == []
    assert kept(engine) == {}
    assert ok.status == "ok", ok.message


# -- a refused product that the ERP changes, deactivates, or makes invalid ------------------


async def test_a_refused_product_deactivated_then_a_full_run_zeroes_it(
    engine, store_sim, sim_catalog
):
    skus = list(sim_catalog.skus())
    await engine.sync_now("catalog")
    sku = skus[30]
    sim_catalog.set_stock(sku, 4040)
    store_sim.refused[sku] = "locked"
    await engine.sync_now("catalog")
    sim_catalog.deactivate(sku)
    del store_sim.refused[sku]
    [full] = await engine.sync_now("catalog", full=True)
    assert store_sim.products[sku]["stock"] == 0, full.message
    assert await sku_errors(engine) == [] and kept(engine) == {}


async def test_a_refused_product_whose_erp_row_turns_invalid(engine, store_sim, sim_catalog):
    skus = list(sim_catalog.skus())
    await engine.sync_now("catalog")
    sku = skus[30]
    sim_catalog.set_stock(sku, 4040)
    store_sim.refused[sku] = "locked"
    await engine.sync_now("catalog")
    sim_catalog.set_stock(sku, 1e13)  # beyond what Bridge takes
    del store_sim.refused[sku]
    [inc] = await engine.sync_now("catalog")
    errs = [e for e in await engine.open_errors() if str(e.subject) == f"sku:{sku}"]
    assert [e.code for e in errs] == ["erp_row_invalid"], inc.message
    assert store_sim.products[sku]["stock"] != 4040  # the refused figure is not the ERP's now
    assert sku not in kept(engine)
    # the ERP fixes it: pushed, nothing open
    sim_catalog.set_stock(sku, 4)
    [ok] = await engine.sync_now("catalog", full=True)
    assert store_sim.products[sku]["stock"] == 4, ok.message
    assert not [e for e in await engine.open_errors() if str(e.subject) == f"sku:{sku}"]


async def test_a_refused_product_changed_while_the_run_is_held_then_approved(
    engine, store_sim, sim_catalog
):
    skus = list(sim_catalog.skus())
    await engine.sync_now("catalog")
    sku = skus[30]
    sim_catalog.set_stock(sku, 4040)
    store_sim.refused[sku] = "locked"
    await engine.sync_now("catalog")
    # the ERP zeroes a third of the catalog (held) and changes the refused product
    for s in skus[60:100]:
        sim_catalog.set_stock(s, 0)
    sim_catalog.set_stock(sku, 3)
    del store_sim.refused[sku]
    [held] = await engine.sync_now("catalog")
    assert held.status == "held", held.message
    assert store_sim.products[sku]["stock"] != 4040  # nothing pushed while held
    assert sku in kept(engine)  # still refused: the held run offered nothing
    assert [str(e.subject) for e in await sku_errors(engine)] == [f"sku:{sku}"]
    summary = await engine.held_catalog()
    await engine.approve_catalog(summary.run_id)
    [after] = await engine.sync_now("catalog")
    assert store_sim.products[sku]["stock"] == 3, after.message
    assert await sku_errors(engine) == [] and kept(engine) == {}
    assert all(in_store(store_sim, sim_catalog, s) for s in skus)


async def test_a_refused_product_held_run_while_unchanged(engine, store_sim, sim_catalog):
    """A held run leaves the refusal open, and the next pushed run offers it."""
    skus = list(sim_catalog.skus())
    await engine.sync_now("catalog")
    sku = skus[30]
    sim_catalog.set_stock(sku, 4040)
    store_sim.refused[sku] = "locked"
    await engine.sync_now("catalog")
    for s in skus[60:100]:
        sim_catalog.set_stock(s, 0)
    [held] = await engine.sync_now("catalog")
    assert held.status == "held"
    for s in skus[60:100]:
        sim_catalog.set_stock(s, 5)  # the ERP was wrong; fixed
    del store_sim.refused[sku]
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok", ok.message
    assert store_sim.products[sku]["stock"] == 4040
    assert await sku_errors(engine) == []


# -- restart ---------------------------------------------------------------------------------


async def test_a_restarted_bridge_offers_the_refused_product_and_its_newer_figure(
    paths, erp_sim, store_sim, sim_catalog
):
    skus = list(sim_catalog.skus())
    first = make_engine(paths, erp_sim)
    await first.open()
    try:
        await first.sync_now("catalog")
        stale_everywhere(store_sim, sim_catalog)
        sku, other = skus[30], skus[90]  # in different batches
        sim_catalog.set_stock(sku, 4040)
        sim_catalog.set_stock(other, 4141)
        refuse(store_sim, sku, "html")
        store_sim.refused[other] = "locked"
        [run] = await first.sync_now("catalog")
        assert set(kept(first)) == {sku, other}, run.message
    finally:
        await first.stop()
        first.close()
    store_sim.faults.clear()
    store_sim.refused.clear()
    sim_catalog.set_stock(sku, 7)  # the ERP changed one of them meanwhile
    second = make_engine(paths, erp_sim)
    await second.open()
    try:
        assert {str(e.subject) for e in await sku_errors(second)} == {f"sku:{sku}", f"sku:{other}"}
        [after] = await second.sync_now("catalog")
        assert after.status == "ok", after.message
        assert store_sim.products[sku]["stock"] == 7
        assert store_sim.products[other]["stock"] == 4141
        assert await sku_errors(second) == [] and kept(second) == {}
    finally:
        await second.stop()
        second.close()


# -- the store as a whole on a half -----------------------------------------------------------


@pytest.mark.parametrize("status", [429, 401])
async def test_a_store_failing_as_a_whole_on_a_half_blames_no_one(
    serial_engine, store_sim, sim_catalog, status
):
    """The first batch holds a product the store chokes on; the half without it gets a
    failure of the store as a whole: the run stops, no product blamed."""
    engine = serial_engine
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = skus[2]
    refuse(store_sim, bad, "html")
    # matched faults win over scripted ones: the scripted go to the requests without `bad`
    store_sim.faults.script("PATCH", "stock-prices", *([status] * 10))
    [run] = await engine.sync_now("catalog")
    assert run.status == "failed", run.message
    assert await sku_errors(engine) == []
    assert kept(engine) == {}


async def test_a_dropped_connection_only_for_one_product(engine, store_sim, sim_catalog):
    """`reset`: the store drops the connection for every batch holding one product."""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = skus[45]
    refuse(store_sim, bad, "reset")
    [run] = await engine.sync_now("catalog")
    assert stale_others(store_sim, sim_catalog, skus, {bad}) == [], run.message
    assert [str(e.subject) for e in await sku_errors(engine)] == [f"sku:{bad}"]
    store_sim.faults.clear()
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok" and in_store(store_sim, sim_catalog, bad)
    assert await sku_errors(engine) == []


async def test_a_store_that_applies_then_drops_for_one_product(engine, store_sim, sim_catalog):
    """`drop_after`: the store applies each batch holding the product, then drops the
    connection. It shows the right figures; is the product blamed forever?"""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = skus[45]
    refuse(store_sim, bad, "drop_after")
    [run] = await engine.sync_now("catalog")
    assert all(in_store(store_sim, sim_catalog, s) for s in skus), run.message
    errs = await sku_errors(engine)
    print(f"\n  drop_after: run {run.status}; blamed {[str(e.subject) for e in errs]}")
    store_sim.faults.clear()
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok" and await sku_errors(engine) == []


async def test_a_stopped_run_keeps_the_refusal_open(engine, store_sim, sim_catalog):
    """A run stopped before it offered the refused product: the error stays open, the
    figures are kept; the next good run offers it."""
    skus = stale_everywhere(store_sim, sim_catalog)
    sku = skus[100]
    store_sim.refused[sku] = "locked"
    await engine.sync_now("catalog")
    assert sku in kept(engine)
    sim_catalog.mutate(0.5, seed=3)
    store_sim.faults.rates[401] = 1.0
    [stopped] = await engine.sync_now("catalog")
    assert stopped.status == "failed"
    assert [str(e.subject) for e in await sku_errors(engine)] == [f"sku:{sku}"]
    assert sku in kept(engine)
    store_sim.faults.clear()
    del store_sim.refused[sku]
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok", ok.message
    assert all(in_store(store_sim, sim_catalog, s) for s in skus)
    assert await sku_errors(engine) == [] and kept(engine) == {}


# -- concurrency and the budget ---------------------------------------------------------------


async def test_many_bad_batches_at_once_keep_the_request_budget(
    tmp_path, erp_sim, store_sim, sim_catalog
):
    """12 batches of 10, each with a product the store chokes on, 4 at a time. The commit
    says at most 64 extra requests a run; and the runs converge."""
    eng = make_engine(profile(tmp_path, erp_sim, store_sim, push_batch=10), erp_sim)
    await eng.open()
    try:
        skus = stale_everywhere(store_sim, sim_catalog)
        bad = set(skus[3::10])
        for s in bad:
            refuse(store_sim, s, "html")
        per_run = []
        statuses = []
        for _ in range(8):
            before = updates(store_sim)
            [run] = await eng.sync_now("catalog")
            per_run.append(updates(store_sim) - before)
            statuses.append(str(run.status))
            if run.status != "failed":
                break
        print(f"\n  12 bad batches: runs {statuses}, requests per run {per_run}")
        assert statuses[-1] == "partial", statuses
        assert stale_others(store_sim, sim_catalog, skus, bad) == []
        batches = len(skus) // 10
        # the batches and the budget's extra pushes, each retried when faulted
        assert per_run[0] <= (batches + ISOLATION_BUDGET) * FAST.transient_attempts, per_run
    finally:
        await eng.stop()
        eng.close()


async def test_known_chokers_cost_requests_each_run(engine, store_sim, sim_catalog):
    """Once found, products the store chokes on are offered alone each run: what does a
    quiet run (no ERP change) cost?"""
    skus = stale_everywhere(store_sim, sim_catalog)
    bad = set(skus[3::20])  # 6, one a batch
    for s in bad:
        refuse(store_sim, s, "html")
    for _ in range(10):
        [run] = await engine.sync_now("catalog")
        if run.status != "failed":
            break
    assert set(kept(engine)) == bad
    before = updates(store_sim)
    await engine.sync_now("catalog")
    spent = updates(store_sim) - before
    print(f"\n  {len(bad)} known chokers: a quiet run spends {spent} update requests")
    assert spent <= ISOLATION_BUDGET


async def test_two_changed_products_at_fault_after_a_restart(
    paths, erp_sim, store_sim, sim_catalog
):
    """Two products changed at once, one the store chokes on, one it refuses (a 2-row
    incremental batch): found, not the store's failure."""
    skus = list(sim_catalog.skus())
    eng = make_engine(paths, erp_sim)
    await eng.open()
    try:
        await eng.sync_now("catalog")
        sku, other = skus[30], skus[31]
        sim_catalog.set_stock(sku, 4040)
        sim_catalog.set_stock(other, 4141)
        refuse(store_sim, sku, "html")
        refuse(store_sim, other, 422)
        [run] = await eng.sync_now("catalog")
        assert set(kept(eng)) == {sku, other}, run.message
    finally:
        await eng.stop()
        eng.close()


# -- an ERP with incremental listings (NonSistemas): the refused figures staged again -----

# NonSistemas' fixtures (its simulator, catalog and store)
ns_catalog = test_nonsistemas.ns_catalog
ns_sim = test_nonsistemas.ns_sim
ns_store = test_nonsistemas.ns_store


@pytest.fixture
def ns_paths(tmp_path, ns_sim, ns_store) -> Paths:
    return ns_profile_paths(tmp_path, ns_sim, ns_store)


def ns_profile_paths(tmp_path, ns_sim, ns_store, **sync) -> Paths:
    """test_nonsistemas' profile, pushing in batches of BATCH unless told."""
    return test_nonsistemas.ns_profile(
        tmp_path,
        ns_store.base_url,
        ns_sim.base_url,
        ns_sim.username,
        **{"push_batch": BATCH, **sync},
    )


@pytest.fixture
async def ns_make(ns_paths, ns_sim):
    """Engines on one profile (a restart is a second one)."""
    made: list[Engine] = []

    async def make(paths: Paths | None = None) -> Engine:
        eng = await test_nonsistemas.open_ns_engine(paths or ns_paths, ns_sim)
        made.append(eng)
        return eng

    yield make
    for eng in made:
        try:
            await eng.stop()
        finally:
            eng.close()


async def _ns_refused(ns_make, ns_sim, ns_store, ns_catalog, index=30, stock=4040, paths=None):
    """A first run pushes everything; then one product changes and the store refuses it."""
    eng = await ns_make(paths)
    [first] = await eng.sync_now("catalog")
    assert first.status == "ok", first.message
    sku = list(ns_catalog.skus())[index]
    ns_sim.change(sku, stock=stock)
    ns_store.refused[sku] = "locked while it is edited"
    [run] = await eng.sync_now("catalog")
    assert run.status == "partial" and "changed since" in run.message, run.message
    assert kept(eng)[sku][0] == stock
    return eng, sku


async def test_incremental_a_refused_product_is_offered_again_and_taken(
    ns_make, ns_sim, ns_store, ns_catalog
):
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    ns_store.applied_patches.clear()
    [again] = await eng.sync_now("catalog")
    assert again.status == "partial", again.message
    assert [i["sku"] for b in ns_store.applied_patches for i in b] == []  # refused again
    del ns_store.refused[sku]
    [ok] = await eng.sync_now("catalog")
    assert ok.status == "ok", ok.message
    assert ns_store.products[sku]["stock"] == 4040
    assert await sku_errors(eng) == [] and kept(eng) == {}


async def test_incremental_a_refused_product_changed_in_the_erp_gets_the_new_figure(
    ns_make, ns_sim, ns_store, ns_catalog
):
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    ns_sim.change(sku, stock=6)
    [again] = await eng.sync_now("catalog")
    assert kept(eng)[sku][0] == 6, again.message
    del ns_store.refused[sku]
    [ok] = await eng.sync_now("catalog")
    assert ns_store.products[sku]["stock"] == 6, ok.message
    assert all(i["stock"] != 4040 for b in ns_store.applied_patches for i in b if i["sku"] == sku)


async def test_incremental_a_refused_product_whose_row_turns_invalid(
    ns_make, ns_sim, ns_store, ns_catalog
):
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    ns_sim.corrupt(sku, stock="n/a")
    del ns_store.refused[sku]
    [inc] = await eng.sync_now("catalog")
    errs = [e for e in await eng.open_errors() if str(e.subject) == f"sku:{sku}"]
    assert [e.code for e in errs] == ["erp_row_invalid"], (inc.message, errs)
    assert ns_store.products[sku]["stock"] != 4040
    assert sku not in kept(eng)
    # a later quiet run: the refused figure is not offered
    [quiet] = await eng.sync_now("catalog")
    assert ns_store.products[sku]["stock"] != 4040, quiet.message


async def test_incremental_restart_keeps_offering_the_refused_figure(
    ns_make, ns_sim, ns_store, ns_catalog
):
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    await eng.stop()
    eng.close()
    del ns_store.refused[sku]
    again = await ns_make()
    [run] = await again.sync_now("catalog")
    assert run.status == "ok", run.message
    assert ns_store.products[sku]["stock"] == 4040
    assert await sku_errors(again) == [] and kept(again) == {}


async def test_incremental_restart_then_erp_change_pushes_the_new_figure(
    ns_make, ns_sim, ns_store, ns_catalog
):
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    await eng.stop()
    eng.close()
    ns_sim.change(sku, stock=9)
    del ns_store.refused[sku]
    again = await ns_make()
    [run] = await again.sync_now("catalog")
    assert ns_store.products[sku]["stock"] == 9, run.message
    assert all(i["stock"] != 4040 for b in ns_store.applied_patches for i in b if i["sku"] == sku)


async def test_incremental_a_stopped_run_then_erp_change(ns_make, ns_sim, ns_store, ns_catalog):
    """The ERP changes the refused product; that run is stopped by the store (401) before
    it is offered; the next good run pushes the ERP's new figure, not the refused one."""
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    ns_sim.change(sku, stock=9)
    ns_sim.mutate(0.5, seed=4)
    ns_store.faults.rates[401] = 1.0
    [stopped] = await eng.sync_now("catalog")
    assert stopped.status == "failed"
    assert [str(e.subject) for e in await sku_errors(eng)] == [f"sku:{sku}"]
    ns_store.faults.clear()
    del ns_store.refused[sku]
    [ok] = await eng.sync_now("catalog")
    assert ok.status == "ok", ok.message
    assert ns_store.products[sku]["stock"] == 9
    assert all(i["stock"] != 4040 for b in ns_store.applied_patches for i in b if i["sku"] == sku)
    assert await sku_errors(eng) == [] and kept(eng) == {}


async def test_incremental_held_run_then_approved(ns_make, ns_sim, ns_store, ns_catalog):
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    skus = list(ns_catalog.skus())
    for s in skus[60:100]:
        ns_sim.change(s, stock=0)
    ns_sim.change(sku, stock=3)
    del ns_store.refused[sku]
    [held] = await eng.sync_now("catalog")
    assert held.status == "held", held.message
    assert sku in kept(eng) and [str(e.subject) for e in await sku_errors(eng)] == [f"sku:{sku}"]
    summary = await eng.held_catalog()
    await eng.approve_catalog(summary.run_id)
    [after] = await eng.sync_now("catalog")
    assert ns_store.products[sku]["stock"] == 3, after.message
    assert await sku_errors(eng) == [] and kept(eng) == {}


async def test_incremental_store_down_with_only_the_refused_product_due(
    ns_make, ns_sim, ns_store, ns_catalog
):
    """A quiet incremental run (nothing changed in the ERP) while the store is down: the only
    request is the refused product's; the run should say the store is down."""
    eng, _ = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    ns_store.faults.rates[503] = 1.0
    [down] = await eng.sync_now("catalog")
    print(
        f"\n  quiet run, store down: {down.status}; store ok={eng.status().live.connections['store'].ok}"
    )
    assert down.status == "failed", down.message
    assert eng.status().live.connections["store"].ok is False


async def test_a_blip_that_follows_the_search_blames_a_product_until_the_next_run(
    serial_engine, store_sim, sim_catalog
):
    """A known limit: the store fails a batch three times (a blip), then the blip goes on
    only for the requests that happen to hold one half, level after level (it answers a
    read meanwhile). A healthy product is blamed; the next run takes it and clears that."""
    engine = serial_engine
    skus = stale_everywhere(store_sim, sim_catalog)
    # batch 1 (3 tries), then at each level: the first half fails (3 tries), the second is
    # taken; 20 -> 10 -> 5 -> 2 -> 1
    plan = [503] * 3
    for _ in range(5):
        plan += [503] * 3 + [None]
    store_sim.faults.script("PATCH", "stock-prices", *plan)
    [run] = await engine.sync_now("catalog")
    blamed = [str(e.subject) for e in await sku_errors(engine)]
    print(f"\n  blip: run {run.status}; blamed {blamed}")
    assert len(blamed) <= 1, run.message
    [after] = await engine.sync_now("catalog")
    assert after.status == "ok", after.message
    assert await sku_errors(engine) == [] and kept(engine) == {}
    assert all(in_store(store_sim, sim_catalog, s) for s in skus)


async def test_bridge_stopped_while_a_batch_is_recorded_keeps_the_refusal(
    ns_make, ns_sim, ns_store, ns_catalog
):
    """Bridge is closed (the run cut short) while it records a batch the store took, before
    the refused product was offered: the refusal must survive, or an incremental ERP never
    lists the product again and its stock stays stale in the store with no error."""
    import asyncio
    import time as _time

    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog)
    # the refusal is old news: the ERP changed the product an hour ago (past the overlap),
    # so only Bridge's kept figures offer it again
    ns_sim.touch(sku, _time.time() - 3600)
    other = list(ns_catalog.skus())[80]
    ns_sim.change(other, stock=555)
    real_save = eng.state.pushed.save

    def slow_save(*a, **k):
        _time.sleep(1.0)
        return real_save(*a, **k)

    eng.state.pushed.save = slow_save
    eng.request_sync("catalog")
    for _ in range(100):
        if ns_store.products[other]["stock"] == 555:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # recording it now
    await eng.stop(grace_s=0.1)
    still_kept = kept(eng)
    errors_open = [e for e in eng.state.errors.open_rows() if e["code"] == "store_refused_row"]
    print(f"\n  cut while recording: kept {list(still_kept)}; open {len(errors_open)}")
    eng.close()
    del ns_store.refused[sku]
    again = await ns_make()
    [run] = await again.sync_now("catalog")
    [later] = await again.sync_now("catalog")
    print(f"  next runs: {later.message}; store shows {ns_store.products[sku]['stock']}")
    assert errors_open, "the refusal's error was resolved though the product was never offered"
    assert ns_store.products[sku]["stock"] == 4040, run.message


async def test_bridge_closed_during_a_large_push_keeps_the_refusal(
    tmp_path, ns_make, ns_sim, ns_store, ns_catalog
):
    """No patching: the merchant closes Bridge during a push of many batches (the run waits
    for a slot in its read-ahead when it is cut). The product the store refused an hour ago
    (stock now 0 in the ERP, 20 in the store) must still be offered afterwards."""
    import asyncio
    import time as _time

    paths = ns_profile_paths(tmp_path, ns_sim, ns_store, push_batch=5, push_concurrency=1)
    eng, sku = await _ns_refused(ns_make, ns_sim, ns_store, ns_catalog, stock=0, paths=paths)
    ns_sim.touch(sku, _time.time() - 3600)
    for n, s in enumerate(ns_catalog.skus()):
        if s != sku:
            ns_sim.change(s, stock=300 + n)
    ns_store.latency_s = 0.05
    eng.request_sync("catalog")
    await asyncio.sleep(0.4)  # a few batches in
    await eng.stop(grace_s=0.05)
    still_kept = kept(eng)
    open_ = [e for e in eng.state.errors.open_rows() if e["code"] == "store_refused_row"]
    print(f"\n  closed mid-push: kept {list(still_kept)}; open refusals {len(open_)}")
    eng.close()
    ns_store.latency_s = 0
    del ns_store.refused[sku]
    again = await ns_make(paths)
    await again.sync_now("catalog")
    [later] = await again.sync_now("catalog")
    print(f"  then: store shows {ns_store.products[sku]['stock']} (ERP 0)")
    assert ns_store.products[sku]["stock"] == 0, later.message


async def test_a_store_that_times_out_on_one_product_stops_the_run(
    tmp_path, erp_sim, store_sim, sim_catalog
):
    """A timeout is the store as a whole (not isolated): the run stops as before, nobody is
    blamed. (Consequence: that product holds back its batch and what follows, every run.)"""
    from bridge.config import load_config as _load

    paths = profile(tmp_path, erp_sim, store_sim, push_concurrency=1)
    text = paths.config_file.read_text()
    assert "[store]" in text
    head, rest = text.split("[store]\n", 1)
    section, sep, tail = rest.partition("\n[")
    section = "\n".join(ln for ln in section.split("\n") if not ln.startswith("timeout_s"))
    text = head + "[store]\ntimeout_s = 0.5\n" + section + sep + tail
    paths.config_file.write_text(text)
    assert _load(paths.config_file).store.timeout_s == 0.5
    eng = make_engine(paths, erp_sim)
    await eng.open()
    try:
        skus = stale_everywhere(store_sim, sim_catalog)
        store_sim.faults.hang_s = 1.0
        refuse(store_sim, skus[2], "timeout")
        before = updates(store_sim)
        [run] = await eng.sync_now("catalog")
        spent = updates(store_sim) - before
        behind = stale_others(store_sim, sim_catalog, skus, {skus[2]})
        print(
            f"\n  timeout on one product: run {run.status}, {spent} requests, {len(behind)} stale"
        )
        assert run.status == "failed", run.message
        assert await sku_errors(eng) == []
    finally:
        await eng.stop()
        eng.close()


async def test_a_store_with_a_smaller_batch_limit_and_a_refused_product(
    engine, store_sim, sim_catalog
):
    """413 to each batch (the store takes at most 9) and one product it refuses: found,
    everything else pushed."""
    skus = stale_everywhere(store_sim, sim_catalog)
    store_sim.max_batch = BATCH // 2 - 1
    bad = skus[47]
    store_sim.refused[bad] = "archived"
    for _ in range(3):
        [run] = await engine.sync_now("catalog")
        if run.status != "failed":
            break
    assert run.status == "partial", run.message
    assert stale_others(store_sim, sim_catalog, skus, {bad}) == []
    assert [str(e.subject) for e in await sku_errors(engine)] == [f"sku:{bad}"]

"""The catalog run's stages (bridge.catalog: stage -> guard -> push -> settle) one at a
time, against both simulators over loopback: each reads and writes only what it says."""

from __future__ import annotations

from bridge.catalog import Held, Pushed, Stopped
from bridge.errors import TransientError
from bridge.model import RunStatus


def pushed_items(store_sim):
    return [item for batch in store_sim.patches for item in batch]


async def test_the_stages_one_by_one_make_a_whole_run(engine, erp_sim, store_sim, sim_catalog):
    catalog, state = engine.catalog, engine.state
    n = len(sim_catalog)
    run = await catalog._begin("manual", full=False)
    # stage: the ERP's listing is read and staged; the store is not written to
    await catalog._stage(run)
    staged = await state.call(state.staging.stats, engine.config.sync.guard_price_factor)
    assert staged["changes"] == n and run.result.items_seen == n
    assert run.read_s is not None and store_sim.patches == []
    assert await state.call(state.runs.last, "catalog") is None  # still running
    # guard: a first run has nothing pushed to compare with
    assert await catalog._guard(run) is None
    # push: what was staged reaches the store and is recorded as pushed
    await catalog._push_staged(run)
    assert len(pushed_items(store_sim)) == n == run.result.items_ok
    assert (await state.call(state.pushed.counts))["skus"] == n
    # settle: the run's record, the same as a run in one go would leave
    result = await catalog._settle(run, Pushed())
    assert result.status is RunStatus.OK, result.message
    last = await state.call(state.runs.last, "catalog")
    assert (last["id"], last["status"], last["items_ok"]) == (run.run_id, "ok", n)
    store_sim.patches.clear()
    [again] = await engine.sync_now("catalog")
    assert again.items_ok == 0 and store_sim.patches == []  # nothing left unpushed


async def test_a_run_stopped_at_the_store_is_settled_failed_and_pushed_next_time(
    engine, erp_sim, store_sim, sim_catalog
):
    catalog, state = engine.catalog, engine.state
    run = await catalog._begin("manual", full=False)
    await catalog._stage(run)
    down = TransientError("the store is down", code="unavailable")
    result = await catalog._settle(run, Stopped("store", down))
    assert result.status is RunStatus.FAILED
    assert result.message.endswith("— stopped: the store is down")
    errors = await state.call(state.errors.recent)
    assert [(e["subject"], e["code"]) for e in errors] == [("store", "unavailable")]
    assert store_sim.patches == []
    [next_run] = await engine.sync_now("catalog")
    assert next_run.status == "ok" and next_run.items_ok == len(sim_catalog)
    assert await state.call(state.errors.recent) == []


async def test_a_held_run_is_settled_held_not_ok(engine, erp_sim, store_sim):
    catalog, state = engine.catalog, engine.state
    run = await catalog._begin("manual", full=False)
    await catalog._stage(run)
    result = await catalog._settle(run, Held("every product would go to 0"))
    assert result.status is RunStatus.HELD and store_sim.patches == []
    assert result.message.endswith("— HELD, nothing pushed: every product would go to 0")
    assert result.details["held"] == "every product would go to 0"
    assert await state.call(state.kv.get, "catalog_last_ok") is None  # not a good run
    last = await state.call(state.runs.last, "catalog")
    assert (last["id"], last["status"]) == (run.run_id, "held")

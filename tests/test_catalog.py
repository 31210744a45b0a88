"""Catalog ERP -> store over loopback against both simulators."""

from __future__ import annotations

import asyncio
import math

import msgspec
import pytest

from bridge.config import load_config, save_config
from bridge.errors import DataError
from tests.conftest import WRITE_ROUTE, docs_for, make_engine, write_profile


def expected_stock(catalog, sku):
    return max(0, math.floor(catalog.disponible(sku)))


def pushed_items(store_sim):
    return [item for batch in store_sim.patches for item in batch]


async def test_full_then_incremental_pushes_only_changes(engine, erp_sim, store_sim, sim_catalog):
    [first] = await engine.sync_now("catalog")
    assert first.status == "ok", first.message
    n = len(sim_catalog)
    assert first.items_seen == n
    # every product ends with the ERP's figures
    for sku in sim_catalog.skus():
        p = store_sim.products[sku]
        assert p["stock"] == expected_stock(sim_catalog, sku), sku
        price = sim_catalog.price(sku, "LISTA1")
        if price > 0:
            assert p["price"] == f"{price:.2f}", sku
    store_sim.patches.clear()
    [second] = await engine.sync_now("catalog")
    assert second.items_ok == 0 and store_sim.patches == []
    changed = sim_catalog.mutate(0.03, seed=11)
    assert changed
    [third] = await engine.sync_now("catalog")
    sent = {i["sku"] for i in pushed_items(store_sim)}
    assert sent == set(changed)
    assert third.items_ok == len(changed)
    # --full sends everything again
    store_sim.patches.clear()
    [full] = await engine.sync_now("catalog", full=True)
    assert len(pushed_items(store_sim)) == n and full.details["full"]


async def test_rows_priced_in_another_list_take_the_configured_lists_price(
    engine, erp_sim, store_sim, sim_catalog
):
    """A server that ignores `lista` prices each row in its default list; the configured
    list's price is then read from the row's `Precios`."""
    erp_sim.honour_lista = False
    for product in store_sim.products.values():
        product["price"] = "1.00"
    [result] = await engine.sync_now("catalog")
    assert result.status == "ok", result.message
    checked = 0
    for sku in sim_catalog.skus():
        price = sim_catalog.price(sku, "LISTA1")  # "MAYOR $", not the default LISTA0
        if price > 0:
            assert store_sim.products[sku]["price"] == f"{price:.2f}", sku
            checked += 1
    assert checked > len(sim_catalog) // 2


async def test_pagination_over_several_pages_in_batches(tmp_path, erp_sim, store_sim, sim_catalog):
    paths = write_profile(
        tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente, push_batch=50
    )
    cfg = load_config(paths.config_file)
    cfg.erp.page_size = 25  # type: ignore[attr-defined]
    save_config(cfg, paths.config_file)
    engine = make_engine(paths, erp_sim)
    try:
        [result] = await engine.sync_now("catalog")
    finally:
        await engine.stop()
        engine.close()
    pages = math.ceil(len(sim_catalog) / 25)
    gets = [r for r in erp_sim.requests if r.route == "consultastockyprecios"]
    assert len(gets) == pages
    # page numbers were followed, never the Siguiente URL's internal host
    assert sorted(int(r.path.split("page=")[1].split("&")[0]) for r in gets) == list(
        range(1, pages + 1)
    )
    assert all("stockcero=true" in r.path and "lista=LISTA1" in r.path for r in gets)
    assert result.items_seen == len(sim_catalog)
    assert all(len(b) <= 50 for b in store_sim.patches)
    assert len(store_sim.patches) == math.ceil(len(sim_catalog) / 50)


async def test_bad_rows_are_reported_and_the_rest_of_their_page_goes(
    engine, erp_sim, store_sim, sim_catalog
):
    """Values of the wrong type, and a row that is not an object at all (which sends its
    page through the generic decoder): each bad row is one clear error, every good row on
    the same page is pushed."""
    skus = list(sim_catalog.skus())
    bad = {skus[1]: {"Disponible": "doce"}, skus[2]: {"Precio": "1.234,50"}, skus[3]: None}
    render = sim_catalog.row

    def row(i, *args):  # the renderer's own arguments (price list, lists shown), as given
        out = render(i, *args)
        change = bad.get(sim_catalog.sku(i), {})
        if change is None:
            return "fila dañada"
        out.update(change)
        return out

    sim_catalog.row = row
    for product in store_sim.products.values():
        product["stock"] = -1  # so that every pushed row shows
    [result] = await engine.sync_now("catalog")
    assert result.status == "partial", result.message
    assert result.items_failed == 3
    errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
    assert "'Disponible' is 'doce', not a number" in errors[f"sku:{skus[1]}"]
    assert "price '1.234,50' is not a number" in errors[f"sku:{skus[2]}"]
    assert "without 'Articulo': 'fila dañada'" in errors["sku:?"]
    for sku in skus:
        expected = -1 if sku in bad else expected_stock(sim_catalog, sku)
        assert store_sim.products[sku]["stock"] == expected, sku


def poison(sim_catalog, bad):
    """Dragonfish's rows as the simulator renders them, with `bad` fields replaced."""
    render = sim_catalog.row

    def row(i, *args):
        out = render(i, *args)
        out.update(bad.get(sim_catalog.sku(i), {}))
        return out

    sim_catalog.row = row


async def test_out_of_range_numbers_are_one_rows_error_and_the_rest_goes(
    engine, erp_sim, store_sim, sim_catalog
):
    """Before: Disponible 1e19 (or 10**30) overflowed SQLite's integers while the run was
    staged, and Precio 1e30 or 1E+400 failed the rounding to cents (InvalidOperation): the
    whole run stopped and nothing was pushed."""
    skus = list(sim_catalog.skus())
    bad = {
        skus[1]: {"Disponible": 1e19},
        skus[2]: {"Precio": 1e30},
        skus[3]: {"Precio": msgspec.Raw(b"1E+400")},
        skus[4]: {"Disponible": 10**30},
        skus[5]: {"Disponible": msgspec.Raw(b"-1E+400")},
        skus[6]: {"Precio": -5.0},
        skus[7]: {"Disponible": "abc"},
    }
    poison(sim_catalog, bad)
    for product in store_sim.products.values():
        product["stock"] = -1  # so that every pushed row shows
    [result] = await engine.sync_now("catalog")
    assert result.status == "partial", result.message
    assert result.items_failed == len(bad)
    errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
    said = {
        skus[1]: "'Disponible' is 1E+19, beyond the ±1,000,000,000 units Bridge takes",
        skus[2]: "price is 1E+30, more than the 1,000,000,000,000 Bridge takes",
        skus[3]: "price is 1E+400, more than",
        skus[4]: "'Disponible' is 1000000000000000000000000000000, beyond",
        skus[5]: "'Disponible' is -1E+400, beyond",
        skus[6]: "negative price -5",
        skus[7]: "'Disponible' is 'abc', not a number",
    }
    for sku, text in said.items():
        assert errors[f"sku:{sku}"].startswith(f"SKU {sku}: "), errors[f"sku:{sku}"]
        assert text in errors[f"sku:{sku}"], errors[f"sku:{sku}"]
    for sku in skus:
        expected = -1 if sku in bad else expected_stock(sim_catalog, sku)
        assert store_sim.products[sku]["stock"] == expected, sku


async def test_repeated_skus_are_logged_by_name_a_few_times_per_run(
    engine, erp_sim, store_sim, sim_catalog
):
    """An ERP that lists 60 SKUs twice: ten events name one each, one says more followed,
    and the run's details count them all (before: one event per SKU, unbounded)."""
    render = sim_catalog.row
    half = len(sim_catalog) // 2
    sim_catalog.row = lambda i, *args: render(i % half, *args)
    events = []
    engine.events.subscribe(events.append)
    [result] = await engine.sync_now("catalog")
    assert result.details["repeated"] == half and result.items_seen == half
    named = [e for e in events if e.code == "sku_repeated"]
    assert len(named) == 10 and all(e.data["sku"] in e.message for e in named)
    [more] = [e for e in events if e.code == "skus_repeated"]
    assert "more SKUs than these 10 twice" in more.message
    assert len(events) < 20, [e.code for e in events]


async def test_invalid_rows_are_logged_by_name_a_few_times_per_run_and_all_listed(
    engine, erp_sim, store_sim, sim_catalog
):
    skus = list(sim_catalog.skus())[:40]
    poison(sim_catalog, {sku: {"Disponible": "abc"} for sku in skus})
    events = []
    engine.events.subscribe(events.append)
    [result] = await engine.sync_now("catalog")
    assert result.items_failed == 40
    assert len([e for e in events if e.code == "erp_row_invalid"]) == 10
    assert len([e for e in events if e.code == "erp_rows_invalid"]) == 1
    assert {f"sku:{sku}" for sku in skus} <= {e["subject"] for e in engine.state.errors.recent()}


async def test_negative_stock_goes_out_as_zero(engine, erp_sim, store_sim, sim_catalog):
    sku = next(s for s in sim_catalog.skus() if "!" in s)
    sim_catalog.set_stock(sku, 5)
    sim_catalog.add_comprometido(sku, 9)
    assert sim_catalog.disponible(sku) < 0
    [result] = await engine.sync_now("catalog")
    assert store_sim.products[sku]["stock"] == 0
    assert result.details["negative"] >= 1


async def test_unknown_skus_are_recorded_not_fatal(engine, erp_sim, store_sim, sim_catalog):
    gone = list(sim_catalog.skus())[:3]
    for sku in gone:
        del store_sim.products[sku]
    [result] = await engine.sync_now("catalog")
    assert result.status == "ok"
    assert result.details["unknown"] == 3
    assert engine.state.pushed.counts()["unknown_in_store"] == 3
    [err] = engine.state.errors.recent()
    assert err["code"] == "sku_unknown_in_store" and gone[0] in err["message"]
    # unchanged unknown SKUs are not sent again on the next incremental run
    store_sim.patches.clear()
    await engine.sync_now("catalog")
    assert pushed_items(store_sim) == []


@pytest.mark.parametrize("order_mode", ["operacion", "pedido"])
async def test_no_resurrected_stock_for_orders_not_yet_in_erp(
    engine, erp_sim, store_sim, sim_catalog, order_mode
):
    sku = next(s for s in sim_catalog.skus() if "!" in s)
    sim_catalog.set_stock(sku, 10)
    o = store_sim.add_order(items=[(sku, 4)])
    # the ERP refuses writes for now: the order is confirmed in the store, not in the ERP
    erp_sim.faults.script("POST", WRITE_ROUTE[order_mode], 409, 409, 409, 409, 409)
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state.value == "failed"
    assert erp_sim.orders == {}
    await engine.sync_now("catalog")
    assert store_sim.products[sku]["stock"] == expected_stock(sim_catalog, sku) - 4 == 6
    # once the order is in the ERP, its Disponible drops and the store figure holds
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state.value == "done"
    assert len(docs_for(erp_sim, o["number"])) == 1
    assert sim_catalog.disponible(sku) == 6
    await engine.sync_now("catalog")
    assert store_sim.products[sku]["stock"] == 6


async def test_erp_html_error_page_stops_run_with_clear_error(engine, erp_sim, store_sim):
    erp_sim.faults.script("GET", "consultastockyprecios", "html", "html", "html")
    [result] = await engine.sync_now("catalog")
    assert result.status == "failed"
    err = engine.state.errors.recent()[0]
    assert "HTML error page" in err["message"] and "Dragonfish" in err["message"]
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok" and engine.state.errors.recent() == []


async def test_erp_malformed_page_then_recovery(engine, erp_sim, store_sim, sim_catalog):
    erp_sim.faults.script("GET", "consultastockyprecios", "malformed", "malformed", "malformed")
    [result] = await engine.sync_now("catalog")
    assert result.status == "failed" and "malformed JSON" in result.message
    [ok] = await engine.sync_now("catalog")
    assert ok.items_seen == len(sim_catalog)


async def test_store_rejects_batch_nothing_lost(engine, erp_sim, store_sim, sim_catalog):
    """The store fails a batch through all its retries, then answers again: the batch goes
    in halves (tests/test_store_refusals.py has a store that stays down)."""
    store_sim.faults.script("PATCH", "stock-prices", 503, 503, 503)
    [result] = await engine.sync_now("catalog")
    assert result.status == "ok", result.message
    assert result.items_ok == len(sim_catalog) - result.details["unknown"]
    assert [len(b) for b in store_sim.applied_patches] == [60, 60]
    assert engine.state.errors.recent() == []


async def test_unknown_price_list_is_a_config_error(tmp_path, erp_sim, store_sim):
    paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente)
    cfg = load_config(paths.config_file)
    cfg.erp.lista = "NO EXISTE"  # type: ignore[attr-defined]
    save_config(cfg, paths.config_file)
    engine = make_engine(paths, erp_sim)
    try:
        [result] = await engine.sync_now("catalog")
    finally:
        await engine.stop()
        engine.close()
    assert result.status == "failed"
    assert "erp.lista" in result.message and "NO EXISTE" in result.message


async def test_vanished_skus_go_to_zero_but_mass_vanish_is_held(
    engine, erp_sim, store_sim, sim_catalog
):
    await engine.sync_now("catalog")
    # one product no longer listed by the ERP (deactivated): stock 0 in the store
    sku = next(s for s in sim_catalog.skus() if store_sim.products[s]["stock"] > 0)
    sim_catalog.deactivate(sku)
    [one] = await engine.sync_now("catalog")
    assert store_sim.products[sku]["stock"] == 0 and one.details["vanished"] == 1
    # the ERP answers "no results" by mistake: held, nothing is zeroed
    before = {k: dict(v) for k, v in store_sim.products.items()}
    erp_sim.faults.script("GET", "consultastockyprecios", 404)
    store_sim.patches.clear()
    [held] = await engine.sync_now("catalog")
    assert held.status == "held" and store_sim.patches == []
    assert store_sim.products == before
    [err] = [e for e in engine.state.errors.recent() if e["code"] == "catalog_held"]
    assert "would go to stock 0 or disappear" in err["message"]
    assert engine.status().state == "attention"
    # the ERP is fine again: the next run goes through and the hold is resolved
    [ok] = await engine.sync_now("catalog")
    assert ok.status == "ok" and store_sim.patches == []
    assert not [e for e in engine.state.errors.recent() if e["code"] == "catalog_held"]


async def test_price_jump_is_held_until_approved(engine, erp_sim, store_sim, sim_catalog):
    await engine.sync_now("catalog")
    priced = [s for s in sim_catalog.skus() if sim_catalog.price(s, "LISTA1") > 0]
    jumped = priced[: len(priced) // 5]
    for sku in jumped:  # someone typed prices in cents
        sim_catalog.set_price(sku, "LISTA1", sim_catalog.price(sku, "LISTA1") * 100)
    store_sim.patches.clear()
    [held] = await engine.sync_now("catalog")
    assert held.status == "held" and store_sim.patches == []
    assert "prices would change more than 3 times" in held.message
    [err] = [e for e in engine.state.errors.recent() if e["code"] == "catalog_held"]
    # what it would change, with examples, is kept for the merchant to look at
    summary = await engine.held_catalog()
    assert summary is not None and summary.price_jumps == len(jumped)
    assert summary.examples and all(c.sku in jumped for c in summary.examples)
    first = summary.examples[0]
    assert first.price_after == f"{sim_catalog.price(first.sku, 'LISTA1'):.2f}"
    assert f"bridge approve {summary.run_id}" in err["message"]
    # neither "retry all" (meant for orders) nor retrying it approves it: both check again
    await engine.retry_all()
    await engine.run_pipeline("catalog", "manual")  # anything it started has run
    assert [e["id"] for e in engine.state.errors.recent() if e["code"] == "catalog_held"] == [
        err["id"]
    ]
    assert await engine.retry_error(err["id"])
    await engine.run_pipeline("catalog", "manual")
    assert store_sim.patches == []
    # approving a run that is no longer the one held is refused
    summary = await engine.held_catalog()
    assert summary is not None
    with pytest.raises(DataError, match="not the one held now"):
        await engine.approve_catalog(summary.run_id - 1)
    # the merchant checks the examples and approves: read again and pushed
    await engine.approve_catalog(summary.run_id)
    await engine.run_pipeline("catalog", "manual")  # waits for the approved run
    sku = jumped[0]
    assert store_sim.products[sku]["price"] == f"{sim_catalog.price(sku, 'LISTA1'):.2f}"
    assert not [e for e in engine.state.errors.recent() if e["code"] == "catalog_held"]
    assert await engine.held_catalog() is None
    assert engine.state.kv.get("catalog_approved") is None


async def test_an_approval_does_not_cover_a_worse_run(engine, erp_sim, store_sim, sim_catalog):
    await engine.sync_now("catalog")
    priced = [s for s in sim_catalog.skus() if sim_catalog.price(s, "LISTA1") > 0]
    fifth = len(priced) // 5
    for sku in priced[:fifth]:
        sim_catalog.set_price(sku, "LISTA1", sim_catalog.price(sku, "LISTA1") * 100)
    [held] = await engine.sync_now("catalog")
    summary = await engine.held_catalog()
    assert held.status == "held" and summary is not None
    # between the approval and the push, the ERP gets worse: twice as many prices jump
    for sku in priced[fifth : 2 * fifth]:
        sim_catalog.set_price(sku, "LISTA1", sim_catalog.price(sku, "LISTA1") * 100)
    store_sim.patches.clear()
    await engine.approve_catalog(summary.run_id)
    [again] = await engine.sync_now("catalog")
    assert again.status == "held" and store_sim.patches == []
    [err] = [e for e in engine.state.errors.recent() if e["code"] == "catalog_held"]
    assert f"the approval of run {summary.run_id} did not cover" in err["message"]
    newer = await engine.held_catalog()
    assert newer is not None and newer.run_id > summary.run_id
    assert newer.price_jumps == 2 * fifth
    # the approval was spent: the next run holds again by itself
    [third] = await engine.sync_now("catalog")
    assert third.status == "held" and store_sim.patches == []


async def test_preview_counts_changes_without_writing(engine, erp_sim, store_sim, sim_catalog):
    skus = list(sim_catalog.skus())
    store_sim.products[skus[0]]["stock"] = 999
    del store_sim.products[skus[1]]
    preview = await engine.preview_catalog()
    assert preview["variants"] == len(sim_catalog)
    assert preview["unknown_in_store"] == 1
    assert preview["would_change"] >= 1
    assert store_sim.patches == [] and engine.state.pushed.counts()["skus"] == 0
    await engine.sync_now("catalog")
    after = await engine.preview_catalog()
    assert after["would_change"] == 0


async def test_prices_that_round_to_zero_hold_the_run_and_are_never_pushed(
    engine, erp_sim, store_sim, sim_catalog
):
    """An ERP price of 0.004 would reach the store as 0.00: the whole catalog free. The
    guard compares the rounded prices; one such price alone is left out, not pushed."""
    await engine.sync_now("catalog")
    priced = [
        s
        for s in sim_catalog.skus()
        if sim_catalog.price(s, "LISTA1") > 0 and s in store_sim.products
    ]
    original = {sku: sim_catalog.price(sku, "LISTA1") for sku in priced}
    for sku in priced:
        sim_catalog.set_price(sku, "LISTA1", 0.004)
    store_sim.patches.clear()
    [held] = await engine.sync_now("catalog")
    assert held.status == "held" and "fall to 0.00" in held.message, held.message
    assert store_sim.patches == []
    # the ERP is fixed but for one product: that one keeps its store price
    one = priced[0]
    old = store_sim.products[one]["price"]
    for sku in priced[1:]:
        sim_catalog.set_price(sku, "LISTA1", original[sku])
    [ok] = await engine.sync_now("catalog")
    assert ok.status in ("ok", "partial"), ok.message
    assert store_sim.products[one]["price"] == old != "0.00"
    assert all(p["price"] != "0.00" for p in store_sim.products.values())


async def test_a_zero_price_is_pushed_only_where_free_products_are_allowed(
    profile, erp_sim, store_sim, sim_catalog
):
    from bridge.config import load_config, save_config
    from tests.conftest import make_engine

    cfg = load_config(profile.config_file)
    cfg.sync.allow_zero_price = True
    save_config(cfg, profile.config_file)
    engine = make_engine(profile, erp_sim)
    try:
        await engine.sync_now("catalog")
        sku = next(
            s
            for s in sim_catalog.skus()
            if sim_catalog.price(s, "LISTA1") > 0 and s in store_sim.products
        )
        sim_catalog.set_price(sku, "LISTA1", 0.004)
        [result] = await engine.sync_now("catalog")
        assert result.status in ("ok", "partial"), result.message
        assert store_sim.products[sku]["price"] == "0.00"
    finally:
        await engine.stop()
        engine.close()


async def _held_then_approved_while_the_erp_fails(engine, erp_sim, store_sim, sim_catalog):
    await engine.sync_now("catalog")
    skus = [s for s in sim_catalog.skus() if store_sim.products[s]["stock"] > 0]
    first, second = skus[:30], skus[30:60]
    saved = {s: sim_catalog.disponible(s) for s in first + second}
    for sku in first:
        sim_catalog.set_stock(sku, 0)
    [held] = await engine.sync_now("catalog")
    summary = await engine.held_catalog()
    assert held.status == "held" and summary is not None
    erp_sim.faults.script("GET", "consultastockyprecios", *([500] * 100))
    await engine.approve_catalog(summary.run_id)
    while engine._tasks:  # the approved run (started by the approval) fails to read
        await asyncio.gather(*list(engine._tasks), return_exceptions=True)
    assert engine.state.runs.last("catalog")["status"] == "failed"
    assert engine.state.kv.get("catalog_approved") is not None  # not spent
    erp_sim.faults.clear()
    return first, second, saved


async def test_an_approval_covers_the_products_shown_not_others(
    engine, erp_sim, store_sim, sim_catalog
):
    first, second, saved = await _held_then_approved_while_the_erp_fails(
        engine, erp_sim, store_sim, sim_catalog
    )
    # meanwhile the ERP changes: the first 30 are back, another 30 read 0
    for sku in first:
        sim_catalog.set_stock(sku, saved[sku])
    for sku in second:
        sim_catalog.set_stock(sku, 0)
    [later] = await engine.sync_now("catalog")
    assert later.status == "held"
    assert not [s for s in second if store_sim.products[s]["stock"] == 0]


async def test_an_approval_lapses_with_new_settings_and_with_time(
    engine, erp_sim, store_sim, sim_catalog, monkeypatch
):
    from bridge import catalog

    await _held_then_approved_while_the_erp_fails(engine, erp_sim, store_sim, sim_catalog)
    assert engine.state.kv.get("catalog_approved") is not None
    await engine.apply_config(load_config(engine.paths.config_file))
    assert engine.state.kv.get("catalog_approved") is None
    # approved again, then not used for longer than an approval lasts
    summary = await engine.held_catalog()
    assert summary is not None
    await engine.state.call(catalog.approve_held, engine.state, summary.run_id)
    monkeypatch.setattr(catalog, "APPROVAL_TTL_S", 0.0)
    [later] = await engine.sync_now("catalog")
    assert later.status == "held" and engine.state.kv.get("catalog_approved") is None

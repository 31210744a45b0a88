"""Orders store -> ERP over loopback against both simulators."""

from __future__ import annotations

import asyncio
import time

from bridge.state import OrderState
from tests.conftest import make_engine


def variant_skus(erp_sim, n=3):
    return [s for s in erp_sim.catalog.skus() if "!" in s][:n]


def erp_orders_for(erp_sim, number):
    return [o for o in erp_sim.orders.values() if o.get("NroOPEcommerce") == number]


async def test_new_buyer_created_once_then_reused(engine, erp_sim, store_sim):
    buyer = store_sim.factory.buyers.by_condition("responsable_inscripto")[0]
    o1 = store_sim.add_order(buyer=buyer)
    o2 = store_sim.add_order(buyer=buyer)
    [result] = await engine.sync_now("orders")
    assert result.status == "ok", result.message
    assert result.items_ok == 2
    assert len(erp_sim.customers) == 1
    [customer] = erp_sim.customers.values()
    assert customer["Cuit"] == "".join(c for c in buyer["tax_id"] if c.isdigit())
    assert customer["SituacionFiscal"] == "1"
    for o in (o1, o2):
        [created] = erp_orders_for(erp_sim, o["number"])
        assert created["Cliente"] == customer["Codigo"]
        assert store_sim.orders[o["id"]]["erp_status"] == "sent"
        assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]
    # a later order of the same buyer: the id map answers, no lookup, no new customer
    lookups = erp_sim.count("cliente", "GET")
    store_sim.add_order(buyer=buyer)
    await engine.sync_now("orders")
    assert len(erp_sim.customers) == 1
    assert erp_sim.count("cliente", "GET") == lookups


async def test_existing_erp_customer_is_found_not_duplicated(engine, erp_sim, store_sim):
    buyer = store_sim.factory.buyers.by_condition("consumidor_final")[0]
    o = store_sim.add_order(buyer=buyer)
    # the buyer already exists in Dragonfish, entered by hand in the office
    import httpx

    async with httpx.AsyncClient(base_url=erp_sim.base_url, headers={
            "idCliente": erp_sim.cliente, "Authorization": erp_sim.token}) as c:
        r = await c.post("Cliente/", json={"Nombre": "A mano", "NroDocumento": buyer["tax_id"]
                                           .replace(".", "")})
        assert r.status_code == 201
        code = r.json()["Codigo"]
    await engine.sync_now("orders")
    assert len(erp_sim.customers) == 1
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Cliente"] == code


async def test_variants_and_price_list_by_name(engine, erp_sim, store_sim):
    skus = variant_skus(erp_sim, 2)
    o = store_sim.add_order(items=[{"sku": skus[0], "quantity": 2, "unit_price": "1000.00",
                                    "discount_pct": "10.00"}, (skus[1], 1)])
    await engine.sync_now("orders")
    [created] = erp_orders_for(erp_sim, o["number"])
    art, color, talle = skus[0].split("!")
    line = created["FacturaDetalle"][0]
    assert (line["Articulo"], line["Color"], line["Talle"]) == (art, color, talle)
    assert line["Cantidad"] == 2 and line["Precio"] == 900.0
    # "MAYOR $" was resolved by name to its code
    assert created["ListaDePrecios"] == "LISTA1"
    assert created["Motivo"] == "VENTA WEB"


async def test_conflict_four_times_then_success(profile, erp_sim, store_sim):
    from bridge.http import RetryPolicy

    engine = make_engine(profile, erp_sim, policy=RetryPolicy())  # vendor's 1 s spacing
    try:
        o = store_sim.add_order()
        erp_sim.faults.script("POST", "pedido", 409, 409, 409, 409)
        t0 = time.monotonic()
        [result] = await engine.sync_now("orders")
        elapsed = time.monotonic() - t0
        assert result.status == "ok", result.message
        assert erp_sim.count("pedido", "POST") == 5
        assert len(erp_orders_for(erp_sim, o["number"])) == 1
        assert elapsed >= 4.0  # four waits of 1 s between the five tries
    finally:
        await engine.stop()
        engine.close()


async def test_conflict_five_times_fails_then_retried_later(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    erp_sim.faults.script("POST", "pedido", 409, 409, 409, 409, 409)
    [result] = await engine.sync_now("orders")
    assert result.status in ("failed", "partial")
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    assert row.next_attempt_at and row.next_attempt_at > time.time()
    err = engine.state.errors()[0]
    assert err["subject"] == f"order:{o['id']}" and err["kind"] == "transient"
    assert "409" in err["message"]
    assert store_sim.orders[o["id"]]["erp_status"] == "pending"
    # not due yet: nothing sent
    await engine.sync_now("orders")
    assert erp_orders_for(erp_sim, o["number"]) == []
    # when due, it is retried (after a reconcile lookup) and goes through exactly once
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert engine.state.errors() == []


async def test_lost_reply_is_reconciled_not_resent(engine, erp_sim, store_sim):
    """The ERP creates the order but the connection drops before the reply."""
    o = store_sim.add_order()
    erp_sim.faults.script("POST", "pedido", "drop_after")
    await engine.sync_now("orders")
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    assert erp_sim.count("pedido", "POST") == 1
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert store_sim.orders[o["id"]]["erp_status"] == "sent"


def error_code(engine, oid):
    return engine.state._db.execute("SELECT error_code FROM outbox WHERE store_order_id = ?",
                                    (oid,)).fetchone()[0]


async def _settings(engine, profile, **changes):
    from bridge.config import load_config, save_config

    cfg = load_config(profile.config_file)
    for dotted, value in changes.items():
        section, name = dotted.split("__")
        setattr(getattr(cfg, section), name, value)
    save_config(cfg, profile.config_file)
    await engine.apply_config(load_config(profile.config_file))


async def test_unanswered_customer_creation_is_not_repeated_while_it_may_still_happen(
        engine, profile, erp_sim, store_sim):
    """Customers have no unique key in the ERP: a creation whose answer never came back
    (the ERP is slow, not dead) must not be sent again while the ERP may still do it."""
    await _settings(engine, profile, erp__timeout_s=0.3, sync__write_settle_s=30)
    erp_sim.faults.hang_s = 1.0
    erp_sim.faults.script("POST", "cliente", "timeout")
    o = store_sim.add_order()
    await engine.sync_now("orders")
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and error_code(engine, o["id"]) == "ambiguous_write"
    assert erp_sim.customers == {}  # the ERP is still at it
    # due again at once, while the ERP is still working: it waits, it does not create
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED
    assert error_code(engine, o["id"]) == "customer_unconfirmed"
    assert row.failure_kind == "transient"
    assert row.next_attempt_at is not None and row.next_attempt_at > time.time() + 20
    assert erp_sim.count("cliente", "POST") == 1
    [err] = engine.state.errors()
    assert "did not confirm creating customer" in err["message"]
    # the ERP finishes the first request; the next attempt finds the customer
    for _ in range(50):
        if erp_sim.customers:
            break
        await asyncio.sleep(0.05)
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 1 and len(erp_sim.customers) == 1
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Cliente"] == next(iter(erp_sim.customers.values()))["Codigo"]
    assert engine.state._db.execute("SELECT COUNT(*) FROM writes_in_doubt").fetchone()[0] == 0


async def test_customer_creation_lost_on_the_way_is_made_after_the_settle_window(
        engine, profile, erp_sim, store_sim):
    await _settings(engine, profile, sync__write_settle_s=0.4)
    erp_sim.faults.script("POST", "cliente", "reset")
    o = store_sim.add_order()
    await engine.sync_now("orders")
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")  # within the window: it waits
    assert error_code(engine, o["id"]) == "customer_unconfirmed"
    assert erp_sim.count("cliente", "POST") == 1
    await asyncio.sleep(0.45)
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")  # the ERP never got it: now it is created, once
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 2 and len(erp_sim.customers) == 1


async def test_customer_creation_the_erp_refused_is_retried_without_waiting(
        engine, profile, erp_sim, store_sim):
    await _settings(engine, profile, sync__write_settle_s=600)
    # five 409s: the ERP answered "busy" every time, so nothing was created
    erp_sim.faults.script("POST", "cliente", 409, 409, 409, 409, 409)
    o = store_sim.add_order()
    await engine.sync_now("orders")
    assert error_code(engine, o["id"]) == "conflict"
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert len(erp_sim.customers) == 1


async def test_duplicate_refusal_is_taken_as_already_sent(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    await engine.sync_now("orders")
    # the store lost our report and lists the order again; our state was lost too
    engine.state._db.execute("DELETE FROM outbox")
    store_sim.orders[o["id"]]["erp_status"] = "pending"
    [result] = await engine.sync_now("orders")
    assert result.status == "ok"
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    assert engine.state.get_order(o["id"]).state == OrderState.DONE


async def test_invalid_cuit_fails_with_a_clear_error_and_is_resent_when_fixed(
        engine, erp_sim, store_sim):
    o = store_sim.add_order(buyer__tax_id="30-71234567-2",
                            buyer__tax_condition="responsable_inscripto")
    [result] = await engine.sync_now("orders")
    assert result.items_failed == 1
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = engine.state.errors()
    assert "30-71234567-2" in err["message"] and "check digit" in err["message"]
    assert o["number"] in err["message"]
    assert erp_sim.customers == {} and erp_sim.orders == {}
    # the store was told, with the reason
    assert store_sim.orders[o["id"]]["erp_status"] == "failed"
    assert "check digit" in store_sim.orders[o["id"]]["erp_message"]
    # the merchant fixes the CUIT in the store, which lists the order again
    store_sim.requeue(o["id"], buyer__tax_id="33-69345023-9")
    await engine.sync_now("orders")
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert len(erp_orders_for(erp_sim, o["number"])) == 1


async def test_unknown_sku_in_order_shows_the_erps_message(engine, erp_sim, store_sim):
    o = store_sim.add_order(items=[("NOEXISTE!01!M", 1)])
    await engine.sync_now("orders")
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = engine.state.errors()
    assert "NOEXISTE" in err["message"]
    assert err["server_message"]


async def test_malformed_order_from_store_is_kept_and_reported(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    bad = dict(o, id="ord_bad1", number="VM-BAD1", items=[{"sku": "X", "quantity": 0}])
    store_sim.add_order(bad)
    [result] = await engine.sync_now("orders")
    assert result.items_ok == 1 and result.items_failed == 1
    row = engine.state.get_order("ord_bad1")
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    assert "quantity must be positive" in row.last_error


async def test_store_html_page_then_recovery(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    store_sim.faults.script("GET", "orders", "html", "html", "html")
    [result] = await engine.sync_now("orders")
    assert result.status == "failed"
    [err] = engine.state.errors()
    assert "HTML error page" in err["message"] and "502" in err["message"]
    assert engine.status()["state"] == "disconnected"
    await engine.sync_now("orders")
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert engine.state.errors() == []
    assert engine.status()["state"] == "idle"


async def test_store_malformed_json_then_recovery(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    store_sim.faults.script("GET", "orders", "malformed", "malformed", "malformed")
    [result] = await engine.sync_now("orders")
    assert result.status == "failed"
    assert "malformed JSON" in engine.state.errors()[0]["message"]
    await engine.sync_now("orders")
    assert engine.state.get_order(o["id"]).state == OrderState.DONE


async def test_erp_malformed_reply_to_order_is_reconciled(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    erp_sim.faults.script("POST", "pedido", "malformed")
    await engine.sync_now("orders")
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    # "malformed" answers without running the request: one order, created on the retry
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    assert engine.state.get_order(o["id"]).state == OrderState.DONE


async def test_report_lost_then_repeated_without_resending(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    store_sim.faults.script("POST", "erp-sync", 503, 503, 503)
    await engine.sync_now("orders")
    row = engine.state.get_order(o["id"])
    assert row.state == OrderState.SENT_TO_ERP
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.get_order(o["id"]).state == OrderState.DONE
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    assert erp_sim.count("pedido", "POST") == 1


async def test_expired_erp_token_is_a_clear_auth_error(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    erp_sim.expire_token()
    [result] = await engine.sync_now("orders")
    assert result.status == "failed"
    row = engine.state.get_order(o["id"])
    assert row.failure_kind == "auth"
    msgs = " ".join(e["message"] for e in engine.state.errors())
    assert "token" in msgs and "expired" in msgs
    assert erp_sim.token not in msgs
    assert engine.status()["state"] == "disconnected"

"""Orders store -> ERP over loopback against both simulators."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bridge.state import OrderState
from tests.conftest import WRITE_ROUTE, docs_for, make_engine

# tests about sending orders run in both order modes (erp.modo_pedidos)
both_modes = pytest.mark.parametrize("order_mode", ["operacion", "pedido"])


def variant_skus(erp_sim, n=3):
    return [s for s in erp_sim.catalog.skus() if "!" in s][:n]


def erp_orders_for(erp_sim, number):
    """The Pedidos in Dragonfish for a store order (made by an operation or marked in Obs)."""
    return docs_for(erp_sim, number)


def erp_client(erp_sim):
    """An HTTP client as somebody at the office would use Dragonfish's API by hand."""
    return httpx.AsyncClient(
        base_url=erp_sim.base_url,
        headers={"idCliente": erp_sim.cliente, "Authorization": erp_sim.token},
    )


def request_log(erp_sim):
    """The ERP's request sequence (for assertion messages)."""
    return [(r.method, r.path, r.status, r.fault) for r in erp_sim.requests]


@both_modes
async def test_new_buyer_created_once_then_reused(engine, erp_sim, store_sim):
    buyer = store_sim.factory.buyers.by_condition("responsable_inscripto")[0]
    o1 = store_sim.add_order(buyer=buyer)
    o2 = store_sim.add_order(buyer=buyer)
    [result] = await engine.sync_now("orders")
    assert result.status == "ok", result.message
    assert result.items_ok == 2
    assert len(erp_sim.customers) == 1
    [customer] = erp_sim.customers.values()
    assert customer["CUIT"] == "".join(c for c in buyer["tax_id"] if c.isdigit())
    assert customer["SituacionFiscal"] == 1  # Responsable Inscripto in this install
    for o in (o1, o2):
        [created] = erp_orders_for(erp_sim, o["number"])
        assert created["Cliente"] == customer["Codigo"]
        assert store_sim.orders[o["id"]]["erp_status"] == "sent"
        assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]
    # a later order of the same buyer: the id map answers, no lookup, no new customer
    lookups = erp_sim.count("cliente", "GET")
    o3 = store_sim.add_order(buyer=buyer)
    await engine.sync_now("orders")
    assert len(erp_sim.customers) == 1
    assert erp_sim.count("cliente", "GET") == lookups
    [created] = erp_orders_for(erp_sim, o3["number"])
    assert created["Cliente"] == customer["Codigo"]


async def test_existing_erp_customer_is_found_not_duplicated(engine, erp_sim, store_sim):
    buyer = store_sim.factory.buyers.by_condition("consumidor_final")[0]
    o = store_sim.add_order(buyer=buyer)
    # the buyer already exists in Dragonfish, entered by hand in the office (with a code
    # Dragonfish assigned, not the one Bridge would derive from the document)
    async with erp_client(erp_sim) as c:
        r = await c.post(
            "Cliente/", json={"Nombre": "A mano", "NroDocumento": buyer["tax_id"].replace(".", "")}
        )
        assert r.status_code == 201
        code = r.json()["Codigo"]
    await engine.sync_now("orders")
    assert len(erp_sim.customers) == 1
    assert erp_sim.count("cliente", "POST") == 1  # only the one made by hand
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Cliente"] == code


@both_modes
async def test_variants_and_price_list_by_name(engine, erp_sim, store_sim, order_mode):
    skus = variant_skus(erp_sim, 2)
    o = store_sim.add_order(
        items=[
            {"sku": skus[0], "quantity": 2, "unit_price": "1000.00", "discount_pct": "10.00"},
            (skus[1], 1),
        ]
    )
    await engine.sync_now("orders")
    [created] = erp_orders_for(erp_sim, o["number"])
    art, color, talle = skus[0].split("!")
    line = created["FacturaDetalle"][0]
    assert (line["Articulo"], line["Color"], line["Talle"]) == (art, color, talle)
    assert line["Cantidad"] == 2 and line["Precio"] == 900.0
    assert len(created["FacturaDetalle"]) == 2
    # "MAYOR $" was resolved by name to its code
    [customer] = erp_sim.customers.values()
    assert customer["ListaDePrecio"] == "LISTA1"
    if order_mode == "pedido":
        assert created["ListaDePrecios"] == "LISTA1"
        assert created["Motivo"] == "VENTA WEB"
    else:
        # the vendor's e-commerce path: one operation on the configured platform, whose
        # generated Pedido is the one above
        op = erp_sim.operation(o["number"])
        assert op is not None and op["Ecommerce"] == "VENTASXMAYOR"
        assert [c["Codigo"] for c in op["CompAfec"]] == [created["Codigo"]]
        op_line = op["PublicacionDetalle"][0]
        assert (op_line["Articulo"], op_line["Color"], op_line["Talle"]) == (art, color, talle)
        assert op_line["Cantidad"] == 2 and op_line["Precio"] == 900.0
        assert len(erp_sim.operations) == 1


@both_modes
async def test_conflict_four_times_then_success(profile, erp_sim, store_sim, order_mode):
    from bridge.http import RetryPolicy

    engine = make_engine(profile, erp_sim, policy=RetryPolicy())  # vendor's 1 s spacing
    try:
        o = store_sim.add_order()
        erp_sim.faults.script("POST", WRITE_ROUTE[order_mode], 409, 409, 409, 409)
        t0 = time.monotonic()
        [result] = await engine.sync_now("orders")
        elapsed = time.monotonic() - t0
        assert result.status == "ok", result.message
        assert erp_sim.count(WRITE_ROUTE[order_mode], "POST") == 5
        [created] = erp_orders_for(erp_sim, o["number"])
        assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]
        assert elapsed >= 4.0  # four waits of 1 s between the five tries
    finally:
        await engine.stop()
        engine.close()


@both_modes
async def test_conflict_five_times_fails_then_retried_later(engine, erp_sim, store_sim, order_mode):
    route = WRITE_ROUTE[order_mode]
    o = store_sim.add_order()
    erp_sim.faults.script("POST", route, 409, 409, 409, 409, 409)
    [result] = await engine.sync_now("orders")
    assert result.status in ("failed", "partial")
    assert erp_sim.count(route, "POST") == 5
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    assert row.next_attempt_at and row.next_attempt_at > time.time()
    err = engine.state.errors.recent()[0]
    assert err["subject"] == f"order:{o['id']}" and err["kind"] == "transient"
    assert "409" in err["message"]
    assert store_sim.orders[o["id"]]["erp_status"] == "pending"
    # not due yet: nothing sent
    await engine.sync_now("orders")
    assert erp_orders_for(erp_sim, o["number"]) == []
    assert erp_sim.count(route, "POST") == 5
    # when due, it is retried (after a reconcile lookup) and goes through exactly once
    lookups = erp_sim.count(route, "GET")
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert erp_sim.count(route, "GET") > lookups, request_log(erp_sim)
    assert erp_sim.count(route, "POST") == 6
    assert len(erp_orders_for(erp_sim, o["number"])) == 1
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert engine.state.errors.recent() == []


@both_modes
async def test_lost_reply_is_reconciled_not_resent(engine, erp_sim, store_sim, order_mode):
    """The ERP creates the order but the connection drops before the reply."""
    route = WRITE_ROUTE[order_mode]
    o = store_sim.add_order()
    erp_sim.faults.script("POST", route, "drop_after")
    await engine.sync_now("orders")
    [created] = erp_orders_for(erp_sim, o["number"])
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert erp_orders_for(erp_sim, o["number"]) == [created], request_log(erp_sim)
    assert erp_sim.count(route, "POST") == 1
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert store_sim.orders[o["id"]]["erp_status"] == "sent"
    # the store is told the document Dragonfish has (in operacion mode: the operation's Pedido)
    assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]


def error_code(engine, oid):
    return engine.state._db.execute(
        "SELECT error_code FROM outbox WHERE store_order_id = ?", (oid,)
    ).fetchone()[0]


async def _settings(engine, profile, **changes):
    from bridge.config import load_config, save_config

    cfg = load_config(profile.config_file)
    for dotted, value in changes.items():
        section, name = dotted.split("__")
        setattr(getattr(cfg, section), name, value)
    save_config(cfg, profile.config_file)
    await engine.apply_config(load_config(profile.config_file))


@both_modes
async def test_unanswered_order_write_is_not_repeated_while_it_may_still_happen(
    engine, profile, erp_sim, store_sim, order_mode
):
    """The ERP is slow, not dead: the order's write is still being saved when the client
    gives up. An attempt that is due meanwhile must not make a second document (the lookup
    before the resend cannot see a write the ERP has not finished), and once the ERP is
    done the order is reconciled to the one document it made."""
    route = WRITE_ROUTE[order_mode]
    await _settings(engine, profile, erp__timeout_s=0.3, sync__write_settle_s=30)
    erp_sim.faults.hang_s = 1.0
    erp_sim.faults.script("POST", route, "timeout")
    o = store_sim.add_order()
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and error_code(engine, o["id"]) == "ambiguous_write"
    assert erp_orders_for(erp_sim, o["number"]) == []  # the ERP is still at it
    # due again at once, while the ERP is still working on the first write
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    # the ERP finishes the first request
    await asyncio.sleep(1.0)
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert len(erp_orders_for(erp_sim, o["number"])) == 1, request_log(erp_sim)
    [created] = erp_orders_for(erp_sim, o["number"])
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]


async def test_unanswered_customer_creation_is_not_repeated_while_it_may_still_happen(
    engine, profile, erp_sim, store_sim
):
    """With codes Dragonfish assigns (erp.codigo_cliente = "auto") nothing in the ERP
    refuses a second customer with the same document: a creation whose answer never came
    back (the ERP is slow, not dead) must not be sent again while the ERP may still do it."""
    await _settings(
        engine, profile, erp__codigo_cliente="auto", erp__timeout_s=0.3, sync__write_settle_s=30
    )
    erp_sim.faults.hang_s = 1.0
    erp_sim.faults.script("POST", "cliente", "timeout")
    o = store_sim.add_order()
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and error_code(engine, o["id"]) == "ambiguous_write"
    assert erp_sim.customers == {}  # the ERP is still at it
    # due again at once, while the ERP is still working: it waits, it does not create
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED
    assert error_code(engine, o["id"]) == "customer_unconfirmed"
    assert row.failure_kind == "transient"
    assert row.next_attempt_at is not None and row.next_attempt_at > time.time() + 20
    assert erp_sim.count("cliente", "POST") == 1
    [err] = engine.state.errors.recent()
    assert "did not confirm creating customer" in err["message"]
    # the ERP finishes the first request; the next attempt finds the customer
    for _ in range(50):
        if erp_sim.customers:
            break
        await asyncio.sleep(0.05)
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 1 and len(erp_sim.customers) == 1
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Cliente"] == next(iter(erp_sim.customers.values()))["Codigo"]
    assert engine.state._db.execute("SELECT COUNT(*) FROM writes_in_doubt").fetchone()[0] == 0


async def test_unanswered_customer_creation_with_a_derived_code_is_settled_at_once(
    engine, profile, erp_sim, store_sim
):
    """With a code derived from the buyer's document (the default), Dragonfish itself
    refuses a second creation: the next attempt does not wait out sync.write_settle_s, and
    the buyer still ends up as one customer."""
    await _settings(engine, profile, erp__timeout_s=0.3, sync__write_settle_s=30)
    erp_sim.faults.hang_s = 1.0
    erp_sim.faults.script("POST", "cliente", "timeout")
    o = store_sim.add_order()
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and error_code(engine, o["id"]) == "ambiguous_write"
    assert erp_sim.customers == {}  # the ERP is still at it
    # due again at once, while the ERP is still working on the first request: no waiting
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE, request_log(erp_sim)
    assert len(erp_sim.customers) == 1
    [customer] = erp_sim.customers.values()
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Cliente"] == customer["Codigo"]
    # the first request ends too, after the client gave up: refused, still one customer
    await asyncio.sleep(1.0)
    assert erp_sim.count("cliente", "POST") == 2
    assert list(erp_sim.customers.values()) == [customer]
    assert engine.state.errors.recent() == []


async def test_customer_creation_reply_lost_with_a_derived_code_is_read_back(
    engine, profile, erp_sim, store_sim
):
    """Dragonfish creates the customer and the connection drops before the reply: Bridge
    reads the derived code back at once; the order goes through in the same run."""
    await _settings(engine, profile, sync__write_settle_s=30)
    erp_sim.faults.script("POST", "cliente", "drop_after")
    o = store_sim.add_order()
    [result] = await engine.sync_now("orders")
    assert result.status == "ok", result.message
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 1 and len(erp_sim.customers) == 1
    [customer] = erp_sim.customers.values()
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Cliente"] == customer["Codigo"]
    # read back by its code, not searched
    assert (
        [r.path for r in erp_sim.requests if r.method == "GET" and r.route == "cliente"][-1]
        .split("?")[0]
        .rstrip("/")
        .endswith(customer["Codigo"])
    )


async def test_customer_creation_lost_on_the_way_is_made_after_the_settle_window(
    engine, profile, erp_sim, store_sim
):
    await _settings(engine, profile, erp__codigo_cliente="auto", sync__write_settle_s=0.4)
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
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 2 and len(erp_sim.customers) == 1


async def test_customer_creation_lost_on_the_way_with_a_derived_code_is_made_at_once(
    engine, profile, erp_sim, store_sim
):
    await _settings(engine, profile, sync__write_settle_s=30)
    erp_sim.faults.script("POST", "cliente", "reset")
    o = store_sim.add_order()
    await engine.sync_now("orders")
    assert error_code(engine, o["id"]) == "ambiguous_write"
    assert erp_sim.customers == {}
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")  # no settle window to wait out
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 2 and len(erp_sim.customers) == 1


async def test_customer_creation_the_erp_refused_is_retried_without_waiting(
    engine, profile, erp_sim, store_sim
):
    # codes Dragonfish assigns: the protection against a second creation is Bridge's own
    await _settings(engine, profile, erp__codigo_cliente="auto", sync__write_settle_s=600)
    # five 409s: the ERP answered "busy" every time, so nothing was created
    erp_sim.faults.script("POST", "cliente", 409, 409, 409, 409, 409)
    o = store_sim.add_order()
    await engine.sync_now("orders")
    assert error_code(engine, o["id"]) == "conflict"
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert erp_sim.count("cliente", "POST") == 6 and len(erp_sim.customers) == 1


@pytest.mark.parametrize("order_mode", ["operacion"])  # only operations are unique in the ERP
async def test_duplicate_refusal_is_taken_as_already_sent(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    await engine.sync_now("orders")
    [created] = erp_orders_for(erp_sim, o["number"])
    # the store lost our report and lists the order again; our state was lost too
    engine.state._db.execute("DELETE FROM outbox")
    store_sim.orders[o["id"]]["erp_status"] = "pending"
    [result] = await engine.sync_now("orders")
    assert result.status == "ok", result.message
    # sent again (nothing told Bridge it was there), refused by Dragonfish as a duplicate
    assert erp_sim.count("operacionecommerce", "POST") == 2
    assert [
        r.status for r in erp_sim.requests if r.method == "POST" and r.route == "operacionecommerce"
    ] == [201, 400]
    assert erp_orders_for(erp_sim, o["number"]) == [created]
    assert len(erp_sim.operations) == 1
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]


async def wait_out_the_unanswered_send(engine, erp_sim, o):
    """Pedido mode: a send whose answer never came and that the lookup does not find may
    still be under way in Dragonfish, which would not refuse a second one: the order waits
    (order_unconfirmed) until sync.write_settle_s (0.5 s here) after the send, then goes."""
    posts = erp_sim.count("pedido", "POST")
    await engine.sync_now("orders")
    assert erp_sim.count("pedido", "POST") == posts
    assert error_code(engine, o["id"]) == "order_unconfirmed"
    await asyncio.sleep(0.6)
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")


@pytest.mark.parametrize("order_mode", ["pedido"])
@pytest.mark.parametrize("fault", ["drop_after", "reset"])
async def test_resend_looks_up_the_marked_pedido_exactly(engine, erp_sim, store_sim, fault):
    """Pedido mode (no key in the ERP): before a resend Bridge searches the Pedidos for the
    order's Obs marker and re-checks every hit exactly. Pedidos whose Obs only look alike
    (a longer number, the marker not at the start) are not this order."""
    o = store_sim.add_order()
    marker = f"VXM:{o['number']}"
    sku = variant_skus(erp_sim, 1)[0]
    art, color, talle = sku.split("!")
    async with erp_client(erp_sim) as c:
        r = await c.post("Cliente/", json={"Nombre": "Otro cliente"})
        assert r.status_code == 201
        other = r.json()["Codigo"]
        for obs in (f"{marker}7 | otro pedido", f"Reemplaza {marker} | a mano"):
            r = await c.post(
                "Pedido/",
                json={
                    "Cliente": other,
                    "Motivo": "VENTA WEB",
                    "Obs": obs,
                    "FacturaDetalle": [
                        {
                            "Articulo": art,
                            "Color": color,
                            "Talle": talle,
                            "Cantidad": 1,
                            "Precio": 10,
                        }
                    ],
                },
            )
            assert r.status_code == 201
    decoys = dict(erp_sim.orders)
    erp_sim.faults.script("POST", "pedido", fault)
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.FAILED
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    searches = erp_sim.count("pedido", "GET")
    if fault == "reset":
        await wait_out_the_unanswered_send(engine, erp_sim, o)
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    # looked up by its marker before anything was resent
    assert erp_sim.count("pedido", "GET") > searches
    assert any(
        r.method == "GET" and r.route == "pedido" and "query=VXM" in r.path
        for r in erp_sim.requests
    ), request_log(erp_sim)
    [created] = erp_orders_for(erp_sim, o["number"])
    assert created["Codigo"] not in decoys and created["Obs"].startswith(marker + " ")
    assert {k: v for k, v in erp_sim.orders.items() if k != created["Codigo"]} == decoys
    # found (the ERP had made it) or made now (it had not): one Pedido either way
    assert erp_sim.count("pedido", "POST") == 2 + (1 if fault == "drop_after" else 2)
    assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]


@both_modes
async def test_invalid_cuit_fails_with_a_clear_error_and_is_resent_when_fixed(
    engine, erp_sim, store_sim
):
    o = store_sim.add_order(
        buyer__tax_id="30-71234567-2", buyer__tax_condition="responsable_inscripto"
    )
    [result] = await engine.sync_now("orders")
    assert result.items_failed == 1
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = engine.state.errors.recent()
    assert "30-71234567-2" in err["message"] and "check digit" in err["message"]
    assert o["number"] in err["message"]
    assert erp_sim.customers == {} and erp_sim.orders == {} and erp_sim.operations == {}
    # the store was told, with the reason
    assert store_sim.orders[o["id"]]["erp_status"] == "failed"
    assert "check digit" in store_sim.orders[o["id"]]["erp_message"]
    # the merchant fixes the CUIT in the store, which lists the order again
    store_sim.requeue(o["id"], buyer__tax_id="33-69345023-9")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    [created] = erp_orders_for(erp_sim, o["number"])
    [customer] = erp_sim.customers.values()
    assert customer["CUIT"] == "33693450239" and created["Cliente"] == customer["Codigo"]


@both_modes
async def test_unknown_sku_in_order_shows_the_erps_message(engine, erp_sim, store_sim):
    o = store_sim.add_order(items=[("NOEXISTE!01!M", 1)])
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = engine.state.errors.recent()
    assert "NOEXISTE" in err["message"]
    assert err["server_message"]
    assert erp_sim.orders == {} and erp_sim.operations == {}


async def test_malformed_order_from_store_is_kept_and_reported(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    bad = dict(o, id="ord_bad1", number="VM-BAD1", items=[{"sku": "X", "quantity": 0}])
    store_sim.add_order(bad)
    [result] = await engine.sync_now("orders")
    assert result.items_ok == 1 and result.items_failed == 1
    row = engine.state.outbox.get("ord_bad1")
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    assert "quantity must be positive" in row.last_error


async def test_store_html_page_then_recovery(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    store_sim.faults.script("GET", "orders", "html", "html", "html")
    [result] = await engine.sync_now("orders")
    assert result.status == "failed"
    [err] = engine.state.errors.recent()
    assert "HTML error page" in err["message"] and "502" in err["message"]
    assert engine.status().state == "retrying"
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert engine.state.errors.recent() == []
    assert engine.status().state == "idle"


async def test_store_malformed_json_then_recovery(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    store_sim.faults.script("GET", "orders", "malformed", "malformed", "malformed")
    [result] = await engine.sync_now("orders")
    assert result.status == "failed"
    assert "malformed JSON" in engine.state.errors.recent()[0]["message"]
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE


@both_modes
async def test_erp_malformed_reply_to_order_is_reconciled(engine, erp_sim, store_sim, order_mode):
    route = WRITE_ROUTE[order_mode]
    o = store_sim.add_order()
    erp_sim.faults.script("POST", route, "malformed")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.FAILED
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    lookups = erp_sim.count(route, "GET")
    if order_mode == "pedido":
        await wait_out_the_unanswered_send(engine, erp_sim, o)
    await engine.sync_now("orders")
    # "malformed" answers without running the request: looked up, not found, created on the
    # retry; one order
    assert erp_sim.count(route, "GET") > lookups, request_log(erp_sim)
    assert erp_sim.count(route, "POST") == 2
    [created] = erp_orders_for(erp_sim, o["number"])
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]


@both_modes
async def test_report_lost_then_repeated_without_resending(engine, erp_sim, store_sim, order_mode):
    o = store_sim.add_order()
    store_sim.faults.script("POST", "erp-sync", 503, 503, 503)
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.SENT_TO_ERP
    [created] = erp_orders_for(erp_sim, o["number"])
    assert row.erp_reference == created["Codigo"]
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert erp_orders_for(erp_sim, o["number"]) == [created]
    assert erp_sim.count(WRITE_ROUTE[order_mode], "POST") == 1
    assert store_sim.orders[o["id"]]["erp_status"] == "sent"
    assert store_sim.orders[o["id"]]["erp_reference"] == created["Codigo"]


async def test_expired_erp_token_is_a_clear_auth_error(engine, erp_sim, store_sim):
    o = store_sim.add_order()
    erp_sim.expire_token()
    [result] = await engine.sync_now("orders")
    assert result.status == "failed"
    row = engine.state.outbox.get(o["id"])
    assert row.failure_kind == "auth"
    msgs = " ".join(e["message"] for e in engine.state.errors.recent())
    assert "token" in msgs and "expired" in msgs
    assert erp_sim.token not in msgs
    assert engine.status().state == "attention"

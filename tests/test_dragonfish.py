"""The Dragonfish connector against a Dragonfish that behaves like the spec (the simulator,
over loopback): price lists by Nombre, customers by exact CUIT/document, derived customer
codes, both order modes with lost replies, Autenticar, fiscal codes and calibration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.config import load_config
from bridge.errors import ConfigError, DataError, DuplicateError, OrderConfigError, TransientError
from bridge.fiscal import TaxCondition, make_cuit, parse_document
from bridge.model import Buyer, ValidBuyer
from bridge.registry import make_erp
from bridge.state import OrderState
from connectors.dragonfish.client import DragonfishClient
from connectors.dragonfish.config import DragonfishConfig
from sim.catalog import SimCatalog
from sim.dragonfish import DragonfishSimulator
from sim.jwt import dragonfish_token, password_hmac
from sim.store import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN, WRITE_ROUTE, docs_for, make_engine, write_profile

MODES = ("operacion", "pedido")


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path,
    *,
    mode: str = "operacion",
    erp: dict[str, Any] | None = None,
    sync: dict[str, Any] | None = None,
    **sim_kw: Any,
) -> AsyncIterator[Any]:
    """A Dragonfish simulator built with `sim_kw`, the store simulator, and an engine whose
    profile sets `erp`."""
    catalog = SimCatalog.generate(60, seed=11)
    sim = DragonfishSimulator(catalog=catalog, write_hold_s=0.0, **sim_kw)
    store = StoreSimulator(token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")), seed=3)
    await sim.start()
    await store.start()
    paths = write_profile(
        tmp_path,
        store.base_url,
        sim.base_url,
        sim.cliente,
        erp={"modo_pedidos": mode, **(erp or {})},
        **(sync or {}),
    )
    engine = make_engine(paths, sim)
    await engine.open()
    try:
        yield sim, store, engine
    finally:
        await engine.stop()
        engine.close()
        await store.stop()
        await sim.stop()


def client_for(sim: DragonfishSimulator, **cfg: Any) -> DragonfishClient:
    config = DragonfishConfig(
        endpoint=sim.base_url,
        cliente=sim.cliente,
        **{"lista": "MAYOR $", "motivo": "VENTA WEB", **cfg},
    )
    erp = make_erp(config, {"erp.token": sim.token}, FAST)
    assert isinstance(erp, DragonfishClient)
    return erp


async def raw_post(sim: DragonfishSimulator, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=sim.base_url,
        verify=False,
        headers={"idCliente": sim.cliente, "Authorization": sim.token},
    ) as c:
        if sim.require_autenticar:
            await c.post("Autenticar", json={"IdCliente": sim.cliente, "JWToken": sim.token})
        return await c.post(path, json=body)


def valid_buyer(tax_id: str, condition: str = "responsable_inscripto", **kw: Any) -> ValidBuyer:
    b = Buyer(
        id="cus_1",
        business_name=kw.pop("name", "Comprador SA"),
        tax_id=tax_id,
        tax_condition=condition,
        **kw,
    )
    return ValidBuyer(b, parse_document(tax_id), TaxCondition(condition))


# -- price list ---------------------------------------------------------------------------------
async def test_price_list_is_found_by_its_nombre_exactly() -> None:
    sim = DragonfishSimulator()
    await sim.start()
    try:
        for name in ("MAYOR $", "  mayor   $ ", "Mayor $"):
            erp = client_for(sim, lista=name)
            assert await erp.lista_code() == "LISTA1"  # not "MAYOR $ USD", which shares it
            await erp.aclose()
        erp = client_for(sim, lista="MAYOR")
        with pytest.raises(ConfigError) as exc:
            await erp.lista_code()
        # the merchant is told the real names
        assert exc.value.code == "price_list_unknown"
        assert "'MAYOR $'" in exc.value.message and "'MAYOR $ USD'" in exc.value.message
        await erp.aclose()
    finally:
        await sim.stop()


# -- customers ----------------------------------------------------------------------------------
async def test_a_company_already_in_dragonfish_is_found_by_its_cuit_only(tmp_path: Path) -> None:
    async with world(tmp_path) as (sim, store, engine):
        buyer = store.factory.buyers.by_condition("responsable_inscripto")[0]
        cuit = "".join(c for c in buyer["tax_id"] if c.isdigit())
        # entered by hand in the office: its own code, its CUIT, no e-mail, no NroDocumento
        r = await raw_post(
            sim,
            "Cliente/",
            {"Codigo": "EMP01", "Nombre": "A mano SRL", "Cuit": cuit, "SituacionFiscal": 1},
        )
        assert r.status_code == 201
        o = store.add_order(buyer={**buyer, "email": "otro@ejemplo.com.ar"})
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        assert list(sim.customers) == ["EMP01"]
        [doc] = docs_for(sim, o["number"])
        assert doc["Cliente"] == "EMP01"


async def test_like_search_false_positives_are_not_taken_for_the_buyer(tmp_path: Path) -> None:
    async with world(tmp_path) as (sim, store, engine):
        dni = "1234567"
        # a free-text search for 1234567 (LIKE) would find both; neither is this buyer
        for body in (
            {
                "Codigo": "X1",
                "Nombre": "Otro",
                "NroDocumento": "11234567",
                "TipoDocumento": "05",
                "SituacionFiscal": 3,
            },
            {
                "Codigo": "X2",
                "Nombre": "Otra SA",
                "Cuit": make_cuit("30", "71234567"),
                "SituacionFiscal": 1,
            },
        ):
            assert (await raw_post(sim, "Cliente/", body)).status_code == 201
        o = store.add_order(
            buyer__tax_id=dni, buyer__tax_condition="consumidor_final", buyer__email=""
        )
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        new = sim.customers[dni]  # created, with the DNI as its code
        assert new["NroDocumento"] == dni and new["TipoDocumento"] == "05"
        assert new["SituacionFiscal"] == 3  # Consumidor Final in Dragonfish's own table
        [doc] = docs_for(sim, o["number"])
        assert doc["Cliente"] == dni


async def test_unknown_code_answers_200_empty_and_is_not_a_customer() -> None:
    sim = DragonfishSimulator(unknown_code_answer="empty")
    await sim.start()
    erp = client_for(sim)
    try:
        async with httpx.AsyncClient(
            base_url=sim.base_url, headers={"idCliente": sim.cliente, "Authorization": sim.token}
        ) as c:
            r = await c.get("Cliente/28999111/")
        assert r.status_code == 200 and r.json() == {}
        assert await erp.read("Cliente/", "28999111") is None
        vb = valid_buyer("28999111", "consumidor_final")
        assert await erp.find_customer(vb) is None
        code = await erp.create_customer(vb)
        assert code == "28999111" and (await erp.read("Cliente/", code)) is not None
        assert await erp.find_customer(vb) == code
    finally:
        await erp.aclose()
        await sim.stop()


@pytest.mark.parametrize(
    ("scheme", "tax_id", "expected"),
    [
        ("dni", "20-17254359-7", "17254359"),
        ("dni", "30-71234567-1", "3071234567"),
        ("cuit10", "20-17254359-7", "2017254359"),
        ("dni", "17.254.359", "17254359"),
        ("auto", "20-17254359-7", None),
    ],
)
def test_customer_codes_derived_from_the_document(
    scheme: str, tax_id: str, expected: str | None
) -> None:
    config = DragonfishConfig(
        endpoint="http://x:1/api.Dragonfish/", cliente="C", codigo_cliente=scheme
    )
    doc = parse_document(tax_id)
    condition = "monotributo" if doc.kind == "CUIT" else "consumidor_final"
    erp = DragonfishClient(config, "t")
    assert erp.customer_key(valid_buyer(tax_id, condition)) == expected


async def test_a_customer_creation_whose_reply_was_lost_is_settled_by_reading_its_code(
    tmp_path: Path,
) -> None:
    """No waiting (write_settle_s is long here): the code was Bridge's choice, so reading
    it back says whether the creation landed, and a repeat is refused by Dragonfish."""
    async with world(tmp_path, sync={"write_settle_s": 600}) as (sim, store, engine):
        sim.faults.script("POST", "cliente", "drop_after")
        o = store.add_order()
        await engine.sync_now("orders")
        assert len(sim.customers) == 1
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        assert sim.count("cliente", "POST") == 1 and len(sim.customers) == 1
        [doc] = docs_for(sim, o["number"])
        assert doc["Cliente"] == next(iter(sim.customers))


async def test_a_code_taken_by_somebody_else_is_a_clear_data_error(tmp_path: Path) -> None:
    async with world(tmp_path) as (sim, store, engine):
        dni = "30111222"
        assert (
            await raw_post(
                sim, "Cliente/", {"Codigo": dni, "Nombre": "Proveedor Viejo", "SituacionFiscal": 3}
            )
        ).status_code == 201
        o = store.add_order(buyer__tax_id=dni, buyer__tax_condition="consumidor_final")
        other = store.add_order()
        await engine.sync_now("orders")
        row = engine.state.outbox.get(o["id"])
        assert row.state == OrderState.FAILED and row.failure_kind == "data"
        [err] = [e for e in engine.state.errors.recent() if e["subject"] == f"order:{o['id']}"]
        assert err["code"] == "customer_code_taken"
        assert "Proveedor Viejo" in err["message"] and "erp.codigo_cliente" in err["message"]
        assert engine.state.outbox.get(other["id"]).state == OrderState.DONE


async def test_template_customer_defaults_are_copied(tmp_path: Path) -> None:
    async with world(tmp_path, erp={"cliente_plantilla": "WEB"}) as (sim, store, engine):
        assert (
            await raw_post(
                sim,
                "Cliente/",
                {
                    "Codigo": "WEB",
                    "Nombre": "Plantilla web",
                    "SituacionFiscal": 3,
                    "CondicionDePago": "CTA30",
                    "Vendedor": "V01",
                },
            )
        ).status_code == 201
        store.add_order()
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        [made] = [c for code, c in sim.customers.items() if code != "WEB"]
        assert made["CondicionDePago"] == "CTA30" and made["Vendedor"] == "V01"


async def test_exento_code_comes_from_the_installs_own_table(tmp_path: Path) -> None:
    async with world(tmp_path) as (sim, store, engine):
        buyer = store.factory.buyers.by_condition("exento")[0]
        store.add_order(buyer=buyer)
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        [made] = sim.customers.values()
        assert made["SituacionFiscal"] == 4  # "Exento" in this install's SituacionFiscal


async def test_a_refused_fiscal_code_is_explained_and_only_that_order_waits() -> None:
    sim = DragonfishSimulator()
    await sim.start()
    erp = client_for(sim, situacion_fiscal={"responsable_inscripto": "9"})
    try:
        with pytest.raises(OrderConfigError) as exc:
            await erp.create_customer(valid_buyer(make_cuit("30", "71234567")))
        assert exc.value.code == "fiscal_code_refused"
        assert "9" in exc.value.message
        assert "erp.situacion_fiscal" in exc.value.message
        assert sim.customers == {}
    finally:
        await erp.aclose()
        await sim.stop()


# -- orders, both modes -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_a_lost_reply_ends_with_one_document(tmp_path: Path, mode: str) -> None:
    async with world(tmp_path, mode=mode) as (sim, store, engine):
        o = store.add_order()
        sim.faults.script("POST", WRITE_ROUTE[mode], "drop_after")
        await engine.sync_now("orders")
        assert len(docs_for(sim, o["number"])) == 1
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        [doc] = docs_for(sim, o["number"])
        assert sim.count(WRITE_ROUTE[mode], "POST") == 1
        assert store.orders[o["id"]]["erp_reference"] == doc["Codigo"]
        if mode == "operacion":
            assert len(sim.operations) == 1


async def test_operacion_a_second_send_is_refused_by_dragonfish_and_reconciled(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as (sim, store, engine):
        seen: list[str] = []
        engine.events.subscribe(lambda e: seen.append(e.code))
        o = store.add_order()
        await engine.sync_now("orders")
        [doc] = docs_for(sim, o["number"])
        # Bridge's state is lost (a restored backup) and the store lists it again
        engine.state._db.execute("DELETE FROM outbox")
        store.orders[o["id"]]["erp_status"] = "pending"
        await engine.sync_now("orders")
        assert sim.count("operacionecommerce", "POST") == 2  # refused the second time
        assert docs_for(sim, o["number"]) == [doc] and len(sim.operations) == 1
        assert store.orders[o["id"]]["erp_reference"] == doc["Codigo"]
        assert "order_reconciled" in seen


async def test_pedido_marker_is_exact(tmp_path: Path) -> None:
    """A Pedido for order 123 must not be taken for order 12 when 12 is reconciled."""
    async with world(tmp_path, mode="pedido") as (sim, store, engine):
        o12 = store.add_order(number="12")
        o123 = store.add_order(number="123")
        sim.faults.script("POST", "pedido", 503)  # 12 fails (not sent)
        await engine.sync_now("orders")
        assert docs_for(sim, "12") == [] and len(docs_for(sim, "123")) == 1
        # a 503 to a write may hide a Pedido being saved, and Dragonfish would not refuse a
        # second one: the lookup misses, so it waits out write_settle_s (0.5 s here)
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        await engine.sync_now("orders")
        assert docs_for(sim, "12") == []
        assert (
            engine.state._db.execute(
                "SELECT error_code FROM outbox WHERE store_order_id=?", (o12["id"],)
            ).fetchone()[0]
            == "order_unconfirmed"
        )
        await asyncio.sleep(0.6)
        engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
        await engine.sync_now("orders")
        assert len(docs_for(sim, "12")) == 1 and len(docs_for(sim, "123")) == 1
        assert store.orders[o12["id"]]["erp_reference"] != store.orders[o123["id"]]["erp_reference"]


async def test_pedido_refused_for_stock_names_the_sku_and_is_not_retried(tmp_path: Path) -> None:
    async with world(tmp_path, mode="pedido", refuse_without_stock=True) as (sim, store, engine):
        sku = next(s for s in sim.catalog.skus() if "!" in s)
        o = store.add_order(items=[(sku, 10**6)])
        await engine.sync_now("orders")
        row = engine.state.outbox.get(o["id"])
        assert row.state == OrderState.FAILED and row.failure_kind == "data"
        [err] = [e for e in engine.state.errors.recent() if e["subject"] == f"order:{o['id']}"]
        assert err["code"] == "out_of_stock" and sku in err["message"]
        assert sim.count("pedido", "POST") == 1
        await engine.sync_now("orders")
        assert sim.count("pedido", "POST") == 1


# -- session and token --------------------------------------------------------------------------
async def test_autenticar_after_a_401_once_per_session(tmp_path: Path) -> None:
    async with world(tmp_path, require_autenticar=True) as (sim, store, engine):
        store.add_order()
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        first = sim.count("autenticar", "POST")
        assert first >= 1
        sim.end_session()
        store.add_order()
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        assert sim.count("autenticar", "POST") == first + 1


async def test_autenticar_always_opens_the_session_first() -> None:
    sim = DragonfishSimulator(require_autenticar=True)
    await sim.start()
    erp = client_for(sim, autenticar="siempre")
    try:
        assert await erp.lista_code() == "LISTA1"
        assert sim.count("autenticar", "POST") == 1
        assert [r.status for r in sim.requests if r.route != "autenticar"] == [200]
    finally:
        await erp.aclose()
        await sim.stop()


async def test_token_exp_as_a_json_string_is_read() -> None:
    import time

    key = "k"
    token = dragonfish_token(
        "WEB", password_hmac("x", key), key, int(time.time()) + 400 * 86400, exp_as_string=True
    )
    sim = DragonfishSimulator(token=token)
    await sim.start()
    erp = client_for(sim)
    try:
        exp = erp.token_expiry()
        assert exp is not None and 399 < (exp - time.time()) / 86400 < 401
        checks = {c.name: c for c in await erp.checks()}
        assert checks["ERP token expiry"].ok is True
        assert "ERP token format" not in checks
    finally:
        await erp.aclose()
        await sim.stop()


# -- calibration --------------------------------------------------------------------------------
async def test_calibration_passes_on_a_valid_install() -> None:
    sim = DragonfishSimulator()
    await sim.start()
    erp = client_for(sim)
    try:
        findings = await erp.calibrate()
        errors = [f for f in findings if f.status == "error"]
        assert errors == []
        by = {f.subject: f for f in findings}
        assert by["swagger.json"].status == "ok"
        assert by["Cliente"].code == "entity_ok" and "Cliente.Cuit" not in by
        assert by["erp.lista"].status == "ok"
        assert by["erp.ecommerce"].status == "ok"
        assert by["erp.situacion_fiscal.responsable_inscripto"].code == "code_ok"
        assert by["erp.situacion_fiscal.exento"].code == "code_by_name"
    finally:
        await erp.aclose()
        await sim.stop()


async def test_calibration_names_each_wrong_setting() -> None:
    sim = DragonfishSimulator(swagger_omit=("Cliente.Cuit",))
    await sim.start()
    erp = client_for(
        sim,
        lista="MAYORISTA",
        ecommerce="TIENDA",
        situacion_fiscal={"consumidor_final": "5", "responsable_inscripto": "1"},
        tipo_documento={"DNI": "96"},
    )
    try:
        findings = await erp.calibrate()
        bad = {f.subject: f for f in findings if f.status == "error"}
        assert set(bad) == {
            "Cliente.Cuit",
            "erp.lista",
            "erp.ecommerce",
            "erp.situacion_fiscal.consumidor_final",
            "erp.tipo_documento.DNI",
        }
        assert all(f.blocks_writes for f in bad.values())
        assert bad["erp.situacion_fiscal.consumidor_final"].code == "code_means_other"
        assert dict(bad["erp.situacion_fiscal.consumidor_final"].params)["proposed"] == "3"
        assert bad["erp.tipo_documento.DNI"].code == "code_unknown"
        assert dict(bad["erp.tipo_documento.DNI"].params)["proposed"] == "05"
        assert "MAYOR $" in bad["erp.lista"].message
    finally:
        await erp.aclose()
        await sim.stop()


async def test_calibration_proposes_pedido_mode_without_operations() -> None:
    sim = DragonfishSimulator(swagger_omit=("Operacionecommerce",))
    await sim.start()
    erp = client_for(sim)
    try:
        by = {f.subject: f for f in await erp.calibrate()}
        assert by["erp.modo_pedidos"].code == "mode_unsupported"
        assert dict(by["erp.modo_pedidos"].params)["proposed"] == "pedido"
    finally:
        await erp.aclose()
        await sim.stop()


async def test_an_install_without_swagger_is_a_warning() -> None:
    sim = DragonfishSimulator(swagger=False)
    await sim.start()
    erp = client_for(sim)
    try:
        findings = await erp.calibrate()
        by = {f.subject: f for f in findings}
        assert by["swagger.json"].status == "warning"
        assert [f for f in findings if f.status == "error"] == []
    finally:
        await erp.aclose()
        await sim.stop()


async def test_a_blocking_mismatch_stops_writes_until_fixed(tmp_path: Path) -> None:
    async with world(tmp_path, swagger_omit=("Pedido.Obs",), mode="pedido") as (sim, store, engine):
        o = store.add_order()
        [orders, catalog] = await engine.sync_now("all")
        assert orders.status == "failed" and "Pedido.Obs" in orders.message
        assert catalog.status == "ok", catalog.message  # reads go on
        assert sim.count("pedido", "POST") == 0 and sim.count("cliente", "POST") == 0
        assert engine.state.outbox.get(o["id"]).state == OrderState.QUEUED
        [err] = [e for e in engine.state.errors.recent() if e["subject"] == "erp:calibration"]
        assert err["kind"] == "config" and "Pedido.Obs" in err["message"]
        saved = engine.last_calibration()
        assert saved is not None and any(f.subject == "Pedido.Obs" for f in saved[1])
        # fixed in Dragonfish; the merchant retries the error
        sim.describe(())
        assert await engine.retry_error(err["id"])
        [orders] = await engine.sync_now("orders")
        assert orders.status == "ok", orders.message
        assert len(docs_for(sim, o["number"])) == 1
        assert not [e for e in engine.state.errors.recent() if e["subject"] == "erp:calibration"]


async def test_doctor_prints_the_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.cli import cmd_doctor

    sim = DragonfishSimulator(swagger_omit=("Cliente.SituacionFiscal",))
    store = StoreSimulator(token=STORE_TOKEN)
    await sim.start()
    await store.start()
    try:
        paths = write_profile(tmp_path, store.base_url, sim.base_url, sim.cliente)
        monkeypatch.setenv("BRIDGE_SECRET_STORE_TOKEN", STORE_TOKEN)
        monkeypatch.setenv("BRIDGE_SECRET_ERP_TOKEN", sim.token)
        code = await cmd_doctor(load_config(paths.config_file), paths)
        out = capsys.readouterr().out
        assert code == 1
        assert "FAIL Cliente.SituacionFiscal" in out
        assert "OK   erp.lista: 'MAYOR $' = LISTA1" in out
    finally:
        await store.stop()
        await sim.stop()


def test_config_rejects_a_marker_without_the_number() -> None:
    from pydantic import ValidationError

    for bad in ("VXM:", "{numero}", "VXM {numero}", "VXM:{numero}{x}"):
        with pytest.raises(ValidationError):
            DragonfishConfig(endpoint="http://x:1/api.Dragonfish/", cliente="C", marcador_obs=bad)
    with pytest.raises(ValidationError):
        DragonfishConfig(
            endpoint="http://x:1/api.Dragonfish/", cliente="C", modo_pedidos="pedido"
        )  # a Pedido needs a Motivo


async def test_platform_unknown_is_a_config_error() -> None:
    sim = DragonfishSimulator()
    await sim.start()
    erp = client_for(sim, ecommerce="TIENDA")
    try:
        vb = valid_buyer(make_cuit("30", "71234567"))
        code = await erp.create_customer(vb)
        from decimal import Decimal

        from bridge.model import OrderItem, StoreOrder

        sku = next(s for s in sim.catalog.skus() if "!" in s)
        order = StoreOrder(
            "o1",
            "5001",
            "",
            vb.buyer,
            (OrderItem(sku, "x", 1, Decimal(10), Decimal(0), Decimal(10)),),
        )
        with pytest.raises(ConfigError) as exc:
            await erp.create_order(order, code, vb)
        assert exc.value.code == "platform_unknown" and "erp.ecommerce" in exc.value.message
        assert not isinstance(exc.value, DataError)
    finally:
        await erp.aclose()
        await sim.stop()


async def test_a_calibration_that_could_not_run_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bridge.engine.RECALIBRATE_S", 0.0)
    async with world(tmp_path, mode="pedido", swagger_omit=("Pedido.Obs",)) as (sim, store, engine):
        warnings: list[str] = []
        engine.events.subscribe(lambda e: warnings.append(e.code))
        sim.faults.script("GET", "listadeprecios", 503, 503, 503)  # the check cannot finish
        store.add_order()
        await engine.sync_now("orders")
        assert "calibration_failed" in warnings
        assert not [e for e in engine.state.errors.recent() if e["subject"] == "erp:calibration"]
        posts = sim.count("pedido", "POST")
        store.add_order()
        [orders] = await engine.sync_now("orders")  # asked again: now it answers
        assert orders.status == "failed" and "Pedido.Obs" in orders.message
        assert sim.count("pedido", "POST") == posts


# -- what an adversarial review found (each also follows the spec) --------------------------------
def test_the_marker_is_the_whole_first_field_of_obs() -> None:
    has = DragonfishClient.has_marker
    assert has("VXM:1001 | Pedido web 1001", "VXM:1001")
    assert has("VXM:1001", "VXM:1001") and has("vxm:1001  | x", "VXM:1001")
    for other in (
        "VXM:10011 | x",
        "VXM:1001.1 | x",
        "VXM:1001/2",
        "VXM:1001 B | x",
        "VXM:1001Ñ",
        "Reemplaza VXM:1001 | x",
    ):
        assert not has(other, "VXM:1001"), other


async def test_lookups_read_every_page_a_capped_server_gives_and_never_stop_silently() -> None:
    sim = DragonfishSimulator(max_limit=50)  # answers 50 rows whatever `limit` asks
    await sim.start()
    erp = client_for(sim)
    try:
        for i in range(120):
            assert (
                await raw_post(sim, "Cliente/", {"Nombre": f"Cliente {i}", "SituacionFiscal": 3})
            ).status_code == 201
        assert len([r async for r in erp.rows("Cliente/", {})]) == 120
        with pytest.raises(TransientError) as exc:
            _ = [r async for r in erp.rows("Cliente/", {}, pages=2)]
        assert exc.value.code == "lookup_incomplete"
    finally:
        await erp.aclose()
        await sim.stop()


def test_swagger_paths_with_the_base_path_and_allof_definitions() -> None:
    from connectors.dragonfish.calibration import Swagger

    doc = {
        "swagger": "2.0",
        "basePath": "/",
        "paths": {
            "/api.Dragonfish/Cliente/": {
                "post": {
                    "parameters": [
                        {"in": "body", "name": "e", "schema": {"$ref": "#/definitions/ClienteAlta"}}
                    ]
                }
            },
            "/api.dragonfish/pedido": {"get": {}},
        },
        "definitions": {
            "Base": {"properties": {"Codigo": {"type": "string"}}},
            "ClienteAlta": {
                "allOf": [
                    {"$ref": "#/definitions/Base"},
                    {"properties": {"CUIT": {"type": "string"}}},
                ]
            },
        },
    }
    sw = Swagger(doc, "http://h:8015/api.Dragonfish/")
    assert sw.has("Cliente") and sw.has("Pedido") and not sw.has("Operacionecommerce")
    assert set(sw.properties(sw.entity_definition("Cliente"))) == {"codigo", "cuit"}


def mock_client(handler: Any, **cfg: Any) -> DragonfishClient:
    config = DragonfishConfig(
        endpoint="http://df.test/api.Dragonfish/",
        cliente="C",
        **{"lista": "", "motivo": "VENTA WEB", **cfg},
    )
    http = httpx.AsyncClient(base_url=config.endpoint, transport=httpx.MockTransport(handler))
    return DragonfishClient(config, "t", FAST, client=http)


def sample_order(sku: str = "A1") -> Any:
    from decimal import Decimal

    from bridge.model import OrderItem, StoreOrder

    vb = valid_buyer(make_cuit("30", "71234567"))
    return StoreOrder(
        "o1",
        "VM-5001",
        "",
        vb.buyer,
        (OrderItem(sku, "x", 1, Decimal(10), Decimal(0), Decimal(10)),),
    ), vb


@pytest.mark.parametrize("status", [400, 409])
async def test_the_duplicate_operation_refusal_as_httpx_reads_it(status: int) -> None:
    """The reason phrase comes with its accents dropped by httpx ("operacin"); a 409 that
    says "ya existe" is a refusal, not Dragonfish being busy."""
    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request)
            phrase = "La combinación de plataforma y número de operación ya existe"
            return httpx.Response(status, extensions={"reason_phrase": phrase.encode()})
        return httpx.Response(404, extensions={"reason_phrase": b"No se encontraron"})

    erp = mock_client(handler)
    order, vb = sample_order()
    with pytest.raises(DuplicateError):
        await erp.create_order(order, "C1", vb)
    assert len(posts) == 1  # not retried as a conflict
    await erp.aclose()


async def test_operation_rows_without_a_code_are_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("Operacionecommerce/"):
            return httpx.Response(
                200,
                json={
                    "CountResultado": 1,
                    "Siguiente": None,
                    "TotalRegistros": "1",
                    "Resultados": [
                        {
                            "ecommerce": "ventasxmayor",
                            "NUMERO": "vm-5001",
                            "Compafec": [{"codigo": "P77", "TipoCompCaracter": "Pedido"}],
                        }
                    ],
                },
            )
        return httpx.Response(404, extensions={"reason_phrase": b"No se encontraron"})

    erp = mock_client(handler)
    order, _ = sample_order()
    assert await erp.find_order(order) == "P77"
    await erp.aclose()


async def test_operacion_mode_on_an_install_without_pedido() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "Pedido" in request.url.path:
            return httpx.Response(404, html="<html><body>Endpoint not found.</body></html>")
        return httpx.Response(404, extensions={"reason_phrase": b"No se encontraron"})

    erp = mock_client(handler)
    order, _ = sample_order()
    assert await erp.find_order(order) is None
    await erp.aclose()


async def test_a_dni_typed_with_dots_is_found() -> None:
    sim = DragonfishSimulator()
    await sim.start()
    erp = client_for(sim)
    try:
        assert (
            await raw_post(
                sim,
                "Cliente/",
                {
                    "Codigo": "OF1",
                    "Nombre": "De oficina",
                    "NroDocumento": "12.345.678",
                    "SituacionFiscal": 3,
                },
            )
        ).status_code == 201
        assert await erp.find_customer(valid_buyer("12345678", "consumidor_final")) == "OF1"
    finally:
        await erp.aclose()
        await sim.stop()


async def test_one_erp_document_is_never_the_reference_of_two_store_orders(tmp_path: Path) -> None:
    """Two store orders with the same number (different ids): the second one's lookup would
    find the first one's Pedido. It is stopped before that (number_taken), and should a
    lookup ever match another order's document, that is a data error too (reference_taken),
    never an IntegrityError; the rest flows."""
    async with world(tmp_path, mode="pedido") as (sim, store, engine):
        first = store.add_order(number="5001")
        await engine.sync_now("orders")
        twin = store.add_order(number="5001")
        other = store.add_order()
        await engine.sync_now("orders")
        assert engine.state.outbox.get(first["id"]).state == OrderState.DONE
        assert engine.state.outbox.get(other["id"]).state == OrderState.DONE
        row = engine.state.outbox.get(twin["id"])
        assert row.state == OrderState.FAILED and row.failure_kind == "data"
        [err] = [e for e in engine.state.errors.recent() if e["subject"] == f"order:{twin['id']}"]
        assert err["code"] == "number_taken" and first["id"] in err["message"]
        assert len(docs_for(sim, "5001")) == 1
        # the lookup's match of the first order's Pedido, recorded for the twin: refused
        ref = engine.state.outbox.get(first["id"]).erp_reference
        twin_order = engine.store.parse_order(row.payload)
        with pytest.raises(DataError, match="already the one of another store order") as info:
            await engine.orders._mark_sent(twin["id"], twin_order, ref, None)
        assert info.value.code == "reference_taken"


async def test_an_install_that_ignores_the_filters_is_searched_and_rechecked() -> None:
    """`?Cuit=` ignored: the install lists other customers; Bridge falls back to the
    free-text search, whose LIKE hits are re-checked exactly (30712345671 is not the
    buyer 20-71234567-?)."""
    buyer_cuit = make_cuit("20", "31234567")
    others = [
        {"Codigo": "X1", "CUIT": make_cuit("30", "71234567"), "Nombre": "Otra"},
        {"Codigo": "X2", "NroDocumento": "131234567", "Nombre": "Otro"},
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.query, "ascii"))
        q = request.url.params.get("query")
        rows = (
            others
            if q is None
            else [
                r
                for r in [*others, {"Codigo": "REAL", "CUIT": buyer_cuit, "Nombre": "El comprador"}]
                if q in str(r.get("CUIT", "")) + str(r.get("NroDocumento", ""))
            ]
        )
        if "Cliente/" in request.url.path and request.url.path.rstrip("/").endswith("Cliente"):
            return httpx.Response(
                200,
                json={
                    "CountResultado": len(rows),
                    "Siguiente": None,
                    "TotalRegistros": len(rows),
                    "Resultados": rows,
                },
            )
        return httpx.Response(200, json={})  # Cliente/{code}/: unknown

    erp = mock_client(handler)
    assert await erp.find_customer(valid_buyer(buyer_cuit, "monotributo")) == "REAL"
    assert any("query=" in q for q in seen)
    await erp.aclose()


async def test_honoured_filters_spare_the_free_text_search() -> None:
    sim = DragonfishSimulator()
    await sim.start()
    erp = client_for(sim)
    try:
        assert await erp.find_customer(valid_buyer(make_cuit("30", "71234567"))) is None
        searched = [r.path for r in sim.requests if r.route == "cliente"]
        assert not any(f"query={make_cuit('30', '71234567')}" in p for p in searched), searched
        assert any("Cuit=" in p for p in searched)
    finally:
        await erp.aclose()
        await sim.stop()


def test_setting_one_fiscal_code_keeps_the_verified_others() -> None:
    cfg = DragonfishConfig(
        endpoint="http://x:1/api.Dragonfish/",
        cliente="C",
        situacion_fiscal={"exento": "4"},
        tipo_documento={"cuit": "01"},
    )
    assert cfg.situacion_fiscal == {
        "responsable_inscripto": "1",
        "consumidor_final": "3",
        "monotributo": "7",
        "exento": "4",
    }
    assert cfg.tipo_documento == {"DNI": "05", "CUIT": "01"}


async def test_one_person_buying_with_dni_then_with_cuit_is_one_customer(tmp_path: Path) -> None:
    """The same person (DNI 17254359, later with their CUIT 20-17254359-7): one customer in
    Dragonfish, both orders sent — two store identities may map to one ERP customer."""
    async with world(tmp_path) as (sim, store, engine):
        first = store.add_order(buyer__tax_id="17254359", buyer__tax_condition="consumidor_final")
        await engine.sync_now("orders")
        second = store.add_order(buyer__tax_id="20-17254359-7", buyer__tax_condition="monotributo")
        [result] = await engine.sync_now("orders")
        assert result.status == "ok", result.message
        assert list(sim.customers) == ["17254359"]
        for o in (first, second):
            assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
            [doc] = docs_for(sim, o["number"])
            assert doc["Cliente"] == "17254359"

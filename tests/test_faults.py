"""Faults from every side while orders flow: the bridge keeps going, queues, resumes, and
loses nothing, sends nothing twice — in both Dragonfish order modes (`erp.modo_pedidos`:
`operacion`, where Dragonfish refuses a second operation for a store order, and `pedido`,
where only Bridge's Obs marker, looked up before any resend, keeps an order single).

Every scenario runs once per mode; the last test prints one table (fault, mode, orders,
faults injected, of them on customer/order writes, order writes beyond the minimum,
duplicates, lost). Duplicates count the Pedidos per store order (`docs_for`, either mode)
and the Cliente records per buyer document (no two with the same CUIT or NroDocumento)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from bridge.config import load_config, save_config
from connectors.simkit import FaultPlan
from tests.conftest import WRITE_ROUTE, docs_for, make_engine, write_profile

ORDERS = 30
MODES = ("operacion", "pedido")
# one row per scenario and mode, printed by test_zz_print_table
RESULTS: list[dict[str, Any]] = []

by_mode = pytest.mark.parametrize("order_mode", MODES)


async def drain(engine, store_sim, cycles: int = 60,
                between: Callable[[int], Awaitable[None]] | None = None) -> None:
    for i in range(cycles):
        if between is not None:
            await between(i)
        await engine.sync_now("orders")
        # what failed and waits for its backoff is due at once (time runs faster here)
        await engine.state.run(engine.state._db.execute,
                               "UPDATE outbox SET next_attempt_at = 0 WHERE state != 'done'")
        if not store_sim.pending_ids() and \
                engine.state.order_counts()["done"] == len(store_sim.orders):
            return
        # a customer creation left in doubt waits out sync.write_settle_s (0.5 s here) in
        # real time, however fast the cycles go
        await asyncio.sleep(0.02)


def ci(record: dict[str, Any], name: str) -> Any:
    """A field of a Dragonfish answer, whatever its casing (`CUIT`, `NroDocumento`)."""
    lower = name.lower()
    return next((v for k, v in record.items() if k.lower() == lower), None)


def digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


def customer_duplicates(customers: Iterable[dict[str, Any]]) -> list[str]:
    """Codes of Cliente records that repeat an earlier record's CUIT or NroDocumento."""
    seen: set[tuple[str, str]] = set()
    dups = []
    for c in customers:
        keys = {("CUIT", digits(ci(c, "Cuit"))), ("DOC", digits(ci(c, "NroDocumento")).lstrip("0"))}
        keys = {k for k in keys if k[1]}
        if keys & seen:
            dups.append(str(ci(c, "Codigo")))
        seen |= keys
    return dups


def order_documents(erp_sim, numbers: Iterable[str]) -> tuple[dict[str, list[str]], int]:
    """Pedido codes per store order number, and how many Pedidos belong to no store order."""
    docs = {n: [str(d["Codigo"]) for d in docs_for(erp_sim, n)] for n in numbers}
    strays = len(erp_sim.orders) - sum(len(v) for v in docs.values())
    return docs, strays


def write_faults(erp_sim, mode: str) -> int:
    """Faults injected on customer creations and order writes (the route of `mode`)."""
    writes = {"cliente", WRITE_ROUTE[mode]}
    return sum(1 for r in erp_sim.requests
               if r.fault is not None and r.method == "POST" and r.route in writes)


def check(name: str, mode: str, engine, erp_sim, store_sim, faults: int) -> None:
    expected = {o["number"] for o in store_sim.orders.values()}
    docs, strays = order_documents(erp_sim, expected)
    duplicates = sum(len(v) - 1 for v in docs.values() if len(v) > 1)
    lost = sorted(n for n, v in docs.items() if not v)
    unreported = sorted(o["number"] for o in store_sim.orders.values()
                        if o["erp_status"] != "sent")
    wrong_ref = sorted(o["number"] for o in store_sim.orders.values()
                       if o["erp_status"] == "sent" and o["erp_reference"] not in
                       docs.get(o["number"], []))
    dup_customers = customer_duplicates(erp_sim.customers.values())
    # minimum: one order write per store order (customers: one creation per new buyer)
    extra = erp_sim.count(WRITE_ROUTE[mode], "POST") - len(expected)
    RESULTS.append({"fault": name, "mode": mode, "orders": len(expected), "faults": faults,
                    "on_writes": write_faults(erp_sim, mode), "extra": max(0, extra),
                    "dups": duplicates + strays + len(dup_customers),
                    "lost": len(set(lost) | set(unreported))})
    assert duplicates == 0, (name, mode, {n: v for n, v in docs.items() if len(v) > 1})
    assert strays == 0, (name, mode, "Pedidos that belong to no store order", strays)
    assert dup_customers == [], (name, mode, "duplicate customers", dup_customers)
    assert not lost and not unreported, (name, mode, lost, unreported)
    assert wrong_ref == [], (name, mode, "store told another reference", wrong_ref)


@pytest.fixture
async def setup(tmp_path, erp_sim, store_sim, order_mode):
    engines = []

    async def make(erp: dict[str, Any] | None = None, **sync):
        paths = write_profile(tmp_path, store_sim.base_url, erp_sim.base_url, erp_sim.cliente,
                              erp={"modo_pedidos": order_mode, **(erp or {})},
                              retry_base_s=1, retry_max_s=2, **sync)
        engine = make_engine(paths, erp_sim)
        engines.append(engine)
        await engine.open()
        store_sim.add_orders(ORDERS)
        return engine, paths

    yield make
    for e in engines:
        await e.stop()
        e.close()


def injected(*sims) -> int:
    return sum(1 for sim in sims for r in sim.requests if r.fault is not None)


def script_writes(plan: FaultPlan, mode: str, kinds: list[Any], customers: int = 3,
                  orders: int = 4) -> None:
    """Make sure the row's faults hit customer creations and order writes (random rates
    alone may miss them): the first `customers` POST Cliente and the first `orders` order
    writes of the mode's route get the row's kinds, in turn."""
    if not kinds:
        return
    plan.script("POST", "cliente", *(kinds[i % len(kinds)] for i in range(customers)))
    plan.script("POST", WRITE_ROUTE[mode], *(kinds[i % len(kinds)] for i in range(orders)))


@by_mode
@pytest.mark.parametrize("name, erp_rates, store_rates", [
    ("409 conflicts", {409: 0.3}, {}),
    ("5xx errors", {500: 0.15, 503: 0.1}, {500: 0.15, 502: 0.1}),
    ("HTML error pages", {"html": 0.2}, {"html": 0.2}),
    ("malformed bodies", {"malformed": 0.15}, {"malformed": 0.15}),
    ("connection resets", {"reset": 0.2}, {"reset": 0.2}),
    ("replies lost after the write", {"drop_after": 0.25}, {"drop_after": 0.25}),
    ("429 rate limits", {}, {429: 0.3}),
])
async def test_random_faults(name, erp_rates, store_rates, order_mode, setup, erp_sim,
                             store_sim):
    # copies: the plans are cleared below, and the parameters serve both modes
    erp_sim.faults = FaultPlan(rates=dict(erp_rates), seed=7)
    script_writes(erp_sim.faults, order_mode, list(erp_rates))
    store_sim.faults = FaultPlan(rates=dict(store_rates), seed=8, retry_after_s=0)
    engine, _paths = await setup()
    await drain(engine, store_sim)
    erp_sim.faults.clear()
    store_sim.faults.clear()
    await drain(engine, store_sim)  # ends as soon as all is done
    check(name, order_mode, engine, erp_sim, store_sim, injected(erp_sim, store_sim))


async def _timeouts(setup, erp_sim, store_sim, mode: str, erp: dict[str, Any] | None,
                    rates: dict[Any, float], customer_faults: list[Any],
                    order_faults: list[Any], latency_s: float = 0.0) -> Any:
    # a hung request ends on the ERP's side ~0.5 s (plus the latency) after it was sent,
    # inside the 1 s settle window of a creation in doubt
    engine, paths = await setup(erp=erp, write_settle_s=1.0)
    cfg = load_config(paths.config_file)
    cfg.erp.timeout_s = 0.3
    save_config(cfg, paths.config_file)
    await engine.apply_config(load_config(paths.config_file))
    erp_sim.latency_s = latency_s  # slow, but in time
    # some answers come after the client gave up: the ERP did the work anyway
    erp_sim.faults = FaultPlan(rates=dict(rates), seed=3, hang_s=0.5)
    erp_sim.faults.script("POST", "cliente", *customer_faults)
    erp_sim.faults.script("POST", WRITE_ROUTE[mode], *order_faults)
    await drain(engine, store_sim)
    erp_sim.faults.clear()
    await asyncio.sleep(0.6)  # the hung requests finish on the ERP's side
    await drain(engine, store_sim)  # ends as soon as all is done
    return engine


@by_mode
async def test_timeouts_and_slow_answers(order_mode, setup, erp_sim, store_sim):
    engine = await _timeouts(setup, erp_sim, store_sim, order_mode, None,
                             {"timeout": 0.15}, ["timeout"] * 2, ["timeout"] * 2,
                             # every answer late but in time (20 ms: was 50 ms when only
                             # one mode ran; the row is the suite's slowest, in both modes)
                             latency_s=0.02)
    check("timeouts and slow answers", order_mode, engine, erp_sim, store_sim,
          injected(erp_sim))


@by_mode
async def test_order_write_answered_late(order_mode, setup, erp_sim, store_sim):
    """One order write the ERP answers 0.8 s late, after the client gave up (0.3 s): the
    lookup before a resend cannot see a write still in flight. In `operacion` mode
    Dragonfish refuses whichever operation comes second; in `pedido` mode nothing on its
    side does, so the resend must wait out the settle window (1.5 s here) as a customer
    creation in doubt does."""
    engine, paths = await setup(write_settle_s=1.5)
    cfg = load_config(paths.config_file)
    cfg.erp.timeout_s = 0.3
    save_config(cfg, paths.config_file)
    await engine.apply_config(load_config(paths.config_file))
    erp_sim.faults = FaultPlan(hang_s=0.8)
    erp_sim.faults.script("POST", WRITE_ROUTE[order_mode], "timeout")
    await drain(engine, store_sim)
    erp_sim.faults.clear()
    await asyncio.sleep(0.9)  # the hung write finishes on the ERP's side
    await drain(engine, store_sim)
    assert write_faults(erp_sim, order_mode) == 1
    check("an order write answered late", order_mode, engine, erp_sim, store_sim,
          injected(erp_sim))


@by_mode
async def test_auto_customer_codes_in_doubt(order_mode, setup, erp_sim, store_sim):
    """erp.codigo_cliente = "auto": Dragonfish assigns the codes, so nothing on its side
    refuses a second creation of a buyer; only the engine's "creation in doubt" window
    (sync.write_settle_s) stands between a lost reply and a duplicate customer."""
    lost = ["drop_after", "timeout", "drop_after", "timeout", "drop_after", "timeout",
            None, "drop_after", None, "timeout"]
    engine = await _timeouts(setup, erp_sim, store_sim, order_mode,
                             {"codigo_cliente": "auto"}, {}, lost, [])
    assert write_faults(erp_sim, order_mode) == 8
    assert all(len(str(ci(c, "Codigo"))) == 7 and str(ci(c, "Codigo")).startswith("C")
               for c in erp_sim.customers.values())  # codes Dragonfish assigned
    check("auto customer codes, replies lost", order_mode, engine, erp_sim, store_sim,
          injected(erp_sim))


@by_mode
async def test_token_expires_mid_run(order_mode, setup, erp_sim, store_sim):
    engine, paths = await setup()
    states: list[str] = []

    async def between(i: int) -> None:
        if i == 0:
            erp_sim.expire_token()
        if i == 2:
            # the merchant saves the new token
            engine.secrets.set_session("erp.token", erp_sim.renew_token())
            await engine.apply_config(load_config(paths.config_file))
        states.append(engine.status()["state"])

    await drain(engine, store_sim, between=between)
    assert "disconnected" in states[:3]
    check("token expired mid-run", order_mode, engine, erp_sim, store_sim, 1)


@by_mode
async def test_erp_and_store_down_for_a_while(order_mode, setup, erp_sim, store_sim):
    engine, _paths = await setup()
    erp_port, store_port = erp_sim.port, store_sim.port
    down_cycles = 0
    states: set[str] = set()

    async def between(i: int) -> None:
        nonlocal down_cycles
        if i == 0:
            await erp_sim.stop()
        if i == 3:
            await erp_sim.start(port=erp_port)
            await store_sim.stop()
        if i == 6:
            await store_sim.start(port=store_port)
        if i < 6:
            down_cycles += 1
        states.add(engine.status()["state"])

    await drain(engine, store_sim, between=between)
    assert down_cycles == 6 and "disconnected" in states
    check("ERP, then store, down (6 cycles)", order_mode, engine, erp_sim, store_sim,
          down_cycles)


@by_mode
async def test_sqlite_busy(order_mode, setup, erp_sim, store_sim):
    engine, paths = await setup()
    release = threading.Event()

    def hold_lock() -> None:
        db = sqlite3.connect(paths.db_file, timeout=30)
        db.execute("BEGIN EXCLUSIVE")
        release.wait(10)
        db.rollback()
        db.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    await asyncio.sleep(0.2)
    task = asyncio.ensure_future(engine.sync_now("orders"))
    await asyncio.sleep(1.5)  # the engine waits on the lock (busy_timeout), it does not fail
    release.set()
    holder.join()
    await task
    await drain(engine, store_sim)
    check("SQLite locked by another process", order_mode, engine, erp_sim, store_sim, 1)


def test_zz_print_table(capsys):
    if not RESULTS:
        pytest.skip("no fault scenario ran")
    # one table: the scenarios in the order they first ran, each mode under it
    first = {}
    for i, row in enumerate(RESULTS):
        first.setdefault(row["fault"], i)
    rows = sorted(RESULTS, key=lambda r: (first[r["fault"]], MODES.index(r["mode"])))
    modes = Counter(r["mode"] for r in RESULTS)
    with capsys.disabled():
        print(f"\n  {'fault':34} {'mode':>9} {'orders':>6} {'faults':>7} {'on writes':>9} "
              f"{'resends':>8} {'duplicates':>10} {'lost':>5}")
        for r in rows:
            print(f"  {r['fault']:34} {r['mode']:>9} {r['orders']:>6} {r['faults']:>7} "
                  f"{r['on_writes']:>9} {r['extra']:>8} {r['dups']:>10} {r['lost']:>5}")
        print("  rows per mode: " + ", ".join(f"{m} {modes[m]}" for m in MODES) +
              "  (on writes: faults on POST Cliente and the mode's order write; resends: "
              "order writes beyond one per order; duplicates: Pedidos and customers)")

"""Exactly once under crashes: 500 orders flow while the bridge process is killed with
SIGKILL at random moments (20+ times) and restarted, with the ERP and the store sometimes
applying a write but dropping the connection before the reply. Then: every order is in the
ERP exactly once, every order was reported to the store, every customer exists once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from connectors.dragonfish.simcatalog import SimCatalog
from connectors.dragonfish.simulator import DragonfishSimulator
from connectors.simkit import FaultPlan
from connectors.store.simulator import StoreSimulator
from tests.conftest import STORE_TOKEN, child_env, write_profile

ORDERS = 500
KILLS = 20


def digits(text: str) -> str:
    return "".join(c for c in str(text) if c.isdigit())


@pytest.mark.slow
def test_sigkill_storm_nothing_lost_nothing_twice(tmp_path, capsys):
    rng = random.Random(20261123)
    catalog = SimCatalog.generate(300, seed=11)
    # writes sometimes applied but their reply lost (the connection drops after the work)
    erp = DragonfishSimulator(catalog=catalog, latency_s=0.01, write_hold_s=0.0,
                              faults=FaultPlan(rates={"drop_after": 0.03}, seed=1))
    store = StoreSimulator(token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")),
                           faults=FaultPlan(rates={"drop_after": 0.03}, seed=2), seed=3)
    erp.start_in_thread()
    store.start_in_thread()
    try:
        store.call(lambda: store.add_orders(ORDERS))
        paths = write_profile(tmp_path, store.base_url, erp.base_url, erp.cliente,
                              orders_interval_s=1, catalog_interval_s=3600, retry_base_s=1,
                              retry_max_s=2)
        env = child_env(paths, erp)
        cmd = [sys.executable, "-m", "bridge", "run", "--headless"]
        kills = 0
        t0 = time.monotonic()
        while kills < KILLS:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.6, 2.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            kills += 1
        sent_during_storm = store.call(lambda: len(store.ids_with_status("sent")))
        # no more faults: let a last process finish the work
        erp.faults.clear()
        store.faults.clear()
        log = paths.log_dir / "bridge.log"
        starts = log.read_text(errors="replace").count("Bridge started") if log.exists() else 0
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 180
            # signals are handled once the engine runs
            while time.monotonic() < deadline and \
                    log.read_text(errors="replace").count("Bridge started") <= starts:
                time.sleep(0.1)
            while time.monotonic() < deadline:
                if store.call(lambda: len(store.pending_ids())) == 0:
                    break
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        elapsed = time.monotonic() - t0

        orders = erp.call(lambda: list(erp.orders.values()))
        by_number = Counter(o["NroOPEcommerce"] for o in orders)
        store_orders = store.call(lambda: {k: dict(v) for k, v in store.orders.items()})
        numbers = {o["number"] for o in store_orders.values()}
        duplicates = sum(n - 1 for n in by_number.values() if n > 1)
        lost = len(numbers - set(by_number))
        not_reported = [o["number"] for o in store_orders.values() if o["erp_status"] != "sent"]
        wrong_ref = [o["number"] for o in store_orders.values()
                     if o["erp_status"] == "sent" and
                     erp.call(lambda o=o: erp.order_by_external(o["number"]))["Codigo"]
                     != o["erp_reference"]]
        customers = erp.call(lambda: list(erp.customers.values()))
        docs = Counter(digits(c.get("Cuit") or c.get("NroDocumento")) for c in customers)
        dup_customers = sum(n - 1 for n in docs.values() if n > 1)
        drops = erp.call(lambda: sum(1 for r in erp.requests if r.fault == "drop_after")) + \
            store.call(lambda: sum(1 for r in store.requests if r.fault == "drop_after"))
        with capsys.disabled():
            print(f"\n  crash storm: {ORDERS} orders, {kills} SIGKILLs, {drops} replies dropped "
                  f"after the write was applied, {sent_during_storm} done during the storm, "
                  f"{elapsed:.0f} s")
            print(f"  {'orders':>8} {'in ERP':>8} {'duplicates':>11} {'lost':>6} "
                  f"{'unreported':>11} {'customers':>10} {'dup cust.':>10}")
            print(f"  {ORDERS:>8} {len(by_number):>8} {duplicates:>11} {lost:>6} "
                  f"{len(not_reported):>11} {len(customers):>10} {dup_customers:>10}")
        assert kills >= 20
        assert duplicates == 0, [n for n, c in by_number.items() if c > 1][:10]
        assert lost == 0
        assert not_reported == []
        assert wrong_ref == []
        assert dup_customers == 0
        assert len(by_number) == ORDERS
    finally:
        store.stop_thread()
        erp.stop_thread()

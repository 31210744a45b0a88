"""Benchmarks of the sync core against the simulators over loopback. Prints figures; asserts
nothing. Run:  .venv/bin/python -m bench.core [--variants 20000] [--orders 20]

The simulators run in threads of this process (their own event loop), so they share the
GIL with the engine: the figures include their cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bridge.config import load_config
from bridge.engine import Engine, create_engine
from bridge.http import RetryPolicy
from bridge.secrets import SecretStore
from sim.catalog import SimCatalog
from sim.dragonfish import DragonfishSimulator
from sim.store import StoreSimulator
from tests.conftest import STORE_TOKEN, write_profile


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_for(paths, erp) -> Engine:
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    secrets.set_session("erp.token", erp.token)
    return create_engine(load_config(paths.config_file), paths, secrets, policy=RetryPolicy())


async def catalog_bench(variants: int, latency: float) -> None:
    t = time.perf_counter()
    catalog = SimCatalog.generate(variants, seed=1)
    print(f"catalog of {len(catalog)} variants generated in {time.perf_counter() - t:.1f} s")
    erp = DragonfishSimulator(catalog=catalog, latency_s=latency)
    store = StoreSimulator(
        token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")), latency_s=latency
    )
    erp.start_in_thread()
    store.start_in_thread()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_profile(Path(tmp), store.base_url, erp.base_url, erp.cliente)
        engine = engine_for(paths, erp)
        try:
            for label, action in (
                ("full (first run)", None),
                ("incremental, nothing changed", None),
                ("incremental, 1% changed", 0.01),
            ):
                if action:
                    n = len(erp.call(lambda a=action: catalog.mutate(a, seed=2)))
                    print(f"  changed {n} variants in the ERP")
                e0 = erp.count("consultastockyprecios")
                s0 = store.count("stock-prices")
                t = time.perf_counter()
                [r] = await engine.sync_now("catalog")
                wall = time.perf_counter() - t
                print(
                    f"{label:32} {wall:6.2f} s  ERP GETs {erp.count('consultastockyprecios') - e0:4d}"
                    f"  store PATCHes {store.count('stock-prices') - s0:4d}  pushed "
                    f"{r.items_ok:6d}  status {r.status}"
                )
            print(f"peak RSS of the whole process (engine + simulators): {rss_mb():.0f} MB")
        finally:
            await engine.stop()
            engine.close()
            erp.stop_thread()
            store.stop_thread()


async def order_latency_bench(orders: int) -> None:
    catalog = SimCatalog.generate(500, seed=2)
    erp = DragonfishSimulator(catalog=catalog)
    store = StoreSimulator(token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")))
    erp.start_in_thread()
    store.start_in_thread()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_profile(
            Path(tmp),
            store.base_url,
            erp.base_url,
            erp.cliente,
            orders_interval_s=5,
            catalog_interval_s=300,
        )
        engine = engine_for(paths, erp)
        await engine.start()
        latencies: list[float] = []
        pending: dict[str, float] = {}

        async def watch() -> None:
            while True:
                await asyncio.sleep(0.02)
                ids = list(pending)
                done = store.call(
                    lambda ids=ids: [k for k in ids if store.orders[k]["erp_status"] == "sent"]
                )
                now = time.monotonic()
                for k in done:
                    latencies.append(now - pending.pop(k))

        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.sleep(1)
            for i in range(orders):
                o = store.call(lambda: store.add_order())
                pending[o["id"]] = time.monotonic()
                await asyncio.sleep(1.3 + (i % 3) * 0.4)
            for _ in range(150):  # up to 15 s for the last ones
                if not pending:
                    break
                await asyncio.sleep(0.1)
        finally:
            watcher.cancel()
            await engine.stop()
            engine.close()
            erp.stop_thread()
            store.stop_thread()
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(
        f"orders: {len(latencies)} of {orders} from confirmed in the store to reported sent "
        f"(measured to within 20 ms), orders_interval_s = 5: "
        f"p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s; "
        f"ERP orders created {len(erp.orders)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=20000)
    ap.add_argument("--latency", type=float, default=0.0, help="injected per-request latency, s")
    ap.add_argument("--orders", type=int, default=20)
    args = ap.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}"
    )
    asyncio.run(catalog_bench(args.variants, args.latency))
    if args.orders:
        asyncio.run(order_latency_bench(args.orders))


if __name__ == "__main__":
    main()

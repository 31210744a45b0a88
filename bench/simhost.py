"""Both simulators in a process of their own (so that their CPU does not count against the
process being measured). Prints one JSON line with their URLs and tokens, then serves
until killed.

    .venv/bin/python -m bench.simhost --variants 20000 [--latency 0.02] [--orders-every 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from sim.catalog import SimCatalog
from sim.dragonfish import DragonfishSimulator
from sim.store import StoreSimulator

STORE_TOKEN = "bench-store-token"


async def serve(args: argparse.Namespace) -> None:
    catalog = SimCatalog.generate(args.variants, seed=1)
    erp = DragonfishSimulator(catalog=catalog, latency_s=args.latency)
    store = StoreSimulator(
        token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")), latency_s=args.latency
    )
    await erp.start()
    await store.start()
    if args.orders_every:
        store.start_generator(args.orders_every)
    print(
        json.dumps(
            {
                "erp_url": erp.base_url,
                "store_url": store.base_url,
                "cliente": erp.cliente,
                "erp_token": erp.token,
                "store_token": STORE_TOKEN,
                "variants": len(catalog),
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    changes = [0]

    def mutate() -> None:
        changes[0] += 1
        changed = catalog.mutate(0.01, seed=changes[0])
        print(json.dumps({"mutated": len(changed)}), flush=True)

    # SIGUSR1: 1% of the variants change in the ERP (the incremental scenario)
    loop.add_signal_handler(signal.SIGUSR1, mutate)
    await stop.wait()
    store.stop_generator()
    await store.stop()
    await erp.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--orders-every", type=float, default=0.0)
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()

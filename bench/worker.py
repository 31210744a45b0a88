"""One measured run in a process of its own (so its RSS is the bridge's alone). Prints one
JSON line. Used by `python -m bench`; secrets come from BRIDGE_SECRET_* variables.

    python -m bench.worker catalog --config C --data-dir D [--full]
    python -m bench.worker naive --config C --data-dir D
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path

from bridge.config import Paths, load_config
from bridge.engine import Engine, create_engine
from bridge.http import RetryPolicy
from bridge.model import CatalogItem, StockPrice
from bridge.secrets import SecretStore


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def catalog(engine: Engine, full: bool) -> dict[str, object]:
    await engine.open()
    assert engine.catalog is not None
    erp, store = engine.catalog.erp, engine.catalog.store
    base = rss_mb()
    e0, s0 = erp.requests, store.requests
    t = time.perf_counter()
    result = await engine.run_pipeline("catalog", "manual", full=full)
    wall = time.perf_counter() - t
    return {
        "wall_s": wall,
        "erp_requests": erp.requests - e0,
        "store_requests": store.requests - s0,
        "pushed": result.items_ok,
        "seen": result.items_seen,
        "status": result.status,
        "rss_base_mb": base,
        "read_s": result.details.get("read_s"),
        "rss_peak_mb": peak_mb(),
    }


async def naive(engine: Engine) -> dict[str, object]:
    """What a simple integration does: pages one after the other, one update per SKU."""
    await engine.open()
    assert engine.catalog is not None
    erp, store = engine.catalog.erp, engine.catalog.store
    erp.config.concurrency = 1  # type: ignore[attr-defined]
    t = time.perf_counter()
    pushed = 0
    async for page in erp.catalog():
        for item in page:
            if isinstance(item, CatalogItem):
                stock = max(0, int(item.available))
                price = f"{item.price:.2f}" if item.price else None
                await store.push_stock_prices([StockPrice(item.sku, stock, price)])
                pushed += 1
    return {
        "wall_s": time.perf_counter() - t,
        "erp_requests": erp.requests,
        "store_requests": store.requests,
        "pushed": pushed,
    }


def main() -> None:
    import connectors

    connectors.register()  # as the program's entry point does
    from bridge.memory import tune_allocator

    tune_allocator()  # as `bridge` does at start
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["catalog", "naive"])
    ap.add_argument("--config", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    paths = Paths(Path(args.config), Path(args.data_dir))
    engine = create_engine(
        load_config(paths.config_file), paths, SecretStore(use_keyring=False), policy=RetryPolicy()
    )

    async def go() -> dict[str, object]:
        try:
            if args.what == "catalog":
                return await catalog(engine, args.full)
            return await naive(engine)
        finally:
            await engine.stop()

    out = asyncio.run(go())
    engine.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

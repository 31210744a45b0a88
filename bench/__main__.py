"""The benchmark suite: each figure beside its lower bound, against the simulators over
loopback with 20 ms injected latency per request. Not part of the tests' pass/fail.

    .venv/bin/python -m bench [--variants 100000] [--orders 1000] [--idle 60] [--write]

--write puts the figures in bench/RESULTS.md. Lower bound = requests x latency / allowed
concurrency for each side; a catalog run reads the whole ERP before it pushes (the
catastrophe guard checks the run first), so the two sides add up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ui import PY, child_env, launch_and_idle, start_simhost, write_config

LATENCY = 0.02
ERP_CONCURRENCY = 4
PUSH_CONCURRENCY = 4
HERE = Path(__file__).resolve().parent


def worker(
    what: str, info: dict[str, Any], tmp: Path, *, full: bool = False, **sync: Any
) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    paths = write_config(
        tmp,
        info,
        catalog_interval_s=3600,
        full_catalog_every_h=0,
        push_concurrency=PUSH_CONCURRENCY,
        **sync,
    )
    cmd = [
        PY,
        "-m",
        "bench.worker",
        what,
        "--config",
        str(paths.config_file),
        "--data-dir",
        str(tmp),
    ] + (["--full"] if full else [])
    out = subprocess.run(cmd, env=child_env(info), capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bound(erp_requests: int, store_requests: int) -> float:
    return erp_requests * LATENCY / ERP_CONCURRENCY + store_requests * LATENCY / PUSH_CONCURRENCY


async def download_only(info: dict[str, Any], pages: int) -> float:
    """The ERP side's practical floor with this simulator: a client that only downloads the
    catalog's pages, `ERP_CONCURRENCY` at a time, and does nothing with them. The simulator
    renders each page on one thread of its own, so its work adds to the injected latency."""
    import httpx

    from sim.catalog import LISTS

    code = next(c for c, name in LISTS.items() if name == "MAYOR $")
    sem = asyncio.Semaphore(ERP_CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=info["erp_url"],
        headers={"idCliente": info["cliente"], "Authorization": info["erp_token"]},
    ) as client:

        async def get(page: int) -> None:
            async with sem:
                r = await client.get(
                    "ConsultaStockYPrecios/",
                    params={
                        "limit": 500,
                        "page": page,
                        "stockcero": "true",
                        "preciocero": "true",
                        "lista": code,
                    },
                )
                r.raise_for_status()

        t = time.perf_counter()
        await asyncio.gather(*(get(p) for p in range(1, pages + 1)))
        return time.perf_counter() - t


def catalog_scenarios(variants: int, results: dict[str, Any]) -> None:
    proc, info = start_simhost(variants, latency=LATENCY)
    assert proc.stdout is not None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "ours"
            full = worker("catalog", info, d)
            pages = -(-variants // 500)
            lb = bound(pages, pages)
            full["lower_bound_s"] = lb
            full["read_bound_s"] = bound(pages, 0)
            full["push_bound_s"] = bound(0, pages)
            full["download_only_s"] = asyncio.run(download_only(info, pages))
            results["full"] = full
            print(
                f"1. full catalog, {variants} variants: {full['wall_s']:.2f} s (lower bound "
                f"{lb:.2f} s, x{full['wall_s'] / lb:.2f}); requests ERP {full['erp_requests']}, "
                f"store {full['store_requests']}; RSS {full['rss_base_mb']:.0f} -> peak "
                f"{full['rss_peak_mb']:.0f} MB (+{full['rss_peak_mb'] - full['rss_base_mb']:.0f})",
                flush=True,
            )
            print(
                f"   reading the ERP {full['read_s']:.2f} s (bound {full['read_bound_s']:.2f} s;"
                f" a client that only downloads the pages: {full['download_only_s']:.2f} s), "
                f"pushing {full['wall_s'] - full['read_s']:.2f} s (bound "
                f"{full['push_bound_s']:.2f} s)",
                flush=True,
            )
            proc.send_signal(signal.SIGUSR1)
            mutated = json.loads(proc.stdout.readline())["mutated"]
            inc = worker("catalog", info, d)
            inc["changed_in_erp"] = mutated
            # the ERP has no "changed since": it is read whole; only changes are pushed
            inc["lower_bound_s"] = bound(pages, -(-mutated // 500))
            results["incremental"] = inc
            print(
                f"2. incremental, {mutated} changed: {inc['wall_s']:.2f} s (lower bound "
                f"{inc['lower_bound_s']:.2f} s); requests ERP {inc['erp_requests']}, store "
                f"{inc['store_requests']}; pushed {inc['pushed']}",
                flush=True,
            )
        # the same full run with no injected latency: what the CPU alone costs here
        proc.terminate()
        proc.wait(10)
        proc, info = start_simhost(variants, latency=0.0)
        with tempfile.TemporaryDirectory() as tmp:
            floor = worker("catalog", info, Path(tmp) / "floor")
        full["cpu_floor_s"] = floor["wall_s"]
        print(
            f"   the same full run with no injected latency: {floor['wall_s']:.2f} s (the CPU of "
            "the engine and the simulator sharing this machine)",
            flush=True,
        )
    finally:
        proc.terminate()
        proc.wait(10)


def naive_ratio(variants: int, results: dict[str, Any]) -> None:
    proc, info = start_simhost(variants, latency=LATENCY)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ours = worker("catalog", info, Path(tmp) / "ours")
            naive = worker("naive", info, Path(tmp) / "naive")
        ratio = naive["wall_s"] / ours["wall_s"]
        results["naive"] = {"variants": variants, "ours": ours, "naive": naive, "ratio": ratio}
        print(
            f"   naive (sequential pages, one update per SKU), {variants} variants: "
            f"{naive['wall_s']:.1f} s, {naive['store_requests']} store requests; ours "
            f"{ours['wall_s']:.2f} s, {ours['store_requests']}: x{ratio:.0f} faster",
            flush=True,
        )
    finally:
        proc.terminate()
        proc.wait(10)


async def orders_scenario(n: int, rate: float) -> dict[str, Any]:
    """n orders, each with a new buyer, confirmed at `rate` per second; the default order
    interval (5 s). Simulators in threads of this process."""
    from bridge.config import load_config
    from bridge.engine import create_engine
    from bridge.secrets import SecretStore
    from sim.catalog import SimCatalog
    from sim.dragonfish import DragonfishSimulator
    from sim.ordergen import BuyerPool
    from sim.store import StoreSimulator

    catalog = SimCatalog.generate(2000, seed=5)
    erp = DragonfishSimulator(catalog=catalog, latency_s=LATENCY)
    store = StoreSimulator(
        token="t", products=list(catalog.store_rows("LISTA1")), latency_s=LATENCY, seed=9
    )
    created: dict[str, float] = {}
    # orders go as e-commerce operations (the default erp.modo_pedidos): an order is in
    # the ERP when its operation (and the Pedido made from it) is saved
    original = erp._create_operation

    def recording(body: dict[str, Any]) -> Any:
        response = original(body)
        if response.status == 201:
            created[str(body.get("Numero"))] = time.monotonic()
        return response

    erp._create_operation = recording  # type: ignore[method-assign]
    erp.start_in_thread()
    store.start_in_thread()
    buyers = BuyerPool(seed=3, size=n)
    confirmed: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        info = {"store_url": store.base_url, "erp_url": erp.base_url, "cliente": erp.cliente}
        paths = write_config(Path(tmp), info, catalog_interval_s=3600)  # orders: default 5 s
        secrets = SecretStore(use_keyring=False)
        secrets.set_session("store.token", "t")
        secrets.set_session("erp.token", erp.token)
        engine = create_engine(load_config(paths.config_file), paths, secrets)
        await engine.start()
        t0 = time.monotonic()
        try:
            for i in range(n):
                due = t0 + i / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                o = store.call(lambda i=i: store.add_order(buyer=buyers[i]))
                confirmed[o["number"]] = time.monotonic()
            for _ in range(1200):
                if len(created) >= n:
                    break
                await asyncio.sleep(0.1)
        finally:
            await engine.stop()
            engine.close()
            erp.stop_thread()
            store.stop_thread()
    lat = sorted(created[k] - confirmed[k] for k in confirmed if k in created)
    span = max(created.values()) - min(confirmed.values())
    return {
        "orders": n,
        "created": len(lat),
        "customers": len(erp.customers),
        "erp_requests": dict(erp.counts),
        "p50_s": statistics.median(lat),
        "p95_s": lat[int(len(lat) * 0.95) - 1],
        "max_s": lat[-1],
        "throughput_per_s": len(lat) / span,
        "rate_per_s": rate,
    }


def write_results(results: dict[str, Any]) -> None:
    f, inc, nv = results.get("full"), results.get("incremental"), results.get("naive")
    o, idle = results.get("orders"), results.get("idle", {})
    lines = [
        "# Benchmark results",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} with `.venv/bin/python -m bench --write` on "
        f"{results['machine']}. Simulators on loopback with {LATENCY * 1000:.0f} ms injected "
        "latency per request. Lower bound = requests x latency / concurrency per side "
        f"(ERP reads {ERP_CONCURRENCY} at a time, store writes {PUSH_CONCURRENCY} at a time; a "
        "catalog run reads the ERP whole before pushing, so the sides add up).",
        "",
        "| scenario | figure | lower bound | target | met |",
        "|---|---|---|---|---|",
    ]
    if f:
        growth = f["rss_peak_mb"] - f["rss_base_mb"]
        lines.append(
            f"| 1. full catalog, {f['seen']:,} variants | {f['wall_s']:.2f} s; {f['erp_requests']}"
            f" ERP + {f['store_requests']} store requests; peak RSS +{growth:.0f} MB over "
            f"{f['rss_base_mb']:.0f} MB idle | {f['lower_bound_s']:.2f} s | ≤ 2x bound, ≤ +50 MB"
            f" | {'yes' if f['wall_s'] <= 2 * f['lower_bound_s'] and growth <= 50 else 'no'} |"
        )
    if inc:
        lines.append(
            f"| 2. incremental, {inc['changed_in_erp']} changed | {inc['wall_s']:.2f} s; "
            f"{inc['erp_requests']} ERP + {inc['store_requests']} store requests; "
            f"{inc['pushed']} pushed | {inc['lower_bound_s']:.2f} s | only changes sent | "
            f"{'yes' if inc['pushed'] <= inc['changed_in_erp'] else 'no'} |"
        )
    if nv:
        lines.append(
            f"| naive vs ours, {nv['variants']:,} variants | naive {nv['naive']['wall_s']:.1f} s "
            f"({nv['naive']['store_requests']} store requests), ours {nv['ours']['wall_s']:.2f} s"
            f" ({nv['ours']['store_requests']}) | | ratio | x{nv['ratio']:.0f} |"
        )
    if o:
        lines.append(
            f"| 3. {o['orders']:,} orders, new buyers, at {o['rate_per_s']:g}/s | throughput "
            f"{o['throughput_per_s']:.1f}/s; p50 {o['p50_s']:.2f} s, p95 {o['p95_s']:.2f} s, max "
            f"{o['max_s']:.2f} s; {o['customers']} customers created | interval 5 s | p95 ≤ 6 s"
            f" | {'yes' if o['p95_s'] <= 6 else 'no'} |"
        )
    for key, label, rss_target in (("headless", "headless", 80), ("tray", "tray app", 150)):
        d = idle.get(key)
        if d:
            where = f" ({d['where']})" if d.get("where") else ""
            lines.append(
                f"| 4. idle 60 s, {label}{where} | CPU {d['cpu_pct']:.2f} % of a core; RSS "
                f"{d['rss_max_mb']:.0f} MB | | ≤ 0.5 %, ≤ {rss_target} MB | "
                f"{'yes' if d['cpu_pct'] <= 0.5 and d['rss_max_mb'] <= rss_target else 'no'} |"
            )
    for key, label in (
        ("headless", "launch to first sync begun"),
        ("tray", "launch to tray icon shown"),
    ):
        d = idle.get(key)
        if d:
            lines.append(f"| 5. {label} | {d['launch_s']:.2f} s | | | |")
    if f and f.get("cpu_floor_s"):
        lines += [
            "",
            f"Scenario 1 in parts: reading and staging the ERP took {f['read_s']:.2f} s "
            f"(bound {f['read_bound_s']:.2f} s), pushing {f['wall_s'] - f['read_s']:.2f} s "
            f"(bound {f['push_bound_s']:.2f} s). The simulators share this machine's "
            f"{os.cpu_count()} cores with the bridge and serve one request at a time, so "
            "their own work adds to the injected latency: a client that only downloads "
            f"the same pages, {ERP_CONCURRENCY} at a time, takes "
            f"{f['download_only_s']:.2f} s. The same full run with no injected latency "
            f"takes {f['cpu_floor_s']:.2f} s (the CPU of the bridge and the simulators).",
        ]
    lines += [
        "",
        "Figures from one run; see `python -m bench.core` and `python -m bench.ui` "
        "for the older per-topic scripts (UI stalls during a 20,000-variant sync).",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {HERE / 'RESULTS.md'}")


def main() -> int:
    import connectors

    connectors.register()  # as the program's entry point does
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--naive-variants", type=int, default=2000)
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--order-rate", type=float, default=10.0)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    machine = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}"
    )
    print(f"machine: {machine}", flush=True)
    results: dict[str, Any] = {"machine": machine}
    catalog_scenarios(args.variants, results)
    naive_ratio(args.naive_variants, results)
    if args.orders:
        o = asyncio.run(orders_scenario(args.orders, args.order_rate))
        results["orders"] = o
        print(
            f"3. {o['created']}/{o['orders']} orders: throughput {o['throughput_per_s']:.1f}/s,"
            f" p50 {o['p50_s']:.2f} s, p95 {o['p95_s']:.2f} s, max {o['max_s']:.2f} s",
            flush=True,
        )
    if args.idle:
        proc, info = start_simhost(2000)
        try:
            print("4/5. headless:", flush=True)
            results.setdefault("idle", {})["headless"] = launch_and_idle(
                info, args.idle, True, None
            )
            try:
                from tests.xdisplay import real_tray_display

                with real_tray_display() as display_env:
                    print("4/5. tray app, in a real tray (Xvfb + trayer):", flush=True)
                    results["idle"]["tray"] = launch_and_idle(info, args.idle, False, display_env)
                    results["idle"]["tray"]["where"] = "Xvfb + trayer, window hidden"
            except BaseException as exc:  # pytest.skip when Xvfb/trayer are missing
                print(f"4/5. tray app (offscreen, no tray here: {exc}):", flush=True)
                results["idle"]["tray"] = launch_and_idle(
                    info, args.idle, False, {"QT_QPA_PLATFORM": "offscreen"}
                )
                results["idle"]["tray"]["where"] = "offscreen, window shown"
        finally:
            proc.terminate()
            proc.wait(10)
    if args.write:
        write_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

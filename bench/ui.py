"""Tray app benchmarks (figures, not asserts):
1. launch to tray icon shown (real tray: Xvfb + trayer), with a real config;
2. idle CPU and RSS over 60 s with the default intervals: the tray app, and headless;
3. the longest UI-thread stall while a 20,000-variant catalog sync runs (target < 50 ms).

    .venv/bin/python -m bench.ui [--idle 60] [--variants 20000]

The simulators run in a process of their own (bench.simhost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bridge.config import Paths, parse_config, save_config

PY = sys.executable
CLK = os.sysconf("SC_CLK_TCK")


def start_simhost(
    variants: int, orders_every: float = 0.0, latency: float = 0.0
) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "bench.simhost",
            "--variants",
            str(variants),
            "--orders-every",
            str(orders_every),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def write_config(tmp: Path, info: dict, **sync: float) -> Paths:
    paths = Paths(tmp / "config.toml", tmp)
    cfg = parse_config(
        {
            "store": {"url": info["store_url"]},
            "erp": {
                "kind": "dragonfish",
                "endpoint": info["erp_url"],
                "cliente": info["cliente"],
                "lista": "MAYOR $",
                "motivo": "VENTA WEB",
            },
            "sync": dict(sync),
        }
    )
    save_config(cfg, paths.config_file)
    return paths


def child_env(info: dict, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(
        os.environ,
        BRIDGE_SECRET_STORE_TOKEN=info["store_token"],
        BRIDGE_SECRET_ERP_TOKEN=info["erp_token"],
    )
    env.update(extra or {})
    return env


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_log(path: Path, *texts: str, timeout: float = 60) -> float | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            content = path.read_text(errors="replace")
            if any(t in content for t in texts):
                return time.monotonic()
        time.sleep(0.01)
    return None


def launch_and_idle(
    info: dict, idle_s: float, headless: bool, display_env: dict | None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_config(Path(tmp), info)  # default intervals: 5 s and 300 s
        args = [PY, "-m", "launcher", "--config", str(paths.config_file), "--data-dir", tmp]
        args += ["run", "--headless"] if headless else []
        env = child_env(info, display_env)
        log = paths.log_dir / "bridge.log"
        t0 = time.monotonic()
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            markers = ("Bridge started",) if headless else ("tray icon shown", "main window shown")
            shown = wait_log(log, *markers)
            what = "engine started" if headless else "tray icon (or window) shown"
            if shown is None:
                print(f"  {what}: not seen in 60 s")
                return {}
            print(f"  launch to {what}: {shown - t0:.2f} s")
            time.sleep(10)  # the first (full) runs are over
            c0, w0 = proc_cpu_s(proc.pid), time.monotonic()
            rss = []
            while time.monotonic() - w0 < idle_s:
                time.sleep(1)
                rss.append(proc_rss_mb(proc.pid))
            cpu = (proc_cpu_s(proc.pid) - c0) / (time.monotonic() - w0) * 100
            print(
                f"  idle over {idle_s:.0f} s: CPU {cpu:.2f} % of a core, RSS {min(rss):.0f}-"
                f"{max(rss):.0f} MB"
            )
            return {
                "launch_s": shown - t0,
                "cpu_pct": cpu,
                "rss_min_mb": min(rss),
                "rss_max_mb": max(rss),
            }
        finally:
            proc.terminate()
            proc.wait(30)


async def stall_bench(info: dict) -> None:
    import PySide6.QtWidgets  # noqa: F401  (before qasync)
    from PySide6.QtCore import QTimer

    from bridge.secrets import SecretStore
    from ui.app import BridgeApp

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_config(
            Path(tmp), info, orders_interval_s=5, catalog_interval_s=3600, full_catalog_every_h=0
        )
        secrets = SecretStore(use_keyring=False)
        secrets.set_session("store.token", info["store_token"])
        secrets.set_session("erp.token", info["erp_token"])
        app = BridgeApp(paths, secrets=secrets, use_tray=False)
        task = asyncio.ensure_future(app.run())
        await asyncio.wait_for(app.ready.wait(), 120)
        engine = app.controller.engine
        for _ in range(2400):  # the first runs at start, up to 2 minutes
            if not any(engine.running.values()):
                break
            await asyncio.sleep(0.05)
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        timer.start()
        await asyncio.sleep(0.5)
        gaps.clear()
        last[0] = time.perf_counter()
        t = time.perf_counter()
        [result] = await engine.sync_now("catalog", full=True)
        wall = time.perf_counter() - t
        timer.stop()
        stalls = sorted(g - 0.005 for g in gaps)
        print(
            f"  full catalog sync of {result.items_seen} variants in {wall:.2f} s with the "
            f"window open: longest UI stall {stalls[-1] * 1000:.0f} ms, p99 "
            f"{stalls[int(len(stalls) * 0.99)] * 1000:.0f} ms, median "
            f"{statistics.median(stalls) * 1000:.1f} ms over {len(gaps)} timer ticks "
            f"(target < 50 ms)"
        )
        app.quit()
        await task


def stall_only(variants: int) -> int:
    proc, info = start_simhost(variants)
    try:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        import PySide6.QtWidgets  # noqa: F401  (before qasync)
        import qasync
        from PySide6.QtWidgets import QApplication

        qapp = QApplication.instance() or QApplication([])
        assert isinstance(qapp, QApplication)
        qapp.setQuitOnLastWindowClosed(False)
        qasync.run(stall_bench(info))
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


def main() -> int:
    import connectors

    connectors.register()  # as the program's entry point does
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--variants", type=int, default=20000)
    ap.add_argument("--stall-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stall_only:
        return stall_only(args.variants)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    proc, info = start_simhost(2000, orders_every=0)
    try:
        try:
            from tests.xdisplay import real_tray_display

            with real_tray_display() as display_env:
                print("tray app, real tray (Xvfb + trayer):")
                launch_and_idle(info, args.idle, False, display_env)
        except BaseException as exc:  # pytest.skip when Xvfb/trayer are missing
            print(f"  (no real tray here: {exc}); offscreen instead:")
            launch_and_idle(info, args.idle, False, {"QT_QPA_PLATFORM": "offscreen"})
        print("headless:")
        launch_and_idle(info, args.idle, True, None)
    finally:
        proc.terminate()
        proc.wait(10)
    print("UI responsiveness (offscreen, a process of its own):", flush=True)
    subprocess.run(
        [PY, "-m", "bench.ui", "--stall-only", "--variants", str(args.variants)], check=False
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

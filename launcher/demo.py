"""`bridge demo`: a simulated Dragonfish and a simulated store on 127.0.0.1, and the real
engine between them, so a newcomer sees orders and stock flow. Composed here, in the
launcher: it needs the simulators, the engine and, with a desktop, the UI.

The demo never touches the real profile: its config, state and logs live in the `demo`
subfolder of the data dir (wiped at each start), its tokens exist only in memory, and its
endpoints are the simulators'. `bridge --data-dir <data dir>/demo status` shows what it did.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import Config, Paths, load_config, save_config
from bridge.engine import Engine, create_engine
from bridge.events import setup_logging
from bridge.secrets import SecretStore

if TYPE_CHECKING:
    from ui.app import DemoStarter

DEMO_STORE_TOKEN = "demo-store-token"

DEMO_NOT_INSTALLED = (
    "The demo is not installed: its simulated ERP and store need the 'demo' extra. "
    'Install it with: pip install "bridge[demo]" (in a checkout: pip install -e ".[demo]").'
)


def demo_installed() -> bool:
    """Whether the demo can run: its simulators are aiohttp servers, the `demo` extra."""
    return importlib.util.find_spec("aiohttp") is not None


def demo_config_dict(store_url: str, erp_url: str, cliente: str) -> dict[str, Any]:
    return {
        "store": {"url": store_url},
        "erp": {
            "kind": "dragonfish",
            "endpoint": erp_url,
            "cliente": cliente,
            "lista": "MAYOR $",
            "motivo": "VENTA WEB",
        },
        "sync": {"orders_interval_s": 5, "catalog_interval_s": 30, "retry_base_s": 10},
    }


class DemoWorld:
    """The two simulators, seeded, with a stream of orders and stock changes."""

    def __init__(self, variants: int = 2000, seed: int = 7) -> None:
        from sim.catalog import SimCatalog
        from sim.dragonfish import DragonfishSimulator
        from sim.store import StoreSimulator

        self.rng = random.Random(seed)
        self.catalog = SimCatalog.generate(variants, seed=seed)
        self.erp = DragonfishSimulator(catalog=self.catalog, latency_s=0.01)
        rows = list(self.catalog.store_rows("LISTA1"))
        # a few ERP products were never published in the store: shown as "unknown SKUs"
        published = [r for i, r in enumerate(rows) if i % 97 != 5]
        # the store starts with stale figures: the first sync corrects them
        self.store = StoreSimulator(
            token=DEMO_STORE_TOKEN,
            latency_s=0.01,
            seed=seed,
            products=[(sku, stock + 3, price) for sku, stock, price in published],
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def erp_platform(self) -> str:
        return next(iter(self.erp.ecommerce_platforms))

    async def start(self) -> None:
        await self.erp.start()
        await self.store.start()

    def begin_activity(self, orders_every_s: float = 8.0, stock_every_s: float = 20.0) -> None:
        self.store.add_orders(3)
        self.store.start_generator(orders_every_s)
        self._tasks.append(asyncio.ensure_future(self._bad_orders(orders_every_s * 6)))
        self._tasks.append(asyncio.ensure_future(self._stock_changes(stock_every_s)))

    async def _bad_orders(self, every_s: float) -> None:
        """Now and then an order with a wrong CUIT, as real buyers type them."""
        while True:
            await asyncio.sleep(every_s)
            order = self.store.add_order()
            order["buyer"]["tax_id"] = "30-71234567-2"
            order["buyer"]["tax_condition"] = "responsable_inscripto"

    async def _stock_changes(self, every_s: float) -> None:
        n = 0
        while True:
            await asyncio.sleep(every_s)
            n += 1
            self.catalog.mutate(0.01, seed=n)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        self.store.stop_generator()
        await self.store.stop()
        await self.erp.stop()


def prepare_demo_profile(paths: Paths) -> Paths:
    demo_dir = paths.demo_dir
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True)
    return Paths(config_file=demo_dir / "config.toml", data_dir=demo_dir)


def run_demo(
    paths: Paths,
    *,
    headless: bool = True,
    duration: float | None = None,
    variants: int = 2000,
    verbose: bool = False,
) -> int:
    if not demo_installed():
        print(DEMO_NOT_INSTALLED, file=sys.stderr, flush=True)
        return 1
    if not headless:
        from bridge.cli import gui_possible

        if gui_possible():
            from ui.app import main as ui_main

            return ui_main(paths, demo=True, demo_starter=demo_starter())
        print("(No desktop here: running the demo in this terminal.)", flush=True)
    return asyncio.run(_demo(paths, duration=duration, variants=variants, verbose=verbose))


async def start_demo_engine(paths: Paths, world: DemoWorld) -> tuple[Engine, Paths]:
    from bridge.config import parse_config

    demo_paths = prepare_demo_profile(paths)
    config: Config = parse_config(
        demo_config_dict(world.store.base_url, world.erp.base_url, world.erp.cliente)
    )
    save_config(config, demo_paths.config_file)
    config = load_config(demo_paths.config_file)
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", DEMO_STORE_TOKEN)
    secrets.set_session("erp.token", world.erp.token)
    return create_engine(config, demo_paths, secrets), demo_paths


def demo_starter() -> DemoStarter | None:
    """What the tray app starts the demo with; None without the demo extra (the tray app
    then says how to install it)."""
    return start_demo_for_ui if demo_installed() else None


async def start_demo_for_ui(paths: Paths, variants: int) -> tuple[Engine, Paths, DemoWorld]:
    """The tray app's demo (ui.app.DemoStarter): the simulators started, orders and stock
    changes coming, and the engine between them (not started yet)."""
    world = DemoWorld(variants=variants)
    await world.start()
    engine, demo_paths = await start_demo_engine(paths, world)
    world.begin_activity()
    return engine, demo_paths, world


async def _demo(paths: Paths, *, duration: float | None, variants: int, verbose: bool) -> int:
    from bridge.instance import InstanceLock, hand_over
    from bridge.service import serve

    # the lock sits next to the demo folder, which each start wipes
    lock = InstanceLock(paths.data_dir, "demo")
    if not lock.acquire():
        hand_over(paths.data_dir, "show", name="demo")
        print("The demo is already running (in another window or terminal).")
        return 0
    world = DemoWorld(variants=variants)
    await world.start()
    engine, demo_paths = await start_demo_engine(paths, world)
    setup_logging(demo_paths.log_dir, "DEBUG" if verbose else "INFO")
    print(
        f"""Bridge demo
  simulated Dragonfish: {world.erp.base_url}  ({len(world.catalog)} variants)
  simulated store:      {world.store.base_url}
  state and logs:       {demo_paths.data_dir}
New store orders arrive every few seconds and go to the ERP as e-commerce operations
(Operacionecommerce, platform {world.erp_platform}), from which Dragonfish makes each Pedido;
new buyers become customers coded by their DNI or CUIT. Stock and prices go to the store.
Before the first order, Bridge checks the simulated install (its swagger.json and tables).
See what happened with:
  {self_command()} --data-dir {_quote(paths.data_dir / "demo")} status
Ctrl+C stops the demo.
""",
        flush=True,
    )
    world.begin_activity()

    async def until() -> None:
        if duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration)

    try:
        # its end is one line: the summary below
        await serve(engine, watch_config=False, until=until, lock=lock, goodbye=None)
    finally:
        engine.close()
        await world.stop()
    print(
        f"Demo stopped: {len(world.erp.operations)} e-commerce operations and "
        f"{len(world.erp.orders)} Pedidos created in the simulated ERP, "
        f"{len(world.erp.customers)} customers, "
        f"{sum(len(p) for p in world.store.patches)} stock/price updates in the store.",
        file=sys.stderr,
        flush=True,
    )
    return 0


def self_command() -> str:
    """How this process was started, so the hint can be pasted as is."""
    argv0 = sys.argv[0] if sys.argv else "bridge"
    if argv0.endswith("__main__.py") or not argv0:
        return f"{_quote(Path(sys.executable))} -m launcher"
    return _quote(Path(argv0))


def _quote(p: Path) -> str:
    s = str(p)
    return f'"{s}"' if " " in s else s

"""Shared fixtures: both simulators on real loopback sockets, a profile folder with a real
config file and a real SQLite state file, and an engine wired to them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# Qt widgets in tests render offscreen unless a test sets up a real display (test_tray_host)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from typing import Any

import pytest

import connectors
from bridge.config import Paths, load_config, save_config
from bridge.engine import Engine
from bridge.http import RetryPolicy
from bridge.secrets import SecretStore
from launcher.demo import demo_config_dict
from sim.catalog import SimCatalog
from sim.dragonfish import DragonfishSimulator
from sim.store import StoreSimulator

# what the program's entry point does at start-up: give the registry its connectors
connectors.register()

STORE_TOKEN = "test-store-token-4f1c"

# Fast retries for most tests; the 409 tests use the vendor's real 1 s spacing.
FAST = RetryPolicy(
    conflict_attempts=5,
    conflict_delay_s=0.01,
    transient_attempts=3,
    backoff_initial_s=0.01,
    backoff_max_s=0.05,
    max_retry_after_s=0.5,
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (
        "BRIDGE_CONFIG",
        "BRIDGE_DATA_DIR",
        "BRIDGE_SECRET_STORE_TOKEN",
        "BRIDGE_SECRET_ERP_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)


def slow_retry_paths(
    tmp_path: Path, erp_sim: DragonfishSimulator, store_sim: StoreSimulator, **sync: Any
) -> Paths:
    """A profile where a failed order waits 10 minutes for its own retry: only the end of
    its cause (the side answering again) sends it sooner. `sync`: more [sync] settings."""
    return write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        retry_base_s=600,
        retry_max_s=600,
        **sync,
    )


@pytest.fixture
def slow_retry_profile(
    tmp_path: Path, erp_sim: DragonfishSimulator, store_sim: StoreSimulator
) -> Paths:
    """slow_retry_paths() as a fixture."""
    return slow_retry_paths(tmp_path, erp_sim, store_sim)


def under_wine() -> bool:
    """Windows as Wine plays it (build/windows/ci.sh), not a Windows PC."""
    if sys.platform != "win32":
        return False
    import ctypes

    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


@pytest.fixture
def sim_catalog() -> SimCatalog:
    return SimCatalog.generate(120, seed=3)


@pytest.fixture
async def erp_sim(sim_catalog: SimCatalog):
    sim = DragonfishSimulator(catalog=sim_catalog, write_hold_s=0.0)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def store_sim(sim_catalog: SimCatalog):
    sim = StoreSimulator(token=STORE_TOKEN, products=list(sim_catalog.store_rows("LISTA1")), seed=5)
    await sim.start()
    yield sim
    await sim.stop()


def write_profile(
    tmp_path: Path,
    store_url: str,
    erp_url: str,
    cliente: str,
    erp: dict[str, Any] | None = None,
    **sync: Any,
) -> Paths:
    from bridge.config import parse_config

    data = demo_config_dict(store_url, erp_url, cliente)
    data["erp"].update(erp or {})
    # an unanswered customer creation settles fast here (tests run many faults a second)
    data["sync"] = {
        "orders_interval_s": 5,
        "catalog_interval_s": 300,
        "retry_base_s": 1,
        "full_catalog_every_h": 0,
        "write_settle_s": 0.5,
        **sync,
    }
    paths = Paths(config_file=tmp_path / "profile" / "config.toml", data_dir=tmp_path / "profile")
    save_config(parse_config(data), paths.config_file)
    return paths


@pytest.fixture
def sims():
    """Both simulators in threads of their own: for tests that run `bridge` as a process
    or drive the Qt app on its own loop."""
    catalog = SimCatalog.generate(80, seed=9)
    erp = DragonfishSimulator(catalog=catalog, write_hold_s=0.0)
    store = StoreSimulator(token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")))
    erp.start_in_thread()
    store.start_in_thread()
    yield erp, store
    store.stop_thread()
    erp.stop_thread()


@pytest.fixture
def order_mode() -> str:
    """How orders go to Dragonfish (erp.modo_pedidos); test modules parametrize it."""
    return "operacion"


@pytest.fixture
def profile(
    tmp_path: Path, erp_sim: DragonfishSimulator, store_sim: StoreSimulator, order_mode: str
) -> Paths:
    return write_profile(
        tmp_path,
        store_sim.base_url,
        erp_sim.base_url,
        erp_sim.cliente,
        erp={"modo_pedidos": order_mode},
    )


# the route a Dragonfish order is written to, by order mode (for scripted faults and counts)
WRITE_ROUTE = {"operacion": "operacionecommerce", "pedido": "pedido"}


def docs_for(erp_sim: DragonfishSimulator, number: str) -> list[dict[str, Any]]:
    """The Pedidos in the simulated Dragonfish for a store order, in either order mode:
    Bridge starts every document's Obs with its marker (erp.marcador_obs, VXM:{numero}),
    and an operation's Pedido carries the operation's Obs. Exact: VM-12 is not VM-123."""
    import re

    marker = re.compile(re.escape(f"VXM:{number}") + r"(?![0-9A-Za-z_-])")
    return [o for o in erp_sim.orders.values() if marker.match(str(o.get("Obs", "")))]


def session_secrets(erp_sim: DragonfishSimulator) -> SecretStore:
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    secrets.set_session("erp.token", erp_sim.token)
    return secrets


@pytest.fixture
async def engine(profile: Paths, erp_sim: DragonfishSimulator):
    eng = make_engine(profile, erp_sim)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


def make_engine(
    paths: Paths, erp_sim: DragonfishSimulator, policy: RetryPolicy | None = FAST
) -> Engine:
    return Engine(load_config(paths.config_file), paths, session_secrets(erp_sim), policy=policy)


def child_env(paths: Paths, erp_sim: DragonfishSimulator) -> dict[str, str]:
    """Environment for a `bridge` subprocess: secrets from the environment, no keyring."""
    env = dict(os.environ)
    env.update(
        {
            "BRIDGE_SECRET_STORE_TOKEN": STORE_TOKEN,
            "BRIDGE_SECRET_ERP_TOKEN": erp_sim.token,
            "BRIDGE_DATA_DIR": str(paths.data_dir),
            "BRIDGE_CONFIG": str(paths.config_file),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# -- a real OS keyring: the Secret Service scripts/test.sh starts (Linux), or the Windows
# Credential Manager (Windows, and Wine's own under build/windows/ci.sh)
REAL_KEYRING = (
    "WinVault"
    if sys.platform == "win32"
    else ("SecretService" if os.environ.get("BRIDGE_TEST_SECRET_SERVICE") else None)
)
needs_real_keyring = pytest.mark.skipif(
    REAL_KEYRING is None,
    reason="no OS keyring in this session (scripts/test.sh starts a Secret Service)",
)


# -- a `bridge` child process, the same on POSIX and Windows ---------------------------------
# A service manager ends Bridge with SIGTERM on POSIX. On Windows SIGTERM is TerminateProcess
# (no clean stop can follow it): there the request is CTRL_BREAK, sent to the child's own
# process group (`NEW_GROUP` in Popen's arguments; without it the event would reach every
# process on the console, the tests' own included). CTRL_BREAK needs a console the two
# processes share; with none (a parent without a console, and Wine, which cannot deliver it
# at all) the request goes the other documented way: `bridge stop`, over the instance port.
# Not through Popen.send_signal: on CPython 3.11 a CTRL_BREAK that cannot be delivered falls
# through to TerminateProcess(pid, 1) - the child is killed, exit code 1.
NEW_GROUP: dict[str, Any] = (
    {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32" else {}
)


_stoppers: list[subprocess.Popen[bytes]] = []


def ask_to_stop(proc: subprocess.Popen[Any], env: dict[str, str]) -> None:
    """What a service manager does to end a `bridge run` started with `NEW_GROUP`. Returns
    at once: the caller goes on reading the child's output (a child whose pipe nobody reads
    blocks on its next line - at once under Wine, whose pipes hold a few KB)."""
    if sys.platform != "win32":
        proc.send_signal(signal.SIGTERM)
        return
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    if kernel32.GenerateConsoleCtrlEvent(signal.CTRL_BREAK_EVENT, proc.pid):
        return
    # `bridge stop` finds a Bridge by its instance file, written just after "Bridge started"
    instance = Path(env["BRIDGE_DATA_DIR"]) / "bridge.instance.json"
    wait_for(lambda: instance.exists() or proc.poll() is not None, timeout=60)
    _stoppers.append(
        subprocess.Popen(
            [sys.executable, "-m", "launcher", "stop"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )


def stop_bridge(proc: subprocess.Popen[Any], env: dict[str, str], timeout: float = 90.0) -> int:
    """Ask a `bridge run` child to stop (`ask_to_stop`) and wait for its exit code; one
    still running after `timeout` is killed - never left behind - and TimeoutExpired
    raised."""
    ask_to_stop(proc, env)
    try:
        return proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Output:
    """A child's stdout and stderr, read on threads as they come. A pipe nobody reads fills
    up (4 KB on Windows and under Wine, 64 KB on Linux) and the child then blocks at its
    next line - a service blocked in a print stops syncing."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._parts: dict[str, list[str]] = {"out": [], "err": []}
        self._threads = [
            threading.Thread(target=self._read, args=(stream, self._parts[key]), daemon=True)
            for key, stream in (("out", proc.stdout), ("err", proc.stderr))
            if stream is not None
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in iter(stream.readline, ""):
            into.append(line)

    def text(self, timeout: float = 30.0) -> tuple[str, str]:
        """(stdout, stderr) once the child closed them (it has ended)."""
        for t in self._threads:
            t.join(timeout)
        return "".join(self._parts["out"]), "".join(self._parts["err"])


@pytest.fixture(autouse=True)
def _reap_stoppers() -> Any:
    """The `bridge stop` processes a test started end with it."""
    yield
    while _stoppers:
        stopper = _stoppers.pop()
        try:
            stopper.wait(90)
        except subprocess.TimeoutExpired:
            stopper.kill()
            stopper.wait()


def wait_for(predicate: Any, timeout: float = 30.0, step: float = 0.1) -> bool:
    """Poll `predicate` (from a test that is not a coroutine) until true or `timeout`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


async def wait_until(predicate: Any, within: float = 20.0) -> bool:
    """Poll `predicate` on the loop until true or `within` seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False

"""Running the engine as a long-lived process (headless service, demo): signals, config
watching, console output of events, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.config import Config
from bridge.engine import Engine
from bridge.errors import ConfigError
from bridge.events import Event
from bridge.instance import InstanceLock
from bridge.watcher import ConfigWatcher


def print_event(event: Event) -> None:
    if event.level == "debug":
        return
    print(event.line(), flush=True)


async def serve(engine: Engine, *, watch_config: bool = True, console: bool = True,
                until: Callable[[], Awaitable[None]] | None = None,
                lock: InstanceLock | None = None) -> None:
    """Start the engine and keep it running until SIGINT/SIGTERM (or `until` returns)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if console:
        engine.events.subscribe(print_event)
    watcher: ConfigWatcher | None = None
    if watch_config and engine.config.path is not None:

        async def apply(config: Config) -> None:
            try:
                await engine.apply_config(config)
            except ConfigError as exc:
                engine.events.error("config", "config_refused",
                                    f"The new settings were not applied: {exc.message}")

        def refuse(exc: ConfigError) -> None:
            engine.events.error("config", "config_invalid",
                                f"The edited config file is invalid and was not applied "
                                f"(the previous settings stay): {exc.message}")

        watcher = ConfigWatcher(engine.config.path, loop, apply, refuse)
        watcher.start()
    await engine.start()
    if lock is not None:

        def command(name: str) -> None:
            if name == "sync":
                engine.events.info("engine", "sync_requested",
                                   "Another `bridge` asked for a sync; syncing now")
                engine._spawn(engine.sync_now("all"))
            else:
                engine.events.info("engine", "already_running",
                                   "Bridge was started again; this one keeps running")

        await lock.serve(command)
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
    if until is not None:
        waiters.append(asyncio.ensure_future(until()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        if watcher is not None:
            watcher.stop()
        await engine.stop()
        if lock is not None:
            await lock.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    if console:
        print("Bridge stopped.", file=sys.stderr, flush=True)

"""Running the engine as a long-lived process (headless service, demo): signals, config
watching, console output of events, clean shutdown.

A stop signal (SIGINT, SIGTERM) ends `serve` cleanly: the run in progress gets a moment to
end (Engine.stop), the "stopped" event is logged, the instance file is removed, and the
command exits 0. The signals are handled in one place, `on_stop_signals`."""

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

# The signals that ask Bridge to stop: Ctrl+C, a service manager's SIGTERM, and on Windows
# the console's Ctrl+Break (CTRL_BREAK_EVENT, what a process group is sent to stop it; a
# Windows SIGTERM is TerminateProcess and never arrives). `bridge stop` asks through the
# instance port instead, on every platform.
STOP_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    *((signal.SIGBREAK,) if hasattr(signal, "SIGBREAK") else ()),
)


def on_stop_signals(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], None]
) -> Callable[[], None]:
    """Call `stop` on the loop when a stop signal arrives. Returns what undoes it. Where the
    loop takes no signal handlers (Windows), a plain handler hands the stop to the loop
    (which the signal wakes)."""
    installed: list[signal.Signals] = []
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(stop)

    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                previous[sig] = signal.signal(sig, handler)
        except ValueError:
            pass

    def undo() -> None:
        for sig in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)

    return undo


def print_event(event: Event) -> None:
    if event.level == "debug":
        return
    print(event.line(), flush=True)


async def serve(
    engine: Engine,
    *,
    watch_config: bool = True,
    console: bool = True,
    until: Callable[[], Awaitable[None]] | None = None,
    lock: InstanceLock | None = None,
    goodbye: str | None = "Bridge stopped.",
) -> None:
    """Start the engine and keep it running until SIGINT/SIGTERM (or `until` returns).
    Whatever happens, the engine is stopped and the instance file removed; with `console`,
    `goodbye` is the last line."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    undo_signals = on_stop_signals(loop, stop.set)
    if console:
        engine.events.subscribe(print_event)
    watcher: ConfigWatcher | None = None
    waiters: list[asyncio.Future[Any]] = []
    try:
        if watch_config and engine.config.path is not None:

            async def apply(config: Config) -> None:
                try:
                    await engine.apply_config(config)
                except ConfigError as exc:
                    engine.events.error(
                        "config",
                        "config_refused",
                        f"The new settings were not applied: {exc.message}",
                    )

            def refuse(exc: ConfigError) -> None:
                engine.events.error(
                    "config",
                    "config_invalid",
                    f"The edited config file is invalid and was not applied "
                    f"(the previous settings stay): {exc.message}",
                )

            watcher = ConfigWatcher(engine.config.path, loop, apply, refuse)
            watcher.start()
        await engine.start()
        if lock is not None:

            def command(name: str) -> None:
                if name == "stop":
                    engine.events.info(
                        "engine", "stop_requested", "Asked to stop (`bridge stop`); stopping"
                    )
                    stop.set()
                elif name == "sync":
                    engine.events.info(
                        "engine", "sync_requested", "Another `bridge` asked for a sync; syncing now"
                    )
                    engine._spawn(engine.sync_now("all"))
                else:
                    engine.events.info(
                        "engine",
                        "already_running",
                        "Bridge was started again; this one keeps running",
                    )

            await lock.serve(command)
        waiters.append(asyncio.ensure_future(stop.wait()))
        if until is not None:
            waiters.append(asyncio.ensure_future(until()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        if watcher is not None:
            watcher.stop()
        try:
            await engine.stop()
        finally:
            if lock is not None:
                await lock.close()
            undo_signals()
    if console and goodbye:
        print(goodbye, file=sys.stderr, flush=True)

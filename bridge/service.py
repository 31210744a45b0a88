"""Running the engine as a long-lived process (headless service, demo): signals, console
output of events, clean shutdown; the lock, the config watching and a second start's
commands are the Runtime's (bridge.runtime), shared with the tray app.

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

from bridge.engine import Engine
from bridge.events import Event
from bridge.instance import InstanceLock
from bridge.runtime import Runtime

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
    runtime = Runtime(lock, on_stop=stop.set, announce=True)
    waiters: list[asyncio.Future[Any]] = []
    try:
        if watch_config:
            runtime.watch_config(engine)
        await engine.start()
        await runtime.serve_commands(engine)
        waiters.append(asyncio.ensure_future(stop.wait()))
        if until is not None:
            waiters.append(asyncio.ensure_future(until()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        try:
            await runtime.shutdown(engine.stop())
        finally:
            undo_signals()
    if console and goodbye:
        print(goodbye, file=sys.stderr, flush=True)

"""A long-lived Bridge on one profile, headless service or tray app alike: the instance
lock (one Bridge per profile), the config file's watcher (edits apply live), the engine's
start and stop, and what a second start of Bridge asks (`show`, `sync`, `stop`).

The headless service (bridge.service.serve) and the tray app (ui.app) each own one and
give it what differs: how to stop (end the service's wait, quit the app), how to show
itself, and how a new config is applied (the app reopens its settings on a refused one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bridge.config import Config
from bridge.engine import Engine
from bridge.errors import ConfigError
from bridge.instance import InstanceLock
from bridge.watcher import ConfigWatcher


class Runtime:
    def __init__(
        self,
        lock: InstanceLock | None,
        *,
        on_stop: Callable[[], None],
        on_show: Callable[[], None] | None = None,
        announce: bool = False,
    ) -> None:
        """`on_stop`: what `bridge stop` does here; `on_show`: what a second start does
        (None: nothing). With `announce`, each command is said in the event log (a
        service's only window)."""
        self.lock = lock
        self.on_stop = on_stop
        self.on_show = on_show
        self.announce = announce
        self.engine: Engine | None = None
        self.watcher: ConfigWatcher | None = None

    # -- the config file ---------------------------------------------------------------------
    def watch_config(
        self, engine: Engine, apply: Callable[[Config], Awaitable[None]] | None = None
    ) -> None:
        """Apply valid edits of the engine's config file (with `apply`, by default
        Engine.apply_config, a refusal logged); an invalid edit is logged and the previous
        settings stay. Nothing to watch without a config file (the demo)."""
        if engine.config.path is None:
            return
        self.engine = engine

        async def apply_config(config: Config) -> None:
            try:
                await engine.apply_config(config)
            except ConfigError as exc:
                engine.events.error(
                    "config", "config_refused", f"The new settings were not applied: {exc.message}"
                )

        def refuse(exc: ConfigError) -> None:
            engine.events.error(
                "config",
                "config_invalid",
                f"The edited config file is invalid and was not applied "
                f"(the previous settings stay): {exc.message}",
            )

        loop = asyncio.get_running_loop()
        self.watcher = ConfigWatcher(engine.config.path, loop, apply or apply_config, refuse)
        self.watcher.start()

    # -- a second start of Bridge ------------------------------------------------------------
    async def serve_commands(self, engine: Engine) -> None:
        """Answer the commands of a second start on this profile (needs the lock)."""
        self.engine = engine
        if self.lock is not None:
            await self.lock.serve(self.command)

    def command(self, name: str) -> None:
        engine = self.engine
        if name == "stop":
            if self.announce and engine is not None:
                engine.events.info(
                    "engine", "stop_requested", "Asked to stop (`bridge stop`); stopping"
                )
            self.on_stop()
        elif name == "sync":
            if engine is None:
                return
            if self.announce:
                engine.events.info(
                    "engine", "sync_requested", "Another `bridge` asked for a sync; syncing now"
                )
            engine.request_sync()
        else:
            if self.announce and engine is not None:
                engine.events.info(
                    "engine", "already_running", "Bridge was started again; this one keeps running"
                )
            if self.on_show is not None:
                self.on_show()

    # -- the end -----------------------------------------------------------------------------
    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    async def shutdown(self, stop_engine: Awaitable[None] | None) -> None:
        """The watcher first, then the engine (`stop_engine`: its stop, with whatever else
        ends with it), then the lock: while the instance file is there, `bridge stop` (an
        installer's, a service manager's) waits, so the engine's stop is never cut short."""
        self.stop_watching()
        try:
            if stop_engine is not None:
                await stop_engine
        finally:
            if self.lock is not None:
                await self.lock.close()

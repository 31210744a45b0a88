"""Watch the config file (watchdog): a valid edit applies live; an invalid one is refused
with a clear error and the old config stays.

The file's size and modification time are also checked every `POLL_S` seconds: change
notifications can be lost (a folder busy with the state file's and logs' own changes
overflows Windows' notification buffer; network drives; Wine), and an edit must not wait
for the next restart because of it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from bridge.config import Config, load_config
from bridge.errors import ConfigError

DEBOUNCE_S = 0.5
POLL_S = 2.0


class ConfigWatcher(FileSystemEventHandler):
    def __init__(
        self,
        path: Path,
        loop: asyncio.AbstractEventLoop,
        on_valid: Callable[[Config], Awaitable[None]],
        on_invalid: Callable[[ConfigError], None],
    ) -> None:
        self.path = path.resolve()
        self.loop = loop
        self.on_valid = on_valid
        self.on_invalid = on_invalid
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Future[None] | None = None
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._poll: asyncio.TimerHandle | None = None
        self._last = self._signature()

    def _signature(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def start(self) -> None:
        observer = Observer()
        observer.schedule(self, str(self.path.parent), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._poll = self.loop.call_later(POLL_S, self._check)

    def _check(self) -> None:
        """The periodic look at the file, for a notification that never came."""
        self._poll = self.loop.call_later(POLL_S, self._check)
        if self._handle is None and self._signature() != self._last:
            self._debounce()

    def stop(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None

    # called on watchdog's thread
    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = {event.src_path, getattr(event, "dest_path", "")}
        if any(p and Path(os.fsdecode(p)).resolve() == self.path for p in paths):
            self.loop.call_soon_threadsafe(self._debounce)

    def _debounce(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self.loop.call_later(DEBOUNCE_S, self._fire)

    def _fire(self) -> None:
        self._handle = None
        sig = self._signature()
        if sig is None or sig == self._last:
            return
        self._last = sig
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self.on_invalid(exc)
            return
        self._task = asyncio.ensure_future(self.on_valid(config))

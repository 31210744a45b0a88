"""The UI's side of the engine interface: Qt signals for status and events, commands that
run as tasks on the (qasync) loop, and the rules for tray notifications.

Everything here runs on the Qt main thread, which is also the asyncio loop's thread under
qasync; the engine's SQLite work happens on its own worker thread, so nothing here blocks
on disk or network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from bridge.engine import Engine
from bridge.errors import DataError
from bridge.events import Event
from bridge.status import ErrorRecord, EventRecord, History, Status

log = logging.getLogger("bridge.ui")

# No notifications in the first minute after start: whatever was already wrong is in the
# error list, and a burst of pop-ups at login helps nobody.
MUTE_AFTER_START_S = 60.0


class DemoSession(Protocol):
    """The demo's simulators, running while the app shows the demo."""

    async def stop(self) -> None: ...


class AppController(QObject):
    statusChanged = Signal(object)  # a Status
    eventAdded = Signal(object)  # an Event
    errorsChanged = Signal(list)  # of ErrorRecord
    notify = Signal(str, str)  # title, message
    todayChanged = Signal(object)  # a Today
    muteChanged = Signal(object)  # the end of a mute (wall time), or None when unmuted
    commandRefused = Signal(str)  # a command the engine refused, said for the merchant
    discardDone = Signal(int, bool)  # an error's discard: done (undoable), or refused

    def __init__(
        self,
        engine: Engine,
        *,
        demo: DemoSession | None = None,
        mute_after_start_s: float = MUTE_AFTER_START_S,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.demo = demo
        self.started_at = time.monotonic()
        self.mute_after_start_s = mute_after_start_s
        self.snoozed_until = 0.0  # wall time (time.time()) a mute chosen by hand ends
        self.status: Status | None = None
        self.errors: list[ErrorRecord] = []
        self._known_errors: set[str] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._refresh_pending = False
        self._stopped = False
        engine.events.subscribe(self._on_event)
        engine.status_listeners.append(self._schedule_refresh)
        # the clock moves even when nothing happens ("last sync 5 min ago", next run)
        self._timer = QTimer(self)
        self._timer.setInterval(5000)
        self._timer.timeout.connect(self._schedule_refresh)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.engine.start()
        self._timer.start()
        await self.refresh()

    async def stop(self) -> None:
        # nothing of this controller may run once its loop is gone: no timer, no refresh
        # asked for by the engine's last status change
        self._stopped = True
        self._timer.stop()
        with contextlib.suppress(ValueError):
            self.engine.status_listeners.remove(self._schedule_refresh)
        for t in list(self._tasks):
            t.cancel()
        await self.engine.stop()
        self.engine.close()
        if self.demo is not None:
            await self.demo.stop()

    def spawn(self, coro: Awaitable[Any], what: str = "") -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed: %r", what or "UI task", t.exception())

        task.add_done_callback(done)
        return task

    # -- engine -> UI ------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        self.eventAdded.emit(event)

    def _schedule_refresh(self) -> None:
        if self._stopped:
            return
        if not self._refresh_pending:
            self._refresh_pending = True
            self.spawn(self.refresh(), "status refresh")

    async def refresh(self) -> None:
        self._refresh_pending = False
        status = await self.engine.status_async()
        # with what the calibration found and what a held run would change, for the
        # error's detail and for "Push anyway…"
        errors = await self.engine.open_errors()
        self.status = status
        self.statusChanged.emit(status)
        self.todayChanged.emit(await self.engine.today())
        if self.snoozed_until and time.time() >= self.snoozed_until:
            self.unmute()  # the mute ran out: the tray stops saying it
        if [(e.id, e.count) for e in errors] != [(e.id, e.count) for e in self.errors]:
            self.errors = errors
            self.errorsChanged.emit(errors)
        self._maybe_notify(errors)

    def _maybe_notify(self, errors: list[ErrorRecord]) -> None:
        from ui.texts import error_subject, explain_error

        persistent = [e for e in errors if e.kind != "transient" or e.count >= 3 or e.cause]
        # one root cause is said once (17 orders waiting on a rejected token: one
        # notification), and again only after it cleared and came back
        keys = {e.cause or f"id:{e.id}" for e in persistent}
        if self._known_errors is None:
            self._known_errors = keys
            return
        new_keys = keys - self._known_errors
        self._known_errors = keys
        new = [e for e in persistent if (e.cause or f"id:{e.id}") in new_keys]
        if not new or self.muted():
            return
        from ui.i18n import _, plural

        first = new[0]
        title = plural(len(new_keys), _("Bridge: {n} new problem"), _("Bridge: {n} new problems"))
        self.notify.emit(title, f"{error_subject(first)}: {explain_error(first)}")

    def muted(self) -> bool:
        """No notifications: in the minute after start, while muted by hand, and in the
        quiet hours of the settings (local time)."""
        from ui.daily import in_quiet_hours

        now = time.monotonic()
        if now - self.started_at < self.mute_after_start_s or time.time() < self.snoozed_until:
            return True
        ui = self.engine.config.ui
        return in_quiet_hours(datetime.now(), ui.quiet_from, ui.quiet_to)

    def mute_until(self, until: float) -> None:
        self.snoozed_until = until
        self.muteChanged.emit(until)

    def unmute(self) -> None:
        self.snoozed_until = 0.0
        self.muteChanged.emit(None)

    # -- commands ----------------------------------------------------------------------------
    def sync_now(self) -> asyncio.Future[Any]:
        return self.spawn(self.engine.sync_now("all"), "sync now")

    def sync_sku(self, sku: str) -> asyncio.Future[Any]:
        return self.spawn(self._after(self.engine.sync_sku(sku)), "sync one product")

    def toggle_pause(self) -> None:
        if self.engine.paused:
            self.engine.resume()
        else:
            self.engine.pause()

    def pause_until(self, until: float | None) -> None:
        """Pause for a chosen time (None: until resumed by hand)."""
        self.engine.pause(until)

    def retry(self, error_id: int) -> asyncio.Future[Any]:
        return self.spawn(self._after(self.engine.retry_error(error_id)), "retry")

    def retry_all(self) -> asyncio.Future[Any]:
        return self.spawn(self._after(self.engine.retry_all()), "retry all")

    def approve(self, run_id: int) -> asyncio.Future[Any]:
        """The merchant confirmed pushing a held catalog run (see ErrorsView)."""
        return self.spawn(self._approve(run_id), "approve")

    async def _approve(self, run_id: int) -> None:
        from ui.i18n import _

        try:
            await self.engine.approve_catalog(run_id)
        except DataError:
            # a newer check replaced the held sync while the dialog was open, or it cleared
            self.commandRefused.emit(
                _(
                    "That sync is no longer the one on hold (a newer check replaced it, or it "
                    "cleared by itself). Look at the error list again before approving."
                )
            )
        await self.refresh()

    def discard(self, error_id: int, reason: str) -> asyncio.Future[Any]:
        return self.spawn(self._discard(error_id, reason), "discard")

    async def _discard(self, error_id: int, reason: str) -> bool:
        from ui.i18n import _

        done = await self.engine.discard_error(error_id, reason)
        self.discardDone.emit(error_id, done)
        if not done:
            self.commandRefused.emit(
                _(
                    "That order is being sent to the ERP right now, so it cannot be discarded. "
                    "If this attempt fails too, you can discard it then."
                )
            )
        await self.refresh()
        return done

    def undo_discard(self, error_id: int) -> asyncio.Future[Any]:
        return self.spawn(self._after(self.engine.undo_discard(error_id)), "undo discard")

    async def _after(self, coro: Awaitable[Any]) -> Any:
        result = await coro
        await self.refresh()
        return result

    async def recent_events(self, limit: int = 500) -> list[EventRecord]:
        return await self.engine.recent_events(0, limit)

    async def history(self) -> History:
        return await self.engine.history(200, 14)

    def call_later(self, fn: Callable[[], None], ms: int) -> None:
        QTimer.singleShot(ms, fn)

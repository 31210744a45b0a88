"""Structured events: every step the engine takes is one, kept in SQLite (bounded), written
to the rotating log file, and handed to subscribers (the UI's live log, the CLI's console).
Secrets are redacted before an event goes anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import redact
from bridge.files import folder_problem, private_dir, private_file
from bridge.state import State

log = logging.getLogger("bridge")

FLUSH_AFTER_S = 0.25

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


@dataclass(frozen=True)
class Event:
    ts: float
    level: str  # debug | info | warning | error
    pipeline: str  # orders | catalog | engine | config
    code: str  # machine-readable, e.g. order_sent, sku_unknown
    message: str  # for people, redacted
    data: dict[str, Any] = field(default_factory=dict)  # ids: order, sku, erp_reference ...

    def line(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.ts))
        return f"{stamp} {self.level.upper():7} [{self.pipeline}] {self.message}"


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self, state: State | None, keep: int = 20000) -> None:
        self.state = state
        self.keep = keep
        self._subscribers: list[Subscriber] = []
        self._since_prune = 0
        # events are written in batches: a disk sync per event would slow every order
        self._pending: list[tuple[float, str, str, str, str, dict[str, Any]]] = []
        self._flush_handle: asyncio.TimerHandle | None = None

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a one-shot CLI call): write now
            self.flush()
            return
        self._flush_handle = loop.call_later(FLUSH_AFTER_S, self.flush)

    def flush(self) -> None:
        """Write the buffered events in one transaction (in order with other state work)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending and self.state is not None:
            rows, self._pending = self._pending, []
            self.state.submit(self.state.events.add, rows)

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def emit(self, level: str, pipeline: str, code: str, message: str, **data: Any) -> Event:
        clean = {
            k: redact.redact(v) if isinstance(v, str) else v
            for k, v in data.items()
            if v is not None
        }
        event = Event(time.time(), level, pipeline, code, redact.redact(message), clean)
        log.log(LEVELS.get(level, logging.INFO), "[%s] %s", pipeline, event.message)
        if self.state is not None and level != "debug":
            self._pending.append((event.ts, level, pipeline, code, event.message, clean))
            if len(self._pending) >= 100:
                self.flush()
            elif self._flush_handle is None:
                self._schedule_flush()
            self._since_prune += 1
            if self._since_prune >= 500:
                self._since_prune = 0
                self.state.submit(self.state.events.prune, self.keep)
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:  # a broken subscriber must not stop the engine
                log.exception("event subscriber failed")
        return event

    def info(self, pipeline: str, code: str, message: str, **data: Any) -> Event:
        return self.emit("info", pipeline, code, message, **data)

    def warning(self, pipeline: str, code: str, message: str, **data: Any) -> Event:
        return self.emit("warning", pipeline, code, message, **data)

    def error(self, pipeline: str, code: str, message: str, **data: Any) -> Event:
        return self.emit("error", pipeline, code, message, **data)

    def debug(self, pipeline: str, code: str, message: str, **data: Any) -> Event:
        return self.emit("debug", pipeline, code, message, **data)


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file. When it cannot be written (a full disk), one line on stderr
    says so instead of a traceback per record, and records are dropped until a write
    succeeds again (then a later failure is told again)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
        self.failing = False
        self._failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if self.failing and not self._failed_now:
            self.failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if self.failing:
            return
        self.failing = True
        exc = sys.exc_info()[1]
        why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"Bridge cannot write its log file {self.baseFilename} ({why}); "
                "log lines are dropped until it can.\n"
            )
            sys.stderr.flush()


def setup_logging(log_dir: Path | None, level: str = "INFO", *, console: bool = False) -> None:
    """Rotating log file (5 x 2 MB) in the data dir; optional console output. Every handler
    redacts secrets. A log folder that cannot be created or written is a StorageError."""
    root = logging.getLogger("bridge")
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s")
    if log_dir is not None:
        try:
            private_dir(log_dir.parent)
            private_dir(log_dir)
            fh = LogFile(log_dir / "bridge.log")
            for old in log_dir.glob("bridge.log*"):
                private_file(old)
        except OSError as exc:
            raise folder_problem(log_dir, exc, "log folder") from None
        fh.setFormatter(fmt)
        fh.addFilter(redact.RedactingFilter())
        root.addHandler(fh)
    if console:
        ch = logging.StreamHandler(sys.stderr)
        ch.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        ch.addFilter(redact.RedactingFilter())
        root.addHandler(ch)
